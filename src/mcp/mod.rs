//! The MCP face: tools, resources and instructions over rmcp. Thin adapters only: arguments
//! are parsed into typed parameters, handed to a generator through the workspace, and the
//! outcome is turned into a tool result. Nothing here writes to stdout.

// MCP logging (logging/setLevel, notifications/message) is deprecated by SEP-2577 for the
// 2026-07-28 era but is the 2025-11-25 era's channel, which most clients still speak.
#![allow(deprecated)]

pub mod long;
pub mod notify;
pub mod prompts;
pub mod skill;

use std::sync::Arc;

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler, handler::server::router::tool::ToolRouter,
    model::*, service::RequestContext, tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Serialize;

use crate::generate::params::{
    CircuitBreakerParams, FromSpecParams, GatewayParams, LlmRouteParams, RateLimitParams,
    ScaledObjectParams, TlsParams, ValidateParams, VerifyParams, parse_args,
};
use crate::generate::{self, GenerateError, Plan, Snapshot};
use crate::validate::{LoadError, Validator};
use crate::workspace::{Action, Stack, WorkspaceError, Written};

use rmcp::model::LoggingLevel as LogLevel;

/// URI scheme of stack resources.
pub const URI_PREFIX: &str = "traffic-engineer://stack/";

/// The server's instructions; the workflow's order comes from [`crate::workflow::WORKFLOW`].
pub fn instructions() -> String {
    format!(
        "traffic-engineer writes a Kubernetes traffic stack (Gateway API, Envoy Gateway, cert-manager, KEDA) into traffic/ under the server's root, one file per object plus kustomization.yaml. \
Workflow: {}, then {} (apply writes to the cluster only when confirmed; verify sends real traffic to the gateway on loopback). \
Name your service's namespace, hostnames, routes and backends ({{}} builds the Task API example); pass names, never paths. A call changes only what it names: omitted arguments keep the stack's values (hand edits included) and the result lists the defaults it applied. Targets must be in the stack or external: true. \
Spec first: with traffic-spec.md in the root, generate_from_spec builds everything and validate adds a PASS/FAIL row per success criterion. \
Rate limit and circuit breaker share one BackendTrafficPolicy per target. Run validate after changes and fix every error it reports.",
        crate::workflow::offline_chain(),
        crate::workflow::after_validate(),
    )
}

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
    /// Defaults this call applied (field: value (why)); everything else was named or kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defaults: Vec<String>,
    pub next_step: String,
}

/// Result of `verify`: a row per criterion and the raw checks behind them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyOutput {
    pub criteria: Vec<crate::spec::live::LiveRow>,
    pub checks: Vec<crate::verify::CheckResult>,
}

pub fn uri_for(file: &str) -> String {
    format!("{URI_PREFIX}{file}")
}

/// Why a tool call failed: typed, carrying its data; the text the model reads is its Display.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("invalid argument {0}")]
    Argument(crate::names::InputError),
    #[error("invalid arguments: {0}. Nothing was written.")]
    Invalid(crate::names::InputErrors),
    #[error("{0}. Nothing was written.")]
    Refused(Box<GenerateError>),
    #[error("{0}")]
    Workspace(Box<WorkspaceError>),
    #[error("spec_file: {0}")]
    SpecFile(Box<WorkspaceError>),
    #[error("the spec {name} is invalid; nothing was done:\n{}", errors.iter().map(|e| format!("  {name}:{}: {}: {}", e.line, e.field, e.message)).collect::<Vec<_>>().join("\n"))]
    Spec {
        name: String,
        errors: Vec<crate::spec::SpecError>,
    },
    #[error("no spec: put traffic-spec.md in the root or pass spec")]
    NoSpec,
    #[error("{0}")]
    Check(Box<crate::spec::CheckError>),
    #[error("{message} (after {done} step(s) were written)")]
    Partial { message: String, done: usize },
    #[error("invalid argument ca_file: {0}")]
    CaFile(String),
    #[error("invalid argument {0}")]
    Target(Box<crate::verify::TargetError>),
    #[error("NOT-REHEARSED: {0}")]
    NotRehearsed(String),
    #[error("internal error while {0}; nothing was changed by this call")]
    Internal(&'static str),
}

