//! `traffic-engineer crds fetch`: download the upstream CustomResourceDefinition files of the
//! pinned releases into a cache folder, so the validator can load them on a machine that has no
//! copy. The project never ships copies of upstream CRDs; it downloads them.
//!
//! The cache layout is `<group>/<file>.yaml` (e.g. `gateway-api/standard/…_httproutes.yaml`),
//! the same as a hand-made reference folder, so such a folder is itself a valid
//! [`Mirror::LocalDir`] and a previous cache folder can be served as a [`Mirror::BaseUrl`].
//!
//! Every file is checked before it is written (non-empty UTF-8 text, a top-level
//! `kind: CustomResourceDefinition`, the release's bundle version for Gateway API files) and is
//! written atomically (temporary file in the same folder, then rename), so the cache never holds
//! a partial file. A file identical to the cached one is left alone and counted as unchanged.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// One pinned file: repository, tag, path in the repo, and the relative path it is stored under
/// in the cache (e.g. `"gateway-api/standard/gateway.networking.k8s.io_httproutes.yaml"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedFile {
    /// GitHub `owner/name`.
    pub repo: &'static str,
    /// Release tag.
    pub tag: &'static str,
    /// Path of the file in the repository at `tag`.
    pub path: &'static str,
    /// Relative path (with `/`) under the cache folder and under a mirror.
    pub cache_path: &'static str,
}

impl PinnedFile {
    /// Upstream location: `https://raw.githubusercontent.com/{repo}/{tag}/{path}`.
    pub fn upstream_url(&self) -> String {
        format!(
            "https://raw.githubusercontent.com/{}/{}/{}",
            self.repo, self.tag, self.path
        )
    }

    /// Whether the file is a CustomResourceDefinition. The only pinned files that are not are
    /// Gateway API's `*_vap_safeupgrades.yaml` (a ValidatingAdmissionPolicy and its binding)
    /// and Kubernetes' OpenAPI documents.
    pub fn is_crd(&self) -> bool {
        !self.cache_path.ends_with("_vap_safeupgrades.yaml") && !self.is_openapi()
    }

    /// Whether the file is one of Kubernetes' OpenAPI v3 documents ([`OPENAPI_PINNED`]).
    pub fn is_openapi(&self) -> bool {
        self.repo == "kubernetes/kubernetes" && self.cache_path.ends_with("_openapi.json")
    }
}

/// Builds the pinned list: one block per (repository, tag, source folder, cache folder).
macro_rules! pinned {
    ($( $repo:literal @ $tag:literal : $src:literal => $dst:literal [ $($name:literal),* $(,)? ] )*) => {
        &[ $( $( PinnedFile {
            repo: $repo,
            tag: $tag,
            path: concat!($src, "/", $name),
            cache_path: concat!($dst, "/", $name),
        }, )* )* ]
    };
}

/// Every pinned upstream file, in download order.
///
/// Licences: all six repositories are Apache-2.0 (see [`LICENCE_NOTE`]).
pub const PINNED: &[PinnedFile] = pinned! {
    "kubernetes-sigs/gateway-api" @ "v1.6.1" : "config/crd/standard" => "gateway-api/standard" [
        "gateway.networking.k8s.io_backendtlspolicies.yaml",
        "gateway.networking.k8s.io_gatewayclasses.yaml",
        "gateway.networking.k8s.io_gateways.yaml",
        "gateway.networking.k8s.io_grpcroutes.yaml",
        "gateway.networking.k8s.io_httproutes.yaml",
        "gateway.networking.k8s.io_listenersets.yaml",
        "gateway.networking.k8s.io_referencegrants.yaml",
        "gateway.networking.k8s.io_tcproutes.yaml",
        "gateway.networking.k8s.io_tlsroutes.yaml",
        "gateway.networking.k8s.io_udproutes.yaml",
        "gateway.networking.k8s.io_vap_safeupgrades.yaml",
    ]
    "kubernetes-sigs/gateway-api" @ "v1.6.1" : "config/crd/experimental" => "gateway-api/experimental" [
        "gateway.networking.k8s.io_backendtlspolicies.yaml",
        "gateway.networking.k8s.io_gatewayclasses.yaml",
        "gateway.networking.k8s.io_gateways.yaml",
        "gateway.networking.k8s.io_grpcroutes.yaml",
        "gateway.networking.k8s.io_httproutes.yaml",
        "gateway.networking.k8s.io_listenersets.yaml",
        "gateway.networking.k8s.io_referencegrants.yaml",
        "gateway.networking.k8s.io_tcproutes.yaml",
        "gateway.networking.k8s.io_tlsroutes.yaml",
        "gateway.networking.k8s.io_udproutes.yaml",
        "gateway.networking.k8s.io_vap_safeupgrades.yaml",
        "gateway.networking.x-k8s.io_xbackends.yaml",
        "gateway.networking.x-k8s.io_xbackendtrafficpolicies.yaml",
        "gateway.networking.x-k8s.io_xmeshes.yaml",
    ]
    "envoyproxy/gateway" @ "v1.9.0" : "charts/gateway-helm/charts/crds/crds/generated" => "envoy-gateway" [
        "gateway.envoyproxy.io_backends.yaml",
        "gateway.envoyproxy.io_backendtrafficpolicies.yaml",
        "gateway.envoyproxy.io_clienttrafficpolicies.yaml",
        "gateway.envoyproxy.io_envoyextensionpolicies.yaml",
        "gateway.envoyproxy.io_envoypatchpolicies.yaml",
        "gateway.envoyproxy.io_envoyproxies.yaml",
        "gateway.envoyproxy.io_httproutefilters.yaml",
        "gateway.envoyproxy.io_securitypolicies.yaml",
    ]
    "kedacore/keda" @ "v2.20.2" : "config/crd/bases" => "keda" [
        "keda.sh_scaledobjects.yaml",
        "keda.sh_scaledjobs.yaml",
        "keda.sh_triggerauthentications.yaml",
        "keda.sh_clustertriggerauthentications.yaml",
        "eventing.keda.sh_cloudeventsources.yaml",
        "eventing.keda.sh_clustercloudeventsources.yaml",
    ]
    "kedacore/http-add-on" @ "v0.15.0" : "config/crd/bases" => "keda-http-add-on" [
        "http.keda.sh_httpscaledobjects.yaml",
        "http.keda.sh_interceptorroutes.yaml",
    ]
    "envoyproxy/ai-gateway" @ "v1.1.0" : "manifests/charts/ai-gateway-crds-helm/templates" => "ai-gateway" [
        "aigateway.envoyproxy.io_aigatewayroutes.yaml",
        "aigateway.envoyproxy.io_aiservicebackends.yaml",
        "aigateway.envoyproxy.io_backendsecuritypolicies.yaml",
        "aigateway.envoyproxy.io_gatewayconfigs.yaml",
        "aigateway.envoyproxy.io_mcproutes.yaml",
        "aigateway.envoyproxy.io_quotapolicies.yaml",
    ]
    "cert-manager/cert-manager" @ "v1.21.1" : "deploy/crds" => "cert-manager" [
        "cert-manager.io_certificates.yaml",
        "cert-manager.io_issuers.yaml",
        "cert-manager.io_clusterissuers.yaml",
    ]
};

