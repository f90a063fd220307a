//! A stack built by the five generators, in workflow order, with the given arguments.

use serde_json::Value;
use traffic_engineer::generate::{self, params::*};
use traffic_engineer::workspace::Stack;

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Run the five generators with these arguments into a fresh stack.
pub fn build(gw: Value, rl: Value, cb: Value, tls: Value, so: Value) -> (tempfile::TempDir, Stack) {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path());
    let p: GatewayParams = parse_args(obj(gw)).unwrap();
    stack
        .update(|s| generate::gateway::generate(&p, s))
        .unwrap();
    let p: RateLimitParams = parse_args(obj(rl)).unwrap();
    stack
        .update(|s| generate::policy::add_rate_limit(&p, s))
        .unwrap();
    let p: CircuitBreakerParams = parse_args(obj(cb)).unwrap();
    stack
        .update(|s| generate::policy::add_circuit_breaker(&p, s))
        .unwrap();
    let p: TlsParams = parse_args(obj(tls)).unwrap();
    stack.update(|s| generate::tls::generate(&p, s)).unwrap();
    let p: ScaledObjectParams = parse_args(obj(so)).unwrap();
    stack
        .update(|s| generate::scaling::generate(&p, s))
        .unwrap();
    (dir, stack)
}
