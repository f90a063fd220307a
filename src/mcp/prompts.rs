//! MCP prompts, written in `prompts/*.md` (minijinja placeholders for their arguments), with
//! argument completion.

use rmcp::{
    ErrorData as McpError, handler::server::router::prompt::PromptRouter,
    handler::server::wrapper::Parameters, model::*, prompt, prompt_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::TrafficServer;

/// The prompt files, embedded at build time: (prompt name, text).
pub const PROMPTS: &[(&str, &str)] = &[
    ("write_spec", include_str!("../../prompts/write_spec.md")),
    (
        "review_stack",
        include_str!("../../prompts/review_stack.md"),
    ),
    (
        "production_readiness",
        include_str!("../../prompts/production_readiness.md"),
    ),
];

/// Values offered for completion of the `focus` argument.
pub const FOCUS: &[&str] = &[
    "all",
    "gateway",
    "routes",
    "rate-limits",
    "circuit-breaker",
    "tls",
    "autoscaling",
];
/// Values offered for completion of the `environment` argument.
pub const ENVIRONMENTS: &[&str] = &["local", "staging", "production"];

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct WriteSpecArgs {
    /// The service to expose, e.g. task-api.
    pub service: String,
    /// Its namespace (default: the service name).
    pub namespace: Option<String>,
    /// The public hostname (default: <service>.example.com).
    pub hostname: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ReviewArgs {
    /// all, gateway, routes, rate-limits, circuit-breaker, tls or autoscaling (default all).
    pub focus: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ReadinessArgs {
    /// local, staging or production (default production).
    pub environment: Option<String>,
}

fn render(name: &str, ctx: serde_json::Value) -> Result<String, McpError> {
    let src = PROMPTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| McpError::invalid_params(format!("unknown prompt {name}"), None))?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(src, minijinja::value::Serde(ctx))
        .map_err(|e| McpError::internal_error(format!("prompt {name}: {e}"), None))
}

/// A prompt of one user message.
fn user_message(text: String, description: &str) -> GetPromptResult {
    GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
        .with_description(description)
}

/// A plain one-line argument: no control characters, bounded length.
fn arg(field: &str, v: &str) -> Result<String, McpError> {
    if v.len() > 200 || v.chars().any(char::is_control) {
        return Err(McpError::invalid_params(
            format!("{field}: expected one line of at most 200 characters"),
            None,
        ));
    }
    Ok(v.to_string())
}

fn one_of(field: &str, v: &str, allowed: &[&str]) -> Result<String, McpError> {
    if allowed.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(McpError::invalid_params(
            format!("{field}: expected one of {}", allowed.join(", ")),
            None,
        ))
    }
}

#[prompt_router(vis = "pub(super)")]
impl TrafficServer {
    /// Write traffic-spec.md with the user: intent, success criteria SC-001..., and the yaml traffic-spec block; then generate and validate.
    #[prompt(name = "write_spec")]
    async fn write_spec(
        &self,
        Parameters(a): Parameters<WriteSpecArgs>,
    ) -> Result<GetPromptResult, McpError> {
        let service = arg("service", &a.service)?;
        let namespace = arg("namespace", a.namespace.as_deref().unwrap_or(&service))?;
        let hostname = arg(
            "hostname",
            &a.hostname
                .unwrap_or_else(|| format!("{service}.example.com")),
        )?;
        let text = render(
            "write_spec",
            serde_json::json!({"service": service, "namespace": namespace, "hostname": hostname}),
        )?;
        Ok(user_message(text, "write traffic-spec.md, spec first"))
    }

    /// Review a generated stack resource by resource against the specifics that fail in practice.
    #[prompt(name = "review_stack")]
    async fn review_stack(
        &self,
        Parameters(a): Parameters<ReviewArgs>,
    ) -> Result<GetPromptResult, McpError> {
        let focus = one_of("focus", a.focus.as_deref().unwrap_or("all"), FOCUS)?;
        let text = render("review_stack", serde_json::json!({"focus": focus}))?;
        Ok(user_message(text, "resource-by-resource review"))
    }

    /// A production-readiness pass: what offline validation cannot see, with the commands that check it.
    #[prompt(name = "production_readiness")]
    async fn production_readiness(
        &self,
        Parameters(a): Parameters<ReadinessArgs>,
    ) -> Result<GetPromptResult, McpError> {
        let environment = one_of(
            "environment",
            a.environment.as_deref().unwrap_or("production"),
            ENVIRONMENTS,
        )?;
        let text = render(
            "production_readiness",
            serde_json::json!({"environment": environment}),
        )?;
        Ok(user_message(text, "production-readiness pass"))
    }
}

impl TrafficServer {
    pub(super) fn prompts() -> PromptRouter<Self> {
        Self::prompt_router()
    }

    /// Completion values for a prompt argument.
    pub(super) fn complete_prompt_arg(
        &self,
        prompt: &str,
        argument: &str,
        prefix: &str,
    ) -> Vec<String> {
        let from_stack =
            |kind: &str, field: fn(&crate::generate::StackManifest) -> String| -> Vec<String> {
                let mut v: Vec<String> = self
                    .stack()
                    .snapshot()
                    .map(|s| {
                        s.manifests
                            .iter()
                            .filter(|m| m.kind() == kind)
                            .map(field)
                            .collect()
                    })
                    .unwrap_or_default();
                v.sort();
                v.dedup();
                v
            };
        let values: Vec<String> = match (prompt, argument) {
            ("review_stack", "focus") => FOCUS.iter().map(|s| s.to_string()).collect(),
            ("production_readiness", "environment") => {
                ENVIRONMENTS.iter().map(|s| s.to_string()).collect()
            }
            ("write_spec", "service") => {
                let mut v = from_stack("HTTPRoute", |m| m.name().to_string());
                v.push("task-api".into());
                v
            }
            ("write_spec", "namespace") => {
                let mut v = from_stack("Namespace", |m| m.name().to_string());
                v.push("task-api".into());
                v
            }
            ("write_spec", "hostname") => {
                let mut v: Vec<String> = self
                    .stack()
                    .snapshot()
                    .map(|s| {
                        s.manifests
                            .iter()
                            .filter(|m| m.kind() == "HTTPRoute")
                            .flat_map(|m| {
                                m.value["spec"]["hostnames"]
                                    .as_array()
                                    .cloned()
                                    .unwrap_or_default()
                            })
                            .filter_map(|h| h.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                v.push("task-api.example.com".into());
                v
            }
            _ => Vec::new(),
        };
        let mut out: Vec<String> = values
            .into_iter()
            .filter(|v| v.starts_with(prefix))
            .collect();
        out.sort();
        out.dedup();
        out.truncate(100);
        out
    }
}

/// Check a prompt's arguments against what prompts/list publishes, in plain words (serde's
/// "Failed to parse parameters: missing field `service`" is not for people): unknown prompt,
/// unknown argument, missing required argument, a value that is not text.
pub fn check_arguments(
    listed: &[Prompt],
    name: &str,
    args: Option<&JsonObject>,
) -> Result<(), McpError> {
    let names = || {
        listed
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let shown: String = name.chars().take(100).collect();
    let Some(prompt) = listed.iter().find(|p| p.name == name) else {
        return Err(McpError::invalid_params(
            format!("unknown prompt {shown:?}; the prompts are {}", names()),
            None,
        ));
    };
    let params = prompt.arguments.as_deref().unwrap_or_default();
    let accepted = || {
        if params.is_empty() {
            "it takes no arguments".to_string()
        } else {
            format!(
                "it takes {}",
                params
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let empty = JsonObject::new();
    let args = args.unwrap_or(&empty);
    for (k, v) in args {
        if !params.iter().any(|a| &a.name == k) {
            let k: String = k.chars().take(100).collect();
            return Err(McpError::invalid_params(
                format!("prompt {name}: unknown argument {k:?}; {}", accepted()),
                None,
            ));
        }
        if !v.is_string() && !v.is_null() {
            return Err(McpError::invalid_params(
                format!("prompt {name}: argument {k} must be text (a JSON string)"),
                None,
            ));
        }
    }
    for a in params {
        if a.required == Some(true) && args.get(&a.name).is_none_or(|v| v.is_null()) {
            let what = a.description.as_deref().unwrap_or("");
            return Err(McpError::invalid_params(
                format!("prompt {name}: missing argument {} ({what})", a.name),
                None,
            ));
        }
    }
    Ok(())
}
