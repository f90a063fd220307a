//! Envoy Gateway v1.9.0's translator on its own policies: what it refuses (the policy is not
//! Accepted: error) and what it silently ignores or does differently than written (warning).
//! Read from `internal/gatewayapi/*.go` and `internal/utils/regex` at tag v1.9.0.

use serde_json::Value;

use super::{arr, go, has, is_true, nonempty, s};
use crate::validate::finding::Finding;

/// BackendTrafficPolicy: rate limits, bandwidth limits, retries, circuit breakers.
pub(super) fn backend_traffic_policy(obj: &Value, out: &mut Vec<Finding>) {
    let spec = &obj["spec"];
    rate_limit(&spec["rateLimit"], out);
    bandwidth_limit(&spec["bandwidthLimit"], out);
    retry(&spec["retry"], out);
    // ("requestBuffer cannot be used together with httpUpgrade" in buildTrafficFeatures is also
    // the CRD's CEL rule: left to the cel layer)
    // informational: the Envoy cluster's circuit breakers (clustersettings.go buildCircuitBreaker)
    if spec["circuitBreaker"].is_object() {
        out.push(Finding::info(
            "circuitbreaker/per-replica",
            "/spec/circuitBreaker",
            "circuit-breaker limits apply per Envoy replica and per backendRef of each rule, not across the cluster",
            "with N gateway replicas the backend can see up to N times these limits; size them per replica",
        ));
    }
}

fn rate_limit(rl: &Value, out: &mut Vec<Finding>) {
    if !rl.is_object() {
        return;
    }
    // buildRateLimit (backendtrafficpolicy.go, v1.9.0): with the deprecated `type`, only that
    // block is built, and a missing one fails the policy ("global configuration empty").
    let scopes: &[&str] = match rl.get("type").and_then(Value::as_str) {
        Some(t) => {
            out.push(Finding::warning(
                "ratelimit/type-deprecated",
                "/spec/rateLimit/type",
                format!("rateLimit.type is deprecated since Envoy Gateway 1.6; with type {t} only the {t} block is translated and the other is ignored"),
                "remove rateLimit.type; set global and/or local directly",
            ));
            let scope = if t == "Local" { "local" } else { "global" };
            if !rl[scope].is_object() {
                out.push(Finding::error(
                    "ratelimit/type-block-missing",
                    "/spec/rateLimit",
                    format!("rateLimit.type is {t} but there is no rateLimit.{scope}: Envoy Gateway fails the policy (\"{scope} configuration empty for rateLimit\")"),
                    format!("add rateLimit.{scope}, or remove rateLimit.type"),
                ));
            }
            if t == "Local" {
                &["local"]
            } else {
                &["global"]
            }
        }
        None => &["global", "local"],
    };
    for scope in scopes {
        let rules = &rl[*scope]["rules"];
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
                // envoyproxy/gateway#6070: a shared rule without selectors did not limit
                if is_true(rule, "shared") {
                    out.push(Finding::warning(
                        "ratelimit/shared-without-selectors",
                        format!("{base}/{ri}/shared"),
                        "shared: true on a rule without clientSelectors did not rate limit in Envoy Gateway (envoyproxy/gateway#6070)",
                        "add a clientSelector (e.g. a path or header match) to the shared rule",
                    ));
                }
            }
            for (si, sel) in arr(rule.get("clientSelectors").unwrap_or(&Value::Null)) {
                let sel_path = || format!("{base}/{ri}/clientSelectors/{si}");
                client_selector(
                    sel,
                    scope,
                    &sel_path,
                    &mut distinct,
                    &mut absent_covered,
                    ri,
                    out,
                );
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
        if *scope == "local" {
            // buildLocalRateLimit (backendtrafficpolicy.go, v1.9.0): "local rateLimit can not
            // have more than one rule without clientSelectors", checked before the units
            if selectorless > 1 {
                out.push(Finding::error(
                    "ratelimit/local-default-rules",
                    base.clone(),
                    format!("{selectorless} local rules have no clientSelectors; Envoy Gateway allows one (it becomes the route's default bucket)"),
                    "keep one rule without clientSelectors",
                ));
            } else {
                check_local_units(rules, &base, out);
            }
        }
    }
}

