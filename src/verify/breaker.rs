//! Circuit-breaker check: many requests at once against a slow backend path.
//!
//! `concurrency` threads each open their own keep-alive connection with a warm-up `GET /` (so
//! connect and TLS handshake are done before the burst), wait until all are warm, and are then
//! released together to send one request each to the slow path. Envoy lets at most `max` requests reach the backend at once (plus its documented slack,
//! `tolerance`), queues up to `max_pending_requests` more, and rejects the rest at once with 503
//! and `x-envoy-overloaded: true` ("overflow"). A request that waits for a new upstream connection
//! also counts as pending, so on a busy machine a few more than `concurrency - max - pending` can
//! be rejected; the check only relies on "some are rejected, at most max (+ tolerance) at once".
//!
//! How the counts are made: the slow path answers after a fixed service time S (≥ 200 ms). Each
//! request's latency is measured from the moment its own thread sends it. A success with latency
//! below 1.5 × S was served at once; a success that waited for a free slot took at least about
//! 2 × S (queued behind a request that had just started). S is estimated as the fastest success's
//! latency. A request that was sent late and queued only briefly counts as served at once, so
//! the count errs on the high side (toward FAIL); only an answer delayed by more than S/2 on its
//! way back (an extremely busy client machine) could be undercounted. The check passes iff overflow > 0 and
//! at most `max + tolerance` requests were served at once; every request must get 2xx, 429 or
//! 503 overflow, or still be waiting when its timeout ends (no other transport error, no other
//! status). A request that times out was never served at once (that would have taken S): Envoy's
//! connection pools are per worker, so a queue on a worker with few upstream connections drains
//! in several waves, and on a busy machine the last waves can outlast the client's timeout.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::client::{Client, FailKind, Outcome};
use super::{CheckResult, Ctx, MAX_BREAKER_CONCURRENCY, Status, check_path, millis};

/// The least service time that makes requests overlap reliably.
const MIN_SERVICE: Duration = Duration::from_millis(200);

enum Got {
    Ok(Duration),
    Overflow,
    Limited,
    Other(u16),
    Failed(FailKind, String),
}

