//! The CLI faces of the cluster half (`apply`, `status`, `validate --cluster`): argument types
//! for clap and one function per command returning the text to print and the exit code, so the
//! binary's wiring stays a few lines. Nothing here prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ApplyMode, ApplyOptions, ClusterError, ConnectOptions, connect};
use crate::workspace::{STACK_DIR, Stack};

/// Where the cluster is.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then the in-cluster service
    /// account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
}

impl ConnectArgs {
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            request_timeout: None,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ApplyArgs {
    /// The root that holds traffic/, or the traffic/ folder (default: --root).
    pub path: Option<PathBuf>,
    /// Only the server-side dry run: show what would change, write nothing.
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
    /// Write. Without --yes (or with --dry-run) nothing is written: the plan is shown.
    #[arg(long)]
    pub yes: bool,
    /// Take over fields another field manager owns (server-side apply force). Off by default:
    /// conflicts are reported.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Seconds to wait for the controllers' verdicts (Gateway Programmed, routes and policies
    /// Accepted, Certificate and ScaledObject Ready); 0 = do not wait.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The root that holds traffic/, or the traffic/ folder (default: --root).
    pub path: Option<PathBuf>,
    /// A traffic spec: which criteria the live state proves (default: traffic-spec.md in the
    /// root, when present).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// The stack a path names: the stack folder itself, or a root holding traffic/.
pub fn stack_at(path: &Path) -> Result<Stack, ClusterError> {
    if path.join(STACK_DIR).is_dir() {
        return Ok(Stack::new(path));
    }
    if path.file_name().is_some_and(|n| n == STACK_DIR) && path.is_dir() {
        return Ok(Stack::new(path.parent().unwrap_or(Path::new("."))));
    }
    Err(ClusterError::Input {
        field: "path".into(),
        message: format!(
            "{}: expected the stack folder ({STACK_DIR}/) or the root that holds it",
            path.display()
        ),
    })
}

fn format_ok(format: &str) -> Result<(), ClusterError> {
    match format {
        "text" | "json" => Ok(()),
        other => Err(ClusterError::Input {
            field: "--format".into(),
            message: format!("{other:?}: expected text or json"),
        }),
    }
}

/// `traffic-engineer apply`: exit 0 when applied and ready (or the plan passed the dry run),
/// 1 when refused, in conflict or not ready before the timeout.
pub async fn apply(args: &ApplyArgs, root: &Path) -> Result<(String, i32), ClusterError> {
    format_ok(&args.format)?;
    let stack = stack_at(args.path.as_deref().unwrap_or(root))?;
    let cluster = connect(&args.connect.options()).await?;
    let write = args.yes && !args.dry_run;
    let opts = ApplyOptions {
        mode: if write {
            ApplyMode::Apply
        } else {
            ApplyMode::Plan
        },
        force_conflicts: args.force_conflicts,
        timeout: Duration::from_secs(args.timeout),
        ..Default::default()
    };
    let mut progress = |done: usize, total: usize, o: &super::ObjectResult| {
        tracing::info!(done, total, object = %o.label(), action = ?o.action, readiness = ?o.readiness, "apply progress");
    };
    let report = super::apply(&cluster, &stack, &opts, &mut progress).await?;
    let mut text = if args.format == "json" {
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
    } else {
        report.to_text()
    };
    if !write && args.format == "text" && !report.refused() {
        text.push_str("nothing written: run again with --yes to apply\n");
    }
    let bad = report.refused() || (write && report.timed_out);
    Ok((text, if bad { 1 } else { 0 }))
}

/// `traffic-engineer status`: exit 1 when an object is absent or not ready, or a criterion fails.
pub async fn status(args: &StatusArgs, root: &Path) -> Result<(String, i32), ClusterError> {
    format_ok(&args.format)?;
    let base = args.path.as_deref().unwrap_or(root);
    let stack = stack_at(base)?;
    let spec_path = match &args.spec {
        Some(p) => Some(p.clone()),
        None => Some(stack.root().join("traffic-spec.md")).filter(|p| p.is_file()),
    };
    let spec = match spec_path {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|e| ClusterError::Input {
                field: "--spec".into(),
                message: format!("{}: {e}", p.display()),
            })?;
            match crate::spec::parse(&text) {
                Ok(parsed) => Some(parsed.spec),
                Err(errs) => {
                    return Err(ClusterError::Input {
                        field: "--spec".into(),
                        message: errs
                            .iter()
                            .map(|e| {
                                format!("{}:{}: {}: {}", p.display(), e.line, e.field, e.message)
                            })
                            .collect::<Vec<_>>()
                            .join("\n"),
                    });
                }
            }
        }
    };
    let cluster = connect(&args.connect.options()).await?;
    let report = super::status(&cluster, &stack, spec.as_ref()).await?;
    let text = if args.format == "json" {
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
    } else {
        report.to_text()
    };
    Ok((text, if report.failing() { 1 } else { 0 }))
}

/// `validate --cluster`: the report of [`super::validate_cluster`].
pub async fn validate(
    connect_args: &ConnectArgs,
    path: &Path,
) -> Result<crate::validate::Report, ClusterError> {
    let stack = stack_at(path)?;
    let cluster = connect(&connect_args.options()).await?;
    super::validate_cluster(&cluster, &stack).await
}
