//! Rule family ai/: Envoy AI Gateway v1.1.0 objects across documents (references, credentials,
//! the token costs a rate limit reads). Each rule names the upstream source it comes from
//! (paths in github.com/envoyproxy/ai-gateway at tag v1.1.0).
//!
//! The layer works on the compact facts the reference layer keeps ([`project_into`] adds what
//! this family reads), so it stays linear on large inputs. An AIGatewayRoute also stands for
//! the HTTPRoute its controller writes ([`generated_route`]): same name and namespace, the
//! route's parentRefs and hostnames (`internal/controller/ai_gateway_route.go`,
//! `syncAIGatewayRoute` / `newHTTPRoute`), so that policies targeting that HTTPRoute (the
//! fallback retries and token budgets of the upstream examples) resolve, and the
//! reference layer checks its parentRefs like any route's.

use serde_json::{Value, json};

const GROUP: &str = "aigateway.envoyproxy.io";
/// `api/v1beta1/shared_types.go`, `AIGatewayFilterMetadataNamespace`.
pub const COST_NAMESPACE: &str = "io.envoy.ai_gateway";
/// `internal/controller/ai_gateway_route.go`, `apiKeyInSecret`: the Secret entry read for the
/// APIKey, AzureAPIKey and AnthropicAPIKey types (`internal/controller/gateway.go`,
/// `bspToFilterAPIBackendAuth`).
pub const API_KEY_ENTRY: &str = "apiKey";
/// Marks the fact of an HTTPRoute the AI Gateway controller would write (never a document).
const GENERATED: &str = "x-traffic-engineer-generated-by";

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}
fn items(v: &Value) -> impl Iterator<Item = (usize, &Value)> {
    v.as_array().into_iter().flatten().enumerate()
}
fn kind(v: &Value) -> &str {
    s(v, "kind")
}
fn name(v: &Value) -> &str {
    s(&v["metadata"], "name")
}
fn ns(v: &Value) -> &str {
    match s(&v["metadata"], "namespace") {
        "" => "default",
        n => n,
    }
}
fn group_of(v: &Value) -> &str {
    s(v, "apiVersion").rsplit_once('/').map_or("", |(g, _)| g)
}
fn is_ai(v: &Value) -> bool {
    group_of(v) == GROUP
}

/// Whether a document's reference facts need [`project_into`]: the AI Gateway kinds, and a
/// BackendTrafficPolicy whose global rules have a cost.
pub fn reads(v: &Value) -> bool {
    is_ai(v)
        || (group_of(v) == "gateway.envoyproxy.io"
            && kind(v) == "BackendTrafficPolicy"
            && items(&v["spec"]["rateLimit"]["global"]["rules"])
                .any(|(_, r)| r.get("cost").is_some()))
}

/// Whether a fact is an AI Gateway object (the family has something to check).
pub fn is_ai_fact(f: &super::refs::Fact) -> bool {
    super::refs::group_of(f) == GROUP
}

// ---------------------------------------------------------------------------------------------
// Facts

/// Copy the listed pointers of `from` into `to` (creating the path).
fn keep(from: &Value, to: &mut Value, pointers: &[&str]) {
    fn put(to: &mut Value, parts: &[&str], v: Value) {
        let Some((first, rest)) = parts.split_first() else {
            *to = v;
            return;
        };
        if !to.is_object() {
            *to = json!({});
        }
        if let Some(o) = to.as_object_mut() {
            put(
                o.entry((*first).to_string()).or_insert(Value::Null),
                rest,
                v,
            );
        }
    }
    for p in pointers {
        if let Some(v) = from.pointer(p) {
            let parts: Vec<&str> = p.split('/').skip(1).collect();
            put(to, &parts, v.clone());
        }
    }
}