impl From<GenerateError> for ToolError {
    fn from(e: GenerateError) -> Self {
        match e {
            GenerateError::Invalid(i) => ToolError::Invalid(i),
            other => ToolError::Refused(Box::new(other)),
        }
    }
}

impl From<WorkspaceError> for ToolError {
    fn from(e: WorkspaceError) -> Self {
        ToolError::Workspace(Box::new(e))
    }
}

impl From<crate::spec::CheckError> for ToolError {
    fn from(e: crate::spec::CheckError) -> Self {
        ToolError::Check(Box::new(e))
    }
}

/// A JSON-RPC "method not found" error that names the method.
pub fn method_not_found(method: &str) -> McpError {
    McpError::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!(
            "method not found: {}",
            method.chars().take(100).collect::<String>()
        ),
        None,
    )
}

fn error_result(e: ToolError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(e.to_string())])
}

/// The validation engine, loaded in the background so the server answers at once.
type SharedValidator = Arc<tokio::sync::OnceCell<Result<Arc<Validator>, String>>>;

/// The server. Cheap to clone; all state is on disk.
#[derive(Clone)]
pub struct TrafficServer {
    stack: Arc<Stack>,
    validator: SharedValidator,
    crd_paths: Arc<Vec<std::path::PathBuf>>,
    /// Kubernetes' OpenAPI documents (the built-in kinds' schemas), if a source gave them.
    openapi_path: Arc<Option<std::path::PathBuf>>,
    /// The load cache's folder (None: no cache).
    load_cache: Arc<Option<std::path::PathBuf>>,
    tool_router: ToolRouter<Self>,
    prompt_router: rmcp::handler::server::router::prompt::PromptRouter<Self>,
    skills: Arc<Option<rmcp::handler::server::skill_catalog::SkillCatalog>>,
    watchers: Arc<notify::Watchers>,
}

