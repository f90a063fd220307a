//! `verify`: prove the spec's success criteria with real traffic against a running gateway.
//!
//! A [`Target`] names the gateway's listeners on loopback and the host it serves; each [`Check`]
//! is one success criterion (HTTPS works, a prefix reaches the right backend, a user is limited to
//! N requests per window, the backend is protected by a circuit breaker, ...). [`run`] sends real
//! HTTP(S) requests and returns one [`CheckResult`] per check, in the order given, with exact
//! counts such as `user-a: 100 succeeded, 10 rate limited; user-b: 100 succeeded`.
//!
//! Guarantees:
//! * Only loopback addresses are contacted (`127.0.0.0/8`, `::1`, `localhost`). [`Listeners::parse`]
//!   refuses anything else with one [`TargetError`] naming the field; a [`Target`] built by hand
//!   with another address makes every check [`Status::Invalid`] and nothing is sent.
//! * A gateway that cannot be reached gives [`Status::Unreachable`], never [`Status::Pass`]. Before
//!   sending any HTTP request, each check opens (and closes) one TCP connection; that spends no
//!   rate-limit token.
//! * Every request has a timeout ([`Target::timeout`]), every check an overall deadline
//!   ([`Target::check_deadline`]), and every loop a fixed number of requests (at most
//!   [`MAX_REQUESTS_PER_CHECK`]). No sleeping, no retries, no panics.
//!
//! Order of work: first the single-request checks (HTTPS, plain HTTP, routes) one after another,
//! then all rate-limit checks at the same time (one thread group each), then circuit-breaker
//! checks one at a time. The circuit-breaker check fills the backend on purpose, so it must not
//! overlap the others; rate-limit bursts keep at most [`Target::burst_workers`] requests in flight
//! per user so that they stay below a circuit breaker's limits and are never counted as overflow.
//!
//! Verify's own probe requests (HTTPS, routes, circuit breaker) carry the user header
//! ([`Target::probe_header`], by default the header of the first rate-limit check) with a value
//! unique to the run and check, so they fall into per-user buckets of their own and never spend a
//! token of the shared anonymous bucket that an [`Check::AnonymousLimit`] check measures.

mod basic;
mod breaker;
mod client;
mod ratelimit;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use client::Endpoint;
pub use client::{AddressError, Scheme};

/// Upper bound on the requests one check may send (rate-limit bursts, circuit-breaker fan-out).
pub const MAX_REQUESTS_PER_CHECK: u32 = 10_000;

/// Upper bound on simultaneous connections the circuit-breaker check opens (one thread each).
pub const MAX_BREAKER_CONCURRENCY: u32 = 1_000;

/// Which listener carries the traffic of route, rate-limit and circuit-breaker checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// `Target::http_base`.
    Http,
    /// `Target::https_base` (TLS with SNI = host, verified against `ca_pem`).
    #[default]
    Https,
}

/// The gateway under test. Build with [`Target::new`] and set the listener bases.
#[derive(Debug, Clone)]
pub struct Target {
    /// Plain-HTTP listener, `http://127.0.0.1:PORT`.
    pub http_base: Option<String>,
    /// HTTPS listener, `https://127.0.0.1:PORT`.
    pub https_base: Option<String>,
    /// Host header and TLS SNI, e.g. `task-api.example.com`.
    pub host: String,
    /// PEM certificate(s) to trust for HTTPS (e.g. the self-signed certificate). `None` = the
    /// Mozilla roots (webpki-roots).
    pub ca_pem: Option<String>,
    /// Per request: connect, TLS, request, response and body. Default 5 s.
    pub timeout: Duration,
    /// Overall deadline of one check; requests not started by then are not sent. Default 30 s.
    pub check_deadline: Duration,
    /// Listener for route, rate-limit and circuit-breaker traffic. Default HTTPS.
    pub via: Via,
    /// Header that tags verify's own probe requests with a per-run user id (see module docs).
    /// `None` = the header of the first rate-limit check, if any.
    pub probe_header: Option<String>,
    /// Requests in flight per user during a rate-limit burst (each worker is one keep-alive
    /// connection). Default 8, clamped to 1..=64.
    pub burst_workers: u32,
    /// How the user names the listeners, for messages. Default: the tool's fields.
    pub fields: ListenerFields,
    /// Cooperative cancellation: once set, no further request is started (every request
    /// passes [`Ctx::request_timeout`], which reads it) and the remaining checks are skipped.
    /// Default: never set.
    pub cancel: Arc<AtomicBool>,
}