/// The Kubernetes release whose OpenAPI v3 documents (the built-in kinds' schemas) are pinned.
pub const KUBERNETES_TAG: &str = "v1.35.0";

/// The cache sub-folder of the OpenAPI documents: flat, file names as in the Kubernetes
/// repository's `api/openapi-spec/v3/` (so that folder, or a copy of it, is itself a mirror).
pub const OPENAPI_DIR: &str = "kubernetes-openapi";

macro_rules! openapi_pinned {
    ($($name:literal),* $(,)?) => {
        &[ $( PinnedFile {
            repo: "kubernetes/kubernetes",
            tag: KUBERNETES_TAG,
            path: concat!("api/openapi-spec/v3/", $name),
            cache_path: $name,
        }, )* ]
    };
}

/// Kubernetes' OpenAPI v3 document of every group-version a 1.35 API server serves, in
/// download order (Apache-2.0, see [`OPENAPI_LICENCE_NOTE`]).
pub const OPENAPI_PINNED: &[PinnedFile] = openapi_pinned![
    "api__v1_openapi.json",
    "apis__admissionregistration.k8s.io__v1_openapi.json",
    "apis__admissionregistration.k8s.io__v1alpha1_openapi.json",
    "apis__admissionregistration.k8s.io__v1beta1_openapi.json",
    "apis__apiextensions.k8s.io__v1_openapi.json",
    "apis__apiregistration.k8s.io__v1_openapi.json",
    "apis__apps__v1_openapi.json",
    "apis__authentication.k8s.io__v1_openapi.json",
    "apis__authorization.k8s.io__v1_openapi.json",
    "apis__autoscaling__v1_openapi.json",
    "apis__autoscaling__v2_openapi.json",
    "apis__batch__v1_openapi.json",
    "apis__certificates.k8s.io__v1_openapi.json",
    "apis__certificates.k8s.io__v1alpha1_openapi.json",
    "apis__certificates.k8s.io__v1beta1_openapi.json",
    "apis__coordination.k8s.io__v1_openapi.json",
    "apis__coordination.k8s.io__v1alpha2_openapi.json",
    "apis__coordination.k8s.io__v1beta1_openapi.json",
    "apis__discovery.k8s.io__v1_openapi.json",
    "apis__events.k8s.io__v1_openapi.json",
    "apis__flowcontrol.apiserver.k8s.io__v1_openapi.json",
    "apis__internal.apiserver.k8s.io__v1alpha1_openapi.json",
    "apis__networking.k8s.io__v1_openapi.json",
    "apis__networking.k8s.io__v1beta1_openapi.json",
    "apis__node.k8s.io__v1_openapi.json",
    "apis__policy__v1_openapi.json",
    "apis__rbac.authorization.k8s.io__v1_openapi.json",
    "apis__resource.k8s.io__v1_openapi.json",
    "apis__resource.k8s.io__v1alpha3_openapi.json",
    "apis__resource.k8s.io__v1beta1_openapi.json",
    "apis__resource.k8s.io__v1beta2_openapi.json",
    "apis__scheduling.k8s.io__v1_openapi.json",
    "apis__scheduling.k8s.io__v1alpha1_openapi.json",
    "apis__storage.k8s.io__v1_openapi.json",
    "apis__storage.k8s.io__v1beta1_openapi.json",
    "apis__storagemigration.k8s.io__v1beta1_openapi.json",
];

/// Licence of the OpenAPI documents, written into their folder's [`SOURCES_FILE`].
pub const OPENAPI_LICENCE_NOTE: &str = "\
# The files listed below are unmodified copies of the OpenAPI v3 documents of the Kubernetes
# repository (kubernetes/kubernetes, api/openapi-spec/v3/), licensed under the Apache License 2.0.
# Keep this file next to them if you redistribute them.
";

/// Licence of the pinned upstream files, written into [`SOURCES_FILE`].
pub const LICENCE_NOTE: &str = "\
# The files listed below are unmodified copies of CustomResourceDefinition YAML files (and, for
# gateway-api, its safe-upgrades ValidatingAdmissionPolicy) published by their upstream projects.
# All six repositories (kubernetes-sigs/gateway-api, envoyproxy/gateway, kedacore/keda,
# kedacore/http-add-on, envoyproxy/ai-gateway, cert-manager/cert-manager) are licensed under the
# Apache License 2.0 (see the LICENSE file of each repository at the tag; none ships a NOTICE
# file). Keep this file next to the CRDs if you redistribute them.
";

/// Name of the provenance file written in the cache root after a complete fetch.
pub const SOURCES_FILE: &str = "SOURCES.txt";

/// Largest file accepted from a mirror (the largest pinned CRD is about 1.4 MB).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Redirects followed per file.
const MAX_REDIRECTS: u32 = 3;

const MIRROR_HINT: &str = "check the network, or set --mirror to a folder or URL that has the \
     same layout as the pinned releases (e.g. a previous cache folder)";

