//! add_llm_route: the Envoy AI Gateway stack it writes (validated against the v1.1.0 CRDs with
//! 0 errors), partial updates, the one-policy-per-target discipline with add_rate_limit,
//! refusals (all at once, nothing written, no key ever asked for), and the proof through the
//! upstream programs: `aigw-translate` (AI Gateway v1.1.0's translation) then Envoy Gateway's
//! translator (egctl), every object accepted.

mod common;

use serde_json::{Value, json};
use traffic_engineer::generate::{self, params::*};
use traffic_engineer::validate::Severity;
use traffic_engineer::workspace::Stack;

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn stack_with_gateway() -> (tempfile::TempDir, Stack) {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path());
    let p: GatewayParams = parse_args(obj(json!({}))).unwrap();
    stack
        .update(|s| generate::gateway::generate(&p, s))
        .unwrap();
    (dir, stack)
}

fn llm(stack: &Stack, args: Value) -> Result<generate::Plan, generate::GenerateError> {
    let p: LlmRouteParams =
        parse_args(obj(args)).map_err(|e| generate::GenerateError::Invalid(e.into()))?;
    stack
        .update(|s| generate::llm::generate(&p, s))
        .map(|(p, _)| p)
}

pub fn two_providers() -> Value {
    json!({
        "backends": [
            {"name": "openai", "schema": "openai", "hostname": "api.openai.com", "secret": "openai-key",
             "models": ["gpt-4o-mini", "gpt-4o"]},
            {"name": "azure", "schema": "azure_openai", "hostname": "task-api.openai.azure.com",
             "secret": "azure-key", "models": ["gpt-4o"], "priority": 1, "api_version": "2025-01-01-preview"}
        ],
        "token_budget": {"input": 1000, "total": 5000}
    })
}

fn file(stack: &Stack, f: &str) -> Value {
    let text = std::fs::read_to_string(stack.root().join("traffic").join(f))
        .unwrap_or_else(|e| panic!("{f}: {e}"));
    traffic_engineer::yaml::parse_documents(&text)
        .unwrap()
        .remove(0)
        .value
}

fn errors(stack: &Stack) -> Vec<String> {
    let r = traffic_engineer::validation::validate_stack(common::validator(), stack).unwrap();
    r.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            format!(
                "{} {} {}",
                f.rule,
                f.file.clone().unwrap_or_default(),
                f.message
            )
        })
        .collect()
}