impl Target {
    /// A target for `host` with no listener set yet and the default timeouts.
    pub fn new(host: impl Into<String>) -> Target {
        Target {
            http_base: None,
            https_base: None,
            host: host.into(),
            ca_pem: None,
            timeout: Duration::from_secs(5),
            check_deadline: Duration::from_secs(30),
            via: Via::Https,
            cancel: Arc::new(AtomicBool::new(false)),
            probe_header: None,
            burst_workers: 8,
            fields: ListenerFields::TOOL,
        }
    }
}

/// How the caller's user names the two listeners (command-line flags or tool fields), so that
/// a [`TargetError`] names the one to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerFields {
    /// The listener that may be either (`--gateway`): `http://`, `https://` or `ADDRESS:PORT`.
    pub gateway: &'static str,
    /// The HTTPS listener (`--https-gateway`): `https://` or `ADDRESS:PORT`.
    pub https_gateway: &'static str,
    /// The Host header and SNI (`--host`).
    pub host: &'static str,
    /// The CA to trust (`--ca`).
    pub ca: &'static str,
}

impl ListenerFields {
    /// The command line's flags.
    pub const CLI: ListenerFields = ListenerFields {
        gateway: "--gateway",
        https_gateway: "--https-gateway",
        host: "--host",
        ca: "--ca",
    };
    /// The `verify` tool's fields.
    pub const TOOL: ListenerFields = ListenerFields {
        gateway: "gateway",
        https_gateway: "https_gateway",
        host: "host",
        ca: "ca_file",
    };
}

/// Why verify cannot start; nothing was sent. A usage error: the fix is in the arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// (`reason` is in the message, so it is not also a `source`: a chain would repeat it.)
    #[error("{field}: {reason}")]
    Address {
        field: &'static str,
        reason: AddressError,
    },
    #[error(
        "{field} {text:?} is a plain-HTTP address; {field} takes the HTTPS listener (https://127.0.0.1:PORT), give the HTTP one to {gateway}"
    )]
    NotHttps {
        field: &'static str,
        text: String,
        gateway: &'static str,
    },
    #[error(
        "{gateway} and {https_gateway} both name an HTTPS listener; give the plain-HTTP listener to {gateway}"
    )]
    TwoHttps {
        gateway: &'static str,
        https_gateway: &'static str,
    },
    #[error("{field}: {reason}")]
    Host { field: &'static str, reason: String },
    #[error("{field}: {reason}")]
    Ca { field: &'static str, reason: String },
    #[error(
        "no listener given: add {gateway} 127.0.0.1:PORT (the gateway's HTTP listener, e.g. through `kubectl port-forward`)"
    )]
    NoListener { gateway: &'static str },
    #[error("{}: checked through the gateway's {} listener, which was not given; add {field} {example}", ids.join(", "), scheme.as_str().to_uppercase())]
    Missing {
        scheme: Scheme,
        ids: Vec<String>,
        field: &'static str,
        example: &'static str,
    },
}

/// The listeners a user gave, parsed: loopback socket addresses by protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listeners {
    pub http: Option<std::net::SocketAddr>,
    pub https: Option<std::net::SocketAddr>,
}

impl Listeners {
    /// `gateway` is `http://ADDRESS:PORT`, `https://ADDRESS:PORT` or `ADDRESS:PORT` (plain HTTP,
    /// as `kubectl port-forward` prints it); `https_gateway` is `https://ADDRESS:PORT` or
    /// `ADDRESS:PORT` (HTTPS). Addresses must be loopback. At least one must be given.
    pub fn parse(
        gateway: Option<&str>,
        https_gateway: Option<&str>,
        fields: ListenerFields,
    ) -> Result<Listeners, TargetError> {
        let mut out = Listeners::default();
        let addr = |field: &'static str, text: &str, scheme: Scheme| {
            client::parse_base(text, scheme)
                .map_err(|reason| TargetError::Address { field, reason })
        };
        let has_scheme = |t: &str| t.contains("://");
        if let Some(g) = gateway {
            let is_https = g
                .trim()
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("https://"));
            if is_https {
                out.https = Some(addr(fields.gateway, g, Scheme::Https)?);
            } else if has_scheme(g) {
                out.http = Some(addr(fields.gateway, g, Scheme::Http)?);
            } else {
                let with = format!("http://{}", g.trim());
                out.http = Some(client::parse_base(&with, Scheme::Http).map_err(|reason| {
                    TargetError::Address {
                        field: fields.gateway,
                        reason: with_text(reason, g),
                    }
                })?);
            }
        }
        if let Some(h) = https_gateway {
            let trimmed = h.trim();
            if trimmed
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
            {
                return Err(TargetError::NotHttps {
                    field: fields.https_gateway,
                    text: h.to_owned(),
                    gateway: fields.gateway,
                });
            }
            let a = if has_scheme(trimmed) {
                addr(fields.https_gateway, h, Scheme::Https)?
            } else {
                let with = format!("https://{trimmed}");
                client::parse_base(&with, Scheme::Https).map_err(|reason| TargetError::Address {
                    field: fields.https_gateway,
                    reason: with_text(reason, h),
                })?
            };
            if out.https.is_some() {
                return Err(TargetError::TwoHttps {
                    gateway: fields.gateway,
                    https_gateway: fields.https_gateway,
                });
            }
            out.https = Some(a);
        }
        if out.http.is_none() && out.https.is_none() {
            return Err(TargetError::NoListener {
                gateway: fields.gateway,
            });
        }
        Ok(out)
    }
}

