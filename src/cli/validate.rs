//! `validate`: findings for YAML files or folders (default: the stack); with `--spec`, a
//! PASS/FAIL row per success criterion.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use traffic_engineer::validate::Validator;
use traffic_engineer::validation::CheckReport;
use traffic_engineer::workspace::{STACK_DIR, Stack};

use super::args::{CrdsArg, ReportFormat, RootArg};
use super::config::{Env, existing_file, load_validator, read_spec, root_or_current};

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// YAML files or folders [default: the stack under --root]. With --spec: one path, the
    /// stack folder or the root that holds traffic/.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    root: RootArg,
    #[command(flatten)]
    crds: CrdsArg,
    /// A traffic spec: adds a PASS/FAIL row per success criterion.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Output format (SARIF 2.1.0 for code-scanning tools).
    #[arg(long, value_enum, default_value_t)]
    format: ReportFormat,
    /// Check against the cluster: its installed CRDs and its live objects (read only).
    #[arg(long)]
    cluster: bool,
    #[command(flatten)]
    connect: traffic_engineer::cluster::cli::ConnectArgs,
}

/// What to check.
enum Target {
    /// The stack at a root, optionally against a spec.
    Stack { stack: Stack, spec: Option<PathBuf> },
    /// Files and folders.
    Paths(Vec<PathBuf>),
    /// The stack against the cluster's CRDs and live objects.
    Cluster {
        path: PathBuf,
        connect: traffic_engineer::cluster::cli::ConnectArgs,
    },
}

pub struct Validate {
    target: Target,
    crds: Vec<PathBuf>,
    /// The built-in kinds' schemas (Kubernetes' OpenAPI documents), if a source gave them.
    openapi: Option<PathBuf>,
    /// Where the pinned CRDs are fetched on first use when no source gave any.
    cache: PathBuf,
    /// The load cache (None: `--no-cache`).
    load_cache: Option<PathBuf>,
    format: ReportFormat,
}

impl ValidateArgs {
    pub fn resolve(self, env: &Env) -> anyhow::Result<Validate> {
        if self.root.root.is_some() && !self.paths.is_empty() {
            bail!("give either --root or PATH, not both (PATH names what to check)");
        }
        let spec = self.spec.map(|s| existing_file("--spec", s)).transpose()?;
        if self.cluster {
            if spec.is_some() {
                bail!("--cluster with --spec: not supported yet; run them separately");
            }
            let path = match self.paths.as_slice() {
                [] => root_or_current(&self.root),
                [one] => one.clone(),
                _ => bail!(
                    "with --cluster, give one PATH: the stack folder or the root that holds it"
                ),
            };
            return Ok(Validate {
                target: Target::Cluster {
                    path,
                    connect: self.connect,
                },
                crds: Vec::new(),
                openapi: None,
                cache: env.cache_dir(),
                load_cache: None,
                format: self.format,
            });
        }
        let target = match (spec, self.paths.as_slice()) {
            (None, []) => Target::Stack {
                stack: Stack::new(root_or_current(&self.root)),
                spec: None,
            },
            (Some(spec), []) => Target::Stack {
                stack: stack_for(&root_or_current(&self.root))?,
                spec: Some(spec),
            },
            (Some(spec), [one]) => Target::Stack {
                stack: stack_for(one)?,
                spec: Some(spec),
            },
            (Some(_), _) => {
                bail!("with --spec, give one PATH: the stack folder or the root that holds it")
            }
            (None, _) => Target::Paths(self.paths),
        };
        if let Target::Stack { stack, spec: None } = &target
            && !stack.dir().is_dir()
        {
            bail!(
                "nothing to check: {} does not exist; give YAML files or folders as PATH, or --root DIR for a root that holds traffic/",
                stack.dir().display()
            );
        }
        Ok(Validate {
            target,
            openapi: env.openapi_source(&self.crds),
            crds: env.crd_sources(&self.crds),
            cache: env.cache_dir(),
            load_cache: env.load_cache(&self.crds)?,
            format: self.format,
        })
    }
}

pub fn run(c: Validate) -> anyhow::Result<ExitCode> {
    let report: CheckReport = match c.target {
        Target::Cluster { path, connect } => {
            super::cluster::block_on(traffic_engineer::cluster::cli::validate(&connect, &path))??
                .into()
        }
        target => local(
            target,
            load_or_fetch(c.crds, c.openapi, &c.cache, c.load_cache.as_deref())?,
        )?,
    };
    // a check that ran on nothing is not a pass
    if report.report.summary.documents == 0 {
        bail!("0 documents: the paths given hold no YAML object, so nothing was checked");
    }
    let code = print(&report, c.format)?;
    // nor is one that could not run on some of it (the report says what, and why)
    if !report.report.complete() && !report.failed() {
        bail!(
            "not checked: {}; pass --openapi DIR, set TRAFFIC_ENGINEER_OPENAPI, or run `traffic-engineer crds fetch`",
            report.report.summary.not_checked.join("; ")
        );
    }
    Ok(code)
}

