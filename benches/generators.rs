//! Generator cost, in process: each tool's plan + atomic write + kustomization refresh, on the
//! Task API stack. Run: `cargo bench --bench generators`. Prints medians; asserts nothing.

use std::time::{Duration, Instant};

use serde_json::json;
use traffic_engineer::generate::{self, params::*};
use traffic_engineer::workspace::Stack;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = Stack::new(dir.path());
    let empty = json!({}).as_object().cloned().unwrap_or_default();
    let n = 200;
    macro_rules! bench {
        ($name:literal, $p:ty, $f:path) => {{
            let p: $p = parse_args(empty.clone()).expect("defaults parse");
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                stack.update(|s| $f(&p, s)).expect("update");
                times.push(t.elapsed());
            }
            println!(
                "{:<24} median {:>8.3} ms over {n} calls",
                $name,
                median(times).as_secs_f64() * 1e3
            );
        }};
    }
    bench!(
        "generate_gateway",
        GatewayParams,
        generate::gateway::generate
    );
    bench!(
        "add_rate_limit",
        RateLimitParams,
        generate::policy::add_rate_limit
    );
    bench!(
        "add_circuit_breaker",
        CircuitBreakerParams,
        generate::policy::add_circuit_breaker
    );
    bench!("generate_tls", TlsParams, generate::tls::generate);
    bench!(
        "generate_scaledobject",
        ScaledObjectParams,
        generate::scaling::generate
    );
    // a call that really writes (changes a value each time)
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let p: RateLimitParams = parse_args(
            json!({"requests_per_user": 100 + i})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )
        .expect("parse");
        let t = Instant::now();
        stack
            .update(|s| generate::policy::add_rate_limit(&p, s))
            .expect("update");
        times.push(t.elapsed());
    }
    println!(
        "{:<24} median {:>8.3} ms over {n} calls (file rewritten each time)",
        "add_rate_limit (write)",
        median(times).as_secs_f64() * 1e3
    );
}