/// An address error about `ADDRESS:PORT` as the user wrote it (not the URL made from it).
fn with_text(e: AddressError, text: &str) -> AddressError {
    let t = text.to_owned();
    match e {
        AddressError::Scheme { prefix, .. } => AddressError::Scheme { text: t, prefix },
        AddressError::Shape { prefix, .. } => AddressError::Shape { text: t, prefix },
        AddressError::Bracket { .. } => AddressError::Bracket { text: t },
        AddressError::AfterAddress { .. } => AddressError::AfterAddress { text: t },
        AddressError::Port { port, .. } => AddressError::Port { text: t, port },
        AddressError::Host { host, .. } => AddressError::Host { text: t, host },
        AddressError::NotLoopback { ip, .. } => AddressError::NotLoopback { text: t, ip },
    }
}

impl Target {
    /// A target for `host` on the given listeners; route, rate-limit and circuit-breaker
    /// traffic goes through HTTPS when there is an HTTPS listener.
    pub fn from_listeners(
        listeners: &Listeners,
        host: impl Into<String>,
        fields: ListenerFields,
    ) -> Target {
        let mut t = Target::new(host);
        t.http_base = listeners.http.map(|a| format!("http://{a}"));
        t.https_base = listeners.https.map(|a| format!("https://{a}"));
        t.via = if t.https_base.is_some() {
            Via::Https
        } else {
            Via::Http
        };
        t.fields = fields;
        t
    }

    /// Refuse, before anything is sent, what would make every check INVALID: a host that is
    /// not a DNS name, a CA that does not parse, checks that need a listener the target lacks.
    pub fn preflight(&self, checks: &[Check]) -> Result<(), TargetError> {
        client::check_host(&self.host).map_err(|reason| TargetError::Host {
            field: self.fields.host,
            reason,
        })?;
        if let Some(pem) = &self.ca_pem {
            client::parse_ca(pem).map_err(|reason| TargetError::Ca {
                field: self.fields.ca,
                reason,
            })?;
        }
        for (scheme, base, field, example) in [
            (
                Scheme::Https,
                &self.https_base,
                self.fields.https_gateway,
                "https://127.0.0.1:PORT",
            ),
            (
                Scheme::Http,
                &self.http_base,
                self.fields.gateway,
                "127.0.0.1:PORT",
            ),
        ] {
            if base.is_some() {
                continue;
            }
            let mut ids: Vec<String> = Vec::new();
            for c in checks.iter().filter(|c| c.scheme(self.via) == scheme) {
                if !ids.iter().any(|i| i == c.id()) {
                    ids.push(c.id().to_owned());
                }
            }
            if !ids.is_empty() {
                return Err(TargetError::Missing {
                    scheme,
                    ids,
                    field,
                    example,
                });
            }
        }
        Ok(())
    }
}

/// What the plain-HTTP listener should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlainHttpExpect {
    /// Answer `GET /` itself (any status except a redirect).
    Serve,
    /// Answer `GET /` with a 301/302/303/307/308 whose `Location` is `https://...`.
    RedirectToHttps,
}

