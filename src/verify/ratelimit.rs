//! Rate-limit checks: concurrent bursts and exact counting.
//!
//! A burst is `count` requests for one user ("stream"), sent by `workers` threads, each with one
//! keep-alive connection, taking numbered tickets from a shared counter until all are taken: at
//! most `workers` requests per stream are in flight, and no thread ever sleeps. All streams of a
//! check wait behind one start gate and are released together.
//!
//! Exactness: the bucket of a fresh user starts full, and Envoy's local rate limit refills
//! continuously (`limit` tokens per `per`). Every request of a stream is sent after the gate opens
//! and answered before the stream's last answer, so the bucket can have gained at most
//! `refill_allowance(limit, per, gate → last answer)` tokens during the burst. A stream passes
//! iff it got `limit + k` successes with `0 <= k <= allowance` and 429 for every other request
//! (no other status, no transport error). With the default 8 workers a 110-request burst takes a
//! few tens of milliseconds on loopback, far below one refill interval (0.6 s for 100/min), so
//! the allowance is 0 and the counts are exact; when a slow machine stretches the burst, the
//! allowance (and any refilled tokens actually seen) is reported, never hidden. If the allowance
//! reaches `extra`, the burst cannot tell a limit from refill and the check is inconclusive (FAIL).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::client::{Client, Endpoint, FailKind, Outcome};
use super::{
    CheckResult, Ctx, MAX_REQUESTS_PER_CHECK, Status, check_header, check_path, millis,
    refill_allowance,
};

pub(crate) struct Spec<'a> {
    pub id: &'a str,
    pub header: &'a str,
    pub limit: u32,
    pub per: Duration,
    pub extra: u32,
    pub path: &'a str,
}

impl Spec<'_> {
    fn validate(&self, requests: u64) -> Result<(), CheckResult> {
        check_path(self.id, self.path)?;
        check_header(self.id, self.header)?;
        let bad = |msg: String| Err(CheckResult::new(self.id, Status::Invalid, msg));
        if self.limit == 0 {
            return bad("limit must be at least 1".into());
        }
        if self.extra == 0 {
            return bad(
                "extra must be at least 1: without requests beyond the limit no 429 can be seen"
                    .into(),
            );
        }
        if self.per.is_zero() {
            return bad("per (the limit's window) must be greater than zero".into());
        }
        if requests > u64::from(MAX_REQUESTS_PER_CHECK) {
            return bad(format!(
                "this check would send {requests} requests; at most {MAX_REQUESTS_PER_CHECK} per check"
            ));
        }
        Ok(())
    }
}

/// One user's burst.
struct Stream {
    header: Option<(String, String)>,
    count: u32,
}

/// What one stream got.
#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    ok: u64,
    limited: u64,
    other: BTreeMap<u16, u64>,
    fails: BTreeMap<FailKind, (u64, String)>,
    last_done: Option<Instant>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.sent += o.sent;
        self.ok += o.ok;
        self.limited += o.limited;
        for (k, v) in o.other {
            *self.other.entry(k).or_default() += v;
        }
        for (k, (n, msg)) in o.fails {
            let e = self.fails.entry(k).or_insert((0, msg));
            e.0 += n;
        }
        self.last_done = match (self.last_done, o.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    fn errors(&self) -> u64 {
        self.fails.values().map(|(n, _)| n).sum()
    }

    fn others(&self) -> u64 {
        self.other.values().sum()
    }

    fn all_unconnected(&self) -> bool {
        self.sent > 0
            && self.ok + self.limited + self.others() == 0
            && self.fails.keys().all(|k| *k == FailKind::Connect)
    }
}

