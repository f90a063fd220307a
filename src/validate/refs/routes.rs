//! Routes to their Gateways and backends.
//!
//! Sources (Gateway API v1.4.0 / v1.5.0 `apis/v1/httproute_types.go`, `shared_types.go`,
//! `gateway_types.go`; Envoy Gateway v1.9.0 `internal/gatewayapi/route.go`):
//! - `ref/parent-gateway` (error, or warning when the Gateway may live outside the stack): a
//!   parentRef to a Gateway that does not exist leaves the route not Accepted.
//! - `ref/section-name` (error): a sectionName that names no listener of the Gateway.
//! - `ref/hostname-mismatch` (error): no route hostname intersects the listener's hostname
//!   (`route.go` `computeHosts`: the route attaches nowhere).
//! - `ref/allowed-routes` (error): no listener admits the route's namespace: `from: Same` in
//!   another namespace, or `from: Selector` whose selector does not match the labels of the
//!   route's Namespace in the stack (`gateway_types.go` `RouteNamespaces`; the API server sets
//!   `kubernetes.io/metadata.name` on every Namespace).
//! - `ref/route-kind` (error): none of the listeners the parentRef names allows the route's
//!   kind (`allowedRoutes.kinds`, else the protocol's kinds: HTTP/HTTPS take HTTPRoute and
//!   GRPCRoute, TLS takes TLSRoute (and TCPRoute when terminating), TCP TCPRoute, UDP UDPRoute; Gateway API v1.4.0
//!   `gateway_types.go` `RouteGroupKind`; Envoy Gateway v1.9.0 `internal/gatewayapi/listener.go`
//!   `validateAllowedRoutes`, `route.go` `processAllowedListenersForParentRefs`: the route is
//!   not Accepted, reason NotAllowedByListeners).
//! - `ref/rule-name-unique` (error): two rules with one name.
//! - `ref/backend-service` (error, or warning when the Service may live outside the stack) and
//!   `ref/backend-port` (error: Envoy Gateway answers 500 for the rule).

use std::collections::HashMap;

use super::facts::Fact;

use super::{
    Finding, Index, Scope, grants, hosts_intersect, items, listener_names, missing, ns, or, s,
    selector_matches,
};

