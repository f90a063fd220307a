//! From a spec's success criteria to live checks, and from their results back to one verdict
//! per criterion, in the course's words: `SC-002 PASS (user-a: 100 succeeded, 10 rate limited;
//! anonymous: 10 succeeded, 5 rate limited)`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use super::{CheckKind, Spec};
use crate::intent::{AnonymousAccess, Intent, RateUnit};
use crate::verify::{Check, CheckResult, PlainHttpExpect, Status};

/// Extra requests sent beyond a rate limit, to see them refused.
pub const EXTRA_PER_USER: u32 = 10;
pub const EXTRA_ANONYMOUS: u32 = 5;

fn unit_duration(u: RateUnit) -> Duration {
    Duration::from_secs(match u {
        RateUnit::Second => 1,
        RateUnit::Minute => 60,
        RateUnit::Hour => 3600,
        RateUnit::Day => 86_400,
    })
}

/// How the live checks reach the service.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// A path that answers slowly (at least 200 ms), for the circuit-breaker check.
    pub slow_path: String,
    /// How many more concurrent requests than the limit the circuit-breaker check opens.
    pub breaker_overload: u32,
    /// Envoy's slack above max connections (each worker may hold one more per host).
    pub breaker_tolerance: u32,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            slow_path: "/slow".into(),
            breaker_overload: 30,
            breaker_tolerance: 2,
        }
    }
}

/// A criterion's verdict from live traffic (or why traffic cannot give one).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LiveRow {
    pub id: String,
    /// PASS, FAIL, UNREACHABLE, INVALID, or NEEDS-CLUSTER / NOT-TRAFFIC for criteria traffic cannot prove.
    pub status: String,
    pub summary: String,
    /// The command that proves it instead, when traffic cannot.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub command: String,
}

impl LiveRow {
    pub fn to_text(&self) -> String {
        let mut s = format!("{} {} ({})", self.id, self.status, self.summary);
        if !self.command.is_empty() {
            s.push_str(&format!("\n    run: {}", self.command));
        }
        s
    }
}

/// The path a rate-limit burst uses: the first rule of the policy's route.
fn limit_path(intent: &Intent) -> String {
    let route = intent.policy_route().unwrap_or("");
    intent
        .gateway
        .routes
        .iter()
        .find(|r| r.name == route)
        .and_then(|r| {
            r.rules
                .iter()
                .find(|rule| rule.path.kind != crate::intent::PathType::Regex)
        })
        .map(|r| r.path.value.clone())
        .unwrap_or_else(|| "/".into())
}

