//! The cluster half: apply the stack to a Kubernetes cluster in the kustomization's order, wait
//! for the controllers' verdicts, read live conditions, and validate against the CRDs the
//! cluster actually serves.
//!
//! Built on kube-rs (the maintained Rust client: kubeconfig and in-cluster config, server-side
//! apply, dry run, discovery) over rustls. Read-only unless a call asks to write: `status` and
//! `validate_cluster` only read; `apply` writes only with `ApplyMode::Apply`, and only after a
//! server-side dry run of the whole stack found nothing refused.
//!
//! The small API the CLI and the MCP server use: [`connect`], [`apply::apply`],
//! [`status::status`], [`validate::validate_cluster`].

pub mod apply;
pub mod cli;
pub mod conditions;
pub mod mcp;
pub mod objects;
pub mod status;
pub mod validate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kube::api::ApiResource;
use kube::discovery::{ApiCapabilities, Scope};

pub use apply::{ApplyMode, ApplyOptions, ApplyReport, ObjectAction, ObjectResult, apply};
pub use objects::{StackObject, load_stack};
pub use status::{StatusReport, status};
pub use validate::validate_cluster;

/// The field manager every write uses.
pub const FIELD_MANAGER: &str = "traffic-engineer";

/// What the product says when the cluster has no API for a kind.
pub const NOT_SERVED: &str = "kind not served by this cluster";

/// Why a cluster call could not run at all (a refused object is a finding, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error(
        "no cluster configuration: no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) and not running in a cluster ({0})"
    )]
    NoConfig(String),
    #[error("cluster {server}: {message}")]
    Unreachable { server: String, message: String },
    #[error("cluster {server}: {what}: {message}")]
    Api {
        server: String,
        what: String,
        message: String,
    },
    #[error("the stack: {0}")]
    Stack(String),
    #[error(transparent)]
    Workspace(#[from] crate::workspace::WorkspaceError),
    #[error("{field}: {message}")]
    Input { field: String, message: String },
}

/// How to reach the cluster: an explicit kubeconfig and/or context, else `KUBECONFIG`,
/// `~/.kube/config`, else the in-cluster service account.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Timeout of each request (default 30 s).
    pub request_timeout: Option<Duration>,
}

/// A connected client and where it points.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    /// The API server URL.
    pub server: String,
    /// The kubeconfig context used (empty in-cluster).
    pub context: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("context", &self.context)
            .finish()
    }
}

