//! Envoy Gateway v1.9.0's translator on Gateway API kinds, one document at a time: listener
//! protocol, TLS, port and hostname combinations (`internal/gatewayapi/listener.go`,
//! `validate.go`) and route matches (`route.go`). What the Gateway CRD's CEL rules already refuse
//! (TLS on HTTP/TCP/UDP, hostname on TCP/UDP, Passthrough on HTTPS, duplicate
//! port+protocol+hostname) is left to the cel layer.

use serde_json::Value;

use super::envoy_gateway::regex_rule;
use super::{arr, has, s};
use crate::validate::finding::Finding;

fn tls_mode(l: &Value) -> &str {
    match s(&l["tls"], "mode") {
        "" => "Terminate",
        m => m,
    }
}

/// The route kinds a listener can carry: allowedRouteKindsForProtocol (listener.go, v1.9.0).
fn kinds_for(protocol: &str, mode: &str) -> &'static [&'static str] {
    match protocol {
        "HTTP" | "HTTPS" => &["HTTPRoute", "GRPCRoute"],
        "TLS" if mode == "Passthrough" => &["TLSRoute"],
        "TLS" => &["TCPRoute", "TLSRoute"],
        "TCP" => &["TCPRoute"],
        "UDP" => &["UDPRoute"],
        _ => &[],
    }
}

/// Protocols sharing a port must agree: getProtocolForListener (validate.go, v1.9.0) puts HTTPS
/// and TLS in one class; UDP coexists with anything.
fn port_class(protocol: &str) -> &str {
    match protocol {
        "HTTPS" | "TLS" => "HTTPS/TLS",
        p => p,
    }
}

/// A set of listener indexes without allocating: the Gateway CRD allows at most 64 listeners
/// (indexes beyond are never marked).
#[derive(Default, Clone, Copy)]
struct Bits(u64);

impl Bits {
    fn set(&mut self, i: usize) {
        if i < 64 {
            self.0 |= 1 << i;
        }
    }
    fn get(self, i: usize) -> bool {
        i < 64 && self.0 & (1 << i) != 0
    }
}

