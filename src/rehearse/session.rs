//! The plan of one rehearsal, written by the outer process into a temporary folder and run by
//! the inner one (`inside`), which lives in private user, network, mount and PID namespaces:
//!
//! - network: Envoy Gateway binds its xDS servers on 0.0.0.0 (hard-coded in v1.9.0) and the
//!   gateway's listeners use the spec's ports (80, 443); in a network namespace of its own,
//!   whose only interface is loopback, every server is reachable from loopback only and no
//!   port can collide with another rehearsal or anything on the machine;
//! - mount: a private `/etc/hosts` names the rate-limit service (the address Envoy Gateway's
//!   translator gives Envoy: envoy-ratelimit.envoy-gateway-system.svc.cluster.local) and the
//!   Envoy Gateway xDS server the rate-limit service reads its configuration from
//!   (envoy-gateway), both 127.0.0.1: the "hosts entry" of plain system configuration;
//! - PID: when the inner process ends, however it ends, the kernel kills every process it
//!   started (Envoy Gateway, the Envoy it starts through func-e, ratelimit, Redis).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The hostname Envoy Gateway's translator gives Envoy for the global rate-limit service
/// (internal/infrastructure/kubernetes/ratelimit: `grpc://envoy-ratelimit.<ns>.svc.<domain>:8081`
/// with Envoy Gateway's namespace, envoy-gateway-system by default).
pub const RATELIMIT_HOST: &str = "envoy-ratelimit.envoy-gateway-system.svc.cluster.local";
/// The rate-limit service's gRPC port (InfraGRPCPort).
pub const RATELIMIT_GRPC_PORT: u16 = 8081;
/// Envoy Gateway's rate-limit xDS server (XdsGrpcSotwConfigServerHost/Port).
pub const EG_RATELIMIT_XDS: &str = "envoy-gateway:18001";
/// ratelimit's debug port (serves /rlconfig, the configuration it has loaded).
pub const RATELIMIT_DEBUG_PORT: u16 = 6070;
pub const REDIS_PORT: u16 = 6379;
/// The Redis URL in the EnvoyGateway configuration and, as Envoy Gateway does for the
/// Deployment it creates, in ratelimit's REDIS_URL (EG's validation wants host:port with a
/// host name, not an IP).
pub const REDIS_URL: &str = "localhost:6379";

/// A stub backend: answers every request naming itself in `x-backend`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StubBackend {
    pub name: String,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The temporary folder everything is written to.
    pub work: PathBuf,
    pub envoy_gateway: PathBuf,
    pub ratelimit: PathBuf,
    pub redis_server: PathBuf,
    /// The EnvoyGateway configuration file.
    pub eg_config: PathBuf,
    /// `<configHome>/certs`, written by `envoy-gateway certgen --local`.
    pub certs: PathBuf,
    /// The hosts file bind-mounted over /etc/hosts.
    pub hosts: PathBuf,
    pub backends: Vec<StubBackend>,
    /// The spec (Markdown) to verify.
    pub spec_text: String,
    /// Gateway listeners: `http://127.0.0.1:PORT` and/or `https://127.0.0.1:PORT`.
    pub http_url: Option<String>,
    pub https_url: Option<String>,
    /// Host header and SNI.
    pub host: String,
    /// PEM to trust for the HTTPS listener.
    pub ca_pem: Option<String>,
    /// Whether the stack has a global rate limit (then ratelimit and Redis are started).
    pub global_rate_limit: bool,
    /// Seconds to wait for Envoy to serve the routes, and for ratelimit's configuration.
    pub ready_timeout_secs: u64,
}

/// What the inner process reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InsideResult {
    /// One row per criterion (spec::live::LiveRow fields).
    pub rows: Vec<InsideRow>,
    /// What was started and how it went, in order.
    pub steps: Vec<String>,
    /// Why the rehearsal could not run at all (nothing verified).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InsideRow {
    pub id: String,
    pub status: String,
    pub summary: String,
    pub command: String,
}