/// One clientSelector, as buildRateLimitRule (backendtrafficpolicy.go, v1.9.0) reads it.
fn client_selector(
    sel: &Value,
    scope: &str,
    sel_path: &dyn Fn() -> String,
    distinct: &mut Vec<(usize, String)>,
    absent_covered: &mut Vec<String>,
    ri: usize,
    out: &mut Vec<Finding>,
) {
    // "At least one of the header or method or path or sourceCIDR or queryParameters must be
    // specified": the CRD's CEL rule asks has(...), so an empty list passes it and fails here.
    let keys = ["headers", "methods", "path", "sourceCIDR", "queryParams"];
    if keys.iter().any(|k| sel.get(*k).is_some())
        && !nonempty(sel, "headers")
        && !nonempty(sel, "methods")
        && !nonempty(sel, "queryParams")
        && !has(sel, "path")
        && !has(sel, "sourceCIDR")
    {
        out.push(Finding::error(
            "ratelimit/empty-selector",
            sel_path(),
            "this clientSelector matches on nothing (only empty lists): Envoy Gateway fails the policy (\"At least one of the header or method or path or sourceCIDR or queryParameters must be specified\")",
            "add a header, method, path, sourceCIDR or queryParams match, or remove the selector",
        ));
    }
    for (hi, h) in arr(sel.get("headers").unwrap_or(&Value::Null)) {
        let path = || format!("{}/headers/{hi}", sel_path());
        let name = s(h, "name").to_ascii_lowercase();
        let ty = match s(h, "type") {
            "" => "Exact",
            t => t,
        };
        let has_value = has(h, "value");
        let invert = is_true(h, "invert");
        match ty {
            "Distinct" => {
                if has_value {
                    out.push(Finding::error(
                        "ratelimit/distinct-with-value",
                        format!("{}/value", path()),
                        "a Distinct header match must not have a value: Envoy Gateway fails to translate the policy (\"the header is missing a value\")",
                        "remove value (Distinct makes one bucket per distinct header value), or use type Exact for one value",
                    ));
                }
                if invert {
                    out.push(Finding::error(
                        "ratelimit/distinct-with-invert",
                        format!("{}/invert", path()),
                        "invert is not applicable to a Distinct header match; Envoy Gateway rejects the policy",
                        "remove invert; to limit requests WITHOUT the header use type RegularExpression, value \".*\", invert: true",
                    ));
                }
                if scope == "local" {
                    out.push(Finding::warning(
                        "ratelimit/local-distinct",
                        path(),
                        "per-user (Distinct) buckets in a local rate limit are per Envoy replica and bounded in number; users can exceed the limit",
                        "use a global rate limit for per-user limits",
                    ));
                }
                distinct.push((ri, name));
            }
            "Exact" | "RegularExpression" => {
                if !has_value {
                    out.push(Finding::error(
                        "ratelimit/match-without-value",
                        path(),
                        format!("a {ty} header match needs a value; Envoy Gateway fails to translate the policy"),
                        "add value, or use type Distinct for one bucket per header value",
                    ));
                    continue;
                }
                let value = s(h, "value");
                if ty == "RegularExpression" {
                    regex_rule(
                        "ratelimit/invalid-regex",
                        value,
                        format!("{}/value", path()),
                        out,
                    );
                    if invert && matches!(value, ".*" | ".+" | "^.*$" | "^.+$") {
                        absent_covered.push(name.clone());
                    }
                } else if invert {
                    out.push(Finding::warning(
                        "ratelimit/exact-invert",
                        format!("{}/invert", path()),
                        format!("Exact + invert matches every request whose {name} differs from the value, including every other user, not just requests without the header"),
                        "for \"requests without the header\" use type RegularExpression, value \".*\", invert: true",
                    ));
                }
            }
            _ => {}
        }
    }
    let p = &sel["path"];
    if p.is_object() && s(p, "type") == "RegularExpression" {
        regex_rule(
            "ratelimit/invalid-regex",
            s(p, "value"),
            format!("{}/path/value", sel_path()),
            out,
        );
    }
    // parseCIDR (helpers.go, v1.9.0) is Go's net.ParseCIDR; the CRD only bounds the length
    let cidr = &sel["sourceCIDR"];
    if let Some(v) = cidr.get("value").and_then(Value::as_str)
        && !go::parse_cidr(v)
    {
        out.push(Finding::error(
            "ratelimit/invalid-cidr",
            format!("{}/sourceCIDR/value", sel_path()),
            format!("{v:?} is not a CIDR Go's net.ParseCIDR accepts: Envoy Gateway fails the policy (\"unable to translate rateLimit\")"),
            "write an address and a prefix length, e.g. 192.168.0.0/24 or 2001:db8::/64 (no leading zeros in IPv4 octets)",
        ));
    }
    for (qi, q) in arr(sel.get("queryParams").unwrap_or(&Value::Null)) {
        let path = || format!("{}/queryParams/{qi}", sel_path());
        let value = q.get("value").and_then(Value::as_str);
        let problem = match s(q, "type") {
            _ if s(q, "name").is_empty() => {
                Some("name is required when QueryParamMatch is specified")
            }
            "" | "Exact" if value.is_none_or(str::is_empty) => {
                Some("value is required for Exact query parameter match")
            }
            "RegularExpression" if value.is_none_or(str::is_empty) => {
                Some("value is required for RegularExpression query parameter match")
            }
            "RegularExpression" => {
                regex_rule(
                    "ratelimit/invalid-regex",
                    value.unwrap_or(""),
                    format!("{}/value", path()),
                    out,
                );
                None
            }
            "Distinct" if is_true(q, "invert") => {
                Some("Invert is not applicable for distinct query parameter match type")
            }
            "Distinct" if has(q, "value") => {
                Some("Value is not applicable for distinct query parameter match type")
            }
            _ => None,
        };
        if let Some(why) = problem {
            out.push(Finding::error(
                "ratelimit/query-param-match",
                path(),
                format!("Envoy Gateway fails the policy: {why}"),
                "Exact and RegularExpression need a name and a non-empty value; Distinct takes a name only",
            ));
        }
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

/// buildLocalRateLimit (backendtrafficpolicy.go, v1.9.0): every local rule's unit must be a
/// multiple of the default (selector-less) rule's unit, because the rules share one token-bucket
/// fill interval.
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

/// buildBandwidthLimit / bandwidthToKibps (backendtrafficpolicy.go, v1.9.0): the limit in
/// KiB/s, rounded down, must be at least 1.
fn bandwidth_limit(bl: &Value, out: &mut Vec<Finding>) {
    for dir in ["request", "response"] {
        let limit = &bl[dir]["limit"];
        let Some(text) = limit.get("value").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        }) else {
            continue;
        };
        let Some(bytes) = quantity_bytes(&text) else {
            continue; // the CRD's pattern refuses it
        };
        let secs: u128 = match s(limit, "unit") {
            "Minute" => 60,
            "Hour" => 3600,
            _ => 1,
        };
        if bytes / (secs * 1024) == 0 {
            out.push(Finding::error(
                "bandwidth/below-minimum",
                format!("/spec/bandwidthLimit/{dir}/limit"),
                format!("{text} bytes per {} is below Envoy's minimum of 1 KiB/s: Envoy Gateway fails the policy", match secs { 60 => "Minute", 3600 => "Hour", _ => "Second" }),
                "raise the limit to at least 1Ki per second (60Ki per minute, 3600Ki per hour)",
            ));
        }
    }
}