#[test]
fn writes_route_backends_keys_and_budget_and_validates_clean() {
    let (_d, stack) = stack_with_gateway();
    let plan = llm(&stack, two_providers()).unwrap();
    let mut files: Vec<&str> = plan.files.iter().map(|f| f.file.as_str()).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "aigatewayroute-task-api-gateway-llm.yaml",
            "aiservicebackend-azure.yaml",
            "aiservicebackend-openai.yaml",
            "backend-azure.yaml",
            "backend-openai.yaml",
            "backendsecuritypolicy-azure-key.yaml",
            "backendsecuritypolicy-openai-key.yaml",
            "backendtrafficpolicy-task-api-gateway-llm-traffic.yaml",
        ]
    );
    let r = file(&stack, "aigatewayroute-task-api-gateway-llm.yaml");
    assert_eq!(r["apiVersion"], "aigateway.envoyproxy.io/v1beta1");
    assert_eq!(r["spec"]["parentRefs"][0]["name"], "task-api-gateway");
    let rules = r["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "one rule per model");
    assert_eq!(
        rules[1]["matches"][0]["headers"][0],
        json!({"type": "Exact", "name": "x-ai-eg-model", "value": "gpt-4o"})
    );
    assert_eq!(
        rules[1]["backendRefs"],
        json!([{"name": "openai", "priority": 0}, {"name": "azure", "priority": 1}])
    );
    assert_eq!(
        r["spec"]["llmRequestCosts"],
        json!([{"metadataKey": "llm_input_token", "type": "InputToken"}, {"metadataKey": "llm_total_token", "type": "TotalToken"}])
    );
    let az = file(&stack, "aiservicebackend-azure.yaml");
    assert_eq!(
        az["spec"]["schema"],
        json!({"name": "AzureOpenAI", "version": "2025-01-01-preview"})
    );
    let key = file(&stack, "backendsecuritypolicy-azure-key.yaml");
    assert_eq!(key["spec"]["type"], "AzureAPIKey");
    assert_eq!(key["spec"]["azureAPIKey"]["secretRef"]["name"], "azure-key");
    let be = file(&stack, "backend-openai.yaml");
    assert_eq!(
        be["spec"]["endpoints"][0]["fqdn"],
        json!({"hostname": "api.openai.com", "port": 443})
    );
    assert_eq!(be["spec"]["tls"]["sni"], "api.openai.com");
    let btp = file(
        &stack,
        "backendtrafficpolicy-task-api-gateway-llm-traffic.yaml",
    );
    assert_eq!(btp["spec"]["targetRefs"][0]["kind"], "HTTPRoute");
    assert_eq!(btp["spec"]["targetRefs"][0]["name"], "task-api-gateway-llm");
    let rl = btp["spec"]["rateLimit"]["global"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(rl.len(), 2);
    assert_eq!(rl[0]["limit"], json!({"requests": 1000, "unit": "Hour"}));
    assert_eq!(
        rl[0]["cost"]["response"]["metadata"],
        json!({"namespace": "io.envoy.ai_gateway", "key": "llm_input_token"})
    );
    assert_eq!(
        rl[0]["cost"]["request"],
        json!({"from": "Number", "number": 0})
    );
    assert_eq!(btp["spec"]["retry"]["numAttemptsPerPriority"], 1);
    assert!(plan.defaults.iter().any(|d| d.starts_with("unit: Hour")));
    assert_eq!(errors(&stack), Vec::<String>::new());
}

#[test]
fn a_later_call_changes_only_what_it_names() {
    let (_d, stack) = stack_with_gateway();
    llm(&stack, two_providers()).unwrap();
    let before = file(&stack, "aiservicebackend-openai.yaml");
    llm(&stack, json!({"token_budget": {"output": 200, "input": 0}})).unwrap();
    let btp = file(
        &stack,
        "backendtrafficpolicy-task-api-gateway-llm-traffic.yaml",
    );
    let keys: Vec<&str> = btp["spec"]["rateLimit"]["global"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cost"]["response"]["metadata"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["llm_output_token", "llm_total_token"],
        "input removed, output added, total kept"
    );
    let r = file(&stack, "aigatewayroute-task-api-gateway-llm.yaml");
    assert_eq!(
        r["spec"]["rules"].as_array().unwrap().len(),
        2,
        "backends kept"
    );
    assert_eq!(file(&stack, "aiservicebackend-openai.yaml"), before);
    // the unit and header given later reach the rules
    llm(&stack, json!({"unit": "Day", "user_header": "X-Tenant"})).unwrap();
    let btp = file(
        &stack,
        "backendtrafficpolicy-task-api-gateway-llm-traffic.yaml",
    );
    let rule = &btp["spec"]["rateLimit"]["global"]["rules"][0];
    assert_eq!(rule["limit"]["unit"], "Day");
    assert_eq!(rule["clientSelectors"][0]["headers"][0]["name"], "x-tenant");
    assert_eq!(errors(&stack), Vec::<String>::new());
}

#[test]
fn request_limits_and_token_budgets_share_one_policy() {
    let (_d, stack) = stack_with_gateway();
    llm(&stack, two_providers()).unwrap();
    // add_rate_limit on the generated HTTPRoute (outside the stack's files: external)
    let p: RateLimitParams = parse_args(obj(json!({
        "target_name": "task-api-gateway-llm", "external": true, "requests_per_user": 30, "anonymous": "unlimited"
    })))
    .unwrap();
    stack
        .update(|s| generate::policy::add_rate_limit(&p, s))
        .unwrap();
    let policies: Vec<_> = std::fs::read_dir(stack.root().join("traffic"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("backendtrafficpolicy-")
        })
        .collect();
    assert_eq!(policies.len(), 1, "one policy per target");
    let btp = file(
        &stack,
        "backendtrafficpolicy-task-api-gateway-llm-traffic.yaml",
    );
    let rules = btp["spec"]["rateLimit"]["global"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(
        rules.len(),
        3,
        "the request rule and both token rules: {rules:#?}"
    );
    assert!(rules[0].get("cost").is_none());
    // and the token budget written again keeps the request rule
    llm(&stack, json!({"token_budget": {"total": 9000}})).unwrap();
    let btp = file(
        &stack,
        "backendtrafficpolicy-task-api-gateway-llm-traffic.yaml",
    );
    let rules = btp["spec"]["rateLimit"]["global"]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0]["limit"]["requests"], 30);
    assert_eq!(rules[2]["limit"]["requests"], 9000);
    assert_eq!(errors(&stack), Vec::<String>::new());
}