/// Where the pinned files are downloaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    /// `https://raw.githubusercontent.com/{repo}/{tag}/{path}` (HTTPS only).
    Default,
    /// `{base}/{cache_path}` over HTTP or HTTPS: a web server serving a cache-layout folder.
    BaseUrl(String),
    /// `{dir}/{cache_path}`: a local folder with the cache layout (e.g. an earlier cache).
    LocalDir(PathBuf),
}

impl Mirror {
    /// Where `file` is read from: a URL, or a path for [`Mirror::LocalDir`].
    pub fn location(&self, file: &PinnedFile) -> String {
        match self {
            Mirror::Default => file.upstream_url(),
            Mirror::BaseUrl(base) => format!("{}/{}", base.trim_end_matches('/'), file.cache_path),
            Mirror::LocalDir(dir) => local_path(dir, file).display().to_string(),
        }
    }
}

impl FromStr for Mirror {
    type Err = std::convert::Infallible;

    /// `http://…` or `https://…` is a [`Mirror::BaseUrl`]; anything else a [`Mirror::LocalDir`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Ok(
            if lower.starts_with("http://") || lower.starts_with("https://") {
                Mirror::BaseUrl(s.to_string())
            } else {
                Mirror::LocalDir(PathBuf::from(s))
            },
        )
    }
}

/// Outcome of a complete fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// Files written (new or different from the cached copy).
    pub fetched: usize,
    /// Files whose bytes were identical to the cached copy.
    pub unchanged: usize,
    /// The cache folder.
    pub dir: PathBuf,
}

/// Why a fetch stopped. Files completed before the failure stay in the cache.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP status {status}; {MIRROR_HINT}")]
    Status { url: String, status: u16 },
    #[error(
        "{url}: no complete answer within {timeout:?}; retry, give a longer timeout, or {MIRROR_HINT}"
    )]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: larger than {limit} bytes, not a pinned CRD file; {MIRROR_HINT}")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {detail}; {MIRROR_HINT}")]
    Transport { url: String, detail: String },
    #[error("{url}: not the pinned file ({reason}); {MIRROR_HINT}")]
    Invalid { url: String, reason: String },
    #[error(
        "{path}: {source}; set --mirror to a folder that has the same layout as the pinned \
         releases (e.g. a previous cache folder), or to a URL"
    )]
    ReadMirror {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("mirror URL {0:?} must start with http:// or https://; give a URL or a local folder")]
    BadMirror(String),
    #[error(
        "{path}: {source}; choose a writable cache folder (--cache-dir or TRAFFIC_ENGINEER_CACHE)"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The cache folder, from values the caller read from the environment once (the CLI's
/// `Config`; the library reads no environment variable): `explicit`
/// (`$TRAFFIC_ENGINEER_CACHE`) if set and not empty, else `xdg` (`$XDG_CACHE_HOME`, when
/// absolute) + `traffic-engineer/crds`, else `home/.cache/traffic-engineer/crds`.
pub fn cache_dir(
    explicit: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: &Path,
) -> PathBuf {
    if let Some(dir) = explicit.filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(xdg) = xdg.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return xdg.join("traffic-engineer").join("crds");
    }
    home.join(".cache").join("traffic-engineer").join("crds")
}

/// Downloads every [`PINNED`] file from `mirror` into `dest` (created if missing), then writes
/// [`SOURCES_FILE`]. `timeout` bounds each file (connect to last body byte, redirects included).
///
/// The first failing file stops the fetch; files completed before it stay in `dest`.
pub fn fetch(mirror: &Mirror, dest: &Path, timeout: Duration) -> Result<FetchReport, FetchError> {
    fetch_limited(mirror, dest, timeout, MAX_FILE_BYTES, PINNED, LICENCE_NOTE)
}

/// Downloads every [`OPENAPI_PINNED`] document (the built-in kinds' schemas of
/// [`KUBERNETES_TAG`]) from `mirror` — a flat folder or base URL with the Kubernetes
/// repository's file names, such as `api/openapi-spec/v3/` or an earlier cache's
/// [`OPENAPI_DIR`] — into `dest` (the cache's [`OPENAPI_DIR`]), then writes [`SOURCES_FILE`].
pub fn fetch_openapi(
    mirror: &Mirror,
    dest: &Path,
    timeout: Duration,
) -> Result<FetchReport, FetchError> {
    fetch_limited(
        mirror,
        dest,
        timeout,
        MAX_FILE_BYTES,
        OPENAPI_PINNED,
        OPENAPI_LICENCE_NOTE,
    )
}

/// The OpenAPI mirror that goes with a CRD mirror: the same place's [`OPENAPI_DIR`] (an earlier
/// cache folder is a mirror of both), or the Kubernetes repository at [`KUBERNETES_TAG`].
pub fn openapi_mirror_of(crds: &Mirror) -> Mirror {
    match crds {
        Mirror::Default => Mirror::Default,
        Mirror::BaseUrl(b) => Mirror::BaseUrl(format!("{}/{OPENAPI_DIR}", b.trim_end_matches('/'))),
        Mirror::LocalDir(d) => Mirror::LocalDir(d.join(OPENAPI_DIR)),
    }
}

fn fetch_limited(
    mirror: &Mirror,
    dest: &Path,
    timeout: Duration,
    max_bytes: u64,
    pinned: &[PinnedFile],
    licence: &str,
) -> Result<FetchReport, FetchError> {
    let source = Source::new(mirror, timeout, max_bytes)?;
    fs::create_dir_all(dest).map_err(|e| write_err(dest, e))?;
    let mut report = FetchReport {
        fetched: 0,
        unchanged: 0,
        dir: dest.to_path_buf(),
    };
    let mut sources = String::from(licence);
    sources.push_str("#\n# cache_path\trepo\ttag\tpath\tsha256\n");
    for file in pinned {
        let url = mirror.location(file);
        let bytes = source.get(file, &url)?;
        check_body(file, &bytes).map_err(|reason| FetchError::Invalid {
            url: url.clone(),
            reason,
        })?;
        let target = dest.join(file.cache_path);
        if fs::read(&target).is_ok_and(|old| old == bytes) {
            report.unchanged += 1;
        } else {
            write_atomic(&target, &bytes)?;
            report.fetched += 1;
        }
        let _ = writeln!(
            sources,
            "{}\t{}\t{}\t{}\t{}",
            file.cache_path,
            file.repo,
            file.tag,
            file.path,
            sha256_hex(&bytes)
        );
    }
    let sources_path = dest.join(SOURCES_FILE);
    if fs::read(&sources_path).map_or(true, |old| old != sources.as_bytes()) {
        write_atomic(&sources_path, sources.as_bytes())?;
    }
    Ok(report)
}

