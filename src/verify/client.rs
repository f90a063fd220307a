//! HTTP plumbing for `verify`: loopback endpoints, ureq agents pinned to one socket address, TLS
//! with a custom root store, and the classification of what a request gave.
//!
//! The request URL names the gateway's host (`https://task-api.example.com:PORT/...`) so rustls
//! sends that name as SNI and verifies the certificate against it, while a custom ureq resolver
//! maps every name to the one loopback socket address the caller gave: nothing is looked up in
//! DNS and nothing leaves the machine. The `Host` header is set to the bare host name (no port),
//! as a client of the real gateway on 443 would send it.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// The most response body read (and then dropped) per request, so keep-alive works.
const BODY_LIMIT: u64 = 64 * 1024;

/// Longest wait for a TCP connection (the preflight and each request's connect phase).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A listener's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// One listener of the gateway: where to connect and how to talk to it.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub scheme: Scheme,
    pub addr: SocketAddr,
    pub host: String,
    /// Trust anchors for HTTPS; `None` = the Mozilla roots bundled with ureq (webpki-roots).
    pub roots: Option<Arc<Vec<Certificate<'static>>>>,
}

impl Endpoint {
    /// `scheme://host:port` as put in request URLs (the resolver maps it to `addr`).
    fn url_base(&self) -> String {
        format!(
            "{}://{}:{}",
            self.scheme.as_str(),
            self.host,
            self.addr.port()
        )
    }

    /// Where this endpoint connects, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.addr)
    }

    /// A TCP connect (no HTTP request, so no rate-limit token is spent). Err = a plain message.
    pub(crate) fn preflight(&self, timeout: Duration) -> Result<(), String> {
        let t = timeout.min(CONNECT_TIMEOUT).max(Duration::from_millis(50));
        match TcpStream::connect_timeout(&self.addr, t) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!(
                "nothing accepts connections on {} ({})",
                self.addr,
                connect_reason(&e)
            )),
        }
    }
}

fn connect_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "connect timed out".into(),
        _ => e.to_string(),
    }
}

/// Why a listener address was refused. The loopback rule is stated by [`NotLoopback`] alone.
///
/// [`NotLoopback`]: AddressError::NotLoopback
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{text:?} must start with {prefix} (e.g. {prefix}127.0.0.1:8443)")]
    Scheme { text: String, prefix: String },
    #[error("{text:?} must be {prefix}ADDRESS:PORT with no path (e.g. {prefix}127.0.0.1:8443)")]
    Shape { text: String, prefix: String },
    #[error("{text:?}: unterminated [IPv6] address")]
    Bracket { text: String },
    #[error("{text:?}: expected :PORT after the address")]
    AfterAddress { text: String },
    #[error("{text:?}: {port:?} is not a port (1-65535)")]
    Port { text: String, port: String },
    #[error("{text:?}: {host:?} is not an IP address (use 127.0.0.1, ::1 or localhost)")]
    Host { text: String, host: String },
    #[error(
        "{text:?}: {ip} is not a loopback address; verify sends traffic only to 127.0.0.0/8, ::1 \
         or localhost (reach a cluster's gateway through `kubectl port-forward` and give the local \
         address it prints)"
    )]
    NotLoopback { text: String, ip: IpAddr },
}

/// Parse `http://127.0.0.1:PORT` (or `https://`, `[::1]`, `localhost`). Only loopback addresses
/// are accepted: verify sends bursts of traffic and must never aim them at another machine.
pub(crate) fn parse_base(base: &str, scheme: Scheme) -> Result<SocketAddr, AddressError> {
    let text = || base.to_owned();
    let trimmed = base.trim();
    let prefix = format!("{}://", scheme.as_str());
    let rest = match trimmed.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(&prefix) => &trimmed[prefix.len()..],
        _ => {
            return Err(AddressError::Scheme {
                text: text(),
                prefix,
            });
        }
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return Err(AddressError::Shape {
            text: text(),
            prefix,
        });
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err(AddressError::Bracket { text: text() });
        };
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(AddressError::AfterAddress { text: text() }),
        };
        (h, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => scheme.default_port(),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => n,
            _ => {
                return Err(AddressError::Port {
                    text: text(),
                    port: p.to_owned(),
                });
            }
        },
    };
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse().map_err(|_| AddressError::Host {
            text: text(),
            host: host.to_owned(),
        })?
    };
    if !ip.is_loopback() {
        return Err(AddressError::NotLoopback { text: text(), ip });
    }
    Ok(SocketAddr::new(ip, port))
}

/// The host name sent as SNI and `Host`: a DNS name (letters, digits, `-`, `.`).
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'))
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "host {host:?} is not a DNS name (it is sent as TLS SNI and Host header, e.g. task-api.example.com)"
        ))
    }
}

/// The certificates of a PEM bundle. Err when it holds none or does not parse.
pub(crate) fn parse_ca(pem: &str) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem.as_bytes()) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("the certificate file does not parse as PEM: {e}")),
        }
    }
    if certs.is_empty() {
        return Err(
            "the certificate file holds no CERTIFICATE block (expected a PEM certificate)".into(),
        );
    }
    Ok(certs)
}

/// Resolves every name to one loopback socket address.
#[derive(Debug)]
struct PinnedResolver(SocketAddr);

impl Resolver for PinnedResolver {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut v = self.empty();
        v.try_push(self.0).map_err(|_| ureq::Error::HostNotFound)?;
        Ok(v)
    }
}

/// What one request gave.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Response(Answer),
    Failed(Failure),
}