/// The live checks for every criterion traffic can prove, and rows for those it cannot.
pub fn checks(spec: &Spec, intent: &Intent, opts: &LiveOptions) -> (Vec<Check>, Vec<LiveRow>) {
    let mut checks = Vec::new();
    let mut rows = Vec::new();
    for c in &spec.criteria {
        let id = c.id.clone();
        match c.check {
            CheckKind::GatewayAccess => {
                if intent.gateway.mode.has_http()
                    && intent.gateway.mode != crate::intent::ListenerMode::HttpsRedirect
                {
                    checks.push(Check::PlainHttp {
                        id,
                        expect: PlainHttpExpect::Serve,
                    });
                } else {
                    checks.push(Check::Https { id });
                }
            }
            CheckKind::Https => checks.push(Check::Https { id }),
            CheckKind::Routing => {
                for r in &intent.gateway.routes {
                    for rule in r.rules.iter().filter(|rule| {
                        rule.backends.len() == 1
                            && rule.headers.is_empty()
                            && rule.path.kind != crate::intent::PathType::Regex
                    }) {
                        checks.push(Check::Route {
                            id: id.clone(),
                            path: rule.path.value.clone(),
                            expect_backend: rule.backends[0].service.clone(),
                        });
                    }
                }
            }
            CheckKind::RateLimits => {
                if let Some(rl) = &intent.rate_limit {
                    let path = limit_path(intent);
                    if rl.anonymous.authenticated() {
                        rows.push(LiveRow {
                            id,
                            status: "NOT-TRAFFIC".into(),
                            summary: "clients must authenticate (JWT or API key): verify has no credentials to send; prove with a token or key by hand".into(),
                            command: String::new(),
                        });
                        continue;
                    }
                    checks.push(Check::PerUserLimit {
                        id: id.clone(),
                        header: rl.header.clone(),
                        limit: rl.per_user,
                        per: unit_duration(rl.unit),
                        extra: EXTRA_PER_USER,
                        path: path.clone(),
                    });
                    if let AnonymousAccess::Limit(a) = rl.anonymous {
                        checks.push(Check::AnonymousLimit {
                            id,
                            header: rl.header.clone(),
                            limit: a,
                            per: unit_duration(rl.unit),
                            extra: EXTRA_ANONYMOUS,
                            path,
                        });
                    }
                }
            }
            CheckKind::CircuitBreaker => {
                if let Some(cb) = &intent.circuit_breaker {
                    // at most `max` are served at once; up to `pending` more wait in Envoy's queue;
                    // only beyond both does the overflow get 503
                    let max = cb.thresholds.effective_parallel();
                    let pending = cb.thresholds.effective_pending();
                    checks.push(Check::CircuitBreaker {
                        id,
                        max,
                        tolerance: opts.breaker_tolerance,
                        path: opts.slow_path.clone(),
                        concurrency: max
                            .saturating_add(pending)
                            .saturating_add(opts.breaker_overload),
                    });
                }
            }
            CheckKind::LlmRouting => {
                // the model is read from a JSON body by the AI Gateway's external processor and
                // the budget is charged from the provider's token counts: verify's GET probes
                // cannot form that traffic yet
                let route = intent.llm_route.as_ref();
                rows.push(LiveRow {
                    id,
                    status: "NOT-TRAFFIC".into(),
                    summary: format!(
                        "LLM traffic (POST /v1/chat/completions with a model and {}) is not sent by verify; prove by hand: each model answered by its provider, and a user past the token budget gets 429",
                        route.map_or("x-user-id", |l| l.user_header.as_str())
                    ),
                    command: String::new(),
                });
            }
            CheckKind::Autoscaling => {
                let (min, max, ns, name) = intent
                    .autoscaling
                    .as_ref()
                    .map(|a| (a.min, a.max, a.namespace.name.clone(), a.name.clone()))
                    .unwrap_or_default();
                rows.push(LiveRow {
                    id,
                    status: "NEEDS-CLUSTER".into(),
                    summary: format!("expect READY=True, MIN={min}, MAX={max}"),
                    command: format!("kubectl get scaledobject -n {ns} {name}"),
                });
            }
            CheckKind::Generated => rows.push(LiveRow {
                id,
                status: "NOT-TRAFFIC".into(),
                summary: "proven offline: every resource generated and valid".into(),
                command: "traffic-engineer validate --spec traffic-spec.md traffic/".into(),
            }),
        }
    }
    (checks, rows)
}