/// The listeners of `gw` a parentRef with this sectionName names.
pub(super) fn section_listeners<'a>(gw: &'a Fact, section: &str) -> Vec<&'a Fact> {
    gw["spec"]["listeners"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter(|l| section.is_empty() || s(l, "name") == section)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether listener `l` allows routes of `route_kind` (see `ref/route-kind` above).
fn listener_allows(l: &Fact, route_kind: &str) -> bool {
    if let Some(kinds) = l["allowedRoutes"]["kinds"]
        .as_array()
        .filter(|k| !k.is_empty())
    {
        return kinds.iter().any(|k| {
            s(k, "kind") == route_kind
                && or(k, "group", "gateway.networking.k8s.io") == "gateway.networking.k8s.io"
        });
    }
    match s(l, "protocol") {
        "HTTP" | "HTTPS" => matches!(route_kind, "HTTPRoute" | "GRPCRoute"),
        "TLS" => matches!(route_kind, "TLSRoute" | "TCPRoute"),
        "TCP" => route_kind == "TCPRoute",
        "UDP" => route_kind == "UDPRoute",
        _ => true, // an unknown protocol is gateway/unsupported-protocol's
    }
}

/// The route's hostnames.
pub(super) fn route_hosts(r: &Fact) -> Vec<&str> {
    r["spec"]["hostnames"]
        .as_array()
        .map(|h| h.iter().filter_map(Fact::as_str).collect())
        .unwrap_or_default()
}

/// Whether a listener's hostname admits a route with these hostnames.
pub(super) fn host_admits(l: &Fact, route_hosts: &[&str]) -> bool {
    match l.get("hostname").and_then(Fact::as_str) {
        None | Some("") => true,
        Some(lh) => route_hosts.is_empty() || route_hosts.iter().any(|rh| hosts_intersect(lh, rh)),
    }
}

/// Whether a listener of a Gateway in `gns` admits routes from `rns`: Some(false) when it
/// does not, None when it cannot be told (a selector and no Namespace `rns` in the stack).
pub(super) fn namespace_admits(idx: &Index, l: &Fact, gns: &str, rns: &str) -> Option<bool> {
    let from = &l["allowedRoutes"]["namespaces"];
    match s(from, "from") {
        "All" => Some(true),
        "Selector" => idx
            .namespace_labels(rns)
            .map(|labels| selector_matches(&from["selector"], &labels)),
        _ => Some(gns == rns),
    }
}

pub(super) fn check_route(idx: &Index, i: usize, r: &Fact, out: &mut Vec<(usize, Finding)>) {
    let rns = ns(r);
    for (pi, p) in items(&r["spec"]["parentRefs"]) {
        let pk = or(p, "kind", "Gateway");
        if pk != "Gateway" {
            continue;
        }
        let pns = or(p, "namespace", rns);
        let path = format!("/spec/parentRefs/{pi}");
        let Some(gw) = idx.get("Gateway", pns, s(p, "name")) else {
            out.push((
                i,
                missing(
                    idx,
                    Scope::Stack(rns),
                    "ref/parent-gateway",
                    format!("{path}/name"),
                    "Gateway",
                    pns,
                    s(p, "name"),
                    "parentRef",
                ),
            ));
            continue;
        };
        let section = s(p, "sectionName");
        let listeners = section_listeners(gw, section);
        if !section.is_empty() && listeners.is_empty() {
            out.push((
                i,
                Finding::error(
                    "ref/section-name",
                    format!("{path}/sectionName"),
                    format!(
                        "Gateway {pns}/{} has no listener named {section}",
                        s(p, "name")
                    ),
                    format!("listeners: {}", listener_names(gw).join(", ")),
                ),
            ));
            continue;
        }
        let route_kind = s(r, "kind");
        if !listeners.is_empty() && !listeners.iter().any(|l| listener_allows(l, route_kind)) {
            let protocols: Vec<&str> = listeners.iter().map(|l| s(l, "protocol")).collect();
            out.push((
                i,
                Finding::error(
                    "ref/route-kind",
                    path.clone(),
                    format!(
                        "no listener of Gateway {pns}/{} named by this parentRef allows {route_kind}s (protocols {}): the route is not Accepted (NotAllowedByListeners)",
                        s(p, "name"),
                        protocols.join(", ")
                    ),
                    "attach the route to an HTTP or HTTPS listener (sectionName), or list its kind in the listener's allowedRoutes.kinds",
                ),
            ));
            continue;
        }
        // hostnames must intersect the listener's hostname, or the route attaches nowhere
        let hosts = route_hosts(r);
        if !hosts.is_empty() && !listeners.is_empty() {
            let any = listeners.iter().any(|l| host_admits(l, &hosts));
            if !any {
                out.push((
                    i,
                    Finding::error(
                        "ref/hostname-mismatch",
                        "/spec/hostnames",
                        format!("none of the route's hostnames match the hostname of a listener of Gateway {pns}/{}", s(p, "name")),
                        "use a hostname the listener serves (or a matching wildcard), or remove the listener's hostname",
                    ),
                ));
            }
        }
        // the route attaches only where allowedRoutes admits its namespace
        let verdicts: Vec<Option<bool>> = listeners
            .iter()
            .map(|l| namespace_admits(idx, l, pns, rns))
            .collect();
        let admitted = verdicts.iter().any(|v| *v != Some(false));
        if !listeners.is_empty() && !admitted {
            let by_selector = listeners
                .iter()
                .any(|l| s(&l["allowedRoutes"]["namespaces"], "from") == "Selector");
            let f = if by_selector {
                Finding::error(
                    "ref/allowed-routes",
                    path.clone(),
                    format!(
                        "the listeners of Gateway {pns}/{} admit routes from their own namespace or from namespaces their selector matches, and the labels of Namespace {rns} do not match it",
                        s(p, "name")
                    ),
                    format!(
                        "add the labels the selector asks for to Namespace {rns}, or change allowedRoutes.namespaces.selector"
                    ),
                )
            } else {
                Finding::error(
                    "ref/allowed-routes",
                    path.clone(),
                    format!(
                        "the listeners of Gateway {pns}/{} only admit routes from their own namespace (allowedRoutes.namespaces.from: Same), and this route is in {rns}",
                        s(p, "name")
                    ),
                    "set allowedRoutes.namespaces.from to All (or Selector) on the listener, or move the route",
                )
            };
            out.push((i, f));
        }
    }
    let mut seen = HashMap::new();
    for (ri, rule) in items(&r["spec"]["rules"]) {
        let rn = s(rule, "name");
        if !rn.is_empty()
            && let Some(first) = seen.insert(rn, ri)
        {
            out.push((
                i,
                Finding::error(
                    "ref/rule-name-unique",
                    format!("/spec/rules/{ri}/name"),
                    format!("rule name {rn} is also used by rule {first}"),
                    "give every rule a unique name (policies target rules by name)",
                ),
            ));
        }
        for (bi, b) in items(&rule["backendRefs"]) {
            let bk = or(b, "kind", "Service");
            if bk != "Service" || !s(b, "group").is_empty() {
                continue;
            }
            let bns = or(b, "namespace", rns);
            let path = format!("/spec/rules/{ri}/backendRefs/{bi}");
            let bname = s(b, "name");
            if let Some(f) = grants::missing_grant(
                idx,
                ("gateway.networking.k8s.io", "HTTPRoute", rns),
                ("", "Service", bns, bname),
                &path,
                ("backendRef", "", ""),
            ) {
                out.push((i, f));
            }
            match idx.get("Service", bns, bname) {
                None => out.push((
                    i,
                    missing(
                        idx,
                        Scope::Outside,
                        "ref/backend-service",
                        format!("{path}/name"),
                        "Service",
                        bns,
                        bname,
                        "backendRef",
                    ),
                )),
                Some(svc) => {
                    let port = b.get("port").and_then(Fact::as_i64);
                    let ports: Vec<i64> = svc["spec"]["ports"]
                        .as_array()
                        .map(|ps| {
                            ps.iter()
                                .filter_map(|p| p.get("port").and_then(Fact::as_i64))
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(port) = port
                        && !ports.contains(&port)
                    {
                        out.push((
                            i,
                            Finding::error(
                                "ref/backend-port",
                                format!("{path}/port"),
                                format!("Service {bns}/{bname} has no port {port}"),
                                format!("ports of the Service: {ports:?}; one bad backendRef makes Envoy Gateway answer 500 for the whole rule"),
                            ),
                        ));
                    }
                }
            }
        }
    }
}
