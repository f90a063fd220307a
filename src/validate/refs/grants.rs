//! ReferenceGrants: cross-namespace references, and grants that allow nothing.
//!
//! Sources: Gateway API v1.4.0 `apis/v1beta1/referencegrant_types.go` (a grant lives in the
//! namespace of the referent; `from` lists group, kind and namespace of referrers, `to` group,
//! kind and optionally name of referents; the core group is ""), Envoy Gateway v1.9.0
//! `internal/gatewayapi/helpers.go` `isCrossNamespaceReferencePermitted` (exact string
//! comparison of group and kind; only grants in the referent's namespace count) and the callers
//! of it for which kinds refer to which (`listener.go`, `validate.go`, `securitypolicy.go`,
//! `clienttrafficpolicy.go`, `envoyextensionpolicy.go`, `backendtlspolicy.go`, `filters.go`).
//! - `ref/reference-grant` (error): a cross-namespace reference without a grant in the
//!   referent's namespace (the hint names a matching grant placed in the wrong namespace).
//! - `ref/grant-shape` (warning): an entry that matches nothing: a known kind under the wrong
//!   group, a `from` namespace equal to the grant's own (a reference within one namespace
//!   needs no grant), or a `to` kind none of the `from` kinds ever references.

use super::facts::Fact;

use super::{Finding, Index, items, name, ns, s};

/// (group, kind, namespace) of the referrer; (group, kind, namespace, name) of the referent.
pub(super) type From<'a> = (&'a str, &'a str, &'a str);
pub(super) type To<'a> = (&'a str, &'a str, &'a str, &'a str);

fn grant_matches(g: &Fact, from: From, to: To) -> bool {
    let (from_group, from_kind, from_ns) = from;
    let (to_group, to_kind, _, to_name) = to;
    g["spec"]["from"].as_array().is_some_and(|f| {
        f.iter().any(|f| {
            s(f, "group") == from_group && s(f, "kind") == from_kind && s(f, "namespace") == from_ns
        })
    }) && g["spec"]["to"].as_array().is_some_and(|t| {
        t.iter().any(|t| {
            s(t, "group") == to_group
                && s(t, "kind") == to_kind
                && (s(t, "name").is_empty() || s(t, "name") == to_name)
        })
    })
}

fn grant_allows(idx: &Index, from: From, to: To) -> bool {
    idx.grants
        .get(to.2)
        .into_iter()
        .flatten()
        .any(|g| grant_matches(g, from, to))
}

/// A reference into another namespace needs a ReferenceGrant there. `words` are the
/// reference's name and extra text for the message and the hint.
pub(super) fn missing_grant(
    idx: &Index,
    from: From,
    to: To,
    path: &str,
    words: (&str, &str, &str),
) -> Option<Finding> {
    let (_, from_kind, from_ns) = from;
    let (_, to_kind, to_ns, to_name) = to;
    if from_ns == to_ns || grant_allows(idx, from, to) {
        return None;
    }
    let (what, more, hint_more) = words;
    let misplaced = idx
        .grants
        .iter()
        .filter(|(gns, _)| **gns != to_ns)
        .flat_map(|(_, gs)| gs.iter())
        .filter(|g| grant_matches(g, from, to))
        .map(|g| format!("{}/{}", ns(g), name(g)))
        .min();
    let hint = match misplaced {
        Some(g) => format!(
            "ReferenceGrant {g} allows this but a grant counts only in the referent's namespace: move it to namespace {to_ns}"
        ),
        None => format!(
            "add a ReferenceGrant in namespace {to_ns} from {from_kind} in {from_ns} to {to_kind} {to_name}{hint_more}"
        ),
    };
    Some(Finding::error(
        "ref/reference-grant",
        format!("{path}/namespace"),
        format!(
            "{what} to {to_kind} {to_ns}/{to_name} crosses namespaces without a ReferenceGrant{more}"
        ),
        hint,
    ))
}

const GW: &str = "gateway.networking.k8s.io";
const EG: &str = "gateway.envoyproxy.io";

/// Referrer kinds Envoy Gateway v1.9.0 checks against grants, with the referent kinds
/// ((group, kind)) each can reference across namespaces.
/// (group, kind) of an object.
type GroupKind = (&'static str, &'static str);

const REFERRERS: &[(&str, &str, &[GroupKind])] = &[
    (GW, "Gateway", &[("", "Secret"), ("", "ConfigMap")]),
    (
        GW,
        "HTTPRoute",
        &[("", "Service"), (EG, "Backend"), ("", "Secret")],
    ),
    (GW, "GRPCRoute", &[("", "Service"), (EG, "Backend")]),
    (GW, "TLSRoute", &[("", "Service"), (EG, "Backend")]),
    (GW, "TCPRoute", &[("", "Service"), (EG, "Backend")]),
    (GW, "UDPRoute", &[("", "Service"), (EG, "Backend")]),
    (GW, "BackendTLSPolicy", &[("", "Secret"), ("", "ConfigMap")]),
    (
        EG,
        "SecurityPolicy",
        &[
            ("", "Secret"),
            ("", "Service"),
            (EG, "Backend"),
            ("", "ConfigMap"),
        ],
    ),
    (
        EG,
        "ClientTrafficPolicy",
        &[("", "Secret"), ("", "ConfigMap")],
    ),
    (
        EG,
        "EnvoyExtensionPolicy",
        &[
            ("", "Secret"),
            ("", "Service"),
            (EG, "Backend"),
            ("", "ConfigMap"),
        ],
    ),
    (
        EG,
        "BackendTrafficPolicy",
        &[("", "Service"), (EG, "Backend")],
    ),
    (EG, "EnvoyProxy", &[("", "Service"), (EG, "Backend")]),
];
/// Referent kinds a grant's `to` can name, with their group.
const REFERENTS: &[(&str, &str)] = &[
    ("", "Service"),
    ("", "Secret"),
    ("", "ConfigMap"),
    (EG, "Backend"),
];

