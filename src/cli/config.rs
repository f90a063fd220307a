//! Arguments resolved once into what each command needs: the environment is read here (and
//! only here, by [`Env::from_process`]), the root, CRD sources and cache folder are decided
//! here, and every argument is checked here, so a command's function gets typed values and
//! never an empty string standing for "absent".

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tracing_subscriber::EnvFilter;

use super::args::{self, Args};
use super::{crds, demo, generate, serve, validate, verify};

/// The environment variables the CLI honours, read once.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `TRAFFIC_ENGINEER_CRDS`: CRD files or folders, a path list.
    pub crds: Option<OsString>,
    /// `TRAFFIC_ENGINEER_OPENAPI`: a folder of Kubernetes' OpenAPI v3 documents.
    pub openapi: Option<OsString>,
    /// `TRAFFIC_ENGINEER_CACHE`: the CRD cache folder.
    pub cache: Option<OsString>,
    /// `XDG_CACHE_HOME`.
    pub xdg_cache: Option<OsString>,
    /// `TRAFFIC_ENGINEER_NO_CACHE`: `1`/`true` turns the load cache off.
    pub no_cache: Option<OsString>,
    /// The home folder (the system temp folder when there is none).
    pub home: PathBuf,
    /// The system temp folder.
    pub temp: PathBuf,
    /// `TRAFFIC_ENGINEER_LOG`, else `RUST_LOG`: (variable, value).
    pub log: Option<(&'static str, OsString)>,
}

impl Env {
    /// Read the process's environment. The only place the CLI and the library read it.
    pub fn from_process() -> Env {
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let temp = std::env::temp_dir();
        Env {
            crds: non_empty("TRAFFIC_ENGINEER_CRDS"),
            openapi: non_empty("TRAFFIC_ENGINEER_OPENAPI"),
            cache: non_empty("TRAFFIC_ENGINEER_CACHE"),
            xdg_cache: non_empty("XDG_CACHE_HOME"),
            no_cache: non_empty("TRAFFIC_ENGINEER_NO_CACHE"),
            home: std::env::home_dir()
                .filter(|h| !h.as_os_str().is_empty())
                .unwrap_or_else(|| temp.clone()),
            temp,
            log: ["TRAFFIC_ENGINEER_LOG", "RUST_LOG"]
                .into_iter()
                .find_map(|name| non_empty(name).map(|v| (name, v))),
        }
    }

    /// The folder `crds fetch` fills and the checks read by default.
    pub fn cache_dir(&self) -> PathBuf {
        traffic_engineer::fetch::cache_dir(self.cache.clone(), self.xdg_cache.clone(), &self.home)
    }

    /// The load cache's folder (the cache folder's `load-cache/`), or None when `--no-cache` or
    /// `TRAFFIC_ENGINEER_NO_CACHE` (`1`, `true`; `0`, `false` keep it) turn it off. Another
    /// value of the variable is refused, naming it.
    pub fn load_cache(&self, given: &args::CrdsArg) -> anyhow::Result<Option<PathBuf>> {
        let off = match self.no_cache.as_ref().map(|v| v.to_str()) {
            None => false,
            Some(Some("1" | "true")) => true,
            Some(Some("0" | "false")) => false,
            Some(v) => bail!(
                "TRAFFIC_ENGINEER_NO_CACHE={:?}: accepted values are 1 or true (no load cache), 0 or false",
                v.unwrap_or("(not UTF-8)")
            ),
        };
        Ok((!off && !given.no_cache).then(|| {
            self.cache_dir()
                .join(traffic_engineer::validate::cache::DIR_NAME)
        }))
    }