/// A start gate: workers wait until it opens; opening records the instant.
struct Gate {
    open: Mutex<Option<Instant>>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut g = self.open.lock().unwrap_or_else(|p| p.into_inner());
        while g.is_none() {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn release(&self) -> Instant {
        let mut g = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let t = Instant::now();
        *g = Some(t);
        self.cv.notify_all();
        t
    }
}

/// Run all streams at once; returns (tallies, gate-open instant).
fn burst(
    ctx: &Ctx,
    ep: &Endpoint,
    path: &str,
    streams: &[Stream],
    deadline: Instant,
) -> (Vec<Tally>, Instant) {
    let gate = Gate {
        open: Mutex::new(None),
        cv: Condvar::new(),
    };
    let tickets: Vec<AtomicU32> = streams.iter().map(|_| AtomicU32::new(0)).collect();
    let mut tallies: Vec<Tally> = streams.iter().map(|_| Tally::default()).collect();
    let mut opened = Instant::now();
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (si, st) in streams.iter().enumerate() {
            let workers = ctx.burst_workers.min(st.count).max(1);
            for _ in 0..workers {
                let (gate, ticket) = (&gate, &tickets[si]);
                let spawned = std::thread::Builder::new()
                    .name("verify-burst".into())
                    .spawn_scoped(s, move || {
                        let client = Client::new(ep);
                        let headers: Vec<(&str, &str)> = st
                            .header
                            .as_ref()
                            .map(|(k, v)| vec![(k.as_str(), v.as_str())])
                            .unwrap_or_default();
                        let mut t = Tally::default();
                        gate.wait();
                        while ticket.fetch_add(1, Ordering::Relaxed) < st.count {
                            let Some(timeout) = ctx.request_timeout(deadline) else {
                                break;
                            };
                            t.sent += 1;
                            match client.get(path, &headers, timeout) {
                                Outcome::Response(a) => {
                                    match a.status {
                                        200..=299 => t.ok += 1,
                                        429 => t.limited += 1,
                                        s => *t.other.entry(s).or_default() += 1,
                                    }
                                    t.last_done = Some(a.done);
                                }
                                Outcome::Failed(f) => {
                                    let e = t.fails.entry(f.kind).or_insert((0, f.message));
                                    e.0 += 1;
                                    t.last_done = Some(Instant::now());
                                }
                            }
                        }
                        t
                    });
                match spawned {
                    Ok(h) => handles.push((si, h)),
                    Err(e) => tracing::warn!(error = %e, "verify: could not start a burst worker"),
                }
            }
        }
        opened = gate.release();
        for (si, h) in handles {
            match h.join() {
                Ok(t) => tallies[si].merge(t),
                Err(_) => {
                    let e = tallies[si]
                        .fails
                        .entry(FailKind::Other)
                        .or_insert((0, "a burst worker stopped".into()));
                    e.0 += 1;
                }
            }
        }
    });
    (tallies, opened)
}

/// The verdict on one stream that should hit the limit.
struct Limited {
    pass: bool,
    text: String,
    problem: Option<String>,
    refilled: u64,
    allowance: u64,
    burst: Duration,
}

fn judge_limited(t: &Tally, total: u32, limit: u32, per: Duration, opened: Instant) -> Limited {
    let burst = t
        .last_done
        .map(|d| d.saturating_duration_since(opened))
        .unwrap_or_default();
    let allowance = refill_allowance(limit, per, burst);
    let limit64 = u64::from(limit);
    let extra = u64::from(total) - limit64;
    let refilled = t.ok.saturating_sub(limit64);
    let mut text = format!("{} succeeded, {} rate limited", t.ok, t.limited);
    if t.others() > 0 {
        text.push_str(&format!(", {} other", t.others()));
    }
    if t.errors() > 0 {
        text.push_str(&format!(", {} failed", t.errors()));
    }
    let expected = format!("expected {limit} succeeded, {extra} rate limited");
    let problem = if t.sent < u64::from(total) {
        Some(format!(
            "only {} of {total} requests sent before the deadline",
            t.sent
        ))
    } else if t.errors() > 0 || t.others() > 0 {
        Some(format!("{expected}; every request must get 2xx or 429"))
    } else if t.ok < limit64 {
        Some(format!(
            "{expected}: the bucket is smaller than the criterion or was shared with other traffic in the last {}",
            human(per)
        ))
    } else if allowance >= extra {
        Some(format!(
            "inconclusive: the burst took {}, long enough for {allowance} refilled tokens, which covers all {extra} extra requests; rerun on a less busy machine or with more burst_workers",
            human(burst)
        ))
    } else if refilled > allowance {
        Some(if t.limited == 0 {
            format!("{expected}: no request was rate limited")
        } else {
            format!(
                "{expected} (+ at most {allowance} refilled during the {} burst)",
                human(burst)
            )
        })
    } else {
        None
    };
    if problem.is_none() && refilled > 0 {
        text.push_str(&format!(
            " ({limit} + {refilled} token refilled during the {} burst)",
            human(burst)
        ));
    }
    Limited {
        pass: problem.is_none(),
        text,
        problem,
        refilled,
        allowance,
        burst,
    }
}

fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn record(r: &mut CheckResult, prefix: &str, t: &Tally) {
    r.count(format!("{prefix}sent"), t.sent);
    r.count(format!("{prefix}succeeded"), t.ok);
    r.count(format!("{prefix}rate_limited"), t.limited);
    r.count(format!("{prefix}other"), t.others());
    r.count(format!("{prefix}errors"), t.errors());
}

fn record_limited(r: &mut CheckResult, prefix: &str, v: &Limited) {
    r.count(format!("{prefix}refilled"), v.refilled);
    r.count(format!("{prefix}refill_allowance"), v.allowance);
    r.count(format!("{prefix}burst_ms"), millis(v.burst));
}

fn failures(t: &Tally) -> String {
    let mut out = Vec::new();
    for (s, n) in &t.other {
        out.push(format!("{n}x status {s}"));
    }
    for (k, (n, msg)) in &t.fails {
        out.push(format!("{n}x {} error (first: {msg})", k.as_str()));
    }
    out.join("; ")
}

pub(crate) fn per_user(ctx: &Ctx, spec: &Spec) -> CheckResult {
    let id = spec.id;
    let total_a = u64::from(spec.limit) + u64::from(spec.extra);
    if let Err(r) = spec.validate(total_a + u64::from(spec.limit)) {
        return r;
    }
    let ep = match ctx.traffic(id) {
        Ok(ep) => ep,
        Err(r) => return r,
    };
    if let Err(r) = ctx.reach(ep, id) {
        return r;
    }
    let user = |who: &str| format!("{}-{}-{who}", ctx.tag, super::sanitize(id));
    let (ua, ub) = (user("a"), user("b"));
    let total_a32 = spec.limit + spec.extra;
    let streams = [
        Stream {
            header: Some((spec.header.to_owned(), ua.clone())),
            count: total_a32,
        },
        Stream {
            header: Some((spec.header.to_owned(), ub.clone())),
            count: spec.limit,
        },
    ];
    let deadline = Instant::now() + ctx.check_deadline;
    let (tallies, opened) = burst(ctx, ep, spec.path, &streams, deadline);
    let (a, b) = (&tallies[0], &tallies[1]);
    if a.all_unconnected() && b.all_unconnected() {
        return CheckResult::new(
            id,
            Status::Unreachable,
            format!("no connection to {} during the burst", ep.describe()),
        );
    }
    let va = judge_limited(a, total_a32, spec.limit, spec.per, opened);
    let b_ok = b.sent == u64::from(spec.limit) && b.ok == b.sent;
    let mut b_text = format!("{} succeeded", b.ok);
    if b.limited > 0 {
        b_text.push_str(&format!(", {} rate limited", b.limited));
    }
    if b.others() + b.errors() > 0 {
        b_text.push_str(&format!(", {} other/failed", b.others() + b.errors()));
    }
    let mut summary = format!("user-a: {}; user-b: {b_text}", va.text);
    let mut problems = Vec::new();
    if let Some(p) = &va.problem {
        problems.push(format!("user-a: {p}"));
    }
    if !b_ok {
        problems.push(format!(
            "user-b: expected all {} to succeed: a second user must not be affected",
            spec.limit
        ));
    }
    if !problems.is_empty() {
        summary = format!("{summary} ({})", problems.join("; "));
    }
    let status = if problems.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let detail = format!(
        "{} on {} (Host {}); {}: {ua} sent {} and {ub} sent {} at the same time, {} in flight per user; window {} per {}; user-a burst {} (refill allowance {}); user-b burst {}{}{}",
        spec.path,
        ep.describe(),
        ep.host,
        spec.header,
        total_a32,
        spec.limit,
        ctx.burst_workers,
        spec.limit,
        human(spec.per),
        human(va.burst),
        va.allowance,
        human(
            b.last_done
                .map(|d| d.saturating_duration_since(opened))
                .unwrap_or_default()
        ),
        opt_section("user-a", &failures(a)),
        opt_section("user-b", &failures(b)),
    );
    let mut r = CheckResult::new(id, status, summary).detail(detail);
    record(&mut r, "user_a_", a);
    record_limited(&mut r, "user_a_", &va);
    record(&mut r, "user_b_", b);
    r
}