fn wrong_group(
    kind: &str,
    group: &str,
    known: impl Iterator<Item = (&'static str, &'static str)>,
) -> Option<&'static str> {
    let mut want = None;
    for (g, k) in known {
        if k == kind {
            if g == group {
                return None;
            }
            want = Some(g);
        }
    }
    want
}

pub(super) fn check_shape(i: usize, g: &Fact, out: &mut Vec<(usize, Finding)>) {
    let gns = ns(g);
    let mut referents: Vec<(&str, &str)> = Vec::new();
    let mut all_known = true;
    for (fi, f) in items(&g["spec"]["from"]) {
        let (group, kind) = (s(f, "group"), s(f, "kind"));
        if let Some(want) = wrong_group(kind, group, REFERRERS.iter().map(|(g, k, _)| (*g, *k))) {
            out.push((
                i,
                Finding::warning(
                    "ref/grant-shape",
                    format!("/spec/from/{fi}/group"),
                    format!("{kind} is in group \"{want}\", not \"{group}\": this entry matches no referrer"),
                    format!("set group: \"{want}\""),
                ),
            ));
        }
        match REFERRERS.iter().find(|(g, k, _)| *g == group && *k == kind) {
            Some((_, _, to)) => referents.extend(to.iter().copied()),
            None => all_known = false,
        }
        if s(f, "namespace") == gns {
            out.push((
                i,
                Finding::warning(
                    "ref/grant-shape",
                    format!("/spec/from/{fi}/namespace"),
                    format!("this entry allows {kind}s in {gns}, the grant's own namespace: a reference within one namespace needs no grant, so it allows nothing"),
                    "a ReferenceGrant lives in the namespace of the referent and names the referrer's namespace under from",
                ),
            ));
        }
    }
    for (ti, t) in items(&g["spec"]["to"]) {
        let (group, kind) = (s(t, "group"), s(t, "kind"));
        if let Some(want) = wrong_group(kind, group, REFERENTS.iter().copied()) {
            out.push((
                i,
                Finding::warning(
                    "ref/grant-shape",
                    format!("/spec/to/{ti}/group"),
                    format!("{kind} is in group \"{want}\", not \"{group}\": this entry matches no referent"),
                    format!("set group: \"{want}\" (the core group is the empty string)"),
                ),
            ));
            continue;
        }
        let known = REFERENTS.contains(&(group, kind));
        if known && all_known && !referents.is_empty() && !referents.contains(&(group, kind)) {
            out.push((
                i,
                Finding::warning(
                    "ref/grant-shape",
                    format!("/spec/to/{ti}/kind"),
                    format!("none of the kinds under from references a {kind}: this entry allows nothing"),
                    "name under from the kind that holds the reference (a Gateway for certificate Secrets, a route for Services and Backends)",
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::refs::FactBuf;
    use serde_json::{Value, json};

    fn grant(from: Value, to: Value) -> Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
               "metadata": {"name": "g", "namespace": "infra"}, "spec": {"from": from, "to": to}})
    }

    /// (case, grant, expected paths of ref/grant-shape findings)
    #[test]
    fn shapes() {
        let route = json!({"group": GW, "kind": "HTTPRoute", "namespace": "app"});
        let svc = json!({"group": "", "kind": "Service"});
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "route to service",
                grant(json!([route]), json!([svc])),
                vec![],
            ),
            (
                "gateway to secret",
                grant(
                    json!([{"group": GW, "kind": "Gateway", "namespace": "app"}]),
                    json!([{"group": "", "kind": "Secret"}]),
                ),
                vec![],
            ),
            (
                "route with core group",
                grant(
                    json!([{"group": "", "kind": "HTTPRoute", "namespace": "app"}]),
                    json!([svc]),
                ),
                vec!["/spec/from/0/group"],
            ),
            (
                "service as core",
                grant(
                    json!([route]),
                    json!([{"group": "core", "kind": "Service"}]),
                ),
                vec!["/spec/to/0/group"],
            ),
            (
                "own namespace",
                grant(
                    json!([{"group": GW, "kind": "HTTPRoute", "namespace": "infra"}]),
                    json!([svc]),
                ),
                vec!["/spec/from/0/namespace"],
            ),
            (
                "gateway to service",
                grant(
                    json!([{"group": GW, "kind": "Gateway", "namespace": "app"}]),
                    json!([svc]),
                ),
                vec!["/spec/to/0/kind"],
            ),
            (
                "unknown referrer kind: not judged",
                grant(
                    json!([{"group": "aigateway.envoyproxy.io", "kind": "AIGatewayRoute", "namespace": "app"}]),
                    json!([svc]),
                ),
                vec![],
            ),
        ];
        for (case, g, want) in cases {
            let mut out = Vec::new();
            check_shape(0, &FactBuf::from_json(&g), &mut out);
            let got: Vec<&str> = out.iter().map(|(_, f)| f.path.as_str()).collect();
            assert!(
                out.iter().all(|(_, f)| f.rule == "ref/grant-shape"),
                "{case}"
            );
            assert_eq!(got, want, "case {case}");
        }
    }
}