    /// The CRD sources to load: each `--crds` path, then every path in `TRAFFIC_ENGINEER_CRDS`,
    /// then, when neither gave one, the cache if it exists.
    pub fn crd_sources(&self, given: &args::CrdsArg) -> Vec<PathBuf> {
        let mut out = given.crds.clone();
        if let Some(list) = &self.crds {
            out.extend(std::env::split_paths(list).filter(|p| !p.as_os_str().is_empty()));
        }
        if out.is_empty() {
            let cache = self.cache_dir();
            // a folder `crds fetch` completed (it writes SOURCES.txt last): the load cache
            // alone, or an interrupted download, is not a source of CRDs
            if cache.join(traffic_engineer::fetch::SOURCES_FILE).is_file() {
                out.push(cache);
            }
        }
        out
    }

    /// The folder of Kubernetes' OpenAPI documents (the built-in kinds' schemas): `--openapi`,
    /// else `TRAFFIC_ENGINEER_OPENAPI`, else the cache's kubernetes-openapi folder when
    /// `crds fetch` filled it (its SOURCES.txt, written last, is there: a download that failed
    /// half-way leaves a folder without it). None: none is available (built-in kinds are then
    /// not checked).
    pub fn openapi_source(&self, given: &args::CrdsArg) -> Option<PathBuf> {
        if let Some(p) = &given.openapi {
            return Some(p.clone());
        }
        if let Some(p) = &self.openapi {
            return Some(PathBuf::from(p));
        }
        Some(self.cache_dir().join(traffic_engineer::fetch::OPENAPI_DIR))
            .filter(|p| p.join(traffic_engineer::fetch::SOURCES_FILE).is_file())
    }

    /// The log filter: the variable's directive, else `default`. A directive that does not
    /// parse is refused, naming the variable.
    fn log_filter(&self, default: &str) -> anyhow::Result<EnvFilter> {
        match &self.log {
            None => Ok(EnvFilter::new(default)),
            Some((name, value)) => {
                let text = value
                    .to_str()
                    .with_context(|| format!("{name} is not UTF-8"))?;
                EnvFilter::try_new(text).with_context(|| {
                    format!(
                        "{name}={text:?}: not a log filter (e.g. `debug`, `traffic_engineer=debug`)"
                    )
                })
            }
        }
    }
}

/// `--root` as given, else the current folder.
pub fn root_or_current(root: &args::RootArg) -> PathBuf {
    root.root.clone().unwrap_or_else(|| PathBuf::from("."))
}

/// A file that must exist (a spec, a CA): checked at resolution so the error names the flag.
pub fn existing_file(flag: &str, path: PathBuf) -> anyhow::Result<PathBuf> {
    if !path.is_file() {
        bail!("{flag} {}: no such file", path.display());
    }
    Ok(path)
}

/// Everything a run needs, resolved.
pub struct Config {
    pub log_filter: EnvFilter,
    pub command: Command,
}

/// One resolved configuration per command.
pub enum Command {
    Serve(serve::Serve),
    Demo(demo::Demo),
    Generate(generate::Generate),
    Validate(validate::Validate),
    Verify(verify::Verify),
    Apply(super::cluster::Apply),
    Rehearse(super::rehearse::Rehearse),
    RehearseInside(super::rehearse::InsideArgs),
    Status(super::cluster::Status),
    Crds(crds::Crds),
}

impl Config {
    /// Whether the command is the long-lived MCP server (the others end when their work is done).
    pub fn is_server(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }

    /// Resolve the parsed arguments against the environment. Errors are usage errors.
    pub fn from_args(args: Args, env: &Env) -> anyhow::Result<Config> {
        let command = match args.command {
            None => Command::Serve(args.serve.resolve(env)?),
            Some(args::Command::Serve(a)) => Command::Serve(a.resolve(env)?),
            Some(args::Command::Demo(a)) => Command::Demo(a.resolve(env)?),
            Some(args::Command::Generate(a)) => Command::Generate(a.resolve()?),
            Some(args::Command::Validate(a)) => Command::Validate(a.resolve(env)?),
            Some(args::Command::Verify(a)) => Command::Verify(a.resolve()?),
            Some(args::Command::Apply(a)) => Command::Apply(super::cluster::resolve_apply(a)),
            Some(args::Command::Rehearse(a)) => Command::Rehearse(a.resolve()?),
            Some(args::Command::RehearseInside(a)) => Command::RehearseInside(a),
            Some(args::Command::Status(a)) => Command::Status(super::cluster::resolve_status(a)),
            Some(args::Command::Crds(a)) => Command::Crds(a.resolve(env)),
        };
        // A server's log is read by its client's log viewer: info. A command's stderr is the
        // user's terminal: warnings only, unless asked for more.
        let default = match command {
            Command::Serve(_) => "info",
            _ => "warn",
        };
        Ok(Config {
            log_filter: env.log_filter(default)?,
            command,
        })
    }
}

/// Load the validator from the resolved CRD sources and OpenAPI folder (indexed only: each
/// document is read when a kind of it is first checked).
pub fn load_validator(
    paths: &[PathBuf],
    openapi: Option<&Path>,
    load_cache: Option<&Path>,
) -> anyhow::Result<traffic_engineer::validate::Validator> {
    let t = std::time::Instant::now();
    use traffic_engineer::validate::{LoadCache, LoadError, Validator};
    let cache = load_cache.map(LoadCache::new);
    let v = Validator::load_sources(paths, openapi, cache).map_err(|e| match e {
        LoadError::Crds(e) => anyhow::Error::new(e).context("loading CRDs"),
        LoadError::OpenApi(e) => anyhow::Error::new(e).context(
            "indexing the Kubernetes OpenAPI documents (--openapi / TRAFFIC_ENGINEER_OPENAPI)",
        ),
    })?;
    tracing::info!(
        crds = v.crd_count(),
        openapi = v.builtins().map(|b| b.origin().to_string()),
        ms = t.elapsed().as_millis() as u64,
        "CRDs loaded"
    );
    Ok(v)
}