#[test]
fn every_problem_of_a_call_is_refused_at_once_and_nothing_is_written() {
    let (_d, stack) = stack_with_gateway();
    let before: String = std::fs::read_dir(stack.root().join("traffic"))
        .unwrap()
        .count()
        .to_string();
    let e = llm(
        &stack,
        json!({
            "gateway": "nope",
            "backends": [
                {"name": "a", "schema": "azure_openai", "hostname": "https://x", "secret": "k", "models": []},
                {"name": "b", "schema": "openai", "hostname": "api.openai.com", "secret": "Bad_Secret", "models": ["gpt 4"], "api_version": "v1", "port": 0}
            ],
            "unit": "Hour"
        }),
    )
    .unwrap_err()
    .to_string();
    for field in [
        "gateway",
        "backends[0].hostname",
        "backends[0].models",
        "backends[0].api_version",
        "backends[1].secret",
        "backends[1].models[0]",
        "backends[1].api_version",
        "backends[1].port",
        "unit",
    ] {
        assert!(e.contains(field), "{field} not named in: {e}");
    }
    let after: String = std::fs::read_dir(stack.root().join("traffic"))
        .unwrap()
        .count()
        .to_string();
    assert_eq!(before, after);
    // a first call must name the providers
    let e = llm(&stack, json!({})).unwrap_err().to_string();
    assert!(e.contains("backends") && e.contains("\"secret\""), "{e}");
    // the key itself is never an argument
    let e = llm(
        &stack,
        json!({"backends": [{"name": "a", "schema": "openai", "hostname": "api.openai.com", "secret": "k", "models": ["m"], "api_key": "sk-live-123456"}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("api_key") && !e.contains("sk-live"), "{e}");
}

#[test]
fn an_http_route_of_the_same_name_is_refused() {
    let (_d, stack) = stack_with_gateway();
    let mut args = two_providers();
    args["name"] = json!("task-api");
    let e = llm(&stack, args).unwrap_err().to_string();
    assert!(e.contains("name") && e.contains("overwrite"), "{e}");
}

/// The proof with the upstream programs: skipped only when TRAFFIC_ENGINEER_AIGW_TRANSLATE is
/// unset (scripts/test.sh sets it from `scripts/upstream.sh aigw-translate`).
#[test]
fn every_generated_llm_stack_is_accepted_by_the_ai_gateway_and_envoy_gateway_translators() {
    let Some(aigw) = std::env::var_os("TRAFFIC_ENGINEER_AIGW_TRANSLATE").filter(|p| !p.is_empty())
    else {
        eprintln!(
            "SKIPPED: TRAFFIC_ENGINEER_AIGW_TRANSLATE is unset (scripts/upstream.sh aigw-translate builds it)"
        );
        return;
    };
    let aigw = std::path::PathBuf::from(aigw);
    assert!(
        aigw.is_file(),
        "TRAFFIC_ENGINEER_AIGW_TRANSLATE={} is not a file",
        aigw.display()
    );
    let egctl = common::egctl::egctl();
    let variants: Vec<(&str, Vec<Value>)> = vec![
        (
            "two providers, fallback, input+total budget",
            vec![two_providers()],
        ),
        (
            "one provider, no budget",
            vec![
                json!({"backends": [{"name": "openai", "schema": "openai", "hostname": "api.openai.com", "secret": "openai-key", "models": ["gpt-4o-mini"]}]}),
            ],
        ),
        (
            "plain-HTTP OpenAI-compatible server on an IP, output budget per tenant per day",
            vec![json!({
            "name": "local-llm",
            "backends": [{"name": "vllm", "schema": "openai", "hostname": "10.0.0.7", "port": 8000, "tls": false, "secret": "vllm-key", "models": ["llama-3.1-8b"]}],
            "token_budget": {"output": 20000}, "user_header": "x-tenant-id", "unit": "Day"})],
        ),
        (
            "budget changed later",
            vec![
                two_providers(),
                json!({"token_budget": {"output": 100, "input": 0}}),
            ],
        ),
    ];
    for (what, calls) in variants {
        let (_d, stack) = stack_with_gateway();
        for c in calls {
            llm(&stack, c).unwrap();
        }
        assert_eq!(errors(&stack), Vec::<String>::new(), "{what}");
        let acc = traffic_engineer::rehearse::accept_ai::translate_llm_stack(
            &aigw,
            egctl,
            &stack.root().join("traffic"),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(acc.accepted(), "{what}:\n{}", acc.failures_text());
        assert!(
            acc.checked.iter().any(
                |c| c.starts_with("HTTPRoute task-api/") && c.contains("-llm")
                    || c.contains("local-llm")
            ),
            "{what}: the generated HTTPRoute was checked: {:?}",
            acc.checked
        );
        assert!(
            acc.checked
                .iter()
                .any(|c| c.starts_with("BackendTrafficPolicy"))
                || what.contains("no budget"),
            "{what}: {:?}",
            acc.checked
        );
        eprintln!(
            "{what}: accepted; checked {}; supplied {:?}",
            acc.checked.len(),
            acc.supplied
        );
    }
}

/// The harness fails when it must: a budget on a route the AI Gateway does not have.
#[test]
fn the_ai_translation_harness_reports_a_policy_attached_to_nothing() {
    let Some(aigw) = std::env::var_os("TRAFFIC_ENGINEER_AIGW_TRANSLATE").filter(|p| !p.is_empty())
    else {
        eprintln!("SKIPPED: TRAFFIC_ENGINEER_AIGW_TRANSLATE is unset");
        return;
    };
    let (_d, stack) = stack_with_gateway();
    llm(&stack, two_providers()).unwrap();
    let f = stack
        .root()
        .join("traffic/backendtrafficpolicy-task-api-gateway-llm-traffic.yaml");
    let text = std::fs::read_to_string(&f).unwrap().replace(
        "name: task-api-gateway-llm\n",
        "name: task-api-gateway-lm\n",
    );
    std::fs::write(&f, text).unwrap();
    let acc = traffic_engineer::rehearse::accept_ai::translate_llm_stack(
        std::path::Path::new(&aigw),
        common::egctl::egctl(),
        &stack.root().join("traffic"),
    )
    .unwrap();
    assert!(!acc.accepted());
    assert!(
        acc.failures_text()
            .contains("BackendTrafficPolicy task-api/task-api-gateway-llm-traffic"),
        "{}",
        acc.failures_text()
    );
}

#[test]
fn removing_every_budget_keeps_the_fallback_and_drops_the_rate_limit() {
    let (_d, stack) = stack_with_gateway();
    llm(&stack, two_providers()).unwrap();
    llm(&stack, json!({"token_budget": {"input": 0, "total": 0}})).unwrap();
    let btp = file(
        &stack,
        "backendtrafficpolicy-task-api-gateway-llm-traffic.yaml",
    );
    assert!(btp["spec"].get("rateLimit").is_none(), "{btp:#}");
    assert_eq!(btp["spec"]["retry"]["numRetries"], 1);
    let r = file(&stack, "aigatewayroute-task-api-gateway-llm.yaml");
    assert!(r["spec"].get("llmRequestCosts").is_none());
    assert_eq!(errors(&stack), Vec::<String>::new());
}

/// The llm_routing criterion: PASS on the generated stack, FAIL naming the field on a stack
/// edited by hand (a model moved to another backend, a budget changed).
#[test]
fn the_llm_routing_criterion_compares_every_field_with_the_stack() {
    let md = r#"# agent

```yaml traffic-spec
service: {name: agent, namespace: agent, port: 8000}
gateway: {name: agent-gateway, hostnames: [agent.example.com], http: {port: 80}}
routes: [{name: agent, rules: [{name: api, path: /, backend: agent}]}]
llm_route:
  backends:
    - {name: openai, schema: openai, hostname: api.openai.com, secret: openai-api-key, models: [gpt-4o-mini, gpt-4o]}
    - {name: azure, schema: azure_openai, hostname: agent.openai.azure.com, secret: azure-api-key, models: [gpt-4o], priority: 1, api_version: 2025-01-01-preview}
  token_budget: {total: 50000}
criteria: [{id: SC-001, check: llm_routing}]
```
"#;
    use traffic_engineer::spec;
    let parsed = spec::parse(md).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path());
    spec::generate(&parsed.spec, &stack).unwrap_or_else(|(_, e)| panic!("{e}"));
    let (_, rows) =
        spec::check(&parsed.spec, &stack, common::validator(), "traffic-spec.md").unwrap();
    let row = rows.iter().find(|r| r.id == "SC-001").unwrap();
    assert_eq!(format!("{:?}", row.status), "Pass", "{}", row.to_text());
    // hand edits: gpt-4o-mini to azure, the budget to 60000
    let route = stack
        .root()
        .join("traffic/aigatewayroute-agent-gateway-llm.yaml");
    let text = std::fs::read_to_string(&route).unwrap();
    let text = text.replacen(
        "    - name: openai\n      priority: 0\n",
        "    - name: azure\n      priority: 0\n",
        1,
    );
    std::fs::write(&route, text).unwrap();
    let btp = stack
        .root()
        .join("traffic/backendtrafficpolicy-agent-gateway-llm-traffic.yaml");
    let text = std::fs::read_to_string(&btp)
        .unwrap()
        .replace("requests: 50000", "requests: 60000");
    std::fs::write(&btp, text).unwrap();
    let (_, rows) =
        spec::check(&parsed.spec, &stack, common::validator(), "traffic-spec.md").unwrap();
    let row = rows.iter().find(|r| r.id == "SC-001").unwrap();
    let t = row.to_text();
    assert_eq!(format!("{:?}", row.status), "Fail", "{t}");
    assert!(
        t.contains("llm_route.models[gpt-4o-mini]")
            && t.contains("openai@0")
            && t.contains("azure@0"),
        "{t}"
    );
    assert!(
        t.contains("llm_route.token_budget.total") && t.contains("60000"),
        "{t}"
    );
}
