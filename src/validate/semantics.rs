//! Layer e: what passes the schema and CEL and then fails or does nothing in Envoy Gateway or
//! KEDA. Sources: docs/traffic-apis.md sections (c), (f), (h), (i) of the project's research.

use serde_json::Value;

use super::finding::Finding;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn arr(v: &Value) -> impl Iterator<Item = (usize, &Value)> {
    v.as_array().into_iter().flatten().enumerate()
}

fn btp(obj: &Value, out: &mut Vec<Finding>) {
    let rl = &obj["spec"]["rateLimit"];
    if let Some(t) = rl.get("type").and_then(Value::as_str) {
        out.push(Finding::warning(
            "ratelimit/type-deprecated",
            "/spec/rateLimit/type",
            format!("rateLimit.type is deprecated since Envoy Gateway 1.6; with type {t} only the {t} block is translated and the other is ignored"),
            "remove rateLimit.type; set global and/or local directly",
        ));
    }
    for scope in ["global", "local"] {
        let rules = &rl[scope]["rules"];
        let base = format!("/spec/rateLimit/{scope}/rules");
        // header names with a Distinct (per-user) selector, and header names for which some rule
        // covers requests WITHOUT the header
        let mut distinct: Vec<(usize, String)> = Vec::new();
        let mut absent_covered: Vec<String> = Vec::new();
        let mut selectorless = 0usize;
        for (ri, rule) in arr(rules) {
            let sels = rule.get("clientSelectors").and_then(Value::as_array);
            if sels.is_none_or(|s| s.is_empty()) {
                selectorless += 1;
                absent_covered.push("*".into());
                if rule.get("shared").and_then(Value::as_bool) == Some(true) {
                    out.push(Finding::warning(
                        "ratelimit/shared-without-selectors",
                        format!("{base}/{ri}/shared"),
                        "shared: true on a rule without clientSelectors did not rate limit in Envoy Gateway (envoyproxy/gateway#6070)",
                        "add a clientSelector (e.g. a path or header match) to the shared rule",
                    ));
                }
            }
            for (si, sel) in arr(rule.get("clientSelectors").unwrap_or(&Value::Null)) {
                for (hi, h) in arr(sel.get("headers").unwrap_or(&Value::Null)) {
                    let path = format!("{base}/{ri}/clientSelectors/{si}/headers/{hi}");
                    let name = s(h, "name").to_ascii_lowercase();
                    let ty = match s(h, "type") {
                        "" => "Exact",
                        t => t,
                    };
                    let has_value = h.get("value").is_some_and(|v| !v.is_null());
                    let invert = h.get("invert").and_then(Value::as_bool) == Some(true);
                    match ty {
                        "Distinct" => {
                            if has_value {
                                out.push(Finding::error(
                                    "ratelimit/distinct-with-value",
                                    format!("{path}/value"),
                                    "a Distinct header match must not have a value: Envoy Gateway fails to translate the policy (\"the header is missing a value\")",
                                    "remove value (Distinct makes one bucket per distinct header value), or use type Exact for one value",
                                ));
                            }
                            if invert {
                                out.push(Finding::error(
                                    "ratelimit/distinct-with-invert",
                                    format!("{path}/invert"),
                                    "invert is not applicable to a Distinct header match; Envoy Gateway rejects the policy",
                                    "remove invert; to limit requests WITHOUT the header use type RegularExpression, value \".*\", invert: true",
                                ));
                            }
                            if scope == "local" {
                                out.push(Finding::warning(
                                    "ratelimit/local-distinct",
                                    path.clone(),
                                    "per-user (Distinct) buckets in a local rate limit are per Envoy replica and bounded in number; users can exceed the limit",
                                    "use a global rate limit for per-user limits",
                                ));
                            }
                            distinct.push((ri, name.clone()));
                        }
                        "Exact" | "RegularExpression" => {
                            if !has_value {
                                out.push(Finding::error(
                                    "ratelimit/match-without-value",
                                    path.clone(),
                                    format!("a {ty} header match needs a value; Envoy Gateway fails to translate the policy"),
                                    "add value, or use type Distinct for one bucket per header value",
                                ));
                            } else if invert && ty == "Exact" {
                                out.push(Finding::warning(
                                    "ratelimit/exact-invert",
                                    format!("{path}/invert"),
                                    format!("Exact + invert matches every request whose {name} differs from the value, including every other user, not just requests without the header"),
                                    "for \"requests without the header\" use type RegularExpression, value \".*\", invert: true",
                                ));
                            }
                            if invert
                                && ty == "RegularExpression"
                                && matches!(s(h, "value"), ".*" | ".+" | "^.*$" | "^.+$")
                            {
                                absent_covered.push(name.clone());
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        for (ri, name) in distinct {
            if !absent_covered.iter().any(|n| n == "*" || n == &name) {
                out.push(Finding::warning(
                    "ratelimit/anonymous-unlimited",
                    format!("{base}/{ri}"),
                    format!("requests without {name} never match a Distinct selector, and no rule limits them: anonymous traffic is unlimited"),
                    format!("add a rule whose selector is {{name: {name}, type: RegularExpression, value: \".*\", invert: true}} with a lower limit"),
                ));
            }
        }
        if scope == "local" {
            check_local_units(rules, &base, out);
        }
        if scope == "local" && selectorless > 1 {
            out.push(Finding::error(
                "ratelimit/local-default-rules",
                base.clone(),
                format!("{selectorless} local rules have no clientSelectors; Envoy Gateway allows one (it becomes the route's default bucket)"),
                "keep one rule without clientSelectors",
            ));
        }
        // global rate limits needing Redis: a cross-object rule (src/validate/refs/egconfig.rs)
    }
    if obj["spec"]["circuitBreaker"].is_object() {
        out.push(Finding::info(
            "circuitbreaker/per-replica",
            "/spec/circuitBreaker",
            "circuit-breaker limits apply per Envoy replica and per backendRef of each rule, not across the cluster",
            "with N gateway replicas the backend can see up to N times these limits; size them per replica",
        ));
    }
}

fn unit_seconds(u: &str) -> Option<u64> {
    Some(match u {
        "Second" => 1,
        "Minute" => 60,
        "Hour" => 3600,
        "Day" => 86_400,
        "Week" => 604_800,
        "Month" => 2_592_000,
        "Year" => 31_536_000,
        _ => return None,
    })
}

/// Envoy Gateway: every local rule's unit must be a multiple of the default (selector-less)
/// rule's unit, because the rules share one token-bucket fill interval.
fn check_local_units(rules: &Value, base: &str, out: &mut Vec<Finding>) {
    let Some(default_unit) = arr(rules)
        .find(|(_, r)| {
            r.get("clientSelectors")
                .and_then(Value::as_array)
                .is_none_or(|s| s.is_empty())
        })
        .and_then(|(_, r)| {
            unit_seconds(s(&r["limit"], "unit")).map(|u| (u, s(&r["limit"], "unit").to_string()))
        })
    else {
        return;
    };
    for (ri, r) in arr(rules) {
        if let Some(u) = unit_seconds(s(&r["limit"], "unit"))
            && u % default_unit.0 != 0
        {
            out.push(Finding::error(
                "ratelimit/local-unit-multiple",
                format!("{base}/{ri}/limit/unit"),
                format!("local rule unit {} is not a multiple of the default rule's unit {}; Envoy Gateway rejects the policy", s(&r["limit"], "unit"), default_unit.1),
                format!("use {} or a longer unit that is a multiple of it", default_unit.1),
            ));
        }
    }
}

fn gateway(obj: &Value, out: &mut Vec<Finding>) {
    for (li, l) in arr(&obj["spec"]["listeners"]) {
        // Passthrough on HTTPS is already refused by the Gateway CRD's CEL rules
        if s(l, "protocol") == "HTTPS" && s(&l["tls"], "mode") != "Passthrough" {
            let refs = l["tls"]["certificateRefs"].as_array().map_or(0, Vec::len);
            if refs == 0 && !l["tls"]["options"].is_object() {
                out.push(Finding::error(
                    "gateway/https-without-certificate",
                    format!("/spec/listeners/{li}"),
                    "an HTTPS listener without tls.certificateRefs passes validation but is invalid at runtime (no certificate to serve)",
                    "add tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: <tls secret>}]}",
                ));
            }
        }
    }
}

fn route(obj: &Value, out: &mut Vec<Finding>) {
    for (ri, rule) in arr(&obj["spec"]["rules"]) {
        let refs: Vec<&Value> = rule["backendRefs"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
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
    }
}

fn aggregated(query: &str) -> bool {
    let q = query.trim_start().to_ascii_lowercase();
    ["sum", "count", "max", "min", "avg", "scalar", "vector"]
        .iter()
        .any(|f| {
            q.strip_prefix(f).is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with('(') || rest.starts_with("without") // `by` keeps several series
            })
        })
        && !q.contains(") by")
        && !q.contains(" by (")
        && !q.contains(" by(")
}

fn scaledobject(obj: &Value, out: &mut Vec<Finding>) {
    let spec = &obj["spec"];
    if spec.get("minReplicaCount").is_none() {
        out.push(Finding::warning(
            "keda/min-replicas-missing",
            "/spec",
            "minReplicaCount is not set: KEDA's default is 0, so the workload scales to zero when idle",
            "set minReplicaCount explicitly (e.g. 1 for no scale-to-zero)",
        ));
    }
    for (ti, t) in arr(&spec["triggers"]) {
        if s(t, "type") != "prometheus" {
            continue;
        }
        let query = s(&t["metadata"], "query");
        if !query.is_empty() && !aggregated(query) {
            out.push(Finding::warning(
                "keda/prometheus-not-aggregated",
                format!("/spec/triggers/{ti}/metadata/query"),
                "the Prometheus query is not aggregated into one series; each Envoy replica exports its own, and KEDA errors on more than one (\"returned multiple elements\")",
                "wrap the query in sum(...) without `by`",
            ));
        }
        match t["metadata"].get("ignoreNullValues").and_then(Value::as_str) {
            Some("false") => {}
            _ => out.push(Finding::info(
                "keda/ignore-null-values",
                format!("/spec/triggers/{ti}/metadata"),
                "ignoreNullValues defaults to true: a query that matches no series reads 0 and the workload silently stays at its minimum",
                "set ignoreNullValues: \"false\" so a wrong query fails loudly",
            )),
        }
    }
}

/// Semantic checks of one object (defaults applied where CRDs are known).
pub fn check(obj: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let api = s(obj, "apiVersion");
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, s(obj, "kind")) {
        ("gateway.envoyproxy.io", "BackendTrafficPolicy") => btp(obj, &mut out),
        ("gateway.networking.k8s.io", "Gateway") => gateway(obj, &mut out),
        ("gateway.networking.k8s.io", "HTTPRoute") => route(obj, &mut out),
        ("keda.sh", "ScaledObject") => scaledobject(obj, &mut out),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(rate_limit: Value) -> Value {
        json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
               "metadata": {"name": "p", "namespace": "app"}, "spec": {"targetRefs": [], "rateLimit": rate_limit}})
    }
    fn header_rule(h: Value) -> Value {
        json!({"clientSelectors": [{"headers": [h]}], "limit": {"requests": 10, "unit": "Minute"}})
    }
    fn anon() -> Value {
        header_rule(
            json!({"name": "x-user-id", "type": "RegularExpression", "value": ".*", "invert": true}),
        )
    }
    fn user() -> Value {
        header_rule(json!({"name": "x-user-id", "type": "Distinct"}))
    }
    fn so(spec: Value) -> Value {
        json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "s"}, "spec": spec})
    }
    fn prom(query: &str) -> Value {
        json!({"minReplicaCount": 1, "triggers": [{"type": "prometheus", "metadata": {"query": query, "ignoreNullValues": "false"}}]})
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn table() {
        let cases: Vec<(&str, Value, Vec<(&str, &str)>)> = vec![
            (
                "per-user + anonymous",
                policy(json!({"global": {"rules": [user(), anon()]}})),
                vec![],
            ),
            (
                "per-user alone",
                policy(json!({"global": {"rules": [user()]}})),
                vec![(
                    "ratelimit/anonymous-unlimited",
                    "/spec/rateLimit/global/rules/0",
                )],
            ),
            (
                "per-user + catch-all rule",
                policy(
                    json!({"global": {"rules": [user(), {"limit": {"requests": 5, "unit": "Second"}}]}}),
                ),
                vec![],
            ),
            (
                "distinct with value",
                policy(
                    json!({"global": {"rules": [header_rule(json!({"name": "x-user-id", "type": "Distinct", "value": "a"})), anon()]}}),
                ),
                vec![(
                    "ratelimit/distinct-with-value",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0/value",
                )],
            ),
            (
                "distinct with invert",
                policy(
                    json!({"global": {"rules": [header_rule(json!({"name": "x-user-id", "type": "Distinct", "invert": true})), anon()]}}),
                ),
                vec![(
                    "ratelimit/distinct-with-invert",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0/invert",
                )],
            ),
            (
                "exact without value",
                policy(json!({"global": {"rules": [header_rule(json!({"name": "x-tier"}))]}})),
                vec![(
                    "ratelimit/match-without-value",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0",
                )],
            ),
            (
                "regex without value",
                policy(
                    json!({"global": {"rules": [header_rule(json!({"name": "x-tier", "type": "RegularExpression"}))]}}),
                ),
                vec![(
                    "ratelimit/match-without-value",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0",
                )],
            ),
            (
                "exact + invert as anonymous",
                policy(
                    json!({"global": {"rules": [user(), header_rule(json!({"name": "x-user-id", "type": "Exact", "value": "", "invert": true}))]}}),
                ),
                vec![
                    (
                        "ratelimit/exact-invert",
                        "/spec/rateLimit/global/rules/1/clientSelectors/0/headers/0/invert",
                    ),
                    (
                        "ratelimit/anonymous-unlimited",
                        "/spec/rateLimit/global/rules/0",
                    ),
                ],
            ),
            (
                "deprecated type",
                policy(json!({"type": "Global", "global": {"rules": [user(), anon()]}})),
                vec![("ratelimit/type-deprecated", "/spec/rateLimit/type")],
            ),
            (
                "local distinct, two default rules",
                policy(
                    json!({"local": {"rules": [user(), {"limit": {"requests": 1, "unit": "Second"}}, {"limit": {"requests": 2, "unit": "Second"}}]}}),
                ),
                vec![
                    (
                        "ratelimit/local-distinct",
                        "/spec/rateLimit/local/rules/0/clientSelectors/0/headers/0",
                    ),
                    (
                        "ratelimit/local-default-rules",
                        "/spec/rateLimit/local/rules",
                    ),
                ],
            ),
            (
                "shared without selectors",
                policy(
                    json!({"global": {"rules": [{"shared": true, "limit": {"requests": 1, "unit": "Second"}}]}}),
                ),
                vec![(
                    "ratelimit/shared-without-selectors",
                    "/spec/rateLimit/global/rules/0/shared",
                )],
            ),
            (
                "circuit breaker",
                json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy", "spec": {"circuitBreaker": {"maxConnections": 50}}}),
                vec![("circuitbreaker/per-replica", "/spec/circuitBreaker")],
            ),
            (
                "https without certificate",
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "spec": {"listeners": [{"name": "h", "protocol": "HTTPS", "port": 443}]}}),
                vec![("gateway/https-without-certificate", "/spec/listeners/0")],
            ),
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
                "summed query",
                so(prom("sum(rate(envoy_cluster_upstream_rq_total[2m]))")),
                vec![],
            ),
            (
                "raw query",
                so(prom("rate(envoy_cluster_upstream_rq_total[2m])")),
                vec![(
                    "keda/prometheus-not-aggregated",
                    "/spec/triggers/0/metadata/query",
                )],
            ),
            (
                "sum by keeps series",
                so(prom("sum by (pod) (rate(x[2m]))")),
                vec![(
                    "keda/prometheus-not-aggregated",
                    "/spec/triggers/0/metadata/query",
                )],
            ),
            (
                "sum(...) by keeps series",
                so(prom("sum(rate(x[2m])) by (pod)")),
                vec![(
                    "keda/prometheus-not-aggregated",
                    "/spec/triggers/0/metadata/query",
                )],
            ),
            (
                "min replicas missing, null values",
                so(json!({"triggers": [{"type": "prometheus", "metadata": {"query": "sum(x)"}}]})),
                vec![
                    ("keda/min-replicas-missing", "/spec"),
                    ("keda/ignore-null-values", "/spec/triggers/0/metadata"),
                ],
            ),
        ];
        for (case, obj, want) in cases {
            let mut got: Vec<(String, String)> =
                check(&obj).into_iter().map(|f| (f.rule, f.path)).collect();
            got.sort();
            let mut want: Vec<(String, String)> = want
                .into_iter()
                .map(|(r, p)| (r.to_string(), p.to_string()))
                .collect();
            want.sort();
            assert_eq!(got, want, "case {case}");
        }
    }
}
