//! add_llm_route: the Envoy AI Gateway stack it writes, partial updates, refusals, and the
//! validation of what it writes against the v1.1.0 CRDs.

mod common;

use serde_json::{Value, json};
use traffic_engineer::generate::{self, params::*};
use traffic_engineer::workspace::Stack;

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn stack_with_gateway() -> (tempfile::TempDir, Stack) {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path());
    let p: GatewayParams = parse_args(obj(json!({}))).unwrap();
    stack.update(|s| generate::gateway::generate(&p, s)).unwrap();
    (dir, stack)
}

fn llm(stack: &Stack, args: Value) -> Result<generate::Plan, generate::GenerateError> {
    let p: LlmRouteParams = parse_args(obj(args)).unwrap();
    stack.update(|s| generate::llm::generate(&p, s)).map(|(p, _)| p)
}

fn two_providers() -> Value {
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

fn read(stack: &Stack, file: &str) -> String {
    std::fs::read_to_string(stack.root().join("traffic").join(file)).unwrap()
}

#[test]
fn writes_the_route_the_backends_and_the_budget() {
    let (_d, stack) = stack_with_gateway();
    let plan = llm(&stack, two_providers()).unwrap();
    for f in &plan.files {
        eprintln!("--- {}\n{}", f.file, f.contents);
    }
    eprintln!("{:#?}", plan.notes);
    eprintln!("{:#?}", plan.defaults);
}