/// Add to a document's reference facts what this family reads: the AI Gateway kinds' specs
/// (references, schema, credential type, costs; never a key) and the token-cost parts of a
/// BackendTrafficPolicy's rate limit.
pub fn project_into(v: &Value, fact: &mut Value) {
    match (group_of(v), kind(v)) {
        (GROUP, "AIGatewayRoute") => {
            let mut spec = json!({});
            keep(
                &v["spec"],
                &mut spec,
                &["/parentRefs", "/hostnames", "/llmRequestCosts"],
            );
            let rules: Vec<Value> = items(&v["spec"]["rules"])
                .map(|(_, r)| {
                    let mut out = json!({});
                    keep(r, &mut out, &["/name", "/backendRefs"]);
                    out
                })
                .collect();
            spec["rules"] = Value::Array(rules);
            fact["spec"] = spec;
        }
        (GROUP, "AIServiceBackend") => {
            keep(&v["spec"], &mut fact["spec"], &["/schema", "/backendRef"]);
        }
        (GROUP, "BackendSecurityPolicy") => {
            keep(
                &v["spec"],
                &mut fact["spec"],
                &[
                    "/type",
                    "/targetRefs",
                    "/apiKey/secretRef",
                    "/azureAPIKey/secretRef",
                    "/anthropicAPIKey/secretRef",
                ],
            );
        }
        (GROUP, "GatewayConfig") => {
            keep(&v["spec"], &mut fact["spec"], &["/globalLLMRequestCosts"]);
        }
        ("gateway.envoyproxy.io", "BackendTrafficPolicy") => {
            let rules: Vec<Value> = items(&v["spec"]["rateLimit"]["global"]["rules"])
                .map(|(_, r)| {
                    let mut out = json!({});
                    keep(r, &mut out, &["/cost"]);
                    out
                })
                .collect();
            if rules.iter().any(|r| r.get("cost").is_some()) {
                if !fact["spec"].is_object() {
                    fact["spec"] = json!({});
                }
                fact["spec"]["rateLimit"] = json!({"global": {"rules": rules}});
            }
        }
        _ => {}
    }
}

/// The HTTPRoute the AI Gateway controller writes for an AIGatewayRoute, as reference facts:
/// same name and namespace, its parentRefs and hostnames, its rules by name plus the
/// `route-not-found` rule it appends (`internal/controller/ai_gateway_route.go`,
/// `newHTTPRoute`). Its backends are left out: they are the AIServiceBackends' Backends,
/// which this family checks.
pub fn generated_route(v: &Value) -> Option<Value> {
    if group_of(v) != GROUP || kind(v) != "AIGatewayRoute" {
        return None;
    }
    let mut rules: Vec<Value> = items(&v["spec"]["rules"])
        .map(|(_, r)| match r.get("name") {
            Some(n) => json!({"name": n}),
            None => json!({}),
        })
        .collect();
    rules.push(json!({"name": "route-not-found"}));
    let mut spec = json!({"rules": rules});
    keep(&v["spec"], &mut spec, &["/parentRefs", "/hostnames"]);
    Some(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name(v), "namespace": ns(v)},
        "spec": spec,
        GENERATED: "AIGatewayRoute",
    }))
}

// ---------------------------------------------------------------------------------------------
// Checks, over the reference layer's facts (its accessors, no JSON copies)

pub use checks::check;

mod checks {
    use std::collections::{HashMap, HashSet};

    use super::{API_KEY_ENTRY, COST_NAMESPACE, GENERATED, GROUP};
    use crate::validate::finding::Finding;
    use crate::validate::refs::{Fact, group_of, items, kind, name, ns, s};

    fn is_ai(v: &Fact) -> bool {
        group_of(v) == GROUP
    }

    struct Index<'a> {
        /// (kind, namespace, name) -> object, documents only (no generated routes)
        by_key: HashMap<(&'a str, &'a str, &'a str), &'a Fact>,
        /// (kind, namespace) -> names
        names: HashMap<(&'a str, &'a str), Vec<&'a str>>,
    }

