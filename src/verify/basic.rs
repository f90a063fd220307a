//! Single-request checks: HTTPS, plain HTTP, path routing.

use std::time::Instant;

use super::client::{Client, FailKind, Failure, Outcome, Scheme};
use super::{CheckResult, Ctx, PlainHttpExpect, Status, check_path};

/// One GET with the check's probe header, within the check's deadline.
fn probe_get(
    ctx: &Ctx,
    id: &str,
    ep: &super::client::Endpoint,
    path: &str,
) -> Result<Outcome, CheckResult> {
    let deadline = Instant::now() + ctx.check_deadline;
    let Some(timeout) = ctx.request_timeout(deadline) else {
        return Err(CheckResult::new(id, Status::Fail, "deadline reached"));
    };
    let probe = ctx.probe(id, 0);
    let headers: Vec<(&str, &str)> = probe
        .as_ref()
        .map(|(k, v)| vec![(k.as_str(), v.as_str())])
        .unwrap_or_default();
    Ok(Client::new(ep).get(path, &headers, timeout))
}

/// A request that got no answer: Unreachable when no connection, Fail otherwise.
fn failed(id: &str, what: &str, f: &Failure) -> CheckResult {
    let status = if f.kind == FailKind::Connect {
        Status::Unreachable
    } else {
        Status::Fail
    };
    let reason = match f.kind {
        FailKind::Connect => "no connection",
        FailKind::Tls => "TLS handshake failed",
        FailKind::Timeout => "no answer in time",
        FailKind::Other => "request failed",
    };
    let mut hint = "";
    if f.kind == FailKind::Tls && f.message.contains("UnknownIssuer") {
        hint = " (the certificate is not signed by a trusted CA: pass its PEM as ca_pem)";
    } else if f.kind == FailKind::Tls && f.message.contains("BadSignature") {
        hint = " (the certificate is not signed by the given CA)";
    } else if f.kind == FailKind::Tls && f.message.contains("NotValidForName") {
        hint = " (the certificate does not name this host)";
    } else if f.kind == FailKind::Tls && f.message.contains("InvalidContentType") {
        hint = " (the listener does not speak TLS)";
    }
    let mut r = CheckResult::new(id, status, format!("{what}: {reason}{hint}: {}", f.message));
    r.count(format!("errors_{}", f.kind.as_str()), 1);
    r
}

pub(crate) fn https(ctx: &Ctx, id: &str) -> CheckResult {
    let ep = match ctx.endpoint(Scheme::Https, id) {
        Ok(ep) => ep,
        Err(r) => return r,
    };
    if let Err(r) = ctx.reach(ep, id) {
        return r;
    }
    let trust = if ep.roots.is_some() {
        "the given CA"
    } else {
        "the Mozilla roots"
    };
    let detail = format!(
        "GET / on {} with SNI and Host {}, certificate checked against {trust}",
        ep.describe(),
        ep.host
    );
    match probe_get(ctx, id, ep, "/") {
        Err(r) => r,
        Ok(Outcome::Failed(mut f)) => {
            if f.dropped {
                f.message.push_str(&format!(
                    " (the gateway dropped the connection: no TLS listener or certificate for SNI {}?)",
                    ep.host
                ));
            }
            failed(id, &format!("HTTPS to {}", ep.describe()), &f).detail(detail)
        }
        Ok(Outcome::Response(a)) => {
            let mut r = CheckResult::new(
                id,
                Status::Pass,
                format!(
                    "TLS handshake ok for {} (certificate trusted), GET / answered {}",
                    ep.host, a.status
                ),
            )
            .detail(detail);
            r.count("status", u64::from(a.status));
            r
        }
    }
}

pub(crate) fn plain_http(ctx: &Ctx, id: &str, expect: PlainHttpExpect) -> CheckResult {
    let ep = match ctx.endpoint(Scheme::Http, id) {
        Ok(ep) => ep,
        Err(r) => return r,
    };
    if let Err(r) = ctx.reach(ep, id) {
        return r;
    }
    let detail = format!("GET / on {} with Host {}", ep.describe(), ep.host);
    let a = match probe_get(ctx, id, ep, "/") {
        Err(r) => return r,
        Ok(Outcome::Failed(f)) => {
            return failed(id, &format!("HTTP to {}", ep.describe()), &f).detail(detail);
        }
        Ok(Outcome::Response(a)) => a,
    };
    let redirect = matches!(a.status, 301 | 302 | 303 | 307 | 308);
    let location = a.location.clone().unwrap_or_default();
    let to_https = location
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("https://"));
    let (status, summary) = match expect {
        PlainHttpExpect::Serve if !redirect => (
            Status::Pass,
            format!("HTTP listener served GET / ({})", a.status),
        ),
        PlainHttpExpect::Serve => (
            Status::Fail,
            format!(
                "HTTP listener redirected GET / ({}) to {location:?}, expected it to serve",
                a.status
            ),
        ),
        PlainHttpExpect::RedirectToHttps if redirect && to_https => (
            Status::Pass,
            format!("GET / redirected ({}) to {location}", a.status),
        ),
        PlainHttpExpect::RedirectToHttps => (
            Status::Fail,
            if redirect {
                format!(
                    "GET / redirected ({}) to {location:?}, not to https://",
                    a.status
                )
            } else {
                format!(
                    "GET / answered {} without a redirect, expected a redirect to https://",
                    a.status
                )
            },
        ),
    };
    let mut r = CheckResult::new(id, status, summary).detail(detail);
    r.count("status", u64::from(a.status));
    r
}

pub(crate) fn route(ctx: &Ctx, id: &str, path: &str, expect_backend: &str) -> CheckResult {
    if let Err(r) = check_path(id, path) {
        return r;
    }
    let ep = match ctx.traffic(id) {
        Ok(ep) => ep,
        Err(r) => return r,
    };
    if let Err(r) = ctx.reach(ep, id) {
        return r;
    }
    let detail = format!(
        "GET {path} on {} with Host {}; backends name themselves in x-backend",
        ep.describe(),
        ep.host
    );
    let a = match probe_get(ctx, id, ep, path) {
        Err(r) => return r,
        Ok(Outcome::Failed(f)) => {
            return failed(id, &format!("GET {path}"), &f).detail(detail);
        }
        Ok(Outcome::Response(a)) => a,
    };
    let (status, summary) = match a.backend.as_deref() {
        Some(b) if b == expect_backend && (200..300).contains(&a.status) => {
            (Status::Pass, format!("{path} -> {b} ({})", a.status))
        }
        Some(b) if b == expect_backend => (
            Status::Fail,
            format!(
                "{path} reached {b} but it answered {}, expected a 2xx",
                a.status
            ),
        ),
        Some(b) => (
            Status::Fail,
            format!(
                "{path} was answered by {b} ({}), expected {expect_backend}",
                a.status
            ),
        ),
        None => (
            Status::Fail,
            format!(
                "{path} answered {} without an x-backend header (not routed to a backend), expected {expect_backend}",
                a.status
            ),
        ),
    };
    let mut r = CheckResult::new(id, status, summary).detail(detail);
    r.count("status", u64::from(a.status));
    r
}