fn opt_section(who: &str, s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; {who}: {s}")
    }
}

pub(crate) fn anonymous(ctx: &Ctx, spec: &Spec) -> CheckResult {
    let id = spec.id;
    let total = u64::from(spec.limit) + u64::from(spec.extra);
    if let Err(r) = spec.validate(total) {
        return r;
    }
    let ep = match ctx.traffic(id) {
        Ok(ep) => ep,
        Err(r) => return r,
    };
    if let Err(r) = ctx.reach(ep, id) {
        return r;
    }
    let total32 = spec.limit + spec.extra;
    let streams = [Stream {
        header: None,
        count: total32,
    }];
    let deadline = Instant::now() + ctx.check_deadline;
    let (tallies, opened) = burst(ctx, ep, spec.path, &streams, deadline);
    let t = &tallies[0];
    if t.all_unconnected() {
        return CheckResult::new(
            id,
            Status::Unreachable,
            format!("no connection to {} during the burst", ep.describe()),
        );
    }
    let v = judge_limited(t, total32, spec.limit, spec.per, opened);
    let summary = match &v.problem {
        None => v.text.clone(),
        Some(p) => format!("{} ({p})", v.text),
    };
    let status = if v.pass { Status::Pass } else { Status::Fail };
    let detail = format!(
        "{} on {} (Host {}) without {}: {} requests, {} in flight; window {} per {}; burst {} (refill allowance {}){}",
        spec.path,
        ep.describe(),
        ep.host,
        spec.header,
        total32,
        ctx.burst_workers.min(total32),
        spec.limit,
        human(spec.per),
        human(v.burst),
        v.allowance,
        opt_section("failures", &failures(t)),
    );
    let mut r = CheckResult::new(id, status, summary).detail(detail);
    record(&mut r, "", t);
    record_limited(&mut r, "", &v);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(ok: u64, limited: u64, burst_ms: u64, opened: Instant) -> Tally {
        Tally {
            sent: ok + limited,
            ok,
            limited,
            last_done: Some(opened + Duration::from_millis(burst_ms)),
            ..Tally::default()
        }
    }

    #[test]
    fn exact_and_refill() {
        let t0 = Instant::now();
        let min = Duration::from_secs(60);
        let v = judge_limited(&tally(100, 10, 40, t0), 110, 100, min, t0);
        assert!(v.pass);
        assert_eq!(v.text, "100 succeeded, 10 rate limited");
        // One more success than the limit within a 40 ms burst: refill cannot explain it.
        let v = judge_limited(&tally(101, 9, 40, t0), 110, 100, min, t0);
        assert!(!v.pass);
        // ... but within a 700 ms burst it can (one token per 0.6 s), and it is reported.
        let v = judge_limited(&tally(101, 9, 700, t0), 110, 100, min, t0);
        assert!(v.pass, "{:?}", v.problem);
        assert!(v.text.contains("100 + 1 token refilled"), "{}", v.text);
        // No limit at all.
        let v = judge_limited(&tally(110, 0, 40, t0), 110, 100, min, t0);
        assert!(!v.pass);
        assert!(v.problem.unwrap().contains("no request was rate limited"));
        // Fewer than the limit: a drained or smaller bucket.
        let v = judge_limited(&tally(7, 8, 40, t0), 15, 10, min, t0);
        assert!(!v.pass);
        // A burst so slow that refill covers every extra request: inconclusive.
        let v = judge_limited(&tally(15, 0, 40_000, t0), 15, 10, min, t0);
        assert!(!v.pass);
        assert!(v.problem.unwrap().starts_with("inconclusive"));
    }
}