/// Read and parse a spec file; errors carry the file and line.
pub fn read_spec(path: &Path) -> anyhow::Result<(traffic_engineer::spec::Spec, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match traffic_engineer::spec::parse(&text) {
        Ok(p) => Ok((p.spec, path.display().to_string())),
        Err(errs) => {
            let lines: Vec<String> = errs
                .iter()
                .map(|e| format!("{}:{}: {}: {}", path.display(), e.line, e.field, e.message))
                .collect();
            bail!("the spec is invalid:\n{}", lines.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn env() -> Env {
        Env {
            home: "/home/u".into(),
            temp: "/tmp".into(),
            ..Env::default()
        }
    }

    fn resolve(argv: &[&str], env: &Env) -> anyhow::Result<Config> {
        let args =
            Args::try_parse_from(std::iter::once("traffic-engineer").chain(argv.iter().copied()))?;
        Config::from_args(args, env)
    }

    #[test]
    fn crd_sources_are_flags_then_the_variable_then_the_cache() {
        let mut e = env();
        let flags = args::CrdsArg {
            crds: vec!["a".into()],
            openapi: None,
            no_cache: false,
        };
        e.crds = Some("b:c".into());
        assert_eq!(
            e.crd_sources(&flags),
            [PathBuf::from("a"), "b".into(), "c".into()]
        );
        let none = args::CrdsArg {
            crds: vec![],
            openapi: None,
            no_cache: false,
        };
        e.crds = None;
        let dir = tempfile::tempdir().unwrap();
        e.cache = Some(dir.path().into());
        // a cache folder holding no completed fetch (only the load cache, or a download that
        // failed half-way) is no source
        std::fs::create_dir(dir.path().join("load-cache")).unwrap();
        assert!(e.crd_sources(&none).is_empty());
        std::fs::write(dir.path().join(traffic_engineer::fetch::SOURCES_FILE), "").unwrap();
        assert_eq!(e.crd_sources(&none), [dir.path().to_path_buf()]);
        e.cache = Some(dir.path().join("missing").into());
        assert!(e.crd_sources(&none).is_empty());
    }

    #[test]
    fn openapi_source_is_the_flag_then_the_variable_then_the_cache() {
        let mut e = env();
        let dir = tempfile::tempdir().unwrap();
        e.cache = Some(dir.path().into());
        let none = args::CrdsArg {
            crds: vec![],
            openapi: None,
            no_cache: false,
        };
        // an empty cache: none (built-in kinds are then reported as not checked)
        assert_eq!(e.openapi_source(&none), None);
        let cached = dir.path().join(traffic_engineer::fetch::OPENAPI_DIR);
        std::fs::create_dir(&cached).unwrap();
        // the folder of a download that failed half-way: none either
        assert_eq!(e.openapi_source(&none), None);
        std::fs::write(cached.join(traffic_engineer::fetch::SOURCES_FILE), "").unwrap();
        assert_eq!(e.openapi_source(&none), Some(cached));
        e.openapi = Some("/from/env".into());
        assert_eq!(e.openapi_source(&none), Some("/from/env".into()));
        let flag = args::CrdsArg {
            crds: vec![],
            openapi: Some("/from/flag".into()),
            no_cache: false,
        };
        assert_eq!(e.openapi_source(&flag), Some("/from/flag".into()));
    }

    #[test]
    fn the_cache_folder_follows_the_variables() {
        let mut e = env();
        assert_eq!(
            e.cache_dir(),
            PathBuf::from("/home/u/.cache/traffic-engineer/crds")
        );
        e.xdg_cache = Some("/x".into());
        assert_eq!(e.cache_dir(), PathBuf::from("/x/traffic-engineer/crds"));
        e.cache = Some("/c".into());
        assert_eq!(e.cache_dir(), PathBuf::from("/c"));
    }

    #[test]
    fn the_load_cache_is_in_the_cache_folder_unless_turned_off() {
        let mut e = env();
        let mut given = args::CrdsArg {
            crds: vec![],
            openapi: None,
            no_cache: false,
        };
        let on = Some(PathBuf::from(
            "/home/u/.cache/traffic-engineer/crds/load-cache",
        ));
        assert_eq!(e.load_cache(&given).unwrap(), on);
        e.cache = Some("/c".into());
        assert_eq!(
            e.load_cache(&given).unwrap(),
            Some(PathBuf::from("/c/load-cache"))
        );
        e.cache = None;
        given.no_cache = true;
        assert_eq!(e.load_cache(&given).unwrap(), None);
        given.no_cache = false;
        for (value, want) in [
            ("1", None),
            ("true", None),
            ("0", on.clone()),
            ("false", on),
        ] {
            e.no_cache = Some(value.into());
            assert_eq!(e.load_cache(&given).unwrap(), want, "{value}");
        }
        e.no_cache = Some("yes please".into());
        let err = e.load_cache(&given).unwrap_err();
        assert!(
            format!("{err:#}").contains("TRAFFIC_ENGINEER_NO_CACHE"),
            "{err:#}"
        );
    }

    #[test]
    fn logs_default_to_warn_for_commands_and_info_for_the_server() {
        let c = resolve(&["crds", "path"], &env()).unwrap();
        assert_eq!(c.log_filter.to_string(), "warn");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let c = resolve(&["serve", "--root", root], &env()).unwrap();
        assert_eq!(c.log_filter.to_string(), "info");
        let mut e = env();
        e.log = Some(("RUST_LOG", "debug".into()));
        let c = resolve(&["crds", "path"], &e).unwrap();
        assert_eq!(c.log_filter.to_string(), "debug");
        e.log = Some(("RUST_LOG", "=[".into()));
        let err = resolve(&["crds", "path"], &e).err().unwrap();
        assert!(format!("{err:#}").contains("RUST_LOG"), "{err:#}");
    }
}