/// Connect (no request is sent yet: the first call shows whether the server answers).
pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, ClusterError> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let kopts = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    let home_config = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".kube/config"))
        .filter(|p| p.is_file());
    let env_config = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
    let (mut config, context) = if let Some(path) = &opts.kubeconfig {
        let shown = path.display().to_string();
        let kc = Kubeconfig::read_from(path).map_err(|e| ClusterError::Kubeconfig {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let ctx = opts
            .context
            .clone()
            .or_else(|| kc.current_context.clone())
            .unwrap_or_default();
        let c = kube::Config::from_custom_kubeconfig(kc, &kopts)
            .await
            .map_err(|e| ClusterError::Kubeconfig {
                path: shown,
                message: e.to_string(),
            })?;
        (c, ctx)
    } else if env_config || home_config.is_some() {
        // KUBECONFIG (a path list, merged as kubectl does) or ~/.kube/config
        let shown = std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into());
        let kc = Kubeconfig::read().map_err(|e| ClusterError::Kubeconfig {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let ctx = opts
            .context
            .clone()
            .or_else(|| kc.current_context.clone())
            .unwrap_or_default();
        let c =
            kube::Config::from_kubeconfig(&kopts)
                .await
                .map_err(|e| ClusterError::Kubeconfig {
                    path: shown,
                    message: e.to_string(),
                })?;
        (c, ctx)
    } else if let Some(c) = &opts.context {
        return Err(ClusterError::Input {
            field: "context".into(),
            message: format!(
                "{c:?} needs a kubeconfig (--kubeconfig or KUBECONFIG); none was found"
            ),
        });
    } else {
        let c = kube::Config::incluster().map_err(|e| ClusterError::NoConfig(e.to_string()))?;
        (c, String::new())
    };
    let timeout = opts.request_timeout.unwrap_or(Duration::from_secs(30));
    config.connect_timeout = Some(Duration::from_secs(10).min(timeout));
    config.read_timeout = Some(timeout);
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).map_err(|e| ClusterError::Unreachable {
        server: server.clone(),
        message: e.to_string(),
    })?;
    Ok(Cluster {
        client,
        server: server.trim_end_matches('/').to_string(),
        context,
    })
}

/// Where a kind lives on this cluster, or why it does not.
#[derive(Debug, Clone)]
pub enum Served {
    Yes {
        resource: ApiResource,
        namespaced: bool,
        has_status: bool,
    },
    /// The group/version or the kind is not served: `NOT_SERVED`, with what was asked.
    No(String),
}

/// Per-call discovery cache: one request per group/version of the stack.
pub struct Discovery {
    cluster: Cluster,
    groups: HashMap<String, Option<Vec<(ApiResource, ApiCapabilities)>>>,
}

impl Discovery {
    pub fn new(cluster: &Cluster) -> Self {
        Discovery {
            cluster: cluster.clone(),
            groups: HashMap::new(),
        }
    }

    /// Resolve an apiVersion and kind. An unanswered request is an error; a 404 is "not served".
    pub async fn resolve(&mut self, api_version: &str, kind: &str) -> Result<Served, ClusterError> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        if !self.groups.contains_key(api_version) {
            let gv = kube::core::GroupVersion::gv(&group, &version);
            let found = match kube::discovery::pinned_group(&self.cluster.client, &gv).await {
                Ok(g) => Some(g.versioned_resources(&version)),
                // 404; or code 0: a JSON body that is not a Status (the generic API server
                // answers an unknown path such as /api/v1 on the apiextensions-apiserver with
                // its list of paths), which kube reads as a Status without a code
                Err(kube::Error::Api(s))
                    if s.code == 404 || (s.code == 0 && s.reason.is_empty()) =>
                {
                    None
                }
                Err(e) => {
                    return Err(api_error(
                        &self.cluster,
                        &format!("discovery of {api_version}"),
                        e,
                    ));
                }
            };
            self.groups.insert(api_version.to_string(), found);
        }
        let shown_group = if group.is_empty() { "core" } else { &group };
        Ok(
            match self.groups.get(api_version).and_then(|g| g.as_ref()) {
                None => Served::No(format!(
                    "{kind} ({api_version}): {NOT_SERVED} (it serves no {shown_group} API at version {version})"
                )),
                Some(resources) => match resources.iter().find(|(r, _)| r.kind == kind) {
                    Some((r, caps)) => Served::Yes {
                        resource: r.clone(),
                        namespaced: caps.scope == Scope::Namespaced,
                        has_status: caps
                            .subresources
                            .iter()
                            .any(|(s, _)| s.plural.ends_with("/status") || s.plural == "status"),
                    },
                    None => Served::No(format!(
                        "{kind} ({api_version}): {NOT_SERVED} (its {shown_group}/{version} API has no kind {kind})"
                    )),
                },
            },
        )
    }
}

/// A kube error as a typed error naming the server and the operation; API refusals keep the
/// server's message (callers scrub secret bytes before it reaches a result).
pub(crate) fn api_error(cluster: &Cluster, what: &str, e: kube::Error) -> ClusterError {
    match e {
        kube::Error::Api(s) => ClusterError::Api {
            server: cluster.server.clone(),
            what: what.to_string(),
            message: format!("{} ({} {})", s.message, s.code, s.reason),
        },
        other => ClusterError::Unreachable {
            server: cluster.server.clone(),
            message: format!("{what}: {other}"),
        },
    }
}

/// The first line of a cluster report: `cluster SERVER (context C)`.
pub(crate) fn header(server: &str, context: &str) -> String {
    if context.is_empty() {
        format!("cluster {server}\n")
    } else {
        format!("cluster {server} (context {context})\n")
    }
}