/// The engine with the CRDs given; when none was given (or only an empty cache), the pinned
/// upstream CRDs fetched once into the cache (as kubeconform does with its schemas). Without
/// CRDs the schema and CEL checks could not run: that is an error (exit 2), never "0 errors".
fn load_or_fetch(
    crds: Vec<PathBuf>,
    openapi: Option<PathBuf>,
    cache: &Path,
    load_cache: Option<&Path>,
) -> anyhow::Result<Validator> {
    let openapi = openapi.or_else(|| fetch_openapi(cache));
    let implicit = crds.is_empty() || crds == [cache.to_path_buf()];
    let validator = load_validator(&crds, openapi.as_deref(), load_cache)?;
    if validator.crd_count() > 0 {
        return Ok(validator);
    }
    if !implicit {
        bail!(
            "the CRD sources given ({}) hold no CustomResourceDefinition, so the schema and CEL checks could not run; nothing was checked",
            crds.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    tracing::warn!(cache = %cache.display(), "no CRDs given: fetching the pinned upstream CRDs");
    if let Err(e) = traffic_engineer::fetch::fetch(
        &traffic_engineer::fetch::Mirror::Default,
        cache,
        std::time::Duration::from_secs(30),
    ) {
        bail!(
            "no CRDs to check schemas and CEL rules against, and the pinned ones could not be fetched ({e}); pass --crds PATH, set TRAFFIC_ENGINEER_CRDS, or run `traffic-engineer crds fetch --mirror URL|DIR`; nothing was checked"
        );
    }
    load_validator(&[cache.to_path_buf()], openapi.as_deref(), load_cache)
}

/// No OpenAPI documents given or cached: fetch the pinned Kubernetes release's once into the
/// cache. None when that fails too (built-in kinds are then reported as not checked).
fn fetch_openapi(cache: &Path) -> Option<PathBuf> {
    let dest = cache.join(traffic_engineer::fetch::OPENAPI_DIR);
    tracing::warn!(cache = %dest.display(), "no Kubernetes OpenAPI documents given: fetching the pinned ones");
    match traffic_engineer::fetch::fetch_openapi(
        &traffic_engineer::fetch::Mirror::Default,
        &dest,
        std::time::Duration::from_secs(30),
    ) {
        Ok(_) => Some(dest),
        Err(e) => {
            tracing::warn!(error = %e, "the Kubernetes OpenAPI documents could not be fetched: built-in kinds will not be checked");
            None
        }
    }
}

/// Validate offline. Files named on the command line are read one at a time by the engine
/// (streamed), not all loaded first.
fn local(target: Target, validator: Validator) -> anyhow::Result<CheckReport> {
    // The command ends with the process: the compiled schemas and CEL programs are left to
    // the exit instead of being freed one by one (a Deployment's validator takes about 1 ms
    // to drop, a tenth of a one-Deployment run).
    let validator = std::mem::ManuallyDrop::new(validator);
    let validator: &Validator = &validator;
    Ok(match target {
        Target::Stack {
            stack,
            spec: Some(spec_path),
        } => {
            let (parsed, name) = read_spec(&spec_path)?;
            let (report, rows) = traffic_engineer::spec::check(&parsed, &stack, validator, &name)?;
            CheckReport::new(report, rows)
        }
        Target::Stack { stack, spec: None } => {
            traffic_engineer::validation::validate_stack(validator, &stack)?.into()
        }
        Target::Paths(paths) => validator
            .validate_files(&source_files(&paths)?, &Default::default())?
            .into(),
        Target::Cluster { .. } => unreachable!("handled by run"),
    })
}

/// JSON and SARIF are written as they are serialized (through a buffer), not built in one
/// String first: on a large input the report is megabytes.
fn print(report: &CheckReport, format: ReportFormat) -> anyhow::Result<ExitCode> {
    let mut out = std::io::BufWriter::new(super::stdout());
    match format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        ReportFormat::Text => write!(out, "{}", report.to_text())?,
        ReportFormat::Sarif => {
            let sarif = traffic_engineer::validate::sarif::to_sarif(&report.report);
            serde_json::to_writer_pretty(&mut out, &sarif)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(super::status(!report.failed()))
}

/// The stack a path names: the stack folder itself, or a root holding traffic/.
fn stack_for(path: &Path) -> anyhow::Result<Stack> {
    if path.join(STACK_DIR).is_dir() {
        return Ok(Stack::new(path));
    }
    if path.file_name().is_some_and(|n| n == STACK_DIR) && path.is_dir() {
        return Ok(Stack::new(path.parent().unwrap_or(Path::new("."))));
    }
    bail!(
        "{}: expected the stack folder (traffic/) or the root that holds it",
        path.display()
    )
}

/// The YAML files under `paths` (folders: their *.yaml and *.yml files but the
/// kustomization, sorted); the engine reads each when its turn comes.
fn source_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|e| e.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .filter(|e| e.file_name().is_some_and(|n| n != "kustomization.yaml"))
                .collect();
            entries.sort();
            out.extend(source_files(&entries)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}