pub(super) fn gateway(obj: &Value, out: &mut Vec<Finding>) {
    let listeners = obj["spec"]["listeners"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let mut invalid = Bits::default();
    for (li, l) in listeners.iter().enumerate() {
        let protocol = s(l, "protocol");
        let refs = l["tls"]["certificateRefs"].as_array().map_or(0, Vec::len);
        let path = || format!("/spec/listeners/{li}");
        // validateListenerSpec (listener.go, v1.9.0): Accepted=False, UnsupportedProtocol
        if !matches!(protocol, "HTTP" | "HTTPS" | "TLS" | "TCP" | "UDP") {
            invalid.set(li);
            out.push(Finding::error(
                "gateway/unsupported-protocol",
                format!("{}/protocol", path()),
                format!("protocol {protocol} is not supported by Envoy Gateway: the listener is not Accepted"),
                "use HTTP, HTTPS, TLS, TCP or UDP",
            ));
            continue;
        }
        // validateTLSConfiguration / validateTerminateModeAndGetTLSSecrets (validate.go,
        // v1.9.0): an HTTPS listener needs TLS with at least one certificate ref; tls.options
        // alone (which the CRD's CEL rule accepts) is not enough.
        if protocol == "HTTPS" && tls_mode(l) == "Terminate" && refs == 0 {
            invalid.set(li);
            out.push(Finding::error(
                "gateway/https-without-certificate",
                path(),
                "an HTTPS listener without tls.certificateRefs is not Programmed by Envoy Gateway (\"Listener must have at least 1 TLS certificate ref\")",
                "add tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: <tls secret>}]}",
            ));
        }
        // validateTerminateModeAndGetTLSSecrets (validate.go, v1.9.0): a certificateRef with a
        // group or a kind other than Secret is an InvalidCertificateRef; with no valid ref left
        // the listener is ResolvedRefs=False (error), with some left PartiallyInvalid (warning)
        let bad: Vec<usize> = arr(&l["tls"]["certificateRefs"])
            .filter(|(_, r)| !s(r, "group").is_empty() || !matches!(s(r, "kind"), "" | "Secret"))
            .map(|(ri, _)| ri)
            .collect();
        for ri in &bad {
            let r = &l["tls"]["certificateRefs"][*ri];
            let message = format!(
                "certificateRef {}{}/{} is not a Secret: Envoy Gateway only reads core Secrets (\"Listener's TLS certificate ref kind must be Secret\"){}",
                s(r, "group"),
                if s(r, "group").is_empty() { "" } else { "/" },
                s(r, "kind"),
                if bad.len() == refs {
                    "; the listener is not Programmed"
                } else {
                    "; the ref is ignored"
                }
            );
            let hint = "name the Secret the certificate is stored in (a cert-manager Certificate's spec.secretName) with kind: Secret and no group";
            let at = format!("{}/tls/certificateRefs/{ri}", path());
            out.push(if bad.len() == refs {
                Finding::error("gateway/certificate-ref-kind", at, message, hint)
            } else {
                Finding::warning("gateway/certificate-ref-kind", at, message, hint)
            });
        }
        if protocol == "TLS" && has(l, "tls") {
            let mode = s(&l["tls"], "mode");
            if mode == "Passthrough" && refs > 0 {
                invalid.set(li);
                out.push(Finding::error(
                    "gateway/passthrough-with-certificate",
                    format!("{}/tls/certificateRefs", path()),
                    "a TLS Passthrough listener must not have certificateRefs: Envoy Gateway does not program it",
                    "remove certificateRefs (the backend terminates TLS), or use mode: Terminate",
                ));
            }
            if mode == "Terminate" && refs == 0 {
                invalid.set(li);
                out.push(Finding::error(
                    "gateway/tls-terminate-without-certificate",
                    format!("{}/tls", path()),
                    "a TLS listener in mode Terminate needs certificateRefs: Envoy Gateway does not program it",
                    "add certificateRefs: [{kind: Secret, name: <tls secret>}]",
                ));
            }
        }
        // validateAllowedRoutes (validate.go, v1.9.0): ResolvedRefs=False, InvalidRouteKinds
        let allowed = kinds_for(protocol, tls_mode(l));
        for (ki, k) in arr(&l["allowedRoutes"]["kinds"]) {
            let group = k.get("group").and_then(Value::as_str);
            let kind = s(k, "kind");
            let bad_group = group.is_some_and(|g| g != "gateway.networking.k8s.io");
            if bad_group || !allowed.contains(&kind) {
                invalid.set(li);
                out.push(Finding::error(
                    "gateway/route-kind-unsupported",
                    format!("{}/allowedRoutes/kinds/{ki}", path()),
                    if bad_group {
                        format!("route group {} is not supported: Envoy Gateway sets ResolvedRefs=False on the listener", group.unwrap_or(""))
                    } else {
                        format!("a {protocol} listener cannot carry {kind}: Envoy Gateway sets ResolvedRefs=False on the listener")
                    },
                    format!("allowed kinds for {protocol}: {}", allowed.join(", ")),
                ));
            }
        }
    }
    conflicts(listeners, invalid, out);
}

/// validateConflictedProtocolsListeners and validateConflictedHostnameListeners (validate.go, v1.9.0) within one Gateway; listeners
/// already invalid are skipped, as the translator skips them.
fn conflicts(listeners: &[Value], invalid: Bits, out: &mut Vec<Finding>) {
    let valid = |i: usize| !invalid.get(i);
    let port = |l: &Value| l.get("port").and_then(Value::as_i64);
    let mut protocol_conflicted = Bits::default();
    for (i, a) in listeners.iter().enumerate() {
        if !valid(i) || s(a, "protocol") == "UDP" {
            continue;
        }
        let clash = listeners.iter().enumerate().find(|(j, b)| {
            *j != i
                && valid(*j)
                && s(b, "protocol") != "UDP"
                && port(b) == port(a)
                && port_class(s(b, "protocol")) != port_class(s(a, "protocol"))
        });
        if let Some((_, b)) = clash {
            protocol_conflicted.set(i);
            out.push(Finding::error(
                "gateway/protocol-conflict",
                format!("/spec/listeners/{i}"),
                format!(
                    "listeners {} ({}) and {} ({}) share port {}: all listeners on a port must use a compatible protocol, so Envoy Gateway marks them Conflicted",
                    s(a, "name"), s(a, "protocol"), s(b, "name"), s(b, "protocol"), port(a).unwrap_or(0)
                ),
                "give each protocol its own port (HTTPS and TLS may share one)",
            ));
        }
    }
    // validateConflictedLayer4Listeners (one TCP / one UDP listener per port) needs no rule:
    // TCP and UDP listeners have no hostname, so two on one port already break the CRD's CEL
    // rule "Combination of port, protocol and hostname must be unique".
    // Layer 7 hostnames: HTTP, HTTPS and TLS listeners on one port need distinct hostnames.
    // (Same protocol is the CEL rule's; HTTPS + TLS with one hostname passes CEL and conflicts.)
    for (i, a) in listeners.iter().enumerate() {
        let p = s(a, "protocol");
        if !valid(i) || protocol_conflicted.get(i) || matches!(p, "TCP" | "UDP") {
            continue;
        }
        let host = s(a, "hostname");
        if let Some((_, b)) = listeners.iter().enumerate().find(|(j, b)| {
            *j != i
                && valid(*j)
                && !protocol_conflicted.get(*j)
                && !matches!(s(b, "protocol"), "TCP" | "UDP")
                && s(b, "protocol") != p
                && port(b) == port(a)
                && s(b, "hostname") == host
        }) {
            out.push(Finding::error(
                "gateway/hostname-conflict",
                format!("/spec/listeners/{i}"),
                format!(
                    "listeners {} and {} on port {} have the same hostname {:?}: Envoy Gateway marks both Conflicted",
                    s(a, "name"), s(b, "name"), port(a).unwrap_or(0), host
                ),
                "give each listener on a port its own hostname",
            ));
        }
    }
}

/// HTTPRoute: processHTTPRouteRule (route.go, v1.9.0) validates RegularExpression matches with
/// Go's regexp (the route is not Accepted, reason UnsupportedValue); a rule whose backends all
/// have weight 0 answers 500.
pub(super) fn http_route(obj: &Value, out: &mut Vec<Finding>) {
    for (ri, rule) in arr(&obj["spec"]["rules"]) {
        let refs = rule["backendRefs"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        if refs.len() > 1
            && refs
                .iter()
                .all(|b| b.get("weight").and_then(Value::as_i64) == Some(0))
        {
            out.push(Finding::error(
                "route/all-weights-zero",
                format!("/spec/rules/{ri}/backendRefs"),
                "every backend of this rule has weight 0, so the rule answers 500 to every request",
                "give at least one backend a weight above 0 (e.g. 90 and 10 for a canary)",
            ));
        }
        for (mi, m) in arr(&rule["matches"]) {
            let base = || format!("/spec/rules/{ri}/matches/{mi}");
            if s(&m["path"], "type") == "RegularExpression" {
                regex_rule(
                    "route/invalid-regex",
                    s(&m["path"], "value"),
                    format!("{}/path/value", base()),
                    out,
                );
            }
            for key in ["headers", "queryParams"] {
                for (hi, h) in arr(&m[key]) {
                    if s(h, "type") == "RegularExpression" {
                        regex_rule(
                            "route/invalid-regex",
                            s(h, "value"),
                            format!("{}/{key}/{hi}/value", base()),
                            out,
                        );
                    }
                }
            }
        }
    }
}

/// GRPCRoute: processGRPCRouteRule (route.go, v1.9.0), header and method regexes.
pub(super) fn grpc_route(obj: &Value, out: &mut Vec<Finding>) {
    for (ri, rule) in arr(&obj["spec"]["rules"]) {
        for (mi, m) in arr(&rule["matches"]) {
            let base = || format!("/spec/rules/{ri}/matches/{mi}");
            for (hi, h) in arr(&m["headers"]) {
                if s(h, "type") == "RegularExpression" {
                    regex_rule(
                        "route/invalid-regex",
                        s(h, "value"),
                        format!("{}/headers/{hi}/value", base()),
                        out,
                    );
                }
            }
            let method = &m["method"];
            if s(method, "type") == "RegularExpression" {
                for key in ["service", "method"] {
                    if let Some(v) = method.get(key).and_then(Value::as_str) {
                        regex_rule(
                            "route/invalid-regex",
                            v,
                            format!("{}/method/{key}", base()),
                            out,
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::assert_table;
    use serde_json::{Value, json};

    fn gw(listeners: Value) -> Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "spec": {"gatewayClassName": "eg", "listeners": listeners}})
    }
    fn https(name: &str, port: u16, host: &str) -> Value {
        json!({"name": name, "protocol": "HTTPS", "port": port, "hostname": host,
               "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "tls"}]}})
    }
    fn route(matches: Value) -> Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "spec": {"rules": [{"matches": matches}]}})
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn listener_table() {
        assert_table(vec![
            (
                "http + https as the generators write them",
                gw(
                    json!([{"name": "http", "protocol": "HTTP", "port": 80}, https("https", 443, "a.example.com")]),
                ),
                vec![],
            ),
            (
                "https without certificate",
                gw(json!([{"name": "h", "protocol": "HTTPS", "port": 443}])),
                vec![("gateway/https-without-certificate", "/spec/listeners/0")],
            ),
            (
                "a Certificate as certificateRef",
                gw(
                    json!([{"name": "h", "protocol": "HTTPS", "port": 443, "tls": {"mode": "Terminate", "certificateRefs": [{"group": "cert-manager.io", "kind": "Certificate", "name": "c"}]}}]),
                ),
                vec![(
                    "gateway/certificate-ref-kind",
                    "/spec/listeners/0/tls/certificateRefs/0",
                )],
            ),
            (
                "one bad certificateRef beside a Secret",
                gw(
                    json!([{"name": "h", "protocol": "HTTPS", "port": 443, "tls": {"mode": "Terminate", "certificateRefs": [{"name": "s"}, {"kind": "ConfigMap", "name": "c"}]}}]),
                ),
                vec![(
                    "gateway/certificate-ref-kind",
                    "/spec/listeners/0/tls/certificateRefs/1",
                )],
            ),
            (
                "https with tls.options only",
                gw(
                    json!([{"name": "h", "protocol": "HTTPS", "port": 443, "tls": {"mode": "Terminate", "options": {"a": "b"}}}]),
                ),
                vec![("gateway/https-without-certificate", "/spec/listeners/0")],
            ),
            (
                "TLS passthrough with certificate, terminate without",
                gw(json!([
                    {"name": "p", "protocol": "TLS", "port": 8443, "hostname": "p.example.com", "tls": {"mode": "Passthrough", "certificateRefs": [{"name": "x"}]}},
                    {"name": "t", "protocol": "TLS", "port": 9443, "tls": {"mode": "Terminate", "options": {"a": "b"}}}])),
                vec![
                    (
                        "gateway/passthrough-with-certificate",
                        "/spec/listeners/0/tls/certificateRefs",
                    ),
                    (
                        "gateway/tls-terminate-without-certificate",
                        "/spec/listeners/1/tls",
                    ),
                ],
            ),
            (
                "unsupported protocol",
                gw(json!([{"name": "x", "protocol": "example.com/QUIC", "port": 443}])),
                vec![("gateway/unsupported-protocol", "/spec/listeners/0/protocol")],
            ),
            (
                "route kinds",
                gw(
                    json!([{"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}, {"kind": "TCPRoute"}, {"group": "example.com", "kind": "HTTPRoute"}]}}]),
                ),
                vec![
                    (
                        "gateway/route-kind-unsupported",
                        "/spec/listeners/0/allowedRoutes/kinds/1",
                    ),
                    (
                        "gateway/route-kind-unsupported",
                        "/spec/listeners/0/allowedRoutes/kinds/2",
                    ),
                ],
            ),
            (
                "HTTP and HTTPS on one port",
                gw(
                    json!([{"name": "http", "protocol": "HTTP", "port": 8080}, https("https", 8080, "a.example.com")]),
                ),
                vec![
                    ("gateway/protocol-conflict", "/spec/listeners/0"),
                    ("gateway/protocol-conflict", "/spec/listeners/1"),
                ],
            ),
            (
                "UDP shares a port with anything; HTTPS and TLS share one",
                gw(
                    json!([{"name": "dns", "protocol": "UDP", "port": 443}, https("https", 443, "a.example.com"),
                          {"name": "tls", "protocol": "TLS", "port": 443, "hostname": "b.example.com", "tls": {"mode": "Passthrough"}}]),
                ),
                vec![],
            ),
            (
                "HTTPS and TLS with one hostname on one port",
                gw(json!([https("https", 443, "a.example.com"),
                          {"name": "tls", "protocol": "TLS", "port": 443, "hostname": "a.example.com", "tls": {"mode": "Passthrough"}}])),
                vec![
                    ("gateway/hostname-conflict", "/spec/listeners/0"),
                    ("gateway/hostname-conflict", "/spec/listeners/1"),
                ],
            ),
        ]);
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn route_table() {
        assert_table(vec![
            (
                "all weights zero",
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "spec": {"rules": [{"backendRefs": [{"name": "a", "weight": 0}, {"name": "b", "weight": 0}]}]}}),
                vec![("route/all-weights-zero", "/spec/rules/0/backendRefs")],
            ),
            (
                "one zero weight is fine",
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "spec": {"rules": [{"backendRefs": [{"name": "a", "weight": 0}, {"name": "b", "weight": 1}]}]}}),
                vec![],
            ),
            (
                "the corpus's admin token regex",
                route(
                    json!([{"path": {"type": "PathPrefix", "value": "/admin"}, "headers": [{"type": "RegularExpression", "name": "x-admin-token", "value": "^[A-Za-z0-9]{32}$"}]}]),
                ),
                vec![],
            ),
            (
                "invalid path, header and query regexes",
                route(
                    json!([{"path": {"type": "RegularExpression", "value": "/api/(v1|v2"},
                              "headers": [{"type": "RegularExpression", "name": "x", "value": "(?<=a)b"}],
                              "queryParams": [{"type": "RegularExpression", "name": "q", "value": "\\1"}]}]),
                ),
                vec![
                    ("route/invalid-regex", "/spec/rules/0/matches/0/path/value"),
                    (
                        "route/invalid-regex",
                        "/spec/rules/0/matches/0/headers/0/value",
                    ),
                    (
                        "route/invalid-regex",
                        "/spec/rules/0/matches/0/queryParams/0/value",
                    ),
                ],
            ),
            (
                "grpc method regex",
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute", "spec": {"rules": [{"matches": [
                    {"method": {"type": "RegularExpression", "service": "pkg\\.Svc", "method": "Get(*"}}]}]}}),
                vec![(
                    "route/invalid-regex",
                    "/spec/rules/0/matches/0/method/method",
                )],
            ),
        ]);
    }
}
