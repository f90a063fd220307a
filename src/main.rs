//! traffic-engineer CLI: `serve` (default) speaks MCP over stdio; `demo` builds the Task API
//! stack; `validate` checks manifests.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rmcp::{ServiceExt, transport::stdio};
use tracing_subscriber::EnvFilter;

use traffic_engineer::mcp::TrafficServer;
use traffic_engineer::validate::Validator;
use traffic_engineer::validation::CheckReport;
use traffic_engineer::workspace::Stack;

#[derive(Parser)]
#[command(
    name = "traffic-engineer",
    version,
    about = "Build, check and prove a Gateway API / Envoy Gateway / KEDA traffic stack"
)]
struct Cli {
    /// Output root; the stack is ROOT/traffic/.
    #[arg(long, global = true, default_value = ".")]
    root: PathBuf,
    /// CRD YAML file or folder for the schema and CEL checks (repeatable). Also read:
    /// TRAFFIC_ENGINEER_CRDS (a path list), then the `crds fetch` cache.
    #[arg(long, global = true)]
    crds: Vec<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over stdio (the default).
    Serve,
    /// Build the Task API stack with the default arguments of every tool, then validate it.
    Demo,
    /// Build the whole stack from a traffic spec (traffic-spec.md).
    Generate {
        /// The spec file.
        #[arg(long)]
        spec: PathBuf,
        /// Output format: text or json.
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Prove the spec's criteria with real traffic against a running gateway (loopback only).
    Verify {
        /// The spec file.
        #[arg(long)]
        spec: PathBuf,
        /// The gateway's listener: http://127.0.0.1:PORT (or https://...).
        #[arg(long)]
        gateway: String,
        /// The HTTPS listener, when --gateway is the HTTP one.
        #[arg(long, default_value = "")]
        https_gateway: String,
        /// PEM certificate to trust for HTTPS (the self-signed certificate).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Host header and TLS SNI (default: the spec's first hostname).
        #[arg(long)]
        host: Option<String>,
        /// A path that answers in 200 ms or more, for the circuit-breaker check.
        #[arg(long, default_value = "/slow")]
        slow_path: String,
        /// Output format: text or json.
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Manage the upstream CRDs the schema and CEL checks use.
    Crds {
        #[command(subcommand)]
        command: CrdsCommand,
    },
    /// Validate YAML files or folders (default: the stack).
    Validate {
        /// Files or folders.
        paths: Vec<PathBuf>,
        /// Output format: text, json or sarif.
        #[arg(long, default_value = "text")]
        format: String,
        /// A traffic spec: adds a PASS/FAIL row per success criterion (PATH is then the stack
        /// folder, or the root that holds traffic/).
        #[arg(long)]
        spec: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CrdsCommand {
    /// Download the CRDs of the pinned upstream releases into the cache.
    Fetch {
        /// Where to download from: a base URL or a local folder with the same layout as the
        /// cache. Default: the upstream repositories at their pinned tags (HTTPS).
        #[arg(long)]
        mirror: Option<String>,
        /// The cache folder (default: $TRAFFIC_ENGINEER_CACHE, $XDG_CACHE_HOME/traffic-engineer/crds
        /// or ~/.cache/traffic-engineer/crds).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// Timeout per file, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Print the cache folder.
    Path,
}

fn init_tracing() {
    let filter =
        EnvFilter::try_from_env("TRAFFIC_ENGINEER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// The YAML files to validate: each file given, and the `*.yaml`/`*.yml` files of each folder
/// given (kustomization.yaml excluded), in name order.
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

fn load_validator(crds: &[PathBuf]) -> anyhow::Result<Validator> {
    let paths = traffic_engineer::validation::crd_paths(crds);
    let t = std::time::Instant::now();
    let v = Validator::load(&paths).context("loading CRDs")?;
    tracing::info!(
        crds = v.crd_count(),
        ms = t.elapsed().as_millis() as u64,
        "CRDs loaded"
    );
    Ok(v)
}

#[allow(clippy::disallowed_methods)] // the CLI's own output
async fn demo(root: PathBuf, validator: Validator) -> anyhow::Result<i32> {
    use traffic_engineer::generate::{self, params::*};
    let stack = Stack::new(&root);
    let mut stdout = std::io::stdout().lock();
    let empty = serde_json::Map::new();
    macro_rules! step {
        ($tool:literal, $p:ty, $f:path) => {{
            let p: $p = parse_args(empty.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let (plan, written) = stack.update(|s| $f(&p, s))?;
            writeln!(stdout, "== {} {{}}\n{}", $tool, plan.summary)?;
            for w in &written {
                writeln!(stdout, "   {:?} {}", w.action, Stack::display_path(&w.file))?;
            }
            for n in &plan.notes {
                writeln!(stdout, "   note: {n}")?;
            }
        }};
    }
    step!(
        "generate_gateway",
        GatewayParams,
        generate::gateway::generate
    );
    step!(
        "add_rate_limit",
        RateLimitParams,
        generate::policy::add_rate_limit
    );
    step!(
        "add_circuit_breaker",
        CircuitBreakerParams,
        generate::policy::add_circuit_breaker
    );
    step!("generate_tls", TlsParams, generate::tls::generate);
    step!(
        "generate_scaledobject",
        ScaledObjectParams,
        generate::scaling::generate
    );
    let report = traffic_engineer::validation::validate_stack(&validator, &stack)?;
    writeln!(stdout, "== validate\n{}", report.to_text())?;
    writeln!(
        stdout,
        "stack written to {}; apply with: kubectl apply -k {}",
        stack.dir().display(),
        stack.dir().display()
    )?;
    Ok(if report.summary.errors > 0 { 1 } else { 0 })
}

#[tokio::main]
async fn main() {
    init_tracing();
    let cli = Cli::parse();
    let code = match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("traffic-engineer: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

#[allow(clippy::disallowed_methods)] // the CLI's own output; `serve` never writes here
async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let root = cli
                .root
                .canonicalize()
                .with_context(|| format!("--root {}", cli.root.display()))?;
            tracing::info!(root = %root.display(), "serving MCP over stdio");
            let paths = traffic_engineer::validation::crd_paths(&cli.crds);
            let stack = Stack::new(root);
            // a crash between a manifest's rename and the kustomization's leaves it one file
            // behind: bring it in step before serving
            if let Err(e) = stack.reconcile() {
                tracing::warn!(error = %e, "could not reconcile the kustomization");
            }
            let server = TrafficServer::with_crd_paths(stack, paths);
            // End of input, SIGTERM or SIGINT: stop cleanly with exit 0, during the handshake
            // too. Writes are atomic renames under the stack lock, so stopping never leaves a
            // partial file (a temporary file of an interrupted write is removed on the next call).
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            let run = async {
                let service = match server.serve(stdio()).await {
                    Ok(s) => s,
                    // the client closed stdin before (or instead of) initializing: a clean end
                    Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
                        return anyhow::Ok(());
                    }
                    Err(e) => return Err(anyhow::Error::new(e).context("MCP handshake failed")),
                };
                service.waiting().await?;
                anyhow::Ok(())
            };
            tokio::select! {
                r = run => r?,
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
            }
            // let a write in progress finish its rename (new calls are refused from here on)
            traffic_engineer::workspace::wait_for_writes(std::time::Duration::from_secs(10));
            Ok(0)
        }
        Command::Demo => demo(cli.root, load_validator(&cli.crds)?).await,
        Command::Verify {
            spec,
            gateway,
            https_gateway,
            ca,
            host,
            slow_path,
            format,
        } => {
            let (parsed, _) = read_spec(&spec)?;
            let ca_pem = match ca {
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("reading --ca {}", p.display()))?,
                ),
                None => None,
            };
            let host = host.unwrap_or_else(|| {
                parsed
                    .gateway
                    .hostnames
                    .first()
                    .cloned()
                    .unwrap_or_default()
            });
            let target =
                traffic_engineer::spec::live::target(&gateway, &https_gateway, &host, ca_pem);
            let opts = traffic_engineer::spec::live::LiveOptions {
                slow_path,
                ..Default::default()
            };
            let (rows, results) = tokio::task::spawn_blocking(move || {
                traffic_engineer::spec::live::verify(
                    &parsed,
                    &target,
                    &opts,
                    &mut |done, total, id| {
                        tracing::info!(done, total, check = id, "verify progress")
                    },
                )
            })
            .await?;
            let mut stdout = std::io::stdout().lock();
            if format == "json" {
                writeln!(
                    stdout,
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"criteria": rows, "checks": results})
                    )?
                )?;
            } else {
                for r in &rows {
                    writeln!(stdout, "{}", r.to_text())?;
                }
            }
            let bad = rows
                .iter()
                .any(|r| matches!(r.status.as_str(), "FAIL" | "UNREACHABLE" | "INVALID"));
            Ok(if bad { 1 } else { 0 })
        }
        Command::Crds { command } => {
            let mut stdout = std::io::stdout().lock();
            match command {
                CrdsCommand::Path => writeln!(
                    stdout,
                    "{}",
                    traffic_engineer::fetch::default_cache_dir().display()
                )?,
                CrdsCommand::Fetch {
                    mirror,
                    cache_dir,
                    timeout,
                } => {
                    use traffic_engineer::fetch::{Mirror, default_cache_dir, fetch};
                    let mirror = match mirror {
                        None => Mirror::Default,
                        Some(m) => m.parse::<Mirror>().unwrap_or(Mirror::Default),
                    };
                    let dest = cache_dir.unwrap_or_else(default_cache_dir);
                    let report = tokio::task::spawn_blocking(move || {
                        fetch(&mirror, &dest, std::time::Duration::from_secs(timeout))
                    })
                    .await??;
                    writeln!(
                        stdout,
                        "{} fetched, {} unchanged, in {}",
                        report.fetched,
                        report.unchanged,
                        report.dir.display()
                    )?;
                }
            }
            Ok(0)
        }
        Command::Generate { spec, format } => {
            let (parsed, _) = read_spec(&spec)?;
            let stack = Stack::new(&cli.root);
            let steps = traffic_engineer::spec::generate(&parsed, &stack)
                .map_err(|(_, e)| anyhow::anyhow!("{e}"))?;
            let mut stdout = std::io::stdout().lock();
            if format == "json" {
                let out: Vec<serde_json::Value> = steps
                    .iter()
                    .map(|s| serde_json::json!({"tool": s.tool, "summary": s.plan.summary, "notes": s.plan.notes, "files": s.written}))
                    .collect();
                writeln!(stdout, "{}", serde_json::to_string_pretty(&out)?)?;
            } else {
                for s in &steps {
                    writeln!(stdout, "== {}\n{}", s.tool, s.plan.summary)?;
                    for w in &s.written {
                        writeln!(stdout, "   {:?} {}", w.action, Stack::display_path(&w.file))?;
                    }
                    for n in &s.plan.notes {
                        writeln!(stdout, "   note: {n}")?;
                    }
                }
                writeln!(
                    stdout,
                    "stack written to {}; next: traffic-engineer validate --spec {} {}",
                    stack.dir().display(),
                    spec.display(),
                    stack.dir().display()
                )?;
            }
            Ok(0)
        }
        Command::Validate {
            paths,
            format,
            spec,
        } => {
            let validator = load_validator(&cli.crds)?;
            let report = match spec {
                Some(spec_path) => {
                    let (parsed, name) = read_spec(&spec_path)?;
                    let stack = stack_for(paths.first().unwrap_or(&cli.root))?;
                    let (report, rows) =
                        traffic_engineer::spec::check(&parsed, &stack, &validator, &name)?;
                    CheckReport::new(report, rows)
                }
                None if paths.is_empty() => traffic_engineer::validation::validate_stack(
                    &validator,
                    &Stack::new(&cli.root),
                )?
                .into(),
                None => validator
                    .validate_files(&source_files(&paths)?, &Default::default())?
                    .into(),
            };
            let mut stdout = std::io::stdout().lock();
            match format.as_str() {
                "json" => writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?,
                "text" => write!(stdout, "{}", report.to_text())?,
                "sarif" => writeln!(
                    stdout,
                    "{}",
                    serde_json::to_string_pretty(&traffic_engineer::validate::sarif::to_sarif(
                        &report.report
                    ))?
                )?,
                other => anyhow::bail!("--format {other}: expected text, json or sarif"),
            }
            Ok(if report.failed() { 1 } else { 0 })
        }
    }
}

/// Read and parse a spec file; errors carry the file and line.
fn read_spec(path: &std::path::Path) -> anyhow::Result<(traffic_engineer::spec::Spec, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match traffic_engineer::spec::parse(&text) {
        Ok(p) => Ok((p.spec, path.display().to_string())),
        Err(errs) => {
            let lines: Vec<String> = errs
                .iter()
                .map(|e| format!("{}:{}: {}: {}", path.display(), e.line, e.field, e.message))
                .collect();
            anyhow::bail!("the spec is invalid:\n{}", lines.join("\n"))
        }
    }
}

/// The stack a path names: the stack folder itself, or a root holding traffic/.
fn stack_for(path: &std::path::Path) -> anyhow::Result<Stack> {
    if path.join(traffic_engineer::workspace::STACK_DIR).is_dir() {
        return Ok(Stack::new(path));
    }
    if path
        .file_name()
        .is_some_and(|n| n == traffic_engineer::workspace::STACK_DIR)
        && path.is_dir()
    {
        return Ok(Stack::new(
            path.parent().unwrap_or(std::path::Path::new(".")),
        ));
    }
    anyhow::bail!(
        "{}: expected the stack folder (traffic/) or the root that holds it",
        path.display()
    )
}