/// One success criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// TLS handshake against `ca_pem` with SNI = host, and `GET /` answered (any HTTP status from
    /// the gateway counts: the listener is reachable over valid TLS). A handshake or certificate
    /// failure is a FAIL with the reason.
    Https { id: String },
    /// `GET /` on the plain-HTTP listener.
    PlainHttp { id: String, expect: PlainHttpExpect },
    /// `GET path` is answered by `expect_backend` (backends name themselves in `x-backend`).
    Route {
        id: String,
        path: String,
        expect_backend: String,
    },
    /// User A sends `limit + extra` requests to `path` as fast as possible (burst_workers in
    /// flight) while user B sends `limit`: PASS iff A gets exactly `limit` 2xx (plus at most the
    /// tokens the bucket can refill during the measured burst, see [`refill_allowance`]) and 429
    /// for the rest, and B gets `limit` 2xx ("a second user is not affected"). Both users are
    /// fresh per run, so their buckets start full.
    PerUserLimit {
        id: String,
        header: String,
        limit: u32,
        /// The limit's window (e.g. 60 s for "100 requests per minute").
        per: Duration,
        extra: u32,
        path: String,
    },
    /// `limit + extra` requests without `header`: exactly `limit` 2xx (plus refill, as above), the
    /// rest 429. The anonymous bucket is shared by all clients of the gateway: other anonymous
    /// traffic within the last window makes this check FAIL with "fewer than limit succeeded".
    AnonymousLimit {
        id: String,
        header: String,
        limit: u32,
        per: Duration,
        extra: u32,
        path: String,
    },
    /// Open `concurrency` connections (each warmed up with one `GET /`), then send one request on
    /// each at once to a slow path (one that answers after a fixed delay S of at least 200 ms).
    /// A success answered within 1.5 × S of its send was served at once; slower ones waited in
    /// Envoy's pending queue; 503 with `x-envoy-overloaded: true` is overflow; a request still
    /// queued at its timeout is counted as `timeouts`. PASS iff overflow > 0 and at most
    /// `max + tolerance` were served at once. Each request carries its own probe user id. `tolerance` covers Envoy's documented slack (envoyproxy/envoy#24599,
    /// #2927: each worker may keep one connection per host above `max_connections`): use
    /// workers × endpoints for a strict bound, 0 to demand exactly `max`.
    CircuitBreaker {
        id: String,
        max: u32,
        tolerance: u32,
        path: String,
        concurrency: u32,
    },
}

impl Check {
    pub fn id(&self) -> &str {
        match self {
            Check::Https { id }
            | Check::PlainHttp { id, .. }
            | Check::Route { id, .. }
            | Check::PerUserLimit { id, .. }
            | Check::AnonymousLimit { id, .. }
            | Check::CircuitBreaker { id, .. } => id,
        }
    }

    /// The listener the check talks to, when traffic goes `via` one.
    pub fn scheme(&self, via: Via) -> Scheme {
        match self {
            Check::Https { .. } => Scheme::Https,
            Check::PlainHttp { .. } => Scheme::Http,
            _ => match via {
                Via::Http => Scheme::Http,
                Via::Https => Scheme::Https,
            },
        }
    }

    fn phase(&self) -> u8 {
        match self {
            Check::Https { .. } | Check::PlainHttp { .. } | Check::Route { .. } => 0,
            Check::PerUserLimit { .. } | Check::AnonymousLimit { .. } => 1,
            Check::CircuitBreaker { .. } => 2,
        }
    }
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The criterion holds, with the counts in the summary.
    Pass,
    /// The gateway answered and the criterion does not hold (or the run was inconclusive; the
    /// summary says which).
    Fail,
    /// Nothing accepted a connection on the listener.
    Unreachable,
    /// The target or check is malformed (non-loopback address, limit 0, ...); nothing was sent.
    Invalid,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Unreachable => "UNREACHABLE",
            Status::Invalid => "INVALID",
        })
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CheckResult {
    pub id: String,
    pub status: Status,
    /// One line, e.g. `user-a: 100 succeeded, 10 rate limited; user-b: 100 succeeded`.
    pub summary: String,
    /// Machine-readable counts (see each check's docs; always includes `elapsed_ms`).
    pub counts: BTreeMap<String, u64>,
    /// How it was measured: addresses, user ids, timings, first errors.
    pub detail: String,
}

impl CheckResult {
    fn new(id: &str, status: Status, summary: impl Into<String>) -> CheckResult {
        CheckResult {
            id: id.to_owned(),
            status,
            summary: summary.into(),
            counts: BTreeMap::new(),
            detail: String::new(),
        }
    }

    fn detail(mut self, d: impl Into<String>) -> CheckResult {
        self.detail = d.into();
        self
    }

    fn count(&mut self, key: impl Into<String>, v: u64) {
        self.counts.insert(key.into(), v);
    }