    impl<'a> Index<'a> {
        fn new(objs: &'a [&'a Fact]) -> Self {
            let mut by_key = HashMap::new();
            let mut names: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
            for o in objs.iter().filter(|o| o.get(GENERATED).is_none()) {
                by_key.entry((kind(o), ns(o), name(o))).or_insert(*o);
                names.entry((kind(o), ns(o))).or_default().push(name(o));
            }
            for v in names.values_mut() {
                v.sort_unstable();
                v.dedup();
                v.truncate(20);
            }
            Index { by_key, names }
        }
        fn get(&self, k: &str, namespace: &str, n: &str) -> Option<&'a Fact> {
            self.by_key.get(&(k, namespace, n)).copied()
        }
        /// A missing referent: an error when objects of that kind are in that namespace (a typo),
        /// a warning when none are (it may live in the cluster). As the reference layer does.
        fn missing(
            &self,
            rule: &str,
            path: String,
            k: &str,
            namespace: &str,
            n: &str,
            what: &str,
        ) -> Finding {
            match self.names.get(&(k, namespace)) {
                None => Finding::warning(
                    rule,
                    path,
                    format!("{what} {k} {namespace}/{n} is not among the documents given"),
                    format!(
                        "make sure {k} {n} exists in namespace {namespace} when this is applied"
                    ),
                ),
                Some(known) => Finding::error(
                    rule,
                    path,
                    format!("{what} {k} {namespace}/{n} does not exist"),
                    format!("{k}s in {namespace}: {}", known.join(", ")),
                ),
            }
        }
    }

    /// Check the AI Gateway references and costs among `objs` (reference facts).
    pub fn check(objs: &[&Fact]) -> Vec<(usize, Finding)> {
        let idx = Index::new(objs);
        let mut out = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            if o.get(GENERATED).is_some() {
                continue;
            }
            match (is_ai(o), kind(o)) {
                (true, "AIGatewayRoute") => route(&idx, i, o, &mut out),
                (true, "AIServiceBackend") => service_backend(&idx, i, o, &mut out),
                (true, "BackendSecurityPolicy") => security_policy(&idx, i, o, &mut out),
                (false, "BackendTrafficPolicy") if group_of(o) == "gateway.envoyproxy.io" => {
                    costs(&idx, objs, i, o, &mut out)
                }
                _ => {}
            }
        }
        out
    }

    fn route(idx: &Index, i: usize, r: &Fact, out: &mut Vec<(usize, Finding)>) {
        // ai/route-name-taken: the controller Gets the HTTPRoute named like the AIGatewayRoute and
        // Updates it when it exists (`internal/controller/ai_gateway_route.go`, syncAIGatewayRoute).
        if idx.get("HTTPRoute", ns(r), name(r)).is_some() {
            out.push((
                i,
                Finding::error(
                    "ai/route-name-taken",
                    "/metadata/name",
                    format!(
                        "HTTPRoute {}/{} is among the documents: the AI Gateway controller writes the HTTPRoute of this AIGatewayRoute under the same name and would overwrite it",
                        ns(r),
                        name(r)
                    ),
                    "rename the AIGatewayRoute or the HTTPRoute",
                ),
            ));
        }
        // ai/route-backend: each backendRef without group/kind is an AIServiceBackend the
        // controller must find (`internal/controller/ai_gateway_route.go`, validateAndGetBackend:
        // "failed to get AIServiceBackend").
        for (ri, rule) in items(&r["spec"]["rules"]) {
            for (bi, b) in items(&rule["backendRefs"]) {
                if !s(b, "kind").is_empty() && s(b, "kind") != "AIServiceBackend" {
                    continue; // an InferencePool
                }
                let bns = match s(b, "namespace") {
                    "" => ns(r),
                    n => n,
                };
                if idx.get("AIServiceBackend", bns, s(b, "name")).is_none() {
                    out.push((
                        i,
                        idx.missing(
                            "ai/route-backend",
                            format!("/spec/rules/{ri}/backendRefs/{bi}/name"),
                            "AIServiceBackend",
                            bns,
                            s(b, "name"),
                            "backendRef",
                        ),
                    ));
                }
            }
        }
    }

    fn service_backend(idx: &Index, i: usize, o: &Fact, out: &mut Vec<(usize, Finding)>) {
        // ref/ai-backend: the AIServiceBackend's backendRef must be an Envoy Gateway Backend
        // (`api/v1beta1/ai_service_backend.go`, the BackendRef CEL rule) that exists.
        let b = &o["spec"]["backendRef"];
        if s(b, "kind") == "Backend" {
            let bns = match s(b, "namespace") {
                "" => ns(o),
                n => n,
            };
            if idx.get("Backend", bns, s(b, "name")).is_none() {
                out.push((
                    i,
                    idx.missing(
                        "ref/ai-backend",
                        "/spec/backendRef/name".into(),
                        "Backend",
                        bns,
                        s(b, "name"),
                        "backendRef",
                    ),
                ));
            }
        }
        // ai/azure-version: the AzureOpenAI translator puts schema.version in the api-version query
        // parameter of every request (`internal/translator/openai_azureopenai.go`).
        if s(&o["spec"]["schema"], "name") == "AzureOpenAI"
            && s(&o["spec"]["schema"], "version").is_empty()
        {
            out.push((
                i,
                Finding::warning(
                    "ai/azure-version",
                    "/spec/schema",
                    "schema AzureOpenAI without version: requests go out with an empty api-version and Azure refuses them",
                    "set schema.version to the Azure OpenAI API version, e.g. 2025-01-01-preview",
                ),
            ));
        }
    }

    /// The schemas a credential type fits: AzureAPIKey sends `api-key` (Azure's header,
    /// `internal/backendauth/azureapikey.go`), APIKey sends `Authorization: Bearer`
    /// (`internal/backendauth/api_key.go`), AnthropicAPIKey sends `x-api-key`
    /// (`internal/backendauth/anthropicapikey.go`).
    fn fits(ty: &str, schema: &str) -> bool {
        match ty {
            "AzureAPIKey" | "AzureCredentials" => schema == "AzureOpenAI",
            "AnthropicAPIKey" => matches!(schema, "Anthropic" | "GCPAnthropic" | "AWSAnthropic"),
            "AWSCredentials" => matches!(schema, "AWSBedrock" | "AWSAnthropic"),
            "GCPCredentials" => matches!(schema, "GCPVertexAI" | "GCPAnthropic"),
            "APIKey" => matches!(schema, "OpenAI" | "Cohere"),
            _ => true,
        }
    }

    fn security_policy(idx: &Index, i: usize, p: &Fact, out: &mut Vec<(usize, Finding)>) {
        let ty = s(&p["spec"], "type");
        // ai/policy-target: the policy attaches to AIServiceBackends by name
        // (`api/v1beta1/backendsecurity_policy.go`, TargetRefs); ai/credential-schema: its
        // credential type must be one the backend's schema speaks (see `fits`).
        for (ti, t) in items(&p["spec"]["targetRefs"]) {
            if s(t, "kind") != "AIServiceBackend" {
                continue;
            }
            match idx.get("AIServiceBackend", ns(p), s(t, "name")) {
                None => out.push((
                    i,
                    idx.missing(
                        "ai/policy-target",
                        format!("/spec/targetRefs/{ti}/name"),
                        "AIServiceBackend",
                        ns(p),
                        s(t, "name"),
                        "targetRef",
                    ),
                )),
                Some(b) => {
                    let schema = s(&b["spec"]["schema"], "name");
                    if !schema.is_empty() && !fits(ty, schema) {
                        out.push((
                            i,
                            Finding::error(
                                "ai/credential-schema",
                                "/spec/type",
                                format!("type {ty} does not authenticate to AIServiceBackend {} (schema {schema}): the provider would refuse every request", s(t, "name")),
                                match schema {
                                    "AzureOpenAI" => "use type AzureAPIKey (api-key header) or AzureCredentials",
                                    "OpenAI" | "Cohere" => "use type APIKey (Authorization: Bearer)",
                                    "AWSBedrock" => "use type AWSCredentials",
                                    _ => "use the credential type of that provider",
                                },
                            ),
                        ));
                    }
                }
            }
        }
        // ref/api-key-secret and ai/secret-namespace: the key Secret is read from the POLICY's
        // namespace, entry apiKey (`internal/controller/gateway.go`, bspToFilterAPIBackendAuth:
        // `namespace := backendSecurityPolicy.Namespace`, getSecretData(..., apiKeyInSecret)).
        let field = match ty {
            "APIKey" => "apiKey",
            "AzureAPIKey" => "azureAPIKey",
            "AnthropicAPIKey" => "anthropicAPIKey",
            _ => return,
        };
        let r = &p["spec"][field]["secretRef"];
        let path = format!("/spec/{field}/secretRef");
        if !s(r, "namespace").is_empty() && s(r, "namespace") != ns(p) {
            out.push((
                i,
                Finding::warning(
                    "ai/secret-namespace",
                    format!("{path}/namespace"),
                    format!(
                        "the AI Gateway reads Secret {} from the policy's namespace {}, not from {}",
                        s(r, "name"),
                        ns(p),
                        s(r, "namespace")
                    ),
                    format!(
                        "put the Secret in namespace {} and drop secretRef.namespace",
                        ns(p)
                    ),
                ),
            ));
        }
        match idx.get("Secret", ns(p), s(r, "name")) {
            None => out.push((
                i,
                idx.missing(
                    "ref/api-key-secret",
                    format!("{path}/name"),
                    "Secret",
                    ns(p),
                    s(r, "name"),
                    "secretRef",
                ),
            )),
            Some(sec) => {
                if sec["data"].get(API_KEY_ENTRY).is_none()
                    && sec["stringData"].get(API_KEY_ENTRY).is_none()
                {
                    out.push((
                        i,
                        Finding::error(
                            "ref/api-key-secret",
                            format!("{path}/name"),
                            format!("Secret {}/{} has no entry {API_KEY_ENTRY}", ns(p), s(r, "name")),
                            "the AI Gateway reads the key from the Secret's apiKey entry: kubectl create secret generic NAME --from-literal=apiKey=...",
                        ),
                    ));
                }
            }
        }
    }

    /// ai/cost-key: a rate-limit rule whose cost reads the AI Gateway's metadata namespace must
    /// read a key the AIGatewayRoute behind its target stores (`llmRequestCosts[].metadataKey`,
    /// or GatewayConfig `globalLLMRequestCosts`; `api/v1beta1/ai_gateway_route.go`,
    /// LLMRequestCosts): any other key is never set, so the bucket is never charged.
    /// ai/cost-namespace: a cost reading one of those keys from another namespace finds nothing
    /// (`api/v1beta1/shared_types.go`, AIGatewayFilterMetadataNamespace).
    fn costs(idx: &Index, objs: &[&Fact], i: usize, p: &Fact, out: &mut Vec<(usize, Finding)>) {
        let rules = &p["spec"]["rateLimit"]["global"]["rules"];
        if rules.as_array().is_none() {
            return;
        }
        // the keys stored by the AIGatewayRoutes behind the policy's targets; None when no target
        // is an AI route of the documents (nothing to compare with)
        let mut keys: HashSet<&str> = HashSet::new();
        let mut routes: Vec<String> = Vec::new();
        let global: Vec<&str> = objs
            .iter()
            .filter(|o| is_ai(o) && kind(o) == "GatewayConfig")
            .flat_map(|o| {
                items(&o["spec"]["globalLLMRequestCosts"]).map(|(_, c)| s(c, "metadataKey"))
            })
            .collect();
        let mut targets: Vec<&Fact> = items(&p["spec"]["targetRefs"]).map(|(_, t)| t).collect();
        if p["spec"]["targetRef"].is_object() {
            targets.push(&p["spec"]["targetRef"]);
        }
        for t in targets {
            let ai_routes: Vec<&Fact> = match s(t, "kind") {
                "HTTPRoute" => idx
                    .get("AIGatewayRoute", ns(p), s(t, "name"))
                    .into_iter()
                    .collect(),
                "Gateway" => objs
                    .iter()
                    .filter(|o| {
                        is_ai(o) && kind(o) == "AIGatewayRoute" && o.get(GENERATED).is_none()
                    })
                    .filter(|o| {
                        items(&o["spec"]["parentRefs"]).any(|(_, pr)| {
                            s(pr, "name") == s(t, "name")
                                && match s(pr, "namespace") {
                                    "" => ns(o) == ns(p),
                                    n => n == ns(p),
                                }
                        })
                    })
                    .copied()
                    .collect(),
                _ => Vec::new(),
            };
            for r in ai_routes {
                routes.push(format!("{}/{}", ns(r), name(r)));
                keys.extend(items(&r["spec"]["llmRequestCosts"]).map(|(_, c)| s(c, "metadataKey")));
            }
        }
        if routes.is_empty() {
            return;
        }
        keys.extend(global.iter().copied());
        let mut known: Vec<&str> = keys.iter().copied().filter(|k| !k.is_empty()).collect();
        known.sort_unstable();
        for (ri, rule) in items(rules) {
            for side in ["request", "response"] {
                let c = &rule["cost"][side];
                if s(c, "from") != "Metadata" {
                    continue;
                }
                let m = &c["metadata"];
                let path = format!("/spec/rateLimit/global/rules/{ri}/cost/{side}/metadata");
                let (namespace, key) = (s(m, "namespace"), s(m, "key"));
                if namespace == COST_NAMESPACE && !keys.contains(key) {
                    out.push((
                        i,
                        Finding::error(
                            "ai/cost-key",
                            format!("{path}/key"),
                            format!(
                                "no llmRequestCosts entry of AIGatewayRoute {} stores {key}: the rule's bucket is never charged",
                                routes.join(", ")
                            ),
                            if known.is_empty() {
                                "add llmRequestCosts to the AIGatewayRoute, e.g. {metadataKey: llm_total_token, type: TotalToken}".to_string()
                            } else {
                                format!("keys stored: {}", known.join(", "))
                            },
                        ),
                    ));
                } else if namespace != COST_NAMESPACE && keys.contains(key) {
                    out.push((
                        i,
                        Finding::error(
                            "ai/cost-namespace",
                            format!("{path}/namespace"),
                            format!("{key} is stored under the metadata namespace {COST_NAMESPACE}, not {namespace:?}: the rule's bucket is never charged"),
                            format!("namespace: {COST_NAMESPACE}"),
                        ),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::refs::{Fact, FactBuf};

    fn gw() -> Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "app"}, "spec": {}})
    }
    fn ai_route(costs: Value, backend: &str) -> Value {
        json!({"apiVersion": "aigateway.envoyproxy.io/v1beta1", "kind": "AIGatewayRoute", "metadata": {"name": "llm", "namespace": "app"},
               "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"matches": [{"headers": [{"name": "x-ai-eg-model", "value": "m"}]}], "backendRefs": [{"name": backend}]}],
                        "llmRequestCosts": costs}})
    }
    fn asb(name: &str, schema: &str, version: Option<&str>) -> Value {
        let mut sc = json!({"name": schema});
        if let Some(v) = version {
            sc["version"] = json!(v);
        }
        json!({"apiVersion": "aigateway.envoyproxy.io/v1beta1", "kind": "AIServiceBackend", "metadata": {"name": name, "namespace": "app"},
               "spec": {"schema": sc, "backendRef": {"group": "gateway.envoyproxy.io", "kind": "Backend", "name": name}}})
    }
    fn backend(name: &str) -> Value {
        json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "Backend", "metadata": {"name": name, "namespace": "app"}, "spec": {}})
    }
    fn bsp(ty: &str, field: &str, target: &str, secret: Value) -> Value {
        json!({"apiVersion": "aigateway.envoyproxy.io/v1beta1", "kind": "BackendSecurityPolicy", "metadata": {"name": "k", "namespace": "app"},
               "spec": {"type": ty, "targetRefs": [{"group": "aigateway.envoyproxy.io", "kind": "AIServiceBackend", "name": target}], field: {"secretRef": secret}}})
    }
    fn secret(name: &str, entry: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "app"}, "data": {entry: null}})
    }
    fn btp(target_kind: &str, target: &str, namespace: &str, key: &str) -> Value {
        json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy", "metadata": {"name": "p", "namespace": "app"},
               "spec": {"targetRefs": [{"kind": target_kind, "name": target}], "rateLimit": {"global": {"rules": [
                   {"clientSelectors": [{"headers": [{"name": "x-user-id", "type": "Distinct"}]}], "limit": {"requests": 10, "unit": "Hour"},
                    "cost": {"request": {"from": "Number", "number": 0}, "response": {"from": "Metadata", "metadata": {"namespace": namespace, "key": key}}}}]}}}})
    }
    fn costs_total() -> Value {
        json!([{"metadataKey": "llm_total_token", "type": "TotalToken"}])
    }
    /// A whole good stack: route -> backend -> Backend, key policy -> Secret with apiKey, a
    /// budget reading the route's key.
    fn good() -> Vec<Value> {
        vec![
            gw(),
            ai_route(costs_total(), "openai"),
            asb("openai", "OpenAI", None),
            backend("openai"),
            bsp("APIKey", "apiKey", "openai", json!({"name": "key"})),
            secret("key", "apiKey"),
            btp("HTTPRoute", "llm", COST_NAMESPACE, "llm_total_token"),
        ]
    }

    /// Facts as the engine hands them over: projected, plus the generated routes.
    fn run(objs: &[Value]) -> Vec<(String, String)> {
        let mut facts: Vec<Value> = Vec::new();
        for o in objs {
            let mut f = super::super::refs::project(o).to_json();
            project_into(o, &mut f);
            facts.push(f);
            if let Some(g) = generated_route(o) {
                facts.push(g);
            }
        }
        let facts: Vec<FactBuf> = facts.iter().map(FactBuf::from_json).collect();
        let refs: Vec<&Fact> = facts.iter().map(|f| &**f).collect();
        let mut v: Vec<(String, String)> = check(&refs)
            .into_iter()
            .map(|(_, f)| (f.rule.clone(), f.path.clone()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn table() {
        type Edit = fn(&mut Vec<Value>);
        type Case<'a> = (&'a str, Edit, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            ("a whole stack is clean", |_| {}, &[]),
            (
                "route to a missing AIServiceBackend (others exist: error)",
                |v| v[1] = ai_route(costs_total(), "opneai"),
                &[("ai/route-backend", "/spec/rules/0/backendRefs/0/name")],
            ),
            (
                "AIServiceBackend to a missing Backend",
                |v| {
                    v.remove(3);
                },
                &[("ref/ai-backend", "/spec/backendRef/name")],
            ),
            (
                "key policy on a missing AIServiceBackend",
                |v| v[4] = bsp("APIKey", "apiKey", "nope", json!({"name": "key"})),
                &[("ai/policy-target", "/spec/targetRefs/0/name")],
            ),
            (
                "Secret without apiKey",
                |v| v[5] = secret("key", "api-key"),
                &[("ref/api-key-secret", "/spec/apiKey/secretRef/name")],
            ),
            (
                "Secret missing",
                |v| {
                    v.remove(5);
                },
                &[("ref/api-key-secret", "/spec/apiKey/secretRef/name")],
            ),
            (
                "Secret in another namespace is not read",
                |v| {
                    v[4] = bsp(
                        "APIKey",
                        "apiKey",
                        "openai",
                        json!({"name": "key", "namespace": "other"}),
                    )
                },
                &[("ai/secret-namespace", "/spec/apiKey/secretRef/namespace")],
            ),
            (
                "Azure key on an OpenAI backend",
                |v| {
                    v[4] = bsp(
                        "AzureAPIKey",
                        "azureAPIKey",
                        "openai",
                        json!({"name": "key"}),
                    )
                },
                &[("ai/credential-schema", "/spec/type")],
            ),
            (
                "Azure schema without version",
                |v| v[2] = asb("openai", "AzureOpenAI", None),
                &[
                    ("ai/azure-version", "/spec/schema"),
                    ("ai/credential-schema", "/spec/type"),
                ],
            ),
            (
                "budget reading a key the route does not store",
                |v| v[6] = btp("HTTPRoute", "llm", COST_NAMESPACE, "llm_input_token"),
                &[(
                    "ai/cost-key",
                    "/spec/rateLimit/global/rules/0/cost/response/metadata/key",
                )],
            ),
            (
                "budget reading the route's key from another namespace",
                |v| {
                    v[6] = btp(
                        "HTTPRoute",
                        "llm",
                        "envoy.filters.http.ai",
                        "llm_total_token",
                    )
                },
                &[(
                    "ai/cost-namespace",
                    "/spec/rateLimit/global/rules/0/cost/response/metadata/namespace",
                )],
            ),
            (
                "budget on the Gateway reads the keys of its AI routes",
                |v| v[6] = btp("Gateway", "gw", COST_NAMESPACE, "llm_total_token"),
                &[],
            ),
            (
                "budget on the Gateway with a key no AI route stores",
                |v| v[6] = btp("Gateway", "gw", COST_NAMESPACE, "llm_output_token"),
                &[(
                    "ai/cost-key",
                    "/spec/rateLimit/global/rules/0/cost/response/metadata/key",
                )],
            ),
            (
                "a GatewayConfig's global costs count",
                |v| {
                    v[6] = btp("HTTPRoute", "llm", COST_NAMESPACE, "llm_output_token");
                    v.push(json!({"apiVersion": "aigateway.envoyproxy.io/v1beta1", "kind": "GatewayConfig", "metadata": {"name": "c", "namespace": "app"},
                              "spec": {"globalLLMRequestCosts": [{"metadataKey": "llm_output_token", "type": "OutputToken"}]}}));
                },
                &[],
            ),
            (
                "an HTTPRoute named like the AIGatewayRoute is overwritten",
                |v| {
                    v.push(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "llm", "namespace": "app"}, "spec": {}}))
                },
                &[("ai/route-name-taken", "/metadata/name")],
            ),
            (
                "a partial stack (no Backend, no Secret of any kind) only warns",
                |v| {
                    v.remove(5);
                    v.remove(3);
                },
                &[
                    ("ref/ai-backend", "/spec/backendRef/name"),
                    ("ref/api-key-secret", "/spec/apiKey/secretRef/name"),
                ],
            ),
        ];
        for (what, edit, want) in cases {
            let mut objs = good();
            edit(&mut objs);
            let got = run(&objs);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(r, p)| (r.to_string(), p.to_string()))
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn missing_referents_are_warnings_when_none_of_the_kind_is_given() {
        let mut objs = good();
        objs.remove(5); // the only Secret
        let mut facts: Vec<Value> = objs
            .iter()
            .map(|o| {
                let mut f = super::super::refs::project(o).to_json();
                project_into(o, &mut f);
                f
            })
            .collect();
        facts.extend(objs.iter().filter_map(generated_route));
        let facts: Vec<FactBuf> = facts.iter().map(FactBuf::from_json).collect();
        let refs: Vec<&Fact> = facts.iter().map(|f| &**f).collect();
        let f = check(&refs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1.severity, super::super::Severity::Warning);
    }

    #[test]
    fn the_generated_route_carries_the_parents_and_the_reserved_rule() {
        let g = generated_route(&ai_route(costs_total(), "openai")).unwrap();
        assert_eq!(g["kind"], "HTTPRoute");
        assert_eq!(g["metadata"]["name"], "llm");
        assert_eq!(g["spec"]["parentRefs"][0]["name"], "gw");
        assert_eq!(
            g["spec"]["rules"].as_array().unwrap().last().unwrap()["name"],
            "route-not-found"
        );
        assert!(generated_route(&gw()).is_none());
    }
}