/// How one file is read: an HTTP agent, or a local folder.
enum Source {
    Http {
        agent: ureq::Agent,
        timeout: Duration,
        max_bytes: u64,
    },
    Local {
        dir: PathBuf,
        max_bytes: u64,
    },
}

impl Source {
    fn new(mirror: &Mirror, timeout: Duration, max_bytes: u64) -> Result<Self, FetchError> {
        let https_only = match mirror {
            Mirror::LocalDir(dir) => {
                return Ok(Source::Local {
                    dir: dir.clone(),
                    max_bytes,
                });
            }
            Mirror::Default => true,
            Mirror::BaseUrl(base) => {
                let lower = base.to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                    return Err(FetchError::BadMirror(base.clone()));
                }
                false
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(MAX_REDIRECTS)
            .https_only(https_only)
            .http_status_as_error(false)
            .user_agent(concat!("traffic-engineer/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Source::Http {
            agent,
            timeout,
            max_bytes,
        })
    }

    fn get(&self, file: &PinnedFile, url: &str) -> Result<Vec<u8>, FetchError> {
        match self {
            Source::Http {
                agent,
                timeout,
                max_bytes,
            } => {
                let map = |e| http_err(url, *timeout, *max_bytes, e);
                let mut response = agent.get(url).call().map_err(map)?;
                let status = response.status().as_u16();
                if !(200..300).contains(&status) {
                    return Err(FetchError::Status {
                        url: url.to_string(),
                        status,
                    });
                }
                response
                    .body_mut()
                    .with_config()
                    .limit(*max_bytes)
                    .read_to_vec()
                    .map_err(map)
            }
            Source::Local { dir, max_bytes } => {
                let path = local_path(dir, file);
                let read_err = |source| FetchError::ReadMirror {
                    path: path.clone(),
                    source,
                };
                let mut bytes = Vec::new();
                fs::File::open(&path)
                    .and_then(|f| f.take(max_bytes + 1).read_to_end(&mut bytes))
                    .map_err(read_err)?;
                if bytes.len() as u64 > *max_bytes {
                    return Err(FetchError::TooLarge {
                        url: path.display().to_string(),
                        limit: *max_bytes,
                    });
                }
                Ok(bytes)
            }
        }
    }
}

fn local_path(dir: &Path, file: &PinnedFile) -> PathBuf {
    file.cache_path
        .split('/')
        .fold(dir.to_path_buf(), |p, part| p.join(part))
}

fn http_err(url: &str, timeout: Duration, limit: u64, e: ureq::Error) -> FetchError {
    let url = url.to_string();
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout { url, timeout },
        ureq::Error::Io(ref io) if io.kind() == io::ErrorKind::TimedOut => {
            FetchError::Timeout { url, timeout }
        }
        ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge { url, limit },
        ureq::Error::StatusCode(status) => FetchError::Status { url, status },
        other => FetchError::Transport {
            url,
            detail: other.to_string(),
        },
    }
}

/// Quick content check of a downloaded file (no YAML parser): non-empty UTF-8 text with the
/// top-level `apiVersion`/`kind` lines of a CRD (or of any Kubernetes object for the one pinned
/// non-CRD), and for Gateway API the bundle-version annotation of the pinned tag.
fn check_body(file: &PinnedFile, bytes: &[u8]) -> Result<(), String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("empty body".into());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    if text.contains('\0') {
        return Err("binary data, not YAML".into());
    }
    if file.is_openapi() {
        return crate::validate::openapi::check_document(text);
    }
    let has_line = |want: &str| text.lines().any(|l| l.trim_end() == want);
    let has_prefix = |want: &str| text.lines().any(|l| l.starts_with(want));
    if file.is_crd() {
        if !has_line("kind: CustomResourceDefinition") {
            return Err("no top-level `kind: CustomResourceDefinition`".into());
        }
        if !has_line("apiVersion: apiextensions.k8s.io/v1") {
            return Err("no top-level `apiVersion: apiextensions.k8s.io/v1`".into());
        }
    } else if !has_prefix("kind: ") || !has_prefix("apiVersion: ") {
        return Err("no top-level `apiVersion:` and `kind:`: not a Kubernetes YAML object".into());
    }
    if file.repo == "kubernetes-sigs/gateway-api" {
        let want = format!("gateway.networking.k8s.io/bundle-version: {}", file.tag);
        if !text.lines().any(|l| l.trim() == want) {
            return Err(format!("no `{want}` annotation: another release?"));
        }
    }
    Ok(())
}

/// Writes `bytes` to `target` through a temporary file in the same folder and a rename, so
/// readers see either the old file or the complete new one.
fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        let mut f = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(write_err(&tmp, e)),
        };
        let written = f
            .write_all(bytes)
            .and_then(|()| f.sync_all())
            .and_then(|()| {
                drop(f);
                fs::rename(&tmp, target)
            });
        return written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            write_err(target, e)
        });
    }
}