/// A quantity of the CRD's pattern `^[1-9]+[0-9]*([EPTGMK]i|[EPTGMk])?$` in bytes.
fn quantity_bytes(q: &str) -> Option<u128> {
    let digits = q.bytes().take_while(u8::is_ascii_digit).count();
    let n: u128 = q[..digits].parse().ok()?;
    let mult: u128 = match &q[digits..] {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// buildRetry (clustersettings.go, v1.9.0): backoff intervals of 0s and a maxInterval below
/// baseInterval fail the policy (the CRD's pattern allows both).
fn retry(r: &Value, out: &mut Vec<Finding>) {
    let bo = &r["perRetry"]["backOff"];
    if !bo.is_object() {
        return;
    }
    let base = bo
        .get("baseInterval")
        .and_then(Value::as_str)
        .and_then(go::parse_duration);
    let max = bo
        .get("maxInterval")
        .and_then(Value::as_str)
        .and_then(go::parse_duration);
    for (key, d) in [("baseInterval", base), ("maxInterval", max)] {
        if d == Some(0) {
            out.push(Finding::error(
                "retry/backoff-zero",
                format!("/spec/retry/perRetry/backOff/{key}"),
                format!("{key} cannot be set to 0s: Envoy Gateway fails the policy"),
                "use a positive interval such as 100ms, or leave it out for Envoy's default",
            ));
        }
    }
    if let (Some(b), Some(m)) = (base, max)
        && b > 0
        && m > 0
        && b > m
    {
        out.push(Finding::error(
            "retry/backoff-max-below-base",
            "/spec/retry/perRetry/backOff/maxInterval",
            "maxInterval cannot be less than baseInterval: Envoy Gateway fails the policy",
            "make maxInterval at least baseInterval (e.g. baseInterval 100ms, maxInterval 1s)",
        ));
    }
}

/// A regex Envoy Gateway checks with Go's regexp.Compile (internal/utils/regex Validate, v1.9.0).
pub(super) fn regex_rule(rule: &str, pattern: &str, path: String, out: &mut Vec<Finding>) {
    if let Err(why) = go::check_regex(pattern) {
        out.push(Finding::error(
            rule,
            path,
            format!("{pattern:?} is not a valid RE2 regular expression ({why}): Envoy Gateway does not accept it"),
            "use RE2 syntax: no lookaround, no backreferences, repeat counts up to 1000; escape literal metacharacters with \\",
        ));
    }
}

/// SecurityPolicy: validateSecurityPolicy, validateAPIKeyAuth, buildAuthorization
/// (securitypolicy.go, v1.9.0).
pub(super) fn security_policy(obj: &Value, out: &mut Vec<Finding>) {
    let spec = &obj["spec"];
    // validateAPIKeyAuth (one of headers, params, cookies per extractFrom) is also the CRD's
    // CEL rule: left to the cel layer
    let oidc = &spec["oidc"];
    if is_true(oidc, "passThroughAuthHeader") {
        let jwt_from_header = arr(&spec["jwt"]["providers"])
            .any(|(_, p)| !has(p, "extractFrom") || nonempty(&p["extractFrom"], "headers"));
        if !jwt_from_header {
            out.push(Finding::error(
                "security/oidc-passthrough-without-jwt",
                "/spec/oidc/passThroughAuthHeader",
                "OIDC passThroughAuthHeader needs a JWT provider that reads the token from a header: Envoy Gateway does not accept the policy",
                "add jwt.providers with the default extractor (Authorization: Bearer) or extractFrom.headers",
            ));
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, p) in arr(&spec["jwt"]["providers"]) {
        // validateJWTProvider: names unique ("exactly one of remoteJWKS and localJWKS" is
        // also the CRD's CEL rule: left to the cel layer)
        let name = s(p, "name");
        if !name.is_empty() {
            if names.contains(&name) {
                out.push(Finding::error(
                    "security/jwt-provider",
                    format!("/spec/jwt/providers/{i}/name"),
                    format!("JWT provider name {name} is used twice; names must be unique"),
                    "give each provider its own name",
                ));
            }
            names.push(name);
        }
    }
    for (ri, rule) in arr(&spec["authorization"]["rules"]) {
        for (ci, c) in arr(&rule["principal"]["clientCIDRs"]) {
            let text = c.as_str().unwrap_or("");
            if !go::parse_cidr(text) {
                out.push(Finding::error(
                    "security/invalid-cidr",
                    format!("/spec/authorization/rules/{ri}/principal/clientCIDRs/{ci}"),
                    format!("{text:?} is not a CIDR Go's net.ParseCIDR accepts: Envoy Gateway fails the policy (\"unable to translate authorization rule\")"),
                    "write an address and a prefix length, e.g. 10.0.0.0/8 or 2001:db8::/32",
                ));
            }
        }
        let p = &rule["operation"]["path"];
        if s(p, "type") == "RegularExpression" {
            regex_rule(
                "security/invalid-regex",
                s(p, "value"),
                format!("/spec/authorization/rules/{ri}/operation/path/value"),
                out,
            );
        }
    }
}

/// HTTPRouteFilter: processURLRewriteFilter (filters.go, v1.9.0) compiles the regexes with Go's
/// regexp; an invalid one makes the route not Accepted.
pub(super) fn http_route_filter(obj: &Value, out: &mut Vec<Finding>) {
    let rw = &obj["spec"]["urlRewrite"];
    let p = &rw["path"]["replaceRegexMatch"]["pattern"];
    if let Some(pat) = p.as_str() {
        regex_rule(
            "filter/invalid-regex",
            pat,
            "/spec/urlRewrite/path/replaceRegexMatch/pattern".into(),
            out,
        );
    }
    if let Some(pat) = rw["hostname"]["pathRegex"]["pattern"].as_str() {
        regex_rule(
            "filter/invalid-regex",
            pat,
            "/spec/urlRewrite/hostname/pathRegex/pattern".into(),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::assert_table;
    use serde_json::{Value, json};

    fn policy(rate_limit: Value) -> Value {
        json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
               "metadata": {"name": "p", "namespace": "app"}, "spec": {"targetRefs": [], "rateLimit": rate_limit}})
    }
    fn btp(spec: Value) -> Value {
        json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy", "spec": spec})
    }
    fn sp(spec: Value) -> Value {
        json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "SecurityPolicy", "spec": spec})
    }
    fn sel_rule(sel: Value) -> Value {
        json!({"clientSelectors": [sel], "limit": {"requests": 10, "unit": "Minute"}})
    }
    fn header_rule(h: Value) -> Value {
        sel_rule(json!({"headers": [h]}))
    }
    fn anon() -> Value {
        header_rule(
            json!({"name": "x-user-id", "type": "RegularExpression", "value": ".*", "invert": true}),
        )
    }
    fn user() -> Value {
        header_rule(json!({"name": "x-user-id", "type": "Distinct"}))
    }
    const H0: &str = "/spec/rateLimit/global/rules/0/clientSelectors/0/headers/0";

    /// Each case: an object, the (rule, path) findings wanted. The egctl confirmation of the
    /// error rules is in tests/translate.rs (`semantic_rules_agree_with_egctl`).
    #[test]
    #[allow(clippy::type_complexity)]
    fn rate_limit_table() {
        let h0v = format!("{H0}/value");
        let h0i = format!("{H0}/invert");
        assert_table(vec![
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
                vec![("ratelimit/distinct-with-value", h0v.as_str())],
            ),
            (
                "distinct with invert",
                policy(
                    json!({"global": {"rules": [header_rule(json!({"name": "x-user-id", "type": "Distinct", "invert": true})), anon()]}}),
                ),
                vec![("ratelimit/distinct-with-invert", h0i.as_str())],
            ),
            (
                "exact without value",
                policy(json!({"global": {"rules": [header_rule(json!({"name": "x-tier"}))]}})),
                vec![("ratelimit/match-without-value", H0)],
            ),
            (
                "regex without value",
                policy(
                    json!({"global": {"rules": [header_rule(json!({"name": "x-tier", "type": "RegularExpression"}))]}}),
                ),
                vec![("ratelimit/match-without-value", H0)],
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
                "type Local without local block; the global block is ignored",
                policy(json!({"type": "Local", "global": {"rules": [user()]}})),
                vec![
                    ("ratelimit/type-deprecated", "/spec/rateLimit/type"),
                    ("ratelimit/type-block-missing", "/spec/rateLimit"),
                ],
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
                "local unit not a multiple of the default's",
                policy(
                    json!({"local": {"rules": [{"limit": {"requests": 1, "unit": "Minute"}},
                    {"clientSelectors": [{"methods": [{"value": "GET"}]}], "limit": {"requests": 1, "unit": "Second"}}]}}),
                ),
                vec![(
                    "ratelimit/local-unit-multiple",
                    "/spec/rateLimit/local/rules/1/limit/unit",
                )],
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
                "empty lists only",
                policy(
                    json!({"global": {"rules": [sel_rule(json!({"headers": [], "methods": []}))]}}),
                ),
                vec![(
                    "ratelimit/empty-selector",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0",
                )],
            ),
            (
                "invalid header regex",
                policy(
                    json!({"global": {"rules": [header_rule(json!({"name": "x-tier", "type": "RegularExpression", "value": "^(gold|silver"}))]}}),
                ),
                vec![("ratelimit/invalid-regex", h0v.as_str())],
            ),
            (
                "lookahead in a path regex",
                policy(
                    json!({"global": {"rules": [sel_rule(json!({"path": {"type": "RegularExpression", "value": "^/api/(?!internal)"}}))]}}),
                ),
                vec![(
                    "ratelimit/invalid-regex",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0/path/value",
                )],
            ),
            (
                "a valid path regex",
                policy(
                    json!({"global": {"rules": [sel_rule(json!({"path": {"type": "RegularExpression", "value": "^/api/v[0-9]+/"}}))]}}),
                ),
                vec![],
            ),
            (
                "bad source CIDR",
                policy(
                    json!({"global": {"rules": [sel_rule(json!({"sourceCIDR": {"type": "Distinct", "value": "10.0.0.256/24"}}))]}}),
                ),
                vec![(
                    "ratelimit/invalid-cidr",
                    "/spec/rateLimit/global/rules/0/clientSelectors/0/sourceCIDR/value",
                )],
            ),
            (
                "good source CIDR",
                policy(
                    json!({"global": {"rules": [sel_rule(json!({"sourceCIDR": {"value": "10.0.0.0/8"}}))]}}),
                ),
                vec![],
            ),
            (
                "query params: exact without value, distinct with value",
                policy(
                    json!({"global": {"rules": [sel_rule(json!({"queryParams": [{"name": "a"}, {"name": "b", "type": "Distinct", "value": "x"}, {"name": "c", "type": "Distinct"}]}))]}}),
                ),
                vec![
                    (
                        "ratelimit/query-param-match",
                        "/spec/rateLimit/global/rules/0/clientSelectors/0/queryParams/0",
                    ),
                    (
                        "ratelimit/query-param-match",
                        "/spec/rateLimit/global/rules/0/clientSelectors/0/queryParams/1",
                    ),
                ],
            ),
        ]);
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn traffic_features_table() {
        assert_table(vec![
            (
                "circuit breaker",
                btp(json!({"circuitBreaker": {"maxConnections": 50}})),
                vec![("circuitbreaker/per-replica", "/spec/circuitBreaker")],
            ),
            (
                "retry backoff zero and max below base",
                btp(
                    json!({"retry": {"perRetry": {"backOff": {"baseInterval": "0s", "maxInterval": "1s"}}}}),
                ),
                vec![(
                    "retry/backoff-zero",
                    "/spec/retry/perRetry/backOff/baseInterval",
                )],
            ),
            (
                "retry max below base",
                btp(
                    json!({"retry": {"perRetry": {"backOff": {"baseInterval": "2s", "maxInterval": "500ms"}}}}),
                ),
                vec![(
                    "retry/backoff-max-below-base",
                    "/spec/retry/perRetry/backOff/maxInterval",
                )],
            ),
            (
                "retry as the corpus writes it",
                btp(
                    json!({"retry": {"numRetries": 2, "perRetry": {"timeout": "2s", "backOff": {"baseInterval": "100ms", "maxInterval": "1s"}}}}),
                ),
                vec![],
            ),
            (
                "bandwidth below 1 KiB/s",
                btp(
                    json!({"bandwidthLimit": {"request": {"limit": {"value": "1000", "unit": "Second"}}, "response": {"limit": {"value": "60Ki", "unit": "Minute"}}}}),
                ),
                vec![(
                    "bandwidth/below-minimum",
                    "/spec/bandwidthLimit/request/limit",
                )],
            ),
        ]);
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn security_policy_table() {
        assert_table(vec![
            (
                "jwt provider names twice",
                sp(json!({"jwt": {"providers": [
                    {"name": "a", "remoteJWKS": {"uri": "https://x/jwks"}, "localJWKS": {"inline": "{}"}},
                    {"name": "a"},
                    {"name": "b", "remoteJWKS": {"uri": "https://x/jwks"}}]}})),
                vec![("security/jwt-provider", "/spec/jwt/providers/1/name")],
            ),
            (
                "oidc pass-through without jwt",
                sp(json!({"oidc": {"passThroughAuthHeader": true}})),
                vec![(
                    "security/oidc-passthrough-without-jwt",
                    "/spec/oidc/passThroughAuthHeader",
                )],
            ),
            (
                "authorization CIDR and path regex",
                sp(
                    json!({"authorization": {"rules": [{"action": "Allow", "principal": {"clientCIDRs": ["10.0.0.0/8", "10.0.0.1"]},
                    "operation": {"path": {"type": "RegularExpression", "value": "a{1001}"}}}]}}),
                ),
                vec![
                    (
                        "security/invalid-cidr",
                        "/spec/authorization/rules/0/principal/clientCIDRs/1",
                    ),
                    (
                        "security/invalid-regex",
                        "/spec/authorization/rules/0/operation/path/value",
                    ),
                ],
            ),
            (
                "route filter regex",
                json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "HTTPRouteFilter",
                       "spec": {"urlRewrite": {"path": {"type": "ReplaceRegexMatch", "replaceRegexMatch": {"pattern": "^/(a", "substitution": "/"}}}}}),
                vec![(
                    "filter/invalid-regex",
                    "/spec/urlRewrite/path/replaceRegexMatch/pattern",
                )],
            ),
        ]);
    }
}
