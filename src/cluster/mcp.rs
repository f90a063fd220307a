//! The MCP faces of the cluster half: the `apply` tool (destructive: writes only with
//! `confirm: true`, or after the user accepts through the client's elicitation) and the `status`
//! tool (read only). The cluster comes from the server's environment (KUBECONFIG,
//! ~/.kube/config, or the in-cluster service account): arguments name a context, never a path.

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, ProgressNotificationParam};
use rmcp::service::{ElicitationError, RequestContext};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ApplyMode, ApplyOptions, ConnectOptions, connect};
use crate::generate::params::parse_args;
use crate::workspace::Stack;

/// Arguments of the `apply` tool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyParams {
    /// Default: the current one.
    #[serde(default)]
    pub context: String,
    /// Dry run only: the plan.
    #[serde(default)]
    pub dry_run: bool,
    /// Write. Else the plan only (unless the user confirms).
    #[serde(default)]
    pub confirm: bool,
    /// Take over fields of other managers.
    #[serde(default)]
    pub force_conflicts: bool,
    /// Wait for verdicts, seconds (0: none).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

fn default_timeout() -> u32 {
    120
}

/// Arguments of the `status` tool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusParams {
    /// Default: the current one.
    #[serde(default)]
    pub context: String,
    /// Spec file in the root (default traffic-spec.md).
    #[serde(default)]
    pub spec_file: String,
}

/// What the elicitation asks: one yes/no.
#[derive(Debug, Deserialize, serde::Serialize, JsonSchema)]
pub struct Confirmation {
    /// true to apply the plan shown to the cluster.
    pub apply: bool,
}
rmcp::elicit_safe!(Confirmation);

fn error_result(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

fn connect_options(context: &str) -> ConnectOptions {
    ConnectOptions {
        context: (!context.is_empty()).then(|| context.to_string()),
        ..Default::default()
    }
}

fn result(report: &super::ApplyReport, failed: bool, extra: &str) -> CallToolResult {
    let mut text = report.to_text();
    text.push_str(extra);
    let mut r = if failed {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    r.structured_content = serde_json::to_value(report).ok();
    r
}

/// The `apply` tool.
pub async fn apply_tool(
    stack: &Stack,
    args: JsonObject,
    ctx: RequestContext<RoleServer>,
) -> CallToolResult {
    let p: ApplyParams = match parse_args(args) {
        Ok(p) => p,
        Err(e) => return error_result(format!("invalid argument {e}. Nothing was written.")),
    };
    if p.timeout_seconds > 1800 {
        return error_result(format!(
            "invalid argument timeout_seconds: {} is above 1800. Nothing was written.",
            p.timeout_seconds
        ));
    }
    if p.dry_run && p.confirm {
        return error_result(
            "invalid argument dry_run: true with confirm: true; a dry run writes nothing. Pass one of them. Nothing was written.".into(),
        );
    }
    let cluster = match connect(&connect_options(&p.context)).await {
        Ok(c) => c,
        Err(e) => return error_result(format!("{e}. Nothing was written.")),
    };
    let mut opts = ApplyOptions {
        mode: ApplyMode::Plan,
        force_conflicts: p.force_conflicts,
        timeout: Duration::from_secs(u64::from(p.timeout_seconds)),
        ..Default::default()
    };
    let mut quiet = |_: usize, _: usize, _: &super::ObjectResult| {};
    // the plan first, always: it is the server-side dry run of the whole stack
    let plan = match super::apply(&cluster, stack, &opts, &mut quiet).await {
        Ok(r) => r,
        Err(e) => return error_result(format!("{e}. Nothing was written.")),
    };
    if plan.refused() {
        return result(&plan, true, "");
    }
    if p.dry_run {
        return result(&plan, false, "");
    }
    if !p.confirm {
        // ask the user through the client when it can; otherwise return the plan
        let question = format!(
            "Apply the stack to {} ({} objects)? {}",
            cluster.server,
            plan.objects.len(),
            plan.summary
        );
        match ctx.peer.elicit::<Confirmation>(question).await {
            Ok(Some(Confirmation { apply: true })) => {}
            Ok(_) | Err(ElicitationError::UserDeclined) | Err(ElicitationError::UserCancelled) => {
                return result(&plan, false, "nothing written: the user did not confirm\n");
            }
            Err(_) => {
                return result(
                    &plan,
                    false,
                    "nothing written: call apply again with confirm: true to write this plan\n",
                );
            }
        }
    }
    opts.mode = ApplyMode::Apply;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, usize, String)>();
    let token = ctx.meta.get_progress_token();
    let peer = ctx.peer.clone();
    let notifier = tokio::spawn(async move {
        while let Some((done, total, message)) = rx.recv().await {
            if let Some(t) = &token {
                let _ = peer
                    .notify_progress(
                        ProgressNotificationParam::new(t.clone(), done as f64)
                            .with_total(total as f64)
                            .with_message(message),
                    )
                    .await;
            }
        }
    });
    let mut progress = |done: usize, total: usize, o: &super::ObjectResult| {
        let what = match o.readiness {
            super::apply::Readiness::Ready => "ready".to_string(),
            _ => serde_json::to_value(o.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        let _ = tx.send((done, total, format!("{} {what}", o.label())));
    };
    let outcome = super::apply(&cluster, stack, &opts, &mut progress).await;
    drop(tx);
    let _ = notifier.await;
    match outcome {
        Ok(r) => {
            let failed = r.refused() || r.timed_out;
            result(&r, failed, "")
        }
        Err(e) => error_result(format!(
            "{e}. Objects before the failure may have been written: call status to see the cluster's state."
        )),
    }
}

/// The `status` tool.
pub async fn status_tool(stack: &Stack, args: JsonObject) -> CallToolResult {
    let p: StatusParams = match parse_args(args) {
        Ok(p) => p,
        Err(e) => return error_result(format!("invalid argument {e}")),
    };
    let spec_file = if p.spec_file.is_empty() {
        "traffic-spec.md"
    } else {
        p.spec_file.as_str()
    };
    let spec = match stack.read_root_file(spec_file) {
        Ok(text) => match crate::spec::parse(&text) {
            Ok(parsed) => Some(parsed.spec),
            Err(errs) => {
                return error_result(format!(
                    "invalid argument spec_file: {spec_file} does not parse: {}",
                    errs.iter()
                        .map(|e| format!("line {}: {}: {}", e.line, e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        },
        Err(_) if p.spec_file.is_empty() => None,
        Err(e) => return error_result(format!("invalid argument spec_file: {e}")),
    };
    let cluster = match connect(&connect_options(&p.context)).await {
        Ok(c) => c,
        Err(e) => return error_result(e.to_string()),
    };
    match super::status(&cluster, stack, spec.as_ref()).await {
        Ok(r) => {
            let mut out = if r.failing() {
                CallToolResult::error(vec![ContentBlock::text(r.to_text())])
            } else {
                CallToolResult::success(vec![ContentBlock::text(r.to_text())])
            };
            out.structured_content = serde_json::to_value(&r).ok();
            out
        }
        Err(e) => error_result(e.to_string()),
    }
}
