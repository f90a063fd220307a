//! The MCP face: tools, resources and instructions over rmcp. Thin adapters only: arguments
//! are parsed into typed parameters, handed to a generator through the workspace, and the
//! outcome is turned into a tool result. Nothing here writes to stdout.

pub mod prompts;
pub mod skill;

use std::sync::Arc;

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler, handler::server::router::tool::ToolRouter,
    model::*, prompt_handler, service::RequestContext, tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Serialize;

use crate::generate::params::{
    CircuitBreakerParams, FromSpecParams, GatewayParams, RateLimitParams, ScaledObjectParams,
    TlsParams, ValidateParams, VerifyParams, parse_args,
};
use crate::generate::{self, GenerateError, Plan, Snapshot};
use crate::validate::Validator;
use crate::validation::CheckReport;
use crate::workspace::{Action, Stack, WorkspaceError, Written};

/// URI scheme of stack resources.
pub const URI_PREFIX: &str = "traffic-engineer://stack/";

pub const INSTRUCTIONS: &str = "traffic-engineer writes a Kubernetes traffic stack (Gateway API, Envoy Gateway, cert-manager, KEDA) into traffic/ under the server's root, one file per object plus kustomization.yaml. \
Workflow: generate_gateway -> add_rate_limit -> add_circuit_breaker -> generate_tls -> generate_scaledobject -> validate, then `kubectl apply -k traffic/`. \
Every argument has a Task API default, so {} works; pass names, never paths. Each call re-reads the stack, so hand edits are kept. \
Spec first: with traffic-spec.md in the root, generate_from_spec builds everything and validate adds a PASS/FAIL row per success criterion. \
Rate limit and circuit breaker share one BackendTrafficPolicy per target. Run validate after changes and fix every error it reports.";

/// One file in a tool result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FileOut {
    /// Path under the root, e.g. traffic/gateway-task-api-gateway.yaml.
    pub path: String,
    pub kind: String,
    pub name: String,
    pub action: Action,
    /// resources/read URI (absent for key files, which are never served).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
}

/// Result of a generator tool.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ToolOutput {
    pub summary: String,
    pub files: Vec<FileOut>,
    /// YAML of the manifests this call created or changed.
    pub yaml: String,
    pub notes: Vec<String>,
    pub next_step: String,
}

pub fn uri_for(file: &str) -> String {
    format!("{URI_PREFIX}{file}")
}