    /// `PASS (100 succeeded, 10 rate limited)`, as the course prints results.
    pub fn line(&self) -> String {
        format!("{} ({})", self.status, self.summary)
    }
}

/// The largest number of tokens a continuously refilling bucket of `limit` per `per` can add in
/// `elapsed`: `floor(elapsed × limit / per)`. Envoy's local rate limit refills continuously (100
/// per 60 s is one token every 0.6 s), and a fresh bucket starts full, so a burst whose requests
/// all fall within `elapsed` sees between `limit` and `limit + refill_allowance` successes.
pub fn refill_allowance(limit: u32, per: Duration, elapsed: Duration) -> u64 {
    if per.is_zero() {
        return u64::MAX;
    }
    let tokens = elapsed.as_secs_f64() * f64::from(limit) / per.as_secs_f64();
    if tokens.is_finite() && tokens >= 0.0 {
        // floor of a non-negative finite f64; saturates for absurd values.
        tokens.floor() as u64
    } else {
        u64::MAX
    }
}

/// Run `checks` against `target`. Returns one result per check, in the order given. `progress` is
/// called after each finished check with (done, total, check id).
pub fn run(
    target: &Target,
    checks: &[Check],
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Vec<CheckResult> {
    let total = checks.len();
    let mut results: Vec<Option<CheckResult>> = vec![None; total];
    let mut done = 0usize;
    let mut finish = |i: usize, r: CheckResult, results: &mut Vec<Option<CheckResult>>| {
        done += 1;
        tracing::info!(check = %r.id, status = %r.status, summary = %r.summary, "verify");
        progress(done, total, &r.id);
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(r);
        }
    };

    let ctx = match Ctx::new(target, checks) {
        Ok(ctx) => ctx,
        Err(msg) => {
            for (i, c) in checks.iter().enumerate() {
                finish(
                    i,
                    CheckResult::new(c.id(), Status::Invalid, msg.clone()),
                    &mut results,
                );
            }
            return results.into_iter().flatten().collect();
        }
    };

    // Phase 0: single requests, one after another. A cancelled run stops between checks (and
    // inside them: no request starts once the flag is set); its results are never shown.
    for (i, c) in checks.iter().enumerate().filter(|(_, c)| c.phase() == 0) {
        if ctx.cancelled() {
            return results.into_iter().flatten().collect();
        }
        finish(i, timed(|| run_one(&ctx, c)), &mut results);
    }

    // Phase 1: all rate-limit checks at once.
    let limits: Vec<(usize, &Check)> = checks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.phase() == 1)
        .collect();
    if !limits.is_empty() && !ctx.cancelled() {
        let (tx, rx) = mpsc::channel::<(usize, CheckResult)>();
        std::thread::scope(|s| {
            let mut spawned = 0usize;
            for &(i, c) in &limits {
                let tx = tx.clone();
                let ctx = &ctx;
                let spawn = std::thread::Builder::new()
                    .name(format!("verify-{}", c.id()))
                    .spawn_scoped(s, move || {
                        let r = timed(|| run_one(ctx, c));
                        // The receiver outlives the scope; a send error cannot happen.
                        let _ = tx.send((i, r));
                    });
                match spawn {
                    Ok(_) => spawned += 1,
                    Err(e) => finish(
                        i,
                        CheckResult::new(
                            c.id(),
                            Status::Fail,
                            format!("could not start a thread for the check: {e}"),
                        ),
                        &mut results,
                    ),
                }
            }
            drop(tx);
            // A panicking check thread drops its sender without sending: recv then ends early
            // and the missing results are filled in below.
            for _ in 0..spawned {
                match rx.recv() {
                    Ok((i, r)) => finish(i, r, &mut results),
                    Err(_) => break,
                }
            }
        });
        for &(i, c) in &limits {
            if results.get(i).is_some_and(Option::is_none) {
                finish(
                    i,
                    CheckResult::new(c.id(), Status::Fail, "internal error: the check stopped"),
                    &mut results,
                );
            }
        }
    }

    // Phase 2: circuit breakers, one at a time, alone.
    for (i, c) in checks.iter().enumerate().filter(|(_, c)| c.phase() == 2) {
        if ctx.cancelled() {
            break;
        }
        finish(i, timed(|| run_one(&ctx, c)), &mut results);
    }

    results
        .into_iter()
        .zip(checks)
        .map(|(r, c)| {
            r.unwrap_or_else(|| CheckResult::new(c.id(), Status::Fail, "internal error: not run"))
        })
        .collect()
}