pub(crate) fn circuit_breaker(
    ctx: &Ctx,
    id: &str,
    max: u32,
    tolerance: u32,
    path: &str,
    concurrency: u32,
) -> CheckResult {
    if let Err(r) = check_path(id, path) {
        return r;
    }
    let bound = u64::from(max) + u64::from(tolerance);
    if max == 0 || u64::from(concurrency) <= bound || concurrency > MAX_BREAKER_CONCURRENCY {
        return CheckResult::new(
            id,
            Status::Invalid,
            format!(
                "concurrency must exceed max + tolerance ({bound}) and be at most {MAX_BREAKER_CONCURRENCY}; max must be at least 1"
            ),
        );
    }
    let ep = match ctx.traffic(id) {
        Ok(ep) => ep,
        Err(r) => return r,
    };
    if let Err(r) = ctx.reach(ep, id) {
        return r;
    }
    let deadline = Instant::now() + ctx.check_deadline;
    // (warm workers, gate open?) + condvar: the gate opens when every worker is warm.
    let gate = (Mutex::new((0u32, false)), Condvar::new());
    let mut got: Vec<Got> = Vec::new();
    let mut spawn_errors = 0u64;
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for n in 0..concurrency {
            let gate = &gate;
            let spawned = std::thread::Builder::new()
                .name("verify-breaker".into())
                .spawn_scoped(s, move || {
                    let client = Client::new(ep);
                    // One user id per request: the burst must not run into a per-user limit.
                    let probe = ctx.probe(id, n);
                    let headers: Vec<(&str, &str)> = probe
                        .as_ref()
                        .map(|(k, v)| vec![(k.as_str(), v.as_str())])
                        .unwrap_or_default();
                    // Warm-up: connect + TLS now, so the burst itself is only requests on open
                    // connections. Its answer does not matter.
                    if let Some(t) = ctx.request_timeout(deadline) {
                        let _ = client.get("/", &headers, t);
                    }
                    {
                        let mut g = gate.0.lock().unwrap_or_else(|p| p.into_inner());
                        g.0 += 1;
                        gate.1.notify_all();
                        while !g.1 {
                            g = gate.1.wait(g).unwrap_or_else(|p| p.into_inner());
                        }
                    }
                    let Some(timeout) = ctx.request_timeout(deadline) else {
                        return Got::Failed(FailKind::Timeout, "deadline reached".into());
                    };
                    let sent = Instant::now();
                    match client.get(path, &headers, timeout) {
                        Outcome::Response(a) => match a.status {
                            200..=299 => Got::Ok(a.done.saturating_duration_since(sent)),
                            503 if a.overloaded => Got::Overflow,
                            429 => Got::Limited,
                            s => Got::Other(s),
                        },
                        Outcome::Failed(f) => Got::Failed(f.kind, f.message),
                    }
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    spawn_errors += 1;
                    tracing::warn!(error = %e, "verify: could not start a circuit-breaker worker");
                }
            }
        }
        {
            // Wait (bounded by the deadline) until every started worker is warm, then release all.
            let workers = u32::try_from(handles.len()).unwrap_or(u32::MAX);
            let mut g = gate.0.lock().unwrap_or_else(|p| p.into_inner());
            while g.0 < workers {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    break;
                };
                g = gate
                    .1
                    .wait_timeout(g, left)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            g.1 = true;
            gate.1.notify_all();
        }
        for h in handles {
            got.push(
                h.join()
                    .unwrap_or_else(|_| Got::Failed(FailKind::Other, "a worker stopped".into())),
            );
        }
    });

    let mut oks: Vec<Duration> = Vec::new();
    let (mut overflow, mut limited, mut other, mut errors) = (0u64, 0u64, 0u64, spawn_errors);
    let mut first_error: Option<String> = None;
    let mut other_statuses = std::collections::BTreeMap::<u16, u64>::new();
    let mut connect_errors = 0u64;
    let mut timeouts = 0u64;
    for g in &got {
        match g {
            Got::Ok(d) => oks.push(*d),
            Got::Overflow => overflow += 1,
            Got::Limited => limited += 1,
            Got::Other(s) => {
                other += 1;
                *other_statuses.entry(*s).or_default() += 1;
            }
            Got::Failed(FailKind::Timeout, _) => timeouts += 1,
            Got::Failed(k, msg) => {
                errors += 1;
                if *k == FailKind::Connect {
                    connect_errors += 1;
                }
                first_error.get_or_insert_with(|| format!("{} error: {msg}", k.as_str()));
            }
        }
    }
    if connect_errors > 0 && connect_errors == u64::from(concurrency) {
        return CheckResult::new(
            id,
            Status::Unreachable,
            format!("no connection to {} during the check", ep.describe()),
        );
    }
    oks.sort();
    let service = oks.first().copied().unwrap_or_default();
    // Served at once: latency (from the request's own send) below 1.5 × S.
    let cutoff = service + service / 2;
    let at_once = oks.iter().filter(|d| **d < cutoff).count() as u64;
    let queued = oks.len() as u64 - at_once;
    let mut text = format!(
        "{concurrency} at once: {at_once} served at once, {queued} queued then served, {overflow} rejected with 503 overflow"
    );
    if limited > 0 {
        text.push_str(&format!(", {limited} rate limited"));
    }
    if other > 0 {
        text.push_str(&format!(", {other} other status"));
    }
    if timeouts > 0 {
        text.push_str(&format!(
            ", {timeouts} still queued at the {} s timeout",
            ctx.timeout.as_secs_f64()
        ));
    }
    if errors > 0 {
        text.push_str(&format!(", {errors} failed"));
    }
    let limit_text = if tolerance > 0 {
        format!("at most {max} (+{tolerance} tolerance)")
    } else {
        format!("at most {max}")
    };
    let problem = if errors > 0 || other > 0 {
        Some(format!(
            "every request must get 2xx, 429, 503 overflow or time out while queued{}",
            first_error
                .as_deref()
                .map(|e| format!("; {e}"))
                .unwrap_or_default()
        ))
    } else if oks.is_empty() {
        Some("no request succeeded: the path does not reach a backend".into())
    } else if service < MIN_SERVICE {
        Some(format!(
            "inconclusive: {path} answered in {} ms; the check needs a path that answers after at least {} ms so that requests overlap",
            service.as_millis(),
            MIN_SERVICE.as_millis()
        ))
    } else if overflow == 0 || at_once > bound {
        let hint = if limited > 0 && ctx.probe_header.is_none() {
            "; the requests hit a rate limit: set Target::probe_header to the user header so each gets a bucket of its own"
        } else if limited > 0 {
            "; the requests hit a rate limit before reaching the circuit breaker"
        } else {
            ""
        };
        Some(format!(
            "expected {limit_text} served at once and the rest queued or rejected with 503 x-envoy-overloaded{hint}"
        ))
    } else {
        None
    };
    let status = if problem.is_none() {
        Status::Pass
    } else {
        Status::Fail
    };
    let summary = match &problem {
        None => text,
        Some(p) => format!("{text} ({p})"),
    };
    let detail = format!(
        "GET {path} on {} (Host {}) from {concurrency} warm connections released together; service time {} ms (fastest success), served at once = successes answered within {} ms of their send; other statuses {:?}",
        ep.describe(),
        ep.host,
        service.as_millis(),
        cutoff.as_millis(),
        other_statuses
    );
    let mut r = CheckResult::new(id, status, summary).detail(detail);
    r.count("sent", u64::from(concurrency) - spawn_errors);
    r.count("succeeded", oks.len() as u64);
    r.count("served_at_once", at_once);
    r.count("queued", queued);
    r.count("overflow", overflow);
    r.count("rate_limited", limited);
    r.count("other", other);
    r.count("errors", errors);
    r.count("timeouts", timeouts);
    r.count("service_ms", millis(service));
    r
}
