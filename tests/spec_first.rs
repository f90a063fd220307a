//! Spec first: the example spec -> generate_from_spec -> validate gives PASS for every
//! criterion and zero error findings; a stack edited by hand to break SC-002 or SC-006 gives
//! FAIL with the reason.

mod common;
use common::validator;

use traffic_engineer::spec::{self, compliance::Status};
use traffic_engineer::workspace::Stack;

const EXAMPLE: &str = include_str!("../examples/task-api/traffic-spec.md");

fn built() -> (tempfile::TempDir, Stack, spec::Spec) {
    let parsed = spec::parse(EXAMPLE).expect("example parses");
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path());
    let steps = spec::generate(&parsed.spec, &stack)
        .map_err(|(_, e)| e)
        .expect("generate");
    assert_eq!(steps.len(), 5, "every generator ran");
    (dir, stack, parsed.spec)
}

#[test]
fn example_spec_passes_every_criterion() {
    let (_d, stack, spec) = built();
    let (report, rows) = spec::check(&spec, &stack, validator(), "traffic-spec.md").unwrap();
    assert_eq!(report.summary.errors, 0, "{}", report.to_text());
    assert_eq!(rows.len(), 7);
    for r in &rows {
        assert_eq!(r.status, Status::Pass, "{}", r.to_text());
    }
    let sc002 = rows.iter().find(|r| r.id == "SC-002").unwrap();
    assert_eq!(
        sc002.evidence,
        "BackendTrafficPolicy task-api/task-api-traffic: x-user-id Distinct 100/Minute; requests without x-user-id 10/Minute"
    );
    let sc004 = rows.iter().find(|r| r.id == "SC-004").unwrap();
    assert_eq!(
        sc004.live.as_ref().unwrap().expect,
        "READY=True, MIN=1, MAX=10"
    );
    // generating twice changes nothing
    let parsed = spec::parse(EXAMPLE).unwrap();
    let steps = spec::generate(&parsed.spec, &stack)
        .map_err(|(_, e)| e)
        .unwrap();
    assert!(steps.iter().all(|s| {
        s.written
            .iter()
            .all(|w| w.action == traffic_engineer::workspace::Action::Unchanged)
    }));
}

fn edit(stack: &Stack, file: &str, from: &str, to: &str) {
    let p = stack.dir().join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} lacks {from:?}:\n{text}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

fn row(stack: &Stack, spec: &spec::Spec, id: &str) -> spec::compliance::Row {
    let (_, rows) = spec::check(spec, stack, validator(), "traffic-spec.md").unwrap();
    rows.into_iter().find(|r| r.id == id).unwrap()
}

#[test]
fn hand_edits_that_break_sc002_fail_with_the_reason() {
    let btp = "backendtrafficpolicy-task-api-traffic.yaml";
    let cases = [
        (
            "requests: 100",
            "requests: 200",
            "rate_limits.per_user: the intent says 100/Minute, the stack has 200/Minute",
        ),
        (
            "type: RegularExpression",
            "type: Exact",
            "rate_limits.anonymous: the intent says 10/Minute, the stack has no limit for requests without the header",
        ),
        (
            "requests: 10\n",
            "requests: 50\n",
            "rate_limits.anonymous: the intent says 10/Minute, the stack has 50/Minute",
        ),
        (
            "type: Distinct",
            "type: Exact\n            value: alice",
            "rate_limits.per_user: the intent says x-user-id Distinct 100/Minute, the stack has no per-user (Distinct) rule",
        ),
    ];
    for (from, to, reason) in cases {
        let (_d, stack, spec) = built();
        edit(&stack, btp, from, to);
        let r = row(&stack, &spec, "SC-002");
        assert_eq!(r.status, Status::Fail, "{to}");
        assert!(r.evidence.contains(reason), "{to}: {}", r.evidence);
    }
    // a second policy on the same route
    let (_d, stack, spec) = built();
    let text = std::fs::read_to_string(stack.dir().join(btp)).unwrap();
    std::fs::write(
        stack.dir().join("backendtrafficpolicy-extra.yaml"),
        text.replace("name: task-api-traffic", "name: extra"),
    )
    .unwrap();
    let r = row(&stack, &spec, "SC-002");
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.evidence.contains("applies only the oldest"),
        "{}",
        r.evidence
    );
}

#[test]
fn hand_edits_that_break_sc006_fail_with_the_reason() {
    let btp = "backendtrafficpolicy-task-api-traffic.yaml";
    let (_d, stack, spec) = built();
    edit(&stack, btp, "maxConnections: 50", "maxConnections: 500");
    let r = row(&stack, &spec, "SC-006");
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.evidence
            .contains("circuit_breaker.max_connections: the intent says 50, the stack has 500"),
        "{}",
        r.evidence
    );

    let (_d, stack, spec) = built();
    let p = stack.dir().join(btp);
    let text = std::fs::read_to_string(&p).unwrap();
    let cut = text.find("  circuitBreaker:").unwrap();
    std::fs::write(&p, &text[..cut]).unwrap();
    let r = row(&stack, &spec, "SC-006");
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.evidence.contains("circuit_breaker.max_connections: the intent says 50, the stack has unset (Envoy default 1024)"),
        "{}",
        r.evidence
    );
}

#[test]
fn other_criteria_fail_when_their_resource_is_broken() {
    let (_d, stack, spec) = built();
    edit(
        &stack,
        "scaledobject-task-api.yaml",
        "minReplicaCount: 1\n",
        "",
    );
    edit(
        &stack,
        "httproute-task-api.yaml",
        "name: task-api-v2",
        "name: task-api-v1",
    );
    let (_, rows) = spec::check(&spec, &stack, validator(), "traffic-spec.md").unwrap();
    let get = |id: &str| rows.iter().find(|r| r.id == id).unwrap();
    assert_eq!(get("SC-004").status, Status::Fail);
    assert!(
        get("SC-004")
            .evidence
            .contains("autoscaling.min: the intent says 1, the stack has unset (0: scale to zero)")
    );
    assert_eq!(get("SC-005").status, Status::Fail);
    assert!(
        get("SC-005").evidence.contains(
            "routes[0].rules[1].backends: the intent says task-api-v2, the stack has task-api-v1"
        ),
        "{}",
        get("SC-005").evidence
    );
    assert_eq!(get("SC-001").status, Status::Pass);
}