fn timed(f: impl FnOnce() -> CheckResult) -> CheckResult {
    let start = Instant::now();
    let mut r = f();
    r.count("elapsed_ms", millis(start.elapsed()));
    r
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn run_one(ctx: &Ctx, c: &Check) -> CheckResult {
    match c {
        Check::Https { id } => basic::https(ctx, id),
        Check::PlainHttp { id, expect } => basic::plain_http(ctx, id, *expect),
        Check::Route {
            id,
            path,
            expect_backend,
        } => basic::route(ctx, id, path, expect_backend),
        Check::PerUserLimit {
            id,
            header,
            limit,
            per,
            extra,
            path,
        }
        | Check::AnonymousLimit {
            id,
            header,
            limit,
            per,
            extra,
            path,
        } => {
            let spec = ratelimit::Spec {
                id,
                header,
                limit: *limit,
                per: *per,
                extra: *extra,
                path,
            };
            if matches!(c, Check::PerUserLimit { .. }) {
                ratelimit::per_user(ctx, &spec)
            } else {
                ratelimit::anonymous(ctx, &spec)
            }
        }
        Check::CircuitBreaker {
            id,
            max,
            tolerance,
            path,
            concurrency,
        } => breaker::circuit_breaker(ctx, id, *max, *tolerance, path, *concurrency),
    }
}

/// What every check needs: parsed endpoints, limits, the run's tag.
pub(crate) struct Ctx {
    http: Option<Result<Endpoint, String>>,
    https: Option<Result<Endpoint, String>>,
    via: Via,
    timeout: Duration,
    check_deadline: Duration,
    probe_header: Option<String>,
    /// Unique per run: user ids are `<tag>-<check id>-...`, so buckets start full.
    tag: String,
    burst_workers: u32,
    fields: ListenerFields,
    cancel: Arc<AtomicBool>,
}

impl Ctx {
    fn new(t: &Target, checks: &[Check]) -> Result<Ctx, String> {
        client::check_host(&t.host)?;
        if t.timeout.is_zero() || t.check_deadline.is_zero() {
            return Err("timeout and check_deadline must be greater than zero".into());
        }
        let roots = match &t.ca_pem {
            Some(pem) => Some(Arc::new(
                client::parse_ca(pem).map_err(|e| format!("ca_pem: {e}"))?,
            )),
            None => None,
        };
        let endpoint = |base: &Option<String>, scheme: Scheme| {
            base.as_ref().map(|b| {
                client::parse_base(b, scheme)
                    .map(|addr| Endpoint {
                        scheme,
                        addr,
                        host: t.host.clone(),
                        roots: roots.clone(),
                    })
                    .map_err(|e| e.to_string())
            })
        };
        // A non-loopback base is refused for the whole run, even if no check would use it.
        let http = endpoint(&t.http_base, Scheme::Http);
        let https = endpoint(&t.https_base, Scheme::Https);
        for e in [&http, &https].into_iter().flatten() {
            if let Err(msg) = e {
                return Err(msg.clone());
            }
        }
        let probe_header = t.probe_header.clone().or_else(|| {
            checks.iter().find_map(|c| match c {
                Check::PerUserLimit { header, .. } | Check::AnonymousLimit { header, .. } => {
                    Some(header.clone())
                }
                _ => None,
            })
        });
        if let Some(h) = &probe_header {
            check_header("probe_header", h).map_err(|r| r.summary)?;
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok(Ctx {
            http,
            https,
            via: t.via,
            timeout: t.timeout,
            check_deadline: t.check_deadline,
            probe_header,
            tag: format!("te-verify-{}-{:x}", std::process::id(), nanos),
            burst_workers: t.burst_workers.clamp(1, 64),
            fields: t.fields,
            cancel: t.cancel.clone(),
        })
    }

    /// The listener of `scheme`, or an Invalid result when the target has none.
    fn endpoint(&self, scheme: Scheme, id: &str) -> Result<&Endpoint, CheckResult> {
        let (slot, field) = match scheme {
            Scheme::Http => (&self.http, self.fields.gateway),
            Scheme::Https => (&self.https, self.fields.https_gateway),
        };
        match slot {
            Some(Ok(ep)) => Ok(ep),
            Some(Err(msg)) => Err(CheckResult::new(id, Status::Invalid, msg.clone())),
            None => Err(CheckResult::new(
                id,
                Status::Invalid,
                format!(
                    "no {} listener was given: add {field} (nothing was sent)",
                    scheme.as_str().to_uppercase()
                ),
            )),
        }
    }

    /// The listener that carries route / rate-limit / circuit-breaker traffic.
    fn traffic(&self, id: &str) -> Result<&Endpoint, CheckResult> {
        match self.via {
            Via::Http => self.endpoint(Scheme::Http, id),
            Via::Https => self.endpoint(Scheme::Https, id),
        }
    }

    /// Preflight TCP connect; Err = Unreachable.
    fn reach(&self, ep: &Endpoint, id: &str) -> Result<(), CheckResult> {
        ep.preflight(self.timeout)
            .map_err(|msg| CheckResult::new(id, Status::Unreachable, msg))
    }

    /// The probe header for a check's request: (name, `<tag>-<id>-<n>`).
    fn probe(&self, id: &str, n: u32) -> Option<(String, String)> {
        self.probe_header
            .as_ref()
            .map(|h| (h.clone(), format!("{}-{}-{}", self.tag, sanitize(id), n)))
    }

    /// Time left for one request before `deadline` (None when it has passed or the run was
    /// cancelled: every request asks this first, so a cancel stops new requests at once).
    fn request_timeout(&self, deadline: Instant) -> Option<Duration> {
        if self.cancelled() {
            return None;
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        (left >= Duration::from_millis(5)).then(|| left.min(self.timeout))
    }
}

impl Ctx {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

/// Check ids go into header values: keep them to a safe alphabet.
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

/// A request path: absolute, printable ASCII, no spaces.
fn check_path(id: &str, path: &str) -> Result<(), CheckResult> {
    if path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic()) && path.len() <= 2048 {
        Ok(())
    } else {
        Err(CheckResult::new(
            id,
            Status::Invalid,
            format!("path {path:?} must start with / and hold no spaces or control characters"),
        ))
    }
}

/// A header name as used for the user header: an HTTP token.
fn check_header(id: &str, header: &str) -> Result<(), CheckResult> {
    let ok = !header.is_empty()
        && header.len() <= 128
        && header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CheckResult::new(
            id,
            Status::Invalid,
            format!("{header:?} is not an HTTP header name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance() {
        let min = Duration::from_secs(60);
        assert_eq!(refill_allowance(100, min, Duration::from_millis(599)), 0);
        assert_eq!(refill_allowance(100, min, Duration::from_millis(600)), 1);
        assert_eq!(refill_allowance(100, min, Duration::from_millis(1300)), 2);
        assert_eq!(refill_allowance(10, min, Duration::from_millis(5999)), 0);
        assert_eq!(refill_allowance(10, min, Duration::ZERO), 0);
        assert_eq!(
            refill_allowance(10, Duration::ZERO, Duration::ZERO),
            u64::MAX
        );
    }

    #[test]
    fn non_loopback_is_invalid_and_nothing_passes() {
        let mut t = Target::new("task-api.example.com");
        t.https_base = Some("https://192.0.2.1:443".into());
        let checks = [Check::Https {
            id: "sc-003".into(),
        }];
        let mut calls = Vec::new();
        let r = run(&t, &checks, &mut |d, n, id| {
            calls.push((d, n, id.to_owned()))
        });
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, Status::Invalid);
        assert!(r[0].summary.contains("not a loopback"), "{}", r[0].summary);
        assert_eq!(calls, vec![(1, 1, "sc-003".to_owned())]);
    }

    #[test]
    fn listeners_as_users_write_them() {
        let f = ListenerFields::CLI;
        let p = |g: Option<&str>, h: Option<&str>| Listeners::parse(g, h, f);
        let addr = |s: &str| Some(s.parse::<std::net::SocketAddr>().unwrap());
        // what `kubectl port-forward` prints: plain HTTP assumed
        assert_eq!(
            p(Some("localhost:8080"), None).unwrap().http,
            addr("127.0.0.1:8080")
        );
        assert_eq!(
            p(Some("[::1]:8080"), None).unwrap().http,
            addr("[::1]:8080")
        );
        let both = p(Some("http://127.0.0.1:8080/"), Some("127.0.0.1:8443")).unwrap();
        assert_eq!(both.http, addr("127.0.0.1:8080"));
        assert_eq!(both.https, addr("127.0.0.1:8443"));
        let https_only = p(Some("https://127.0.0.1:8443"), None).unwrap();
        assert_eq!(
            (https_only.http, https_only.https),
            (None, addr("127.0.0.1:8443"))
        );
        let t = Target::from_listeners(&both, "h.example.com", f);
        assert_eq!(t.http_base.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(t.https_base.as_deref(), Some("https://127.0.0.1:8443"));
        assert_eq!(t.via, Via::Https);
    }

    #[test]
    fn listener_errors_name_the_field_once() {
        let f = ListenerFields::CLI;
        let e = Listeners::parse(Some("10.0.0.1:8080"), None, f).unwrap_err();
        assert!(matches!(
            e,
            TargetError::Address {
                field: "--gateway",
                reason: AddressError::NotLoopback { .. }
            }
        ));
        let msg = e.to_string();
        assert!(msg.starts_with("--gateway: \"10.0.0.1:8080\""), "{msg}");
        assert_eq!(msg.matches("loopback").count(), 1, "{msg}");
        let e = Listeners::parse(Some("127.0.0.1:80"), Some("http://127.0.0.1:81"), f).unwrap_err();
        assert!(
            matches!(
                e,
                TargetError::NotHttps {
                    field: "--https-gateway",
                    ..
                }
            ),
            "{e}"
        );
        let e = Listeners::parse(Some("https://127.0.0.1:1"), Some("127.0.0.1:2"), f).unwrap_err();
        assert!(matches!(e, TargetError::TwoHttps { .. }), "{e}");
        let e = Listeners::parse(None, None, f).unwrap_err();
        assert!(e.to_string().contains("add --gateway"), "{e}");
        let e = Listeners::parse(Some("ftp://127.0.0.1:1"), None, f).unwrap_err();
        assert!(e.to_string().starts_with("--gateway: "), "{e}");
        let e = Listeners::parse(None, Some("127.0.0.1:99999"), ListenerFields::TOOL).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("https_gateway: \"127.0.0.1:99999\""),
            "{e}"
        );
    }

    #[test]
    fn a_missing_listener_is_refused_before_sending_naming_the_flag() {
        let f = ListenerFields::CLI;
        let http_only = Listeners::parse(Some("127.0.0.1:9"), None, f).unwrap();
        let t = Target::from_listeners(&http_only, "h.example.com", f);
        let checks = [
            Check::PlainHttp {
                id: "SC-001".into(),
                expect: PlainHttpExpect::Serve,
            },
            Check::Https {
                id: "SC-003".into(),
            },
            Check::Https {
                id: "SC-003".into(),
            },
        ];
        let e = t.preflight(&checks).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SC-003: checked through the gateway's HTTPS listener, which was not given; add --https-gateway https://127.0.0.1:PORT"
        );
        assert!(t.preflight(&checks[..1]).is_ok());
        let mut bad_host = Target::from_listeners(&http_only, "not a host", f);
        let e = bad_host.preflight(&checks[..1]).unwrap_err();
        assert!(e.to_string().starts_with("--host: "), "{e}");
        bad_host.host = "h.example.com".into();
        bad_host.ca_pem = Some("no certificate here".into());
        let e = bad_host.preflight(&checks[..1]).unwrap_err();
        assert!(e.to_string().starts_with("--ca: "), "{e}");
        let https_only = Listeners::parse(None, Some("127.0.0.1:9"), f).unwrap();
        let t = Target::from_listeners(&https_only, "h.example.com", f);
        let e = t.preflight(&checks).unwrap_err();
        assert!(
            e.to_string().contains("add --gateway 127.0.0.1:PORT"),
            "{e}"
        );
    }

    #[test]
    fn invalid_checks() {
        let mut t = Target::new("task-api.example.com");
        t.http_base = Some("http://127.0.0.1:9".into());
        t.via = Via::Http;
        let checks = [
            Check::PerUserLimit {
                id: "zero".into(),
                header: "x-user-id".into(),
                limit: 0,
                per: Duration::from_secs(60),
                extra: 1,
                path: "/".into(),
            },
            Check::AnonymousLimit {
                id: "no-extra".into(),
                header: "x-user-id".into(),
                limit: 10,
                per: Duration::from_secs(60),
                extra: 0,
                path: "/".into(),
            },
            Check::CircuitBreaker {
                id: "cb".into(),
                max: 50,
                tolerance: 0,
                path: "/slow".into(),
                concurrency: 50,
            },
            Check::Route {
                id: "path".into(),
                path: "api".into(),
                expect_backend: "v1".into(),
            },
            Check::Https { id: "tls".into() },
        ];
        let r = run(&t, &checks, &mut |_, _, _| {});
        for x in &r {
            assert_eq!(x.status, Status::Invalid, "{x:?}");
        }
    }

    #[test]
    fn sanitized_ids() {
        assert_eq!(sanitize("SC-002 user/a"), "SC-002_user_a");
    }
}