fn write_err(path: &Path, source: io::Error) -> FetchError {
    FetchError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::Instant;

    const TIMEOUT: Duration = Duration::from_secs(20);

    /// The reference folder (the one finder the tests share), with the upstream layout.
    fn crds_dir() -> PathBuf {
        let dir = crate::test_shared::crds_dir();
        assert!(
            dir.join("gateway-api").is_dir(),
            "{}: not the upstream CRD layout (gateway-api/...)",
            dir.display()
        );
        dir
    }

    /// Relative `/`-separated paths of every file under `root`.
    fn files_under(root: &Path) -> BTreeSet<String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap();
                    let parts: Vec<_> = rel.iter().map(|p| p.to_string_lossy()).collect();
                    out.insert(parts.join("/"));
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(root, root, &mut out);
        out
    }

    enum Reply {
        Body(Vec<u8>),
        Status(u16),
        /// Accept the connection, never answer.
        Hang,
        /// Send the headers and part of the body, then stall.
        StallBody(Vec<u8>),
        /// Announce the full length, send half, close.
        Truncated(Vec<u8>),
        Redirect(String),
    }

    type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

    /// Minimal HTTP/1.1 server on 127.0.0.1 (one thread per connection, `Connection: close`).
    /// Dropping it stops the accept loop and every connection thread, and joins them.
    struct TestServer {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        requests: Arc<Mutex<Vec<String>>>,
        thread: Option<JoinHandle<()>>,
    }

    impl TestServer {
        fn start(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let requests = Arc::new(Mutex::new(Vec::new()));
            let handler: Handler = Arc::new(handler);
            let (stop2, requests2) = (stop.clone(), requests.clone());
            let thread = std::thread::spawn(move || {
                let mut conns = Vec::new();
                for stream in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (h, s, r) = (handler.clone(), stop2.clone(), requests2.clone());
                    conns.push(std::thread::spawn(move || serve_one(stream, &h, &s, &r)));
                }
                for c in conns {
                    let _ = c.join();
                }
            });
            TestServer {
                addr,
                stop,
                requests,
                thread: Some(thread),
            }
        }

        fn base_url(&self) -> String {
            format!("http://{}", self.addr)
        }

        fn requests(&self) -> Vec<String> {
            self.requests.lock().unwrap().clone()
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr); // wake the accept loop
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve_one(
        mut stream: TcpStream,
        handler: &Handler,
        stop: &AtomicBool,
        requests: &Mutex<Vec<String>>,
    ) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if !head[0].is_ascii_uppercase() {
                return; // not HTTP (e.g. a TLS ClientHello): hang up
            }
        }
        let head = String::from_utf8_lossy(&head);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        requests.lock().unwrap().push(path.clone());
        let wait_for_stop = || {
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let header = |status: &str, len: usize, extra: &str| {
            format!(
                "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nContent-Type: text/plain\r\n{extra}Connection: close\r\n\r\n"
            )
        };
        let _ = match handler(&path) {
            Reply::Body(body) => stream
                .write_all(header("200 OK", body.len(), "").as_bytes())
                .and_then(|()| stream.write_all(&body)),
            Reply::Status(code) => {
                let body = format!("status {code}\n");
                stream
                    .write_all(header(&format!("{code} X"), body.len(), "").as_bytes())
                    .and_then(|()| stream.write_all(body.as_bytes()))
            }
            Reply::Hang => {
                wait_for_stop();
                Ok(())
            }
            Reply::StallBody(body) => {
                let r = stream
                    .write_all(header("200 OK", body.len(), "").as_bytes())
                    .and_then(|()| stream.write_all(&body[..body.len() / 2]))
                    .and_then(|()| stream.flush());
                wait_for_stop();
                r
            }
            Reply::Truncated(body) => stream
                .write_all(header("200 OK", body.len(), "").as_bytes())
                .and_then(|()| stream.write_all(&body[..body.len() / 2])),
            Reply::Redirect(to) => {
                stream.write_all(header("302 Found", 0, &format!("Location: {to}\r\n")).as_bytes())
            }
        };
        let _ = stream.flush();
    }

    /// Serves `root` (cache layout); `/`-paths with `..` or unknown files get 404.
    fn serve_dir(root: &Path, path: &str) -> Reply {
        let rel = path.trim_start_matches('/');
        if rel.split('/').any(|p| p == ".." || p.is_empty()) {
            return Reply::Status(404);
        }
        match fs::read(root.join(rel)) {
            Ok(bytes) => Reply::Body(bytes),
            Err(_) => Reply::Status(404),
        }
    }

    fn shared_server() -> TestServer {
        let root = crds_dir();
        TestServer::start(move |p| serve_dir(&root, p))
    }

    /// Every pinned file is in `dest`, byte-identical to the reference folder.
    fn assert_complete_copy(dest: &Path) {
        let root = crds_dir();
        for f in PINNED {
            let want = fs::read(root.join(f.cache_path)).unwrap();
            let got = fs::read(dest.join(f.cache_path))
                .unwrap_or_else(|e| panic!("{} missing: {e}", f.cache_path));
            assert!(got == want, "{} differs from the source", f.cache_path);
        }
        let mut expected: BTreeSet<String> =
            PINNED.iter().map(|f| f.cache_path.to_string()).collect();
        expected.insert(SOURCES_FILE.to_string());
        assert_eq!(files_under(dest), expected, "stray or temporary files");
        let sources = fs::read_to_string(dest.join(SOURCES_FILE)).unwrap();
        assert!(sources.contains("Apache License 2.0"));
        for f in PINNED {
            let sha = sha256_hex(&fs::read(root.join(f.cache_path)).unwrap());
            let line = format!("{}\t{}\t{}\t{}\t{sha}", f.cache_path, f.repo, f.tag, f.path);
            assert!(sources.lines().any(|l| l == line), "SOURCES lacks {line}");
        }
    }

    #[test]
    fn pinned_covers_exactly_the_reference_yaml_files() {
        let on_disk: BTreeSet<String> = files_under(&crds_dir())
            .into_iter()
            .filter(|p| p.ends_with(".yaml"))
            .collect();
        let pinned: BTreeSet<String> = PINNED.iter().map(|f| f.cache_path.to_string()).collect();
        assert_eq!(pinned.len(), PINNED.len(), "duplicate cache_path in PINNED");
        let missing: Vec<_> = on_disk.difference(&pinned).collect();
        let extra: Vec<_> = pinned.difference(&on_disk).collect();
        assert!(missing.is_empty(), "not pinned: {missing:?}");
        assert!(
            extra.is_empty(),
            "pinned but not in the reference folder: {extra:?}"
        );
        assert_eq!(PINNED.len(), 50);
    }

    #[test]
    fn openapi_documents_come_from_a_flat_mirror_and_are_checked() {
        let mirror_dir = crate::test_shared::openapi_dir();
        let dest = tempfile::tempdir().unwrap();
        let target = dest.path().join(OPENAPI_DIR);
        let report =
            fetch_openapi(&Mirror::LocalDir(mirror_dir.clone()), &target, TIMEOUT).unwrap();
        assert_eq!(report.fetched, OPENAPI_PINNED.len());
        for f in OPENAPI_PINNED {
            assert!(f.is_openapi() && !f.is_crd(), "{}", f.cache_path);
            assert_eq!(
                fs::read(target.join(f.cache_path)).unwrap(),
                fs::read(mirror_dir.join(f.cache_path)).unwrap()
            );
            assert!(
                crate::validate::openapi::group_version_of(f.cache_path).is_some(),
                "{}",
                f.cache_path
            );
        }
        assert!(
            fs::read_to_string(target.join(SOURCES_FILE))
                .unwrap()
                .contains("Apache")
        );
        assert_eq!(
            Mirror::Default.location(&OPENAPI_PINNED[0]),
            format!(
                "https://raw.githubusercontent.com/kubernetes/kubernetes/{KUBERNETES_TAG}/api/openapi-spec/v3/{}",
                OPENAPI_PINNED[0].cache_path
            )
        );
        // an earlier cache is a mirror of both
        assert_eq!(
            openapi_mirror_of(&Mirror::LocalDir(dest.path().into())),
            Mirror::LocalDir(target.clone())
        );
        let again = fetch_openapi(
            &openapi_mirror_of(&Mirror::LocalDir(dest.path().into())),
            &tempfile::tempdir().unwrap().path().join(OPENAPI_DIR),
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(again.fetched, OPENAPI_PINNED.len());
        // a CRD is not an OpenAPI document
        let crd = PINNED.iter().find(|f| f.is_crd()).unwrap();
        let bytes = fs::read(local_path(&crds_dir(), crd)).unwrap();
        assert!(check_body(&OPENAPI_PINNED[0], &bytes).is_err());
        assert!(check_body(&OPENAPI_PINNED[0], b"{\"components\": {}}").is_err());
    }

    #[test]
    fn pinned_entries_are_consistent() {
        let folders = [
            ("gateway-api/", "kubernetes-sigs/gateway-api", "v1.6.1"),
            ("envoy-gateway/", "envoyproxy/gateway", "v1.9.0"),
            ("keda/", "kedacore/keda", "v2.20.2"),
            ("keda-http-add-on/", "kedacore/http-add-on", "v0.15.0"),
            ("ai-gateway/", "envoyproxy/ai-gateway", "v1.1.0"),
            ("cert-manager/", "cert-manager/cert-manager", "v1.21.1"),
        ];
        for f in PINNED {
            let (_, repo, tag) = folders
                .iter()
                .find(|(dir, _, _)| f.cache_path.starts_with(dir))
                .unwrap_or_else(|| panic!("{}: unknown folder", f.cache_path));
            assert_eq!((f.repo, f.tag), (*repo, *tag), "{}", f.cache_path);
            assert_eq!(
                f.path.rsplit('/').next(),
                f.cache_path.rsplit('/').next(),
                "file name differs between repo and cache"
            );
            for p in [f.path, f.cache_path] {
                assert!(!p.starts_with('/') && !p.contains("..") && !p.contains('\\'));
            }
        }
        assert_eq!(PINNED.iter().filter(|f| !f.is_crd()).count(), 2);
        let routes = PINNED
            .iter()
            .find(|f| {
                f.cache_path == "gateway-api/experimental/gateway.networking.k8s.io_httproutes.yaml"
            })
            .unwrap();
        assert_eq!(
            Mirror::Default.location(routes),
            "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.6.1/config/crd/experimental/gateway.networking.k8s.io_httproutes.yaml"
        );
        assert_eq!(
            Mirror::BaseUrl("http://m.example/crds/".into()).location(routes),
            "http://m.example/crds/gateway-api/experimental/gateway.networking.k8s.io_httproutes.yaml"
        );
    }

    #[test]
    fn every_reference_file_passes_the_content_check() {
        let root = crds_dir();
        for f in PINNED {
            let bytes = fs::read(root.join(f.cache_path)).unwrap();
            assert_eq!(check_body(f, &bytes), Ok(()), "{}", f.cache_path);
        }
    }

    #[test]
    fn content_check_rejects_wrong_files() {
        let crd = PINNED.iter().find(|f| f.repo == "kedacore/keda").unwrap();
        let vap = PINNED.iter().find(|f| !f.is_crd()).unwrap();
        let gw = PINNED
            .iter()
            .find(|f| f.cache_path.ends_with("_httproutes.yaml"))
            .unwrap();
        let ok_crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n";
        assert!(check_body(crd, ok_crd.as_bytes()).is_ok());
        for bad in [
            "",
            "  \n",
            "<html><body>404</body></html>\n",
            "apiVersion: v1\nkind: ConfigMap\n",
            "  kind: CustomResourceDefinition\napiVersion: apiextensions.k8s.io/v1\n",
        ] {
            assert!(check_body(crd, bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
        assert!(check_body(crd, b"\xff\xfe kind").is_err());
        // Gateway API: the bundle version must be the pinned tag.
        let old = format!(
            "{ok_crd}metadata:\n  annotations:\n    gateway.networking.k8s.io/bundle-version: v1.5.0\n"
        );
        assert!(
            check_body(gw, old.as_bytes())
                .unwrap_err()
                .contains("v1.6.1")
        );
        let new = old.replace("v1.5.0", "v1.6.1");
        assert!(check_body(gw, new.as_bytes()).is_ok());
        // The non-CRD file: any Kubernetes YAML object, but not HTML.
        let policy = "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  annotations:\n    gateway.networking.k8s.io/bundle-version: v1.6.1\n";
        assert!(check_body(vap, policy.as_bytes()).is_ok());
        assert!(check_body(vap, b"<html></html>").is_err());
    }

    #[test]
    fn http_mirror_gives_byte_identical_files_and_second_fetch_is_unchanged() {
        let server = shared_server();
        let dest = tempfile::tempdir().unwrap();
        let mirror = Mirror::BaseUrl(server.base_url());
        let report = fetch(&mirror, dest.path(), TIMEOUT).unwrap();
        assert_eq!(
            report,
            FetchReport {
                fetched: PINNED.len(),
                unchanged: 0,
                dir: dest.path().to_path_buf()
            }
        );
        assert_complete_copy(dest.path());
        let asked: Vec<String> = PINNED
            .iter()
            .map(|f| format!("/{}", f.cache_path))
            .collect();
        assert_eq!(server.requests(), asked);

        let sources_before = fs::metadata(dest.path().join(SOURCES_FILE))
            .unwrap()
            .modified()
            .unwrap();
        let again = fetch(&mirror, dest.path(), TIMEOUT).unwrap();
        assert_eq!((again.fetched, again.unchanged), (0, PINNED.len()));
        assert_complete_copy(dest.path());
        let sources_after = fs::metadata(dest.path().join(SOURCES_FILE))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            sources_before, sources_after,
            "SOURCES rewritten although nothing changed"
        );
    }

    #[test]
    fn local_dir_mirror_gives_the_same_result_and_repairs_a_changed_file() {
        let dest = tempfile::tempdir().unwrap();
        let mirror: Mirror = crds_dir().to_str().unwrap().parse().unwrap();
        assert!(matches!(mirror, Mirror::LocalDir(_)));
        let report = fetch(&mirror, dest.path(), TIMEOUT).unwrap();
        assert_eq!((report.fetched, report.unchanged), (PINNED.len(), 0));
        assert_complete_copy(dest.path());
        let again = fetch(&mirror, dest.path(), TIMEOUT).unwrap();
        assert_eq!((again.fetched, again.unchanged), (0, PINNED.len()));

        let edited = dest.path().join(PINNED[3].cache_path);
        fs::write(&edited, b"edited by hand\n").unwrap();
        let repaired = fetch(&mirror, dest.path(), TIMEOUT).unwrap();
        assert_eq!(
            (repaired.fetched, repaired.unchanged),
            (1, PINNED.len() - 1)
        );
        assert_complete_copy(dest.path());
    }

    #[test]
    fn a_cache_folder_is_itself_a_mirror() {
        let first = tempfile::tempdir().unwrap();
        fetch(&Mirror::LocalDir(crds_dir()), first.path(), TIMEOUT).unwrap();
        let second = tempfile::tempdir().unwrap();
        let server = {
            let root = first.path().to_path_buf();
            TestServer::start(move |p| serve_dir(&root, p))
        };
        let report = fetch(
            &Mirror::BaseUrl(format!("{}/", server.base_url())),
            second.path(),
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(report.fetched, PINNED.len());
        assert_complete_copy(second.path());
    }

    #[test]
    fn http_404_fails_naming_the_url_and_keeps_the_files_already_fetched() {
        let missing = PINNED[5].cache_path;
        let root = crds_dir();
        let server = TestServer::start(move |p| {
            if p == format!("/{missing}") {
                Reply::Status(404)
            } else {
                serve_dir(&root, p)
            }
        });
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&Mirror::BaseUrl(server.base_url()), dest.path(), TIMEOUT).unwrap_err();
        let url = format!("{}/{missing}", server.base_url());
        match &err {
            FetchError::Status {
                url: u,
                status: 404,
            } => assert_eq!(u, &url),
            other => panic!("expected a 404 error, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&url) && msg.contains("404") && msg.contains("--mirror"),
            "{msg}"
        );
        let got = files_under(dest.path());
        let want: BTreeSet<String> = PINNED[..5]
            .iter()
            .map(|f| f.cache_path.to_string())
            .collect();
        assert_eq!(
            got, want,
            "earlier files kept, nothing else (no SOURCES, no temp files)"
        );
        for f in &PINNED[..5] {
            assert_eq!(
                fs::read(dest.path().join(f.cache_path)).unwrap(),
                fs::read(crds_dir().join(f.cache_path)).unwrap()
            );
        }
    }

    #[test]
    fn http_500_and_redirect_loops_are_errors() {
        let server = TestServer::start(|_| Reply::Status(500));
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&Mirror::BaseUrl(server.base_url()), dest.path(), TIMEOUT).unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 500, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(PINNED[0].cache_path));

        let looping = TestServer::start(|p| Reply::Redirect(p.to_string()));
        let err = fetch(&Mirror::BaseUrl(looping.base_url()), dest.path(), TIMEOUT).unwrap_err();
        assert!(matches!(err, FetchError::Transport { .. }), "{err:?}");
        assert!(err.to_string().contains(PINNED[0].cache_path), "{err}");
        assert!(looping.requests().len() <= 1 + MAX_REDIRECTS as usize);
        assert!(files_under(dest.path()).is_empty());
    }

    #[test]
    fn https_to_a_plain_http_server_fails_cleanly() {
        // Exercises the rustls path (provider, roots, handshake) without leaving loopback.
        let server = TestServer::start(|_| Reply::Status(400));
        let url = server.base_url().replace("http://", "https://");
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&Mirror::BaseUrl(url.clone()), dest.path(), TIMEOUT).unwrap_err();
        assert!(matches!(err, FetchError::Transport { .. }), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
        assert!(files_under(dest.path()).is_empty());
    }

    #[test]
    fn a_redirect_is_followed() {
        let root = crds_dir();
        let server = TestServer::start(move |p| match p.strip_prefix("/moved") {
            Some(rest) => serve_dir(&root, rest),
            None => Reply::Redirect(format!("/moved{p}")),
        });
        let dest = tempfile::tempdir().unwrap();
        let report = fetch(&Mirror::BaseUrl(server.base_url()), dest.path(), TIMEOUT).unwrap();
        assert_eq!(report.fetched, PINNED.len());
        assert_complete_copy(dest.path());
    }

    #[test]
    fn a_non_crd_body_is_rejected_and_not_written() {
        let bad = PINNED[2].cache_path;
        let root = crds_dir();
        let server = TestServer::start(move |p| {
            if p == format!("/{bad}") {
                Reply::Body(b"<!DOCTYPE html><html><body>Sign in</body></html>\n".to_vec())
            } else {
                serve_dir(&root, p)
            }
        });
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&Mirror::BaseUrl(server.base_url()), dest.path(), TIMEOUT).unwrap_err();
        assert!(matches!(err, FetchError::Invalid { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(bad) && msg.contains("CustomResourceDefinition"),
            "{msg}"
        );
        assert!(!dest.path().join(bad).exists());
        assert_eq!(files_under(dest.path()).len(), 2);
    }

    #[test]
    fn an_empty_body_is_rejected() {
        let server = TestServer::start(|_| Reply::Body(Vec::new()));
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&Mirror::BaseUrl(server.base_url()), dest.path(), TIMEOUT).unwrap_err();
        assert!(err.to_string().contains("empty body"), "{err}");
        assert!(files_under(dest.path()).is_empty());
    }

    #[test]
    fn a_server_that_never_answers_times_out_in_time() {
        let server = TestServer::start(|_| Reply::Hang);
        let dest = tempfile::tempdir().unwrap();
        let timeout = Duration::from_millis(500);
        let start = Instant::now();
        let err = fetch(&Mirror::BaseUrl(server.base_url()), dest.path(), timeout).unwrap_err();
        let took = start.elapsed();
        match &err {
            FetchError::Timeout { url, timeout: t } => {
                assert_eq!(
                    url,
                    &format!("{}/{}", server.base_url(), PINNED[0].cache_path)
                );
                assert_eq!(*t, timeout);
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(took >= timeout, "gave up early: {took:?}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert!(files_under(dest.path()).is_empty());
    }

    #[test]
    fn a_body_that_stalls_times_out() {
        let root = crds_dir();
        let server = TestServer::start(move |p| match serve_dir(&root, p) {
            Reply::Body(b) => Reply::StallBody(b),
            other => other,
        });
        let dest = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let err = fetch(
            &Mirror::BaseUrl(server.base_url()),
            dest.path(),
            Duration::from_millis(500),
        )
        .unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(files_under(dest.path()).is_empty());
    }

    #[test]
    fn a_truncated_body_is_an_error() {
        let root = crds_dir();
        let server = TestServer::start(move |p| match serve_dir(&root, p) {
            Reply::Body(b) => Reply::Truncated(b),
            other => other,
        });
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&Mirror::BaseUrl(server.base_url()), dest.path(), TIMEOUT).unwrap_err();
        assert!(matches!(err, FetchError::Transport { .. }), "{err:?}");
        assert!(err.to_string().contains(PINNED[0].cache_path), "{err}");
        assert!(files_under(dest.path()).is_empty());
    }

    #[test]
    fn oversized_files_are_refused() {
        let server = shared_server();
        let dest = tempfile::tempdir().unwrap();
        let limit = 1000;
        let err = fetch_limited(
            &Mirror::BaseUrl(server.base_url()),
            dest.path(),
            TIMEOUT,
            limit,
            PINNED,
            LICENCE_NOTE,
        )
        .unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 1000, .. }),
            "{err:?}"
        );
        let err = fetch_limited(
            &Mirror::LocalDir(crds_dir()),
            dest.path(),
            TIMEOUT,
            limit,
            PINNED,
            LICENCE_NOTE,
        )
        .unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 1000, .. }),
            "{err:?}"
        );
        assert!(files_under(dest.path()).is_empty());
    }

    #[test]
    fn local_dir_without_the_file_names_the_path() {
        let empty = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&Mirror::LocalDir(empty.path().into()), dest.path(), TIMEOUT).unwrap_err();
        let want = empty
            .path()
            .join("gateway-api/standard")
            .join(PINNED[0].cache_path.rsplit('/').next().unwrap());
        assert!(
            matches!(&err, FetchError::ReadMirror { path, .. } if *path == want),
            "{err:?}"
        );
        assert!(err.to_string().contains("--mirror"));
    }

    #[test]
    fn bad_mirror_url_and_unwritable_cache_are_errors() {
        let dest = tempfile::tempdir().unwrap();
        let err = fetch(&Mirror::BaseUrl("ftp://x".into()), dest.path(), TIMEOUT).unwrap_err();
        assert!(matches!(err, FetchError::BadMirror(_)), "{err:?}");

        let file = dest.path().join("not-a-folder");
        fs::write(&file, b"x").unwrap();
        let err = fetch(&Mirror::LocalDir(crds_dir()), &file, TIMEOUT).unwrap_err();
        assert!(matches!(err, FetchError::Write { .. }), "{err:?}");
        assert!(err.to_string().contains("TRAFFIC_ENGINEER_CACHE"));
    }

    #[test]
    fn mirror_from_str() {
        assert_eq!(
            "https://m.example/crds".parse::<Mirror>().unwrap(),
            Mirror::BaseUrl("https://m.example/crds".into())
        );
        assert_eq!(
            "HTTP://127.0.0.1:8080".parse::<Mirror>().unwrap(),
            Mirror::BaseUrl("HTTP://127.0.0.1:8080".into())
        );
        assert_eq!(
            "./crds".parse::<Mirror>().unwrap(),
            Mirror::LocalDir("./crds".into())
        );
    }

    #[test]
    fn cache_dir_resolution() {
        let home = Path::new("/home/u");
        assert_eq!(
            cache_dir(Some("/c".into()), Some("/x".into()), home),
            PathBuf::from("/c")
        );
        assert_eq!(
            cache_dir(Some("".into()), Some("/x".into()), home),
            PathBuf::from("/x/traffic-engineer/crds")
        );
        assert_eq!(
            cache_dir(None, Some("rel".into()), home),
            PathBuf::from("/home/u/.cache/traffic-engineer/crds")
        );
        assert_eq!(
            cache_dir(None, None, home),
            PathBuf::from("/home/u/.cache/traffic-engineer/crds")
        );
    }
}