/// One row per criterion from the check results: the worst status of its checks, their
/// summaries joined (`user ...; anonymous ...`).
pub fn merge(
    checks: &[Check],
    results: &[CheckResult],
    mut other: Vec<LiveRow>,
    spec: &Spec,
) -> Vec<LiveRow> {
    let rank = |s: Status| match s {
        Status::Pass => 0,
        Status::Fail => 2,
        Status::Unreachable => 3,
        Status::Invalid => 1,
    };
    let mut rows: Vec<LiveRow> = Vec::new();
    for c in &spec.criteria {
        let mine: Vec<(&Check, &CheckResult)> = checks
            .iter()
            .zip(results)
            .filter(|(_, r)| r.id == c.id)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let worst = mine
            .iter()
            .map(|(_, r)| r.status)
            .max_by_key(|s| rank(*s))
            .unwrap_or(Status::Fail);
        let summary = mine
            .iter()
            .map(|(check, r)| match check {
                Check::AnonymousLimit { .. } => format!("anonymous: {}", r.summary),
                _ => r.summary.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        rows.push(LiveRow {
            id: c.id.clone(),
            status: worst.to_string(),
            summary,
            command: String::new(),
        });
    }
    rows.append(&mut other);
    let order = |id: &str| {
        spec.criteria
            .iter()
            .position(|c| c.id == id)
            .unwrap_or(usize::MAX)
    };
    rows.sort_by_key(|r| order(&r.id));
    rows
}

/// The cluster hook: replace each NEEDS-CLUSTER row whose criterion the cluster decided
/// (`(id, status, evidence)` from `cluster::status`, e.g. SC-004 from the ScaledObject) with
/// that verdict; rows the cluster could not check keep NEEDS-CLUSTER, with the reason.
pub fn with_cluster_verdicts(
    rows: Vec<LiveRow>,
    verdicts: &[(String, String, String)],
) -> Vec<LiveRow> {
    rows.into_iter()
        .map(|mut r| {
            if r.status != "NEEDS-CLUSTER" {
                return r;
            }
            if let Some((_, status, evidence)) = verdicts.iter().find(|(id, _, _)| *id == r.id) {
                if status == "NOT-CHECKED" {
                    r.summary = format!("{}; cluster: {evidence}", r.summary);
                } else {
                    r.status = status.clone();
                    r.summary = evidence.clone();
                    r.command = String::new();
                }
            }
            r
        })
        .collect()
}

/// Build the target from the listeners the user gave (see [`crate::verify::Listeners::parse`]).
pub fn target(
    listeners: &crate::verify::Listeners,
    host: &str,
    ca_pem: Option<String>,
    fields: crate::verify::ListenerFields,
) -> crate::verify::Target {
    let mut t = crate::verify::Target::from_listeners(listeners, host, fields);
    t.ca_pem = ca_pem;
    t
}

/// Run every live check of the spec and merge the results per criterion. A usage error (a
/// check that needs a listener the target lacks, a bad host or CA) refuses the whole run before
/// anything is sent, naming the field to fix ([`crate::verify::Target::preflight`]).
pub fn verify(
    spec: &Spec,
    target: &crate::verify::Target,
    opts: &LiveOptions,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<(Vec<LiveRow>, Vec<CheckResult>), crate::verify::TargetError> {
    let intent = match spec.intent() {
        Ok(i) => i,
        Err(e) => {
            let rows = spec
                .criteria
                .iter()
                .map(|c| LiveRow {
                    id: c.id.clone(),
                    status: "INVALID".into(),
                    summary: format!("the spec's intent cannot be built: {e}"),
                    command: String::new(),
                })
                .collect();
            return Ok((rows, Vec::new()));
        }
    };
    let (checks, other) = checks(spec, &intent, opts);
    target.preflight(&checks)?;
    let results = crate::verify::run(target, &checks, progress);
    Ok((merge(&checks, &results, other, spec), results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_spec_maps_to_checks() {
        let spec = crate::spec::parse(include_str!("../../examples/task-api/traffic-spec.md"))
            .unwrap()
            .spec;
        let intent = spec.intent().unwrap();
        let (checks, rows) = checks(&spec, &intent, &LiveOptions::default());
        let ids: Vec<&str> = checks.iter().map(Check::id).collect();
        assert_eq!(
            ids,
            [
                "SC-001", "SC-002", "SC-002", "SC-003", "SC-005", "SC-005", "SC-005", "SC-006"
            ]
        );
        assert!(checks.contains(&Check::PerUserLimit {
            id: "SC-002".into(),
            header: "x-user-id".into(),
            limit: 100,
            per: Duration::from_secs(60),
            extra: EXTRA_PER_USER,
            path: "/api/v1".into(),
        }));
        assert!(checks.contains(&Check::AnonymousLimit {
            id: "SC-002".into(),
            header: "x-user-id".into(),
            limit: 10,
            per: Duration::from_secs(60),
            extra: EXTRA_ANONYMOUS,
            path: "/api/v1".into(),
        }));
        assert!(checks.contains(&Check::Route {
            id: "SC-005".into(),
            path: "/api/v2".into(),
            expect_backend: "task-api-v2".into()
        }));
        assert!(checks.contains(&Check::CircuitBreaker {
            id: "SC-006".into(),
            max: 50,
            tolerance: 2,
            path: "/slow".into(),
            concurrency: 130
        }));
        assert_eq!(
            rows.iter()
                .map(|r| (r.id.as_str(), r.status.as_str()))
                .collect::<Vec<_>>(),
            [("SC-004", "NEEDS-CLUSTER"), ("SC-007", "NOT-TRAFFIC")]
        );
    }
}