fn error_result(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

fn workspace_error_text(e: &WorkspaceError) -> String {
    match e {
        WorkspaceError::Generate(GenerateError::Input(i)) => {
            format!("invalid argument {i}. Nothing was written.")
        }
        WorkspaceError::Generate(g) => format!("{g}. Nothing was written."),
        other => format!("{other}. Nothing was written."),
    }
}

/// The validation engine, loaded in the background so the server answers at once.
type SharedValidator = Arc<tokio::sync::OnceCell<Result<Arc<Validator>, String>>>;

/// The server. Cheap to clone; all state is on disk.
#[derive(Clone)]
pub struct TrafficServer {
    stack: Arc<Stack>,
    validator: SharedValidator,
    crd_paths: Arc<Vec<std::path::PathBuf>>,
    tool_router: ToolRouter<Self>,
    prompt_router: rmcp::handler::server::router::prompt::PromptRouter<Self>,
    skills: Arc<Option<rmcp::handler::server::skill_catalog::SkillCatalog>>,
}

/// Strip what costs tokens and tells the model nothing: `$schema`, titles, integer formats,
/// `minimum: 0` of unsigned integers, and descriptions of the root and of `$defs` entries.
fn compact(v: &mut serde_json::Value, depth: usize) {
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        if o.remove("format").is_some() && o.get("minimum") == Some(&serde_json::json!(0)) {
            o.remove("minimum");
        }
        if depth == 0 {
            o.remove("description");
        }
        // "Default x." repeats the machine-readable default: drop the sentence
        let plain_default = match o.get("default") {
            Some(serde_json::Value::String(d)) => Some(d.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        if let (Some(d), Some(serde_json::Value::String(desc))) =
            (plain_default, o.get_mut("description"))
            && let Some(stripped) = desc.strip_suffix(&format!(" Default {d}."))
        {
            *desc = stripped.to_string();
        }
        // a oneOf of documented constants is an enum (the field's description explains them)
        let consts: Option<Vec<serde_json::Value>> = o
            .get("oneOf")
            .and_then(|one| one.as_array())
            .and_then(|alts| alts.iter().map(|a| a.get("const").cloned()).collect());
        if let Some(values) = consts {
            o.remove("oneOf");
            o.insert("type".into(), serde_json::json!("string"));
            o.insert("enum".into(), serde_json::Value::Array(values));
        }
        // a default list or object is spelled out in the description already; "" says nothing
        if o.get("default")
            .is_some_and(|d| d.is_array() || d.is_object() || d.is_null() || d == "")
        {
            o.remove("default");
        }
        if let Some(defs) = o.get_mut("$defs").and_then(|d| d.as_object_mut()) {
            for d in defs.values_mut() {
                if let Some(d) = d.as_object_mut() {
                    d.remove("description");
                }
            }
        }
        for (_, child) in o.iter_mut() {
            compact(child, depth + 1);
        }
    } else if let Some(a) = v.as_array_mut() {
        for child in a {
            compact(child, depth + 1);
        }
    }
}

fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let mut v =
        serde_json::Value::Object((*rmcp::handler::server::common::schema_for_type::<T>()).clone());
    compact(&mut v, 0);
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

impl TrafficServer {
    /// A server with a ready validation engine.
    pub fn new(stack: Stack, validator: Validator) -> Self {
        let cell = tokio::sync::OnceCell::new_with(Some(Ok(Arc::new(validator))));
        TrafficServer {
            stack: Arc::new(stack),
            validator: Arc::new(cell),
            crd_paths: Arc::new(Vec::new()),
            tool_router: Self::tool_router(),
            prompt_router: Self::prompts(),
            skills: Arc::new(skill::load()),
        }
    }

    /// A server whose engine loads the CRDs under `paths` in the background; call from inside a
    /// tokio runtime. `validate` waits for the load; every other tool answers at once.
    pub fn with_crd_paths(stack: Stack, paths: Vec<std::path::PathBuf>) -> Self {
        let server = TrafficServer {
            stack: Arc::new(stack),
            validator: Arc::new(tokio::sync::OnceCell::new()),
            crd_paths: Arc::new(paths),
            tool_router: Self::tool_router(),
            prompt_router: Self::prompts(),
            skills: Arc::new(skill::load()),
        };
        let s = server.clone();
        tokio::spawn(async move {
            let _ = s.engine().await;
        });
        server
    }

    /// The validation engine, loading it on first use.
    async fn engine(&self) -> Result<Arc<Validator>, String> {
        let paths = self.crd_paths.clone();
        self.validator
            .get_or_init(|| async move {
                let t = std::time::Instant::now();
                let loaded = tokio::task::spawn_blocking(move || Validator::load(&paths))
                    .await
                    .map_err(|e| format!("CRD loading failed: {e}"))
                    .and_then(|r| r.map_err(|e| format!("could not load CRDs: {e}")));
                match &loaded {
                    Ok(v) => tracing::info!(
                        crds = v.crd_count(),
                        ms = t.elapsed().as_millis() as u64,
                        "validation engine ready"
                    ),
                    Err(e) => tracing::error!(error = %e, "validation engine unavailable"),
                }
                loaded.map(Arc::new)
            })
            .await
            .clone()
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Parse, plan and write on a blocking thread (the stack lock blocks), then shape the result.
    async fn run<P, F>(&self, tool: &'static str, args: JsonObject, f: F) -> CallToolResult
    where
        P: serde::de::DeserializeOwned + JsonSchema + Send + 'static,
        F: FnOnce(&P, &Snapshot) -> Result<Plan, GenerateError> + Send + 'static,
    {
        let params: P = match parse_args(args) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(tool, field = %e.field, "invalid arguments");
                return error_result(format!("invalid argument {e}. Nothing was written."));
            }
        };
        let stack = self.stack.clone();
        let joined =
            tokio::task::spawn_blocking(move || stack.update(|snap| f(&params, snap))).await;
        match joined {
            Ok(Ok((plan, written))) => {
                tracing::info!(tool, files = written.len(), "stack updated");
                tool_result(&[(plan, written)])
            }
            Ok(Err(e)) => {
                tracing::info!(tool, error = %e, "call refused");
                error_result(workspace_error_text(&e))
            }
            Err(e) => {
                tracing::error!(tool, error = %e, "worker failed");
                error_result(
                    "internal error while writing the stack; nothing was changed by this call"
                        .into(),
                )
            }
        }
    }
}

/// Build the tool result of one or more generator steps: structured output, a text summary
/// and a link per written manifest. Key files are listed by name only: their contents never
/// enter a result.
pub fn tool_result(steps: &[(Plan, Vec<Written>)]) -> CallToolResult {
    let mut files: Vec<FileOut> = Vec::new();
    let mut yaml = String::new();
    let mut links = Vec::new();
    let mut notes = Vec::new();
    for (plan, written) in steps {
        for w in written {
            let uri = if w.private {
                String::new()
            } else {
                uri_for(&w.file)
            };
            if !w.private
                && w.action != Action::Unchanged
                && let Some(pf) = plan.files.iter().find(|p| p.file == w.file)
            {
                if !yaml.is_empty() {
                    yaml.push_str("---\n");
                }
                yaml.push_str(&pf.contents);
            }
            let path = Stack::display_path(&w.file);
            // a later step's write of the same file wins; "unchanged" never hides a write
            if let Some(prev) = files.iter_mut().find(|f| f.path == path) {
                if w.action != Action::Unchanged {
                    prev.action = if prev.action == Action::Created {
                        Action::Created
                    } else {
                        w.action
                    };
                }
                continue;
            }
            if !uri.is_empty() {
                links.push(ContentBlock::resource_link(
                    Resource::new(uri.clone(), w.file.clone())
                        .with_mime_type("application/yaml")
                        .with_description(format!("{} {}", w.kind, w.name)),
                ));
            }
            files.push(FileOut {
                path,
                kind: w.kind.clone(),
                name: w.name.clone(),
                action: w.action,
                uri,
            });
        }
        for n in &plan.notes {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    let out = ToolOutput {
        summary: steps
            .iter()
            .map(|(p, _)| p.summary.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        files,
        yaml,
        notes,
        next_step: steps
            .last()
            .map(|(p, _)| p.next_step.clone())
            .unwrap_or_default(),
    };
    let value = serde_json::to_value(&out).unwrap_or_default();
    let mut text = format!("{}\n", out.summary);
    for f in &out.files {
        let action = serde_json::to_value(f.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        text.push_str(&format!("- {action} {} ({} {})\n", f.path, f.kind, f.name));
    }
    for n in &out.notes {
        text.push_str(&format!("note: {n}\n"));
    }
    if !out.next_step.is_empty() {
        text.push_str(&format!("next: {}\n", out.next_step));
    }
    let mut content = vec![ContentBlock::text(text)];
    content.extend(links);
    let mut r = CallToolResult::success(content);
    r.structured_content = Some(value);
    r
}

/// The CA to trust for HTTPS: a `.crt`/`.pem` in the root, `traffic/<name>.crt`, or by default
/// the stack's local certificate for the spec's HTTPS Secret. Never a key file.
fn read_ca(stack: &Stack, file: &str, spec: &crate::spec::Spec) -> Result<Option<String>, String> {
    let pem_ok = |t: String| {
        if t.contains("-----BEGIN CERTIFICATE-----") && !t.contains("PRIVATE KEY") {
            Ok(Some(t))
        } else {
            Err(format!("ca_file {file}: not a PEM certificate"))
        }
    };
    if file.is_empty() {
        let Some(h) = &spec.gateway.https else {
            return Ok(None);
        };
        return match stack.read_other(&format!("{}.crt", h.secret)) {
            Ok(t) => pem_ok(t),
            Err(_) => Ok(None),
        };
    }
    let plain = |n: &str| {
        !n.is_empty()
            && !n.starts_with('.')
            && !n.contains(['/', '\\', '\0'])
            && (n.ends_with(".crt") || n.ends_with(".pem"))
    };
    let text = match file.strip_prefix("traffic/") {
        Some(n) if plain(n) => stack.read_other(n),
        None if plain(file) => stack.read_root_any(file),
        _ => return Err("invalid argument ca_file: expected a .crt or .pem file name in the root, or traffic/<name>.crt".into()),
    }
    .map_err(|e| format!("ca_file: {e}"))?;
    pem_ok(text)
}

/// Load a spec: inline text, or a file in the root. `Ok(None)` when no spec was asked for and
/// the default file does not exist.
fn load_spec(
    stack: &Stack,
    inline: &str,
    file: &str,
    required: bool,
) -> Result<Option<(crate::spec::Spec, String)>, String> {
    let (text, name) = if !inline.is_empty() {
        (inline.to_string(), "<inline spec>".to_string())
    } else {
        match stack.read_root_file(file) {
            Ok(t) => (t, file.to_string()),
            Err(WorkspaceError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && !required =>
            {
                return Ok(None);
            }
            Err(e) => return Err(format!("spec_file: {e}")),
        }
    };
    match crate::spec::parse(&text) {
        Ok(p) => Ok(Some((p.spec, name))),
        Err(errs) => Err(format!(
            "the spec {name} is invalid; nothing was done:\n{}",
            errs.iter()
                .map(|e| format!("  {name}:{}: {}: {}", e.line, e.field, e.message))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

#[tool_router]
impl TrafficServer {
    /// Write a Gateway (HTTP + optional HTTPS listener) and HTTPRoutes: path prefixes, versioned paths, weighted canary backends, header matches. Replaces the named Gateway and routes; other files are kept.
    #[tool(
        input_schema = schema::<GatewayParams>(),
        annotations(title = "Generate Gateway and HTTPRoutes", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn generate_gateway(&self, args: JsonObject) -> CallToolResult {
        self.run("generate_gateway", args, generate::gateway::generate)
            .await
    }

    /// Set global rate limits in the target's one BackendTrafficPolicy: per user (distinct values of a header, default x-user-id) and a lower limit for requests without that header. Calling again replaces the limits.
    #[tool(
        input_schema = schema::<RateLimitParams>(),
        annotations(title = "Add rate limits", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn add_rate_limit(&self, args: JsonObject) -> CallToolResult {
        self.run("add_rate_limit", args, generate::policy::add_rate_limit)
            .await
    }

    /// Set circuitBreaker limits in the SAME BackendTrafficPolicy as the target's rate limits (created only if the target has none). Never a second policy.
    #[tool(
        input_schema = schema::<CircuitBreakerParams>(),
        annotations(title = "Add circuit breaker", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn add_circuit_breaker(&self, args: JsonObject) -> CallToolResult {
        self.run(
            "add_circuit_breaker",
            args,
            generate::policy::add_circuit_breaker,
        )
        .await
    }

    /// Self-signed TLS for the HTTPS listener, via cert-manager or made locally (the key is never shown).
    #[tool(
        input_schema = schema::<TlsParams>(),
        annotations(title = "Generate TLS", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn generate_tls(&self, args: JsonObject) -> CallToolResult {
        self.run("generate_tls", args, generate::tls::generate)
            .await
    }

    /// Write a KEDA ScaledObject: explicit min/max replicas (1-10), scaling on the route's request rate (Envoy metrics, sum()) or CPU.
    #[tool(
        input_schema = schema::<ScaledObjectParams>(),
        annotations(title = "Generate ScaledObject", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn generate_scaledobject(&self, args: JsonObject) -> CallToolResult {
        self.run("generate_scaledobject", args, generate::scaling::generate)
            .await
    }

    /// Build the whole stack from traffic-spec.md (the ```yaml traffic-spec block) through the same generators as the other tools, in workflow order.
    #[tool(
        input_schema = schema::<FromSpecParams>(),
        annotations(title = "Generate from spec", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn generate_from_spec(&self, args: JsonObject) -> CallToolResult {
        let p: FromSpecParams = match parse_args(args) {
            Ok(p) => p,
            Err(e) => return error_result(format!("invalid argument {e}. Nothing was written.")),
        };
        let stack = self.stack.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let (spec, _) = load_spec(&stack, &p.spec, &p.spec_file, true)?.ok_or("no spec")?;
            crate::spec::generate(&spec, &stack).map_err(|(done, e)| {
                format!(
                    "{} (after {} step(s) were written)",
                    workspace_error_text(&e),
                    done.len()
                )
            })
        })
        .await;
        match joined {
            Ok(Ok(steps)) => {
                let steps: Vec<(Plan, Vec<Written>)> =
                    steps.into_iter().map(|s| (s.plan, s.written)).collect();
                tool_result(&steps)
            }
            Ok(Err(e)) => error_result(e.to_string()),
            Err(_) => error_result("internal error while generating".into()),
        }
    }

    /// Prove the spec's criteria with real traffic to a gateway on loopback (HTTPS, routing, rate limits, circuit breaker): PASS/FAIL with counts.
    #[tool(
        input_schema = schema::<VerifyParams>(),
        annotations(title = "Verify live", read_only_hint = true, destructive_hint = false, idempotent_hint = false, open_world_hint = true)
    )]
    async fn verify(&self, args: JsonObject, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let p: VerifyParams = match parse_args(args) {
            Ok(p) => p,
            Err(e) => return error_result(format!("invalid argument {e}")),
        };
        if p.gateway.is_empty() && p.https_gateway.is_empty() {
            return error_result("invalid argument gateway: empty; expected the gateway's listener on loopback, e.g. http://127.0.0.1:8080 (and https_gateway for HTTPS)".into());
        }
        let stack = self.stack.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, usize, String)>();
        let work = tokio::task::spawn_blocking(move || -> Result<(Vec<crate::spec::live::LiveRow>, Vec<crate::verify::CheckResult>), String> {
            let (spec, _) = load_spec(&stack, &p.spec, &p.spec_file, true)?.ok_or("no spec")?;
            let ca = read_ca(&stack, &p.ca_file, &spec)?;
            let host = if p.host.is_empty() { spec.gateway.hostnames.first().cloned().unwrap_or_default() } else { p.host.clone() };
            let target = crate::spec::live::target(&p.gateway, &p.https_gateway, &host, ca);
            let opts = crate::spec::live::LiveOptions { slow_path: p.slow_path.clone(), ..Default::default() };
            let mut progress = |done: usize, total: usize, id: &str| {
                let _ = tx.send((done, total, id.to_string()));
            };
            Ok(crate::spec::live::verify(&spec, &target, &opts, &mut progress))
        });
        let token = ctx.meta.get_progress_token();
        while let Some((done, total, id)) = rx.recv().await {
            if let Some(t) = &token {
                let _ = ctx
                    .peer
                    .notify_progress(
                        ProgressNotificationParam::new(t.clone(), done as f64)
                            .with_total(total as f64)
                            .with_message(format!("{id} checked")),
                    )
                    .await;
            }
        }
        match work.await {
            Ok(Ok((rows, results))) => {
                let text: String = rows.iter().map(|r| r.to_text() + "\n").collect();
                let bad = rows
                    .iter()
                    .any(|r| matches!(r.status.as_str(), "FAIL" | "UNREACHABLE" | "INVALID"));
                let mut r = if bad {
                    CallToolResult::error(vec![ContentBlock::text(text)])
                } else {
                    CallToolResult::success(vec![ContentBlock::text(text)])
                };
                r.structured_content =
                    Some(serde_json::json!({"criteria": rows, "checks": results}));
                r
            }
            Ok(Err(e)) => error_result(e),
            Err(_) => error_result("internal error while verifying".into()),
        }
    }

    /// Check the stack (or given YAML) offline for what the API server or Envoy Gateway would reject or ignore: findings with file, line, rule and fix. With traffic-spec.md, also a PASS/FAIL row per success criterion. isError on any error or FAIL.
    #[tool(
        input_schema = schema::<ValidateParams>(),
        annotations(title = "Validate", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn validate(&self, args: JsonObject) -> CallToolResult {
        let p: ValidateParams = match parse_args(args) {
            Ok(p) => p,
            Err(e) => return error_result(format!("invalid argument {e}")),
        };
        let stack = self.stack.clone();
        let validator = match self.engine().await {
            Ok(v) => v,
            Err(e) => {
                return error_result(format!(
                    "{e}. Fix --crds / TRAFFIC_ENGINEER_CRDS or run `traffic-engineer crds fetch`, then restart the server."
                ));
            }
        };
        let report = tokio::task::spawn_blocking(move || {
            if p.manifests.is_empty() {
                let spec = load_spec(&stack, &p.spec, &p.spec_file, !p.spec.is_empty())
                    .map_err(WorkspaceError::Refused)?;
                match spec {
                    None => crate::validation::validate_stack(&validator, &stack).map(Into::into),
                    Some((spec, name)) => crate::spec::check(&spec, &stack, &validator, &name)
                        .map(|(r, rows)| CheckReport::new(r, rows)),
                }
            } else {
                Ok(validator
                    .validate_sources(&[crate::validate::Source {
                        name: "<manifests>".into(),
                        text: p.manifests,
                    }])
                    .into())
            }
        })
        .await;
        match report {
            Ok(Ok(report)) => {
                let value = serde_json::to_value(&report).unwrap_or_default();
                let mut r = if report.failed() {
                    CallToolResult::error(vec![ContentBlock::text(report.to_text())])
                } else {
                    CallToolResult::success(vec![ContentBlock::text(report.to_text())])
                };
                r.structured_content = Some(value);
                r
            }
            Ok(Err(WorkspaceError::Refused(e))) => error_result(e),
            Ok(Err(e)) => error_result(format!("could not read the stack: {e}")),
            Err(_) => error_result("internal error while validating".into()),
        }
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for TrafficServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .enable_completions()
                .enable_skills_with_directory_read()
                .build(),
        )
        .with_server_info(
            Implementation::new("traffic-engineer", env!("CARGO_PKG_VERSION"))
                .with_title("Traffic Engineer"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_skills(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, McpError> {
        Ok(match self.skills.as_ref() {
            Some(c) => c.list_skills(),
            None => ListSkillsResult::with_all_items(Vec::new()),
        })
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, McpError> {
        match self.skills.as_ref() {
            Some(c) => c.get_skill(&request.uri),
            None => Err(McpError::invalid_params("no skills are served", None)),
        }
    }

    async fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, McpError> {
        match self.skills.as_ref() {
            Some(c) => c.read_resource_directory(&request.uri),
            None => Err(McpError::invalid_params("no skills are served", None)),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let values = match &request.r#ref {
            Reference::Prompt(p) => {
                let server = self.clone();
                let (name, arg, prefix) = (
                    p.name.clone(),
                    request.argument.name.clone(),
                    request.argument.value.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    server.complete_prompt_arg(&name, &arg, &prefix)
                })
                .await
                .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let completion = CompletionInfo::with_pagination(values, None, false)
            .map_err(|e| McpError::internal_error(e, None))?;
        Ok(CompleteResult::new(completion))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let stack = self.stack.clone();
        let files = tokio::task::spawn_blocking(move || stack.manifest_files())
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let mut items: Vec<Resource> = files
            .into_iter()
            .map(|f| Resource::new(uri_for(&f), f.clone()).with_mime_type("application/yaml"))
            .collect();
        if let Some(c) = self.skills.as_ref() {
            items.extend(c.resources());
        }
        Ok(ListResourcesResult::with_all_items(items))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let not_found = || {
            McpError::resource_not_found(
                "no such manifest in the stack",
                Some(
                    serde_json::json!({ "uri": request.uri.chars().take(200).collect::<String>() }),
                ),
            )
        };
        if let Some(r) = self
            .skills
            .as_ref()
            .as_ref()
            .and_then(|c| c.read_resource(&request.uri))
        {
            return Ok(r.into());
        }
        let Some(file) = request.uri.strip_prefix(URI_PREFIX).map(str::to_string) else {
            return Err(not_found());
        };
        let stack = self.stack.clone();
        let f2 = file.clone();
        let text = tokio::task::spawn_blocking(move || stack.read_manifest(&f2))
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))?
            .map_err(|_| not_found())?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri.clone()).with_mime_type("application/yaml"),
        ])
        .into())
    }
}
