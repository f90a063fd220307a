//! Every default of the traffic intent, in ONE place. The tools' parameter docs, the spec
//! format, the generators, compliance and verify all read them from here.
//!
//! Two kinds of default live here:
//! - the Task API example (the course's service): used only for a call that names nothing at
//!   all in an empty stack (`generate_gateway {}`), so that `{}` still builds the example, and
//!   never when the user named a namespace or a gateway of their own;
//! - settings whose default is a choice of ours or of an upstream program (ports, units, the
//!   Envoy Gateway class), documented in each tool's schema.

/// The Task API example: namespace, gateway, route, backend, hostname.
pub mod example {
    pub const NAMESPACE: &str = "task-api";
    pub const GATEWAY: &str = "task-api-gateway";
    pub const ROUTE: &str = "task-api";
    pub const SERVICE: &str = "task-api";
    pub const SERVICE_PORT: u16 = 8000;
    pub const HOSTNAME: &str = "task-api.example.com";
    pub const DEPLOYMENT: &str = "task-api";
    /// The course's circuit breaker (maxConnections, maxPendingRequests, maxParallelRequests),
    /// used only for a call that names no threshold on a target without one.
    pub const BREAKER: u32 = 50;
}

/// GatewayClass of Envoy Gateway's quickstart.
pub const GATEWAY_CLASS: &str = "eg";
pub const HTTP_PORT: u16 = 80;
pub const HTTPS_PORT: u16 = 443;
/// The TLS Secret of a gateway: `<gateway>-tls`.
pub fn tls_secret(gateway: &str) -> String {
    suffixed(gateway, "-tls")
}

/// `<base><suffix>`, with `base` cut so that the whole stays within a DNS label's 63 bytes
/// (and without a dangling '-'). The cut falls on a character boundary: a name that is not a
/// DNS label is refused by the caller, but it still reaches here first and must not panic.
fn suffixed(base: &str, suffix: &str) -> String {
    const MAX: usize = 63;
    if base.len() + suffix.len() <= MAX {
        return format!("{base}{suffix}");
    }
    let mut end = MAX.saturating_sub(suffix.len()).min(base.len());
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", base[..end].trim_end_matches('-'))
}
pub const PATH_PREFIX: &str = "/";
pub const BACKEND_WEIGHT: u32 = 1;

/// Rate limits of a new policy (an existing policy keeps what it has).
pub const USER_HEADER: &str = "x-user-id";
pub const REQUESTS_PER_USER: u32 = 100;
pub const ANONYMOUS_REQUESTS: u32 = 10;
/// API key header when clients authenticate with API keys.
pub const API_KEY_HEADER: &str = "x-api-key";
/// JWT claim copied into the rate-limit header.
pub const JWT_CLAIM: &str = "sub";

/// Envoy's own circuit-breaker thresholds, which apply to every threshold the policy does not
/// set (Envoy Gateway passes only the ones given).
pub const ENVOY_CIRCUIT_BREAKER_DEFAULT: u32 = 1024;

/// cert-manager certificate validity, days.
pub const CERT_DAYS: u32 = 90;

/// KEDA.
pub const MIN_REPLICAS: u32 = 1;
pub const MAX_REPLICAS: u32 = 10;
pub const REQUEST_RATE_THRESHOLD: u32 = 50;
pub const CPU_THRESHOLD: u32 = 70;
pub const PROMETHEUS_ADDRESS: &str = "http://prometheus-server.monitoring.svc.cluster.local:80";
pub const POLLING_INTERVAL: u32 = 15;

/// Name of a policy created for a target: `<target>-traffic` (or the target's name when that
/// would be too long).
pub fn policy_name(target: &str) -> String {
    let n = format!("{target}-traffic");
    if n.len() > 63 { target.to_string() } else { n }
}

/// Name of the SecurityPolicy the stack writes for a target: `<target>-auth`.
pub fn security_policy_name(target: &str) -> String {
    let n = format!("{target}-auth");
    if n.len() > 63 { target.to_string() } else { n }
}

/// Name of the self-signed issuer the stack creates when asked: named after the stack's
/// namespace, so that a cluster-scoped one never takes a generic name another team uses.
pub fn self_signed_issuer(namespace: &str) -> String {
    suffixed(namespace, "-selfsigned")
}

/// Name of the HTTP->HTTPS redirect route of a gateway.
pub fn redirect_route(gateway: &str) -> String {
    suffixed(gateway, "-https-redirect")
}

/// Label put on every object the stack creates, so a later call can tell its own objects from
/// the user's (and refuses to overwrite a cluster-scoped object it did not create).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "traffic-engineer";

/// Envoy AI Gateway (v1.1.0).
pub mod llm {
    /// Token budgets are counted per hour unless the call names a unit.
    pub const BUDGET_UNIT: crate::intent::RateUnit = crate::intent::RateUnit::Hour;
    /// Providers are reached over TLS on 443.
    pub const PROVIDER_PORT: u16 = 443;
    /// The header the AI Gateway sets from the request body's model name and routes on
    /// (`api/v1beta1/shared_types.go`, `AIModelHeaderKey`).
    pub const MODEL_HEADER: &str = "x-ai-eg-model";
    /// The dynamic-metadata namespace of the route's request costs
    /// (`api/v1beta1/shared_types.go`, `AIGatewayFilterMetadataNamespace`).
    pub const COST_NAMESPACE: &str = "io.envoy.ai_gateway";
    /// The Secret entry a BackendSecurityPolicy of type APIKey / AzureAPIKey reads
    /// (`internal/controller/ai_gateway_route.go`, `apiKeyInSecret`).
    pub const API_KEY_ENTRY: &str = "apiKey";
}

/// Name of a gateway's LLM route: `<gateway>-llm`.
pub fn llm_route_name(gateway: &str) -> String {
    suffixed(gateway, "-llm")
}

/// Name of the BackendSecurityPolicy of an LLM backend: `<backend>-key`.
pub fn llm_key_policy_name(backend: &str) -> String {
    let n = format!("{backend}-key");
    if n.len() > 63 { backend.to_string() } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_stay_within_a_label_and_never_split_a_character() {
        let long = "a".repeat(70);
        let dashed = format!("{}-{}", "b".repeat(47), "c".repeat(20));
        // 4-byte characters put a boundary 1..3 bytes before every cut point.
        let wide = "\u{16b91}".repeat(20);
        type Case = (fn(&str) -> String, &'static str, &'static str, &'static str);
        let cases: &[Case] = &[
            (tls_secret, "api", "-tls", "api-tls"),
            (self_signed_issuer, "shop", "-selfsigned", "shop-selfsigned"),
            (
                redirect_route,
                "web",
                "-https-redirect",
                "web-https-redirect",
            ),
            (llm_route_name, "ai", "-llm", "ai-llm"),
        ];
        for &(f, short, suffix, want) in cases {
            assert_eq!(f(short), want);
            for base in [long.as_str(), dashed.as_str(), wide.as_str()] {
                let n = f(base);
                assert!(n.len() <= 63, "{n:?} is {} bytes", n.len());
                assert!(n.ends_with(suffix), "{n:?}");
                let stem = &n[..n.len() - suffix.len()];
                assert!(
                    base.starts_with(stem) && !stem.ends_with('-'),
                    "{n:?} from {base:?}"
                );
                assert!(
                    stem.len() + 4 > 63 - suffix.len(),
                    "{n:?} was cut more than needed"
                );
            }
        }
    }
}