#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    /// `x-backend` response header.
    pub backend: Option<String>,
    /// `x-envoy-overloaded: true` (circuit-breaker overflow).
    pub overloaded: bool,
    pub location: Option<String>,
    /// When the response (headers and body) was complete.
    pub done: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FailKind {
    /// No TCP connection (refused, connect timeout).
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// Connected, but no complete answer in time.
    Timeout,
    /// Anything else (reset, protocol error, ...).
    Other,
}

impl FailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailKind::Connect => "connect",
            FailKind::Tls => "tls",
            FailKind::Timeout => "timeout",
            FailKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: FailKind,
    pub message: String,
    /// The peer reset or closed the connection before answering.
    pub dropped: bool,
}

/// One keep-alive connection's worth of client (an agent per worker thread, so concurrent workers
/// never wait for each other's connections).
pub(crate) struct Client {
    agent: Agent,
    base: String,
    host: String,
    scheme: Scheme,
}

impl Client {
    pub(crate) fn new(ep: &Endpoint) -> Client {
        let mut tls = TlsConfig::builder().provider(TlsProvider::Rustls);
        if let Some(roots) = &ep.roots {
            tls = tls.root_certs(RootCerts::Specific(roots.clone()));
        }
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent("traffic-engineer-verify")
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .max_idle_connections_per_host(1)
            .tls_config(tls.build())
            .build();
        let agent = Agent::with_parts(config, DefaultConnector::new(), PinnedResolver(ep.addr));
        Client {
            agent,
            base: ep.url_base(),
            host: ep.host.clone(),
            scheme: ep.scheme,
        }
    }

    /// GET `path` with extra headers, within `timeout` (the whole exchange, body included).
    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)], timeout: Duration) -> Outcome {
        let url = format!("{}{}", self.base, path);
        let mut req = self.agent.get(&url).header("host", self.host.as_str());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.config().timeout_global(Some(timeout)).build();
        match req.call() {
            Ok(mut resp) => {
                let h = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let backend = h("x-backend");
                let overloaded_header = h("x-envoy-overloaded").is_some_and(|v| v.trim() == "true");
                let location = h("location");
                let status = resp.status().as_u16();
                // Drain the body so the connection can be reused; a failure here only costs reuse.
                let body = match resp
                    .body_mut()
                    .with_config()
                    .limit(BODY_LIMIT)
                    .read_to_vec()
                {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::debug!(%url, error = %e, "verify: response body not read completely");
                        Vec::new()
                    }
                };
                // Envoy Gateway suppresses x-envoy-* headers by default: a circuit-breaker
                // overflow is then a plain 503 whose local-reply body names the reset reason
                let overloaded = overloaded_header || (status == 503 && is_overflow_body(&body));
                Outcome::Response(Answer {
                    status,
                    backend,
                    overloaded,
                    location,
                    done: Instant::now(),
                })
            }
            Err(e) => Outcome::Failed(classify(e, self.scheme)),
        }
    }
}

fn classify(e: ureq::Error, scheme: Scheme) -> Failure {
    let kind = match &e {
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable => FailKind::Connect,
            // rustls reports handshake and certificate errors as InvalidData from complete_io.
            ErrorKind::InvalidData if scheme == Scheme::Https => FailKind::Tls,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => FailKind::Timeout,
            _ => FailKind::Other,
        },
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => FailKind::Connect,
        ureq::Error::Timeout(ureq::Timeout::Connect) => FailKind::Connect,
        ureq::Error::Timeout(_) => FailKind::Timeout,
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => FailKind::Tls,
        _ => FailKind::Other,
    };
    let dropped = matches!(&e, ureq::Error::Io(io) if matches!(
        io.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
            | ErrorKind::BrokenPipe
    ));
    let message = match &e {
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    Failure {
        kind,
        message,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases() {
        assert_eq!(
            parse_base("http://127.0.0.1:8080", Scheme::Http).unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            parse_base("https://localhost:8443/", Scheme::Https).unwrap(),
            "127.0.0.1:8443".parse().unwrap()
        );
        assert_eq!(
            parse_base("https://[::1]", Scheme::Https).unwrap(),
            "[::1]:443".parse().unwrap()
        );
        assert_eq!(
            parse_base("http://127.3.4.5", Scheme::Http).unwrap(),
            "127.3.4.5:80".parse().unwrap()
        );
        for bad in [
            "http://10.0.0.1:80",
            "http://example.com:80",
            "https://127.0.0.1:80",
            "http://127.0.0.1:0",
            "http://127.0.0.1:80/api",
            "http://127.0.0.1:99999",
            "http://[::1:80",
            "http://user@127.0.0.1:80",
            "",
        ] {
            assert!(parse_base(bad, Scheme::Http).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        assert!(check_host("task-api.example.com").is_ok());
        for bad in ["", "a b", "x..y", "-a.com", "a:80", "a/b"] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ca() {
        assert!(parse_ca("").is_err());
        assert!(parse_ca("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n").is_err());
    }
}

/// Envoy's local reply for a circuit-breaker overflow ("... reset reason: overflow").
fn is_overflow_body(body: &[u8]) -> bool {
    String::from_utf8_lossy(body).contains("reset reason: overflow")
}

#[cfg(test)]
mod overflow_tests {
    use super::is_overflow_body;

    #[test]
    fn envoy_overflow_replies_are_recognised_without_headers() {
        for (body, want) in [
            (&b"upstream connect error or disconnect/reset before headers. reset reason: overflow"[..], true),
            (b"upstream connect error or disconnect/reset before headers. reset reason: connection failure", false),
            (b"no healthy upstream", false),
            (b"", false),
        ] {
            assert_eq!(is_overflow_body(body), want, "{}", String::from_utf8_lossy(body));
        }
    }
}