/// Strip what costs tokens and tells the model nothing: `$schema`, titles, integer formats,
/// `minimum: 0` of unsigned integers, and descriptions of the root and of `$defs` entries.
fn compact(v: &mut serde_json::Value, depth: usize) {
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        // `default: false` says what leaving a flag out says; a port's maximum is checked by the
        // server, which names the field and the range
        if o.get("default") == Some(&serde_json::json!(false)) {
            o.remove("default");
        }
        if o.get("maximum") == Some(&serde_json::json!(65535)) {
            o.remove("maximum");
        }
        // unknown arguments are refused by the server with the list of accepted ones (parse_args),
        // so `additionalProperties: false` would only repeat that, 30 bytes a type
        if o.get("additionalProperties") == Some(&serde_json::json!(false)) {
            o.remove("additionalProperties");
        }
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
        // Option<T> fields: `"type": [T, "null"]` and `anyOf: [T, null]` say "omit it or give a
        // T"; omitting is the way to leave a field unset, so the schema names T alone. Saves
        // bytes and is what strict clients (Gemini/OpenAPI, Inspector --strict) accept.
        if let Some(serde_json::Value::Array(types)) = o.get("type")
            && types.len() == 2
            && types.contains(&serde_json::json!("null"))
            && let Some(t) = types.iter().find(|t| *t != "null").cloned()
        {
            o.insert("type".into(), t);
        }
        if let Some(serde_json::Value::Array(alts)) = o.get("anyOf")
            && alts.len() == 2
            && alts.contains(&serde_json::json!({"type": "null"}))
            && let Some(serde_json::Value::Object(t)) = alts
                .iter()
                .find(|a| **a != serde_json::json!({"type": "null"}))
                .cloned()
        {
            o.remove("anyOf");
            for (k, v) in t {
                o.insert(k, v);
            }
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
    inline_enums(&mut v);
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

/// Put each `$defs` entry that is a bare string enum, or that is used once, in place of its
/// `$ref`s (a `$ref` plus its definition cost more bytes than the definition in place), and
/// drop the definitions no longer used.
fn inline_enums(root: &mut serde_json::Value) {
    let Some(defs) = root.get("$defs").and_then(|d| d.as_object()).cloned() else {
        return;
    };
    // how often each definition is referenced: one used once is cheaper in place too (its
    // `$ref` and its name under `$defs` are pure overhead)
    let text = root.to_string();
    let uses = |k: &str| text.matches(&format!("\"#/$defs/{k}\"")).count();
    let enums: serde_json::Map<String, serde_json::Value> = defs
        .iter()
        .filter(|(k, d)| {
            let bare_enum = d.as_object().is_some_and(|o| {
                o.keys().all(|k| k == "type" || k == "enum") && o.contains_key("enum")
            });
            let self_ref = d.to_string().contains(&format!("\"#/$defs/{k}\""));
            bare_enum || (uses(k) == 1 && !self_ref)
        })
        .map(|(k, d)| (format!("#/$defs/{k}"), d.clone()))
        .collect();
    fn walk(v: &mut serde_json::Value, enums: &serde_json::Map<String, serde_json::Value>) {
        match v {
            serde_json::Value::Object(o) => {
                let inline = o
                    .get("$ref")
                    .and_then(|r| r.as_str())
                    .and_then(|r| enums.get(r))
                    .and_then(|d| d.as_object())
                    .cloned();
                if let Some(d) = inline {
                    o.remove("$ref");
                    o.extend(d);
                }
                for child in o.values_mut() {
                    walk(child, enums);
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|c| walk(c, enums)),
            _ => {}
        }
    }
    walk(root, &enums);
    if let Some(d) = root.get_mut("$defs").and_then(|d| d.as_object_mut()) {
        d.retain(|k, _| !enums.contains_key(&format!("#/$defs/{k}")));
        if d.is_empty() {
            root.as_object_mut().map(|o| o.remove("$defs"));
        }
    }
}

/// An output schema: the result type's schemars schema cut to its outline (its required
/// top-level fields with their JSON types) so that the whole
/// tools/list stays within 16 kB. The text of each field is in the tool's description and the
/// README; a client validating `structuredContent` against it gets the shape that matters.
fn outline<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let full = schema::<T>();
    let defs = full.get("$defs").and_then(|d| d.as_object()).cloned();
    let type_of = |v: &serde_json::Value| -> serde_json::Value {
        let v = match v.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => defs
                .as_ref()
                .and_then(|d| d.get(r.trim_start_matches("#/$defs/")))
                .unwrap_or(v),
            None => v,
        };
        v.get("type")
            .cloned()
            .unwrap_or(serde_json::json!("object"))
    };
    // the required fields with their JSON types; optional fields and item types are in the
    // README (the same outline is published by every generator, so each byte counts seven times)
    let required: Vec<&str> = full
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let mut props = JsonObject::new();
    if let Some(p) = full.get("properties").and_then(|p| p.as_object()) {
        for (name, v) in p.iter().filter(|(n, _)| required.contains(&n.as_str())) {
            let mut field = JsonObject::new();
            field.insert("type".into(), type_of(v));
            props.insert(name.clone(), serde_json::Value::Object(field));
        }
    }
    let mut out = JsonObject::new();
    out.insert("type".into(), serde_json::json!("object"));
    out.insert("properties".into(), serde_json::Value::Object(props));
    if let Some(r) = full.get("required") {
        out.insert("required".into(), r.clone());
    }
    Arc::new(out)
}

impl TrafficServer {
    /// A server with a ready validation engine.
    pub fn new(stack: Stack, validator: Validator) -> Self {
        let cell = tokio::sync::OnceCell::new_with(Some(Ok(Arc::new(validator))));
        TrafficServer {
            stack: Arc::new(stack),
            validator: Arc::new(cell),
            crd_paths: Arc::new(Vec::new()),
            openapi_path: Arc::new(None),
            load_cache: Arc::new(None),
            tool_router: Self::tool_router() + Self::cluster_router(),
            prompt_router: Self::prompts(),
            skills: Arc::new(skill::load()),
            watchers: Arc::new(notify::Watchers::default()),
        }
    }

    /// A server whose engine loads the CRDs under `paths` in the background; call from inside a
    /// tokio runtime. `validate` waits for the load; every other tool answers at once.
    pub fn with_crd_paths(stack: Stack, paths: Vec<std::path::PathBuf>) -> Self {
        Self::with_schema_paths(stack, paths, None)
    }

    /// [`TrafficServer::with_crd_paths`], with a folder of Kubernetes' OpenAPI documents for
    /// the built-in kinds (indexed at load; each document read when first needed).
    pub fn with_schema_paths(
        stack: Stack,
        paths: Vec<std::path::PathBuf>,
        openapi: Option<std::path::PathBuf>,
    ) -> Self {
        Self::with_schema_sources(stack, paths, openapi, None)
    }

    /// [`TrafficServer::with_schema_paths`], with a load cache folder (see
    /// [`crate::validate::cache`]) that keeps what loading the CRDs and documents found between
    /// runs; None: everything is read afresh.
    pub fn with_schema_sources(
        stack: Stack,
        paths: Vec<std::path::PathBuf>,
        openapi: Option<std::path::PathBuf>,
        load_cache: Option<std::path::PathBuf>,
    ) -> Self {
        let server = TrafficServer {
            stack: Arc::new(stack),
            validator: Arc::new(tokio::sync::OnceCell::new()),
            crd_paths: Arc::new(paths),
            openapi_path: Arc::new(openapi),
            load_cache: Arc::new(load_cache),
            tool_router: Self::tool_router() + Self::cluster_router(),
            prompt_router: Self::prompts(),
            skills: Arc::new(skill::load()),
            watchers: Arc::new(notify::Watchers::default()),
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
        let openapi = self.openapi_path.clone();
        let cache = self
            .load_cache
            .as_ref()
            .as_ref()
            .map(crate::validate::LoadCache::new);
        self.validator
            .get_or_init(|| async move {
                let t = std::time::Instant::now();
                let loaded = tokio::task::spawn_blocking(move || {
                    Validator::load_sources(&paths, openapi.as_deref(), cache).map_err(
                        |e| match e {
                            LoadError::Crds(e) => format!("could not load CRDs: {e}"),
                            LoadError::OpenApi(e) => {
                                format!("could not index the Kubernetes OpenAPI documents: {e}")
                            }
                        },
                    )
                })
                .await
                .map_err(|e| format!("CRD loading failed: {e}"))
                .and_then(|r| r);
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

    /// A log message to the client (`notifications/message`, logger "traffic-engineer").
    async fn log(&self, ctx: &RequestContext<RoleServer>, level: LogLevel, message: String) {
        self.watchers
            .log(ctx, level, "traffic-engineer", message)
            .await;
    }

    /// What the client should know about the CRDs behind validate: loaded, or none (skipped).
    async fn log_engine(&self, ctx: &RequestContext<RoleServer>, crds: usize) {
        if crds == 0 {
            self.log(
                ctx,
                LogLevel::Warning,
                "no CRDs are loaded: schema and CEL checks are skipped (set --crds or TRAFFIC_ENGINEER_CRDS, or run `traffic-engineer crds fetch`)".into(),
            )
            .await;
        } else {
            self.log(
                ctx,
                LogLevel::Info,
                format!("{crds} CRDs loaded for schema and CEL checks"),
            )
            .await;
        }
    }

    /// After a write: tell subscribed clients what changed (nothing when every file was
    /// already up to date). Key files have no URI and are never announced.
    async fn changed(&self, ctx: &RequestContext<RoleServer>, steps: &[(Plan, Vec<Written>)]) {
        let written: Vec<&Written> = steps
            .iter()
            .flat_map(|(_, w)| w)
            .filter(|w| w.action != Action::Unchanged)
            .collect();
        if written.is_empty() {
            return;
        }
        let uris: Vec<String> = written
            .iter()
            .filter(|w| !w.private)
            .map(|w| uri_for(&w.file))
            .collect();
        self.watchers.stack_changed(ctx, &uris).await;
    }

    /// Parse, plan and write on a blocking thread (the stack lock blocks), then shape the result.
    async fn run<P, F>(
        &self,
        tool: &'static str,
        args: JsonObject,
        ctx: &RequestContext<RoleServer>,
        f: F,
    ) -> CallToolResult
    where
        P: serde::de::DeserializeOwned + JsonSchema + Send + 'static,
        F: FnOnce(&P, &Snapshot) -> Result<Plan, GenerateError> + Send + 'static,
    {
        let params: P = match parse_args(args) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(tool, field = %e.field, "invalid arguments");
                return error_result(ToolError::Invalid(e.into()));
            }
        };
        let stack = self.stack.clone();
        let joined =
            tokio::task::spawn_blocking(move || stack.update(|snap| f(&params, snap))).await;
        match joined {
            Ok(Ok((plan, written))) => {
                tracing::info!(tool, files = written.len(), "stack updated");
                let steps = [(plan, written)];
                self.changed(ctx, &steps).await;
                tool_result(&steps)
            }
            Ok(Err(e)) => {
                tracing::info!(tool, error = %e, "call refused");
                error_result(e.into())
            }
            Err(e) => {
                tracing::error!(tool, error = %e, "worker failed");
                error_result(ToolError::Internal("writing the stack"))
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
    let mut defaults: Vec<String> = Vec::new();
    for (plan, written) in steps {
        for d in &plan.defaults {
            if !defaults.contains(d) {
                defaults.push(d.clone());
            }
        }
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
        defaults,
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
    for d in &out.defaults {
        text.push_str(&format!("default: {d}\n"));
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
fn read_ca(
    stack: &Stack,
    file: &str,
    spec: &crate::spec::Spec,
) -> Result<Option<String>, ToolError> {
    let pem_ok = |t: String| {
        if t.contains("-----BEGIN CERTIFICATE-----") && !t.contains("PRIVATE KEY") {
            Ok(Some(t))
        } else {
            Err(ToolError::CaFile(format!("{file}: not a PEM certificate")))
        }
    };
    if file.is_empty() {
        let Some(secret) = spec.tls_params().and_then(|p| p.secret_name) else {
            return Ok(None);
        };
        return match stack.read_other(&format!("{secret}.crt")) {
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
        _ => {
            return Err(ToolError::CaFile(
                "expected a .crt or .pem file name in the root, or traffic/<name>.crt".into(),
            ));
        }
    }
    .map_err(|e| ToolError::CaFile(e.to_string()))?;
    pem_ok(text)
}

/// Load a spec: inline text, or a file in the root. `Ok(None)` when no spec was asked for and
/// the default file does not exist.
fn load_spec(
    stack: &Stack,
    inline: &str,
    file: &str,
    required: bool,
) -> Result<Option<(crate::spec::Spec, String)>, ToolError> {
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
            Err(e) => return Err(ToolError::SpecFile(Box::new(e))),
        }
    };
    match crate::spec::parse(&text) {
        Ok(p) => Ok(Some((p.spec, name))),
        Err(errors) => Err(ToolError::Spec { name, errors }),
    }
}

#[tool_router]
impl TrafficServer {
    /// Gateway (listeners both/http/https/https_redirect) and HTTPRoutes (prefix/exact/regex paths, headers, weights, timeouts). Changes only what it names.
    #[tool(
        title = "Generate Gateway and HTTPRoutes",
        output_schema = outline::<ToolOutput>(),
        input_schema = schema::<GatewayParams>(),
        annotations(destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn generate_gateway(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.run("generate_gateway", args, &ctx, generate::gateway::generate)
            .await
    }

    /// Per-user global rate limits in the target's one BackendTrafficPolicy; no identity: a shared limit, none, or JWT/API-key auth. Changes only what it names.
    #[tool(
        title = "Add rate limits",
        output_schema = outline::<ToolOutput>(),
        input_schema = schema::<RateLimitParams>(),
        annotations(destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn add_rate_limit(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.run(
            "add_rate_limit",
            args,
            &ctx,
            generate::policy::add_rate_limit,
        )
        .await
    }

    /// circuitBreaker thresholds in the target's one BackendTrafficPolicy. Sets only those named.
    #[tool(
        title = "Add circuit breaker",
        output_schema = outline::<ToolOutput>(),
        input_schema = schema::<CircuitBreakerParams>(),
        annotations(destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn add_circuit_breaker(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.run(
            "add_circuit_breaker",
            args,
            &ctx,
            generate::policy::add_circuit_breaker,
        )
        .await
    }

    /// TLS for the HTTPS listener: a Certificate from your issuer or a self-signed one, or a local certificate (key never shown). Changes only what it names.
    #[tool(
        title = "Generate TLS",
        output_schema = outline::<ToolOutput>(),
        input_schema = schema::<TlsParams>(),
        annotations(destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn generate_tls(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.run("generate_tls", args, &ctx, generate::tls::generate)
            .await
    }

    /// KEDA ScaledObject: min/max replicas, scaling on a route's or a backend's request rate, or CPU. Changes only what it names.
    #[tool(
        title = "Generate ScaledObject",
        output_schema = outline::<ToolOutput>(),
        input_schema = schema::<ScaledObjectParams>(),
        annotations(destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn generate_scaledobject(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.run(
            "generate_scaledobject",
            args,
            &ctx,
            generate::scaling::generate,
        )
        .await
    }

    /// AI Gateway LLM route: routing by model, OpenAI/Azure providers (key Secrets you name), fallback by priority, per-user token budgets. Changes only what it names.
    #[tool(
        title = "Add LLM route",
        output_schema = outline::<ToolOutput>(),
        input_schema = schema::<LlmRouteParams>(),
        annotations(destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn add_llm_route(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.run("add_llm_route", args, &ctx, generate::llm::generate)
            .await
    }

    /// The whole stack from traffic-spec.md, through the same generators as the other tools.
    #[tool(
        title = "Generate from spec",
        output_schema = outline::<ToolOutput>(),
        input_schema = schema::<FromSpecParams>(),
        annotations(destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn generate_from_spec(
        &self,
        args: JsonObject,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let p: FromSpecParams = match parse_args(args) {
            Ok(p) => p,
            Err(e) => return error_result(ToolError::Invalid(e.into())),
        };
        let stack = self.stack.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let (spec, _) =
                load_spec(&stack, &p.spec, &p.spec_file, true)?.ok_or(ToolError::NoSpec)?;
            crate::spec::generate(&spec, &stack).map_err(|(done, e)| {
                if done.is_empty() {
                    ToolError::from(e)
                } else {
                    ToolError::Partial {
                        message: ToolError::from(e).to_string(),
                        done: done.len(),
                    }
                }
            })
        })
        .await;
        match joined {
            Ok(Ok(steps)) => {
                let steps: Vec<(Plan, Vec<Written>)> =
                    steps.into_iter().map(|s| (s.plan, s.written)).collect();
                self.changed(&ctx, &steps).await;
                tool_result(&steps)
            }
            Ok(Err(e)) => error_result(e),
            Err(_) => error_result(ToolError::Internal("generating")),
        }
    }

    /// Prove the spec's criteria with real traffic to a gateway on loopback: PASS/FAIL with counts.
    #[tool(
        title = "Verify live",
        output_schema = outline::<VerifyOutput>(),
        input_schema = schema::<VerifyParams>(),
        annotations(read_only_hint = true)
    )]
    async fn verify(&self, args: JsonObject, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let p: VerifyParams = match parse_args(args) {
            Ok(p) => p,
            Err(e) => return error_result(ToolError::Argument(e)),
        };
        if p.gateway.is_empty() && p.https_gateway.is_empty() {
            return error_result(ToolError::Argument(crate::names::InputError::new(
                "gateway",
                "empty",
                "the gateway's listener on loopback, e.g. http://127.0.0.1:8080 (and https_gateway for HTTPS)",
            )));
        }
        let stack = self.stack.clone();
        let work = long::run_blocking(
            &ctx,
            "verifying",
            move |job| -> Result<
                (
                    Vec<crate::spec::live::LiveRow>,
                    Vec<crate::verify::CheckResult>,
                ),
                ToolError,
            > {
                let (spec, _) =
                    load_spec(&stack, &p.spec, &p.spec_file, true)?.ok_or(ToolError::NoSpec)?;
                let ca = read_ca(&stack, &p.ca_file, &spec)?;
                let host = if p.host.is_empty() {
                    spec.gateway.hostnames.first().cloned().unwrap_or_default()
                } else {
                    p.host.clone()
                };
                let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                let listeners = crate::verify::Listeners::parse(
                    non_empty(&p.gateway).as_deref(),
                    non_empty(&p.https_gateway).as_deref(),
                    crate::verify::ListenerFields::TOOL,
                )
                .map_err(|e| ToolError::Target(Box::new(e)))?;
                let mut target = crate::spec::live::target(
                    &listeners,
                    &host,
                    ca,
                    crate::verify::ListenerFields::TOOL,
                );
                target.cancel = job.cancel.clone();
                let opts = crate::spec::live::LiveOptions {
                    slow_path: p.slow_path.clone(),
                    ..Default::default()
                };
                let mut progress = |done: usize, total: usize, id: &str| {
                    job.progress(done, total, format!("{id} checked"))
                };
                crate::spec::live::verify(&spec, &target, &opts, &mut progress)
                    .map_err(|e| ToolError::Target(Box::new(e)))
            },
        );
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
                r.structured_content = serde_json::to_value(VerifyOutput {
                    criteria: rows,
                    checks: results,
                })
                .ok();
                r
            }
            Ok(Err(e)) => error_result(e),
            Err(stop) => stop.into_result(),
        }
    }

    /// Run the stack on Envoy Gateway (standalone, real Envoy, ratelimit, Redis) and verify every criterion with counts.
    #[tool(
        title = "Rehearse on Envoy Gateway",
        output_schema = outline::<crate::rehearse::Rehearsal>(),
        input_schema = schema::<crate::rehearse::RehearseParams>(),
        annotations(destructive_hint = false, open_world_hint = false)
    )]
    async fn rehearse(&self, args: JsonObject) -> CallToolResult {
        let p: crate::rehearse::RehearseParams = match parse_args(args) {
            Ok(p) => p,
            Err(e) => return error_result(ToolError::Argument(e)),
        };
        let stack = self.stack.clone();
        let work = tokio::task::spawn_blocking(
            move || -> Result<crate::rehearse::Rehearsal, ToolError> {
                let spec_text = if p.spec.is_empty() {
                    stack
                        .read_root_file(&p.spec_file)
                        .map_err(|e| ToolError::SpecFile(Box::new(e)))?
                } else {
                    p.spec.clone()
                };
                let opts = crate::rehearse::Options {
                    spec_text,
                    root: stack.root().to_path_buf(),
                    self_exe: std::env::current_exe().map_err(|e| {
                        ToolError::NotRehearsed(format!(
                            "locating the traffic-engineer binary: {e}"
                        ))
                    })?,
                    ready_timeout: crate::rehearse::DEFAULT_READY_TIMEOUT,
                };
                crate::rehearse::rehearse(&opts).map_err(|e| ToolError::NotRehearsed(e.to_string()))
            },
        );
        match work.await {
            Ok(Ok(r)) => {
                let text = r.to_text();
                let mut res = if r.failed() {
                    CallToolResult::error(vec![ContentBlock::text(text)])
                } else {
                    CallToolResult::success(vec![ContentBlock::text(text)])
                };
                res.structured_content = serde_json::to_value(&r).ok();
                res
            }
            Ok(Err(e)) => error_result(e),
            Err(_) => error_result(ToolError::Internal("rehearsing")),
        }
    }

    /// Offline check of the stack (or given YAML) for what the API server or Envoy Gateway would reject or ignore; with traffic-spec.md, PASS/FAIL per criterion.
    #[tool(
        title = "Validate",
        output_schema = outline::<crate::validation::CheckReport>(),
        input_schema = schema::<ValidateParams>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn validate(&self, args: JsonObject, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let p: ValidateParams = match parse_args(args) {
            Ok(p) => p,
            Err(e) => return error_result(ToolError::Argument(e)),
        };
        let stack = self.stack.clone();
        let validator = match self.engine().await {
            Ok(v) => {
                self.log_engine(&ctx, v.crd_count()).await;
                v
            }
            Err(e) => {
                self.log(
                    &ctx,
                    LogLevel::Error,
                    format!("validation engine unavailable: {e}"),
                )
                .await;
                return CallToolResult::error(vec![ContentBlock::text(format!(
                    "{e}. Fix --crds / TRAFFIC_ENGINEER_CRDS (or --openapi / TRAFFIC_ENGINEER_OPENAPI) or run `traffic-engineer crds fetch`, then restart the server."
                ))]);
            }
        };
        let report = tokio::task::spawn_blocking(
            move || -> Result<crate::validation::CheckReport, ToolError> {
                if p.manifests.is_empty() {
                    let spec = load_spec(&stack, &p.spec, &p.spec_file, !p.spec.is_empty())?;
                    match spec {
                        None => Ok(crate::validation::validate_stack(&validator, &stack)?.into()),
                        Some((spec, name)) => {
                            let (r, rows) = crate::spec::check(&spec, &stack, &validator, &name)?;
                            Ok(crate::validation::CheckReport::new(r, rows))
                        }
                    }
                } else {
                    Ok(validator
                        .validate_sources(&[crate::validate::Source {
                            name: "<manifests>".into(),
                            text: p.manifests,
                        }])
                        .into())
                }
            },
        )
        .await;
        match report {
            Ok(Ok(report)) => {
                let value = serde_json::to_value(&report).unwrap_or_default();
                // a check that could not run is not a pass: `summary.not_checked` says what
                let mut r = if report.failed() || !report.report.complete() {
                    CallToolResult::error(vec![ContentBlock::text(report.to_text())])
                } else {
                    CallToolResult::success(vec![ContentBlock::text(report.to_text())])
                };
                r.structured_content = Some(value);
                r
            }
            Ok(Err(e)) => error_result(e),
            Err(_) => error_result(ToolError::Internal("validating")),
        }
    }
}

// The cluster half (src/cluster/mcp.rs holds the logic): apply and status.
#[tool_router(router = cluster_router)]
impl TrafficServer {
    /// Server-side dry run of the whole stack, then (confirmed) server-side apply in order and a wait for Accepted/Programmed/Ready.
    #[tool(
        title = "Apply to cluster",
        output_schema = outline::<crate::cluster::ApplyReport>(),
        input_schema = schema::<crate::cluster::mcp::ApplyParams>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = true)
    )]
    async fn apply(&self, args: JsonObject, ctx: RequestContext<RoleServer>) -> CallToolResult {
        crate::cluster::mcp::apply_tool(&self.stack, args, ctx).await
    }

    /// Live conditions of the stack's objects in the cluster, and the criteria they prove (SC-004). Read only.
    #[tool(
        title = "Cluster status",
        output_schema = outline::<crate::cluster::StatusReport>(),
        input_schema = schema::<crate::cluster::mcp::StatusParams>(),
        annotations(read_only_hint = true)
    )]
    async fn status(&self, args: JsonObject) -> CallToolResult {
        crate::cluster::mcp::status_tool(&self.stack, args).await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TrafficServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .enable_resources()
                .enable_resources_list_changed()
                .enable_resources_subscribe()
                .enable_prompts()
                .enable_completions()
                .enable_skills_with_directory_read()
                .build(),
        )
        .with_server_info(
            Implementation::new("traffic-engineer", env!("CARGO_PKG_VERSION"))
                .with_title("Traffic Engineer"),
        )
        .with_instructions(instructions())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.watchers.set_level(request.level);
        Ok(())
    }

    // resources/subscribe is the 2025-11-25 era's way; subscriptions/listen is 2026-07-28's
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.watchers.subscribe(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.watchers.unsubscribe(&request.uri);
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // the stack's list and any of its resources; tools and prompts never change
        let mut accepted = SubscriptionFilter::default();
        accepted.resources_list_changed = Some(true);
        accepted.resource_subscriptions = requested.resource_subscriptions.clone();
        Some(accepted)
    }

    async fn listen(&self, context: rmcp::service::SubscriptionContext) -> Result<(), McpError> {
        let id = context.sink().id().clone();
        self.watchers.open(context.sink().clone());
        context.cancelled().await;
        self.watchers.close(&id);
        Ok(())
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        Err(method_not_found(&request.method))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(
            self.prompt_router.list_all(),
        ))
    }

    /// Arguments are checked first, in plain words (see [`prompts::check_arguments`]).
    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let listed = self.prompt_router.list_all();
        prompts::check_arguments(&listed, &request.name, request.arguments.as_ref())?;
        let prompt_context = rmcp::handler::server::prompt::PromptContext::new(
            self,
            request.name,
            request.arguments,
            context,
        );
        self.prompt_router.get_prompt(prompt_context).await
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
        if self.skills.is_some()
            && let Some((text, mime)) = skill::text_file(&request.uri)
        {
            return Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, request.uri.clone()).with_mime_type(mime),
            ])
            .into());
        }
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
