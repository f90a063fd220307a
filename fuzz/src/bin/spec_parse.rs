//! The traffic-spec parser, and the generators fed from every spec it accepts.
#![no_main]
use traffic_engineer::{generate, spec};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // the input as a whole document, and the input as the body of a traffic-spec block
    for doc in [text.to_string(), format!("# spec\n```yaml traffic-spec\n{text}\n```\n")] {
        let Ok(parsed) = spec::parse(&doc) else { continue };
        let s = &parsed.spec;
        let snap = generate::Snapshot::default();
        let _ = generate::gateway::generate(&s.gateway_params(), &snap);
        if let Some(p) = s.rate_limit_params() {
            let _ = generate::policy::add_rate_limit(&p, &snap);
        }
        if let Some(p) = s.circuit_breaker_params() {
            let _ = generate::policy::add_circuit_breaker(&p, &snap);
        }
        if let Some(p) = s.tls_params() {
            let _ = generate::tls::generate(&p, &snap);
        }
        if let Some(p) = s.scaledobject_params() {
            let _ = generate::scaling::generate(&p, &snap);
        }
        let rows = spec::compliance::evaluate(s, &[], 0, &[], "traffic-spec.md");
        assert_eq!(rows.len(), s.criteria.len());
        let _ = spec::live::checks(s, &spec::live::LiveOptions::default());
    }
});
