//! cert-manager v1.21.1's validating webhook (`internal/apis/certmanager/validation/
//! certificate.go` ValidateCertificateSpec and `issuer.go` ValidateIssuerConfig). Each rule here
//! is a refusal by the webhook, so an error. What the CRD's schema already refuses (enums of
//! algorithms and usages, required fields) is the schema layer's. Feature-gated fields
//! (literalSubject, otherNames, nameConstraints) are not checked.

use serde_json::Value;

use super::{arr, go, has, is_true, nonempty, s};
use crate::validate::finding::Finding;

const HOUR: i128 = 3_600_000_000_000;
const MINUTE: i128 = 60_000_000_000;

fn err(out: &mut Vec<Finding>, rule: &str, path: impl Into<String>, msg: String, hint: &str) {
    out.push(Finding::error(rule, path, msg, hint));
}

/// ValidateCertificateSpec (certificate.go, v1.21.1).
pub(super) fn certificate(obj: &Value, out: &mut Vec<Finding>) {
    let spec = &obj["spec"];
    let secret = s(spec, "secretName");
    if has(spec, "secretName") && !dns_subdomain(secret) {
        err(
            out,
            "certmanager/secret-name",
            "/spec/secretName",
            format!(
                "secretName {secret:?} is not a valid Secret name (a DNS-1123 subdomain): cert-manager's webhook refuses the Certificate"
            ),
            "use lower-case letters, digits, '-' and '.', at most 253 characters",
        );
    }
    issuer_ref(&spec["issuerRef"], out);
    let cn = s(spec, "commonName");
    let any_name = !cn.is_empty()
        || !s(spec, "literalSubject").is_empty()
        || [
            "dnsNames",
            "uris",
            "emailAddresses",
            "ipAddresses",
            "otherNames",
        ]
        .iter()
        .any(|k| nonempty(spec, k));
    if spec.is_object() && !any_name {
        err(
            out,
            "certmanager/no-identity",
            "/spec",
            "at least one of commonName, dnsNames, emailAddresses, ipAddresses, otherNames or uris must be set: cert-manager's webhook refuses the Certificate".into(),
            "add dnsNames with the listener's hostname",
        );
    }
    if cn.len() > 64 {
        err(
            out,
            "certmanager/common-name-too-long",
            "/spec/commonName",
            format!(
                "commonName is {} characters; at most 64 are allowed",
                cn.len()
            ),
            "shorten commonName (the names that matter are in dnsNames)",
        );
    }
    for (i, ip) in arr(&spec["ipAddresses"]) {
        let text = ip.as_str().unwrap_or("");
        if !go::parse_ip(text) {
            err(
                out,
                "certmanager/ip-address",
                format!("/spec/ipAddresses/{i}"),
                format!(
                    "{text:?} is not an IP address (Go's net.ParseIP): cert-manager's webhook refuses the Certificate"
                ),
                "write an IPv4 or IPv6 address without prefix or zone",
            );
        }
    }
    for (i, e) in arr(&spec["emailAddresses"]) {
        let text = e.as_str().unwrap_or("");
        // mail.ParseAddress must succeed and give back the text itself; this flags only what
        // surely fails: no '@', a display name or angle brackets, surrounding spaces
        if !text.contains('@') || text.contains(['<', '>']) || text.trim() != text {
            err(
                out,
                "certmanager/email-address",
                format!("/spec/emailAddresses/{i}"),
                format!(
                    "{text:?} is not a bare email address: cert-manager's webhook refuses the Certificate"
                ),
                "write the address only, e.g. admin@example.com",
            );
        }
    }
    let pk = &spec["privateKey"];
    let alg = s(pk, "algorithm");
    let size = pk.get("size").and_then(Value::as_i64).unwrap_or(0);
    match alg {
        "" | "RSA" if size > 0 && !(2048..=8192).contains(&size) => err(
            out,
            "certmanager/private-key-size",
            "/spec/privateKey/size",
            format!("size {size} must be between 2048 and 8192 for an RSA key"),
            "use 2048, 3072 or 4096",
        ),
        "ECDSA" if size > 0 && ![256, 384, 521].contains(&size) => err(
            out,
            "certmanager/private-key-size",
            "/spec/privateKey/size",
            format!("size {size} is not an ECDSA curve size: 256, 384 or 521"),
            "use 256 (P-256) or 384 (P-384)",
        ),
        _ => {}
    }
    let sig = s(spec, "signatureAlgorithm");
    if !sig.is_empty() {
        let key = if alg.is_empty() { "RSA" } else { alg };
        let allowed: &[&str] = match key {
            "RSA" => &["SHA256WithRSA", "SHA384WithRSA", "SHA512WithRSA"],
            "ECDSA" => &["ECDSAWithSHA256", "ECDSAWithSHA384", "ECDSAWithSHA512"],
            "Ed25519" => &["PureEd25519"],
            _ => &[],
        };
        if !allowed.is_empty() && !allowed.contains(&sig) {
            err(
                out,
                "certmanager/signature-algorithm",
                "/spec/signatureAlgorithm",
                format!(
                    "signatureAlgorithm {sig} does not fit a {key} key; allowed: {}",
                    allowed.join(", ")
                ),
                "pick a signature algorithm of the key's family, or leave it out",
            );
        }
    }
    durations(spec, out);
    if let Some(n) = spec.get("revisionHistoryLimit").and_then(Value::as_i64)
        && n < 1
    {
        err(
            out,
            "certmanager/revision-history-limit",
            "/spec/revisionHistoryLimit",
            format!("revisionHistoryLimit {n} must not be less than 1"),
            "set 1 or more, or leave it out (no limit)",
        );
    }
    if let Some(a) = spec["secretTemplate"]["annotations"].as_object() {
        for k in a.keys() {
            if k.starts_with("cert-manager.io/") && k != "cert-manager.io/allow-direct-injection" {
                err(
                    out,
                    "certmanager/secret-template-annotation",
                    "/spec/secretTemplate/annotations",
                    format!(
                        "annotation {k} is not allowed in secretTemplate (cert-manager.io/* is cert-manager's own)"
                    ),
                    "use another annotation prefix",
                );
            }
        }
    }
    let mut formats: Vec<&str> = Vec::new();
    for (i, f) in arr(&spec["additionalOutputFormats"]) {
        let t = s(f, "type");
        if formats.contains(&t) {
            err(
                out,
                "certmanager/duplicate-output-format",
                format!("/spec/additionalOutputFormats/{i}"),
                format!("additional output format {t} is listed twice"),
                "list each format once",
            );
        }
        formats.push(t);
    }
}

/// ValidateDuration (certificate.go, v1.21.1): durations are Go durations (metav1.Duration);
/// duration >= 1h, renewBefore >= 5m and below duration; renewBefore and
/// renewBeforePercentage exclusive.
fn durations(spec: &Value, out: &mut Vec<Finding>) {
    let parse = |key: &str, out: &mut Vec<Finding>| -> Option<i128> {
        let text = spec.get(key)?.as_str()?;
        let d = go::parse_duration(text);
        if d.is_none() {
            err(
                out,
                "certmanager/duration",
                format!("/spec/{key}"),
                format!(
                    "{key} {text:?} is not a Go duration (units h, m, s, ms; no days): cert-manager cannot decode the Certificate"
                ),
                "write hours, e.g. 2160h for 90 days and 360h for 15 days",
            );
        }
        d
    };
    let duration_set = has(spec, "duration");
    let duration = parse("duration", out);
    let renew = parse("renewBefore", out);
    let pct = spec.get("renewBeforePercentage").and_then(Value::as_i64);
    if !duration_set && !has(spec, "renewBefore") {
        return;
    }
    if duration_set && duration.is_none() {
        return;
    }
    let d = duration.unwrap_or(2160 * HOUR); // DefaultCertificateDuration, 90 days
    if d < HOUR {
        err(
            out,
            "certmanager/duration",
            "/spec/duration",
            "certificate duration must be at least 1h: cert-manager's webhook refuses the Certificate".into(),
            "use 1h or more (2160h is the default)",
        );
    }
    if has(spec, "renewBefore") && pct.is_some() {
        err(
            out,
            "certmanager/duration",
            "/spec/renewBefore",
            "renewBefore and renewBeforePercentage are mutually exclusive".into(),
            "keep one of them",
        );
    }
    if let Some(r) = renew {
        if r < 5 * MINUTE {
            err(
                out,
                "certmanager/duration",
                "/spec/renewBefore",
                "renewBefore must be at least 5m: cert-manager's webhook refuses the Certificate"
                    .into(),
                "use 5m or more",
            );
        }
        if r >= d {
            err(
                out,
                "certmanager/duration",
                "/spec/renewBefore",
                format!(
                    "renewBefore {} must be less than duration {}: cert-manager's webhook refuses the Certificate",
                    s(spec, "renewBefore"),
                    if duration_set {
                        s(spec, "duration")
                    } else {
                        "2160h (default)"
                    }
                ),
                "make renewBefore shorter than duration, e.g. duration 2160h with renewBefore 360h",
            );
        }
    }
}

/// validateIssuerRef (certificate.go, v1.21.1): for cert-manager's own group, kind must be
/// Issuer or ClusterIssuer (or empty).
fn issuer_ref(r: &Value, out: &mut Vec<Finding>) {
    if !r.is_object() {
        return;
    }
    if has(r, "name") && s(r, "name").is_empty() {
        err(
            out,
            "certmanager/issuer-ref",
            "/spec/issuerRef/name",
            "issuerRef.name must be specified".into(),
            "name the Issuer or ClusterIssuer",
        );
    }
    let group = s(r, "group");
    let kind = s(r, "kind");
    if (group.is_empty() || group == "cert-manager.io")
        && !matches!(kind, "" | "Issuer" | "ClusterIssuer")
    {
        err(
            out,
            "certmanager/issuer-ref",
            "/spec/issuerRef/kind",
            format!(
                "issuerRef.kind {kind} must be Issuer or ClusterIssuer{}: cert-manager's webhook refuses the Certificate",
                if group.is_empty() {
                    " (did you forget to set issuerRef.group?)"
                } else {
                    ""
                }
            ),
            "use kind Issuer or ClusterIssuer, or set the external issuer's group",
        );
    }
}

const ISSUER_TYPES: [&str; 5] = ["acme", "ca", "selfSigned", "vault", "venafi"];
const DNS01_PROVIDERS: [&str; 9] = [
    "akamai",
    "azureDNS",
    "cloudDNS",
    "cloudflare",
    "route53",
    "acmeDNS",
    "digitalocean",
    "rfc2136",
    "webhook",
];

/// ValidateIssuerConfig (issuer.go, v1.21.1), for Issuer and ClusterIssuer.
pub(super) fn issuer(obj: &Value, out: &mut Vec<Finding>) {
    let spec = &obj["spec"];
    let set: Vec<&str> = ISSUER_TYPES
        .iter()
        .copied()
        .filter(|k| has(spec, k))
        .collect();
    match set.len() {
        0 => err(
            out,
            "certmanager/issuer-type",
            "/spec",
            "at least one issuer must be configured (acme, ca, selfSigned, vault or venafi): cert-manager's webhook refuses it".into(),
            "add e.g. selfSigned: {} or ca: {secretName: <CA key pair>}",
        ),
        1 => {}
        _ => err(
            out,
            "certmanager/issuer-type",
            format!("/spec/{}", set[1]),
            format!("may not specify more than one issuer type ({}): cert-manager's webhook refuses it", set.join(", ")),
            "keep one issuer type per Issuer",
        ),
    }
    if has(spec, "ca") && s(&spec["ca"], "secretName").is_empty() {
        err(
            out,
            "certmanager/ca-secret-name",
            "/spec/ca/secretName",
            "a CA issuer needs secretName (the Secret holding the CA's key pair)".into(),
            "set ca.secretName",
        );
    }
    let acme = &spec["acme"];
    if acme.is_object() {
        if s(acme, "server").is_empty() {
            err(
                out,
                "certmanager/acme",
                "/spec/acme/server",
                "acme server URL is a required field".into(),
                "e.g. https://acme-v02.api.letsencrypt.org/directory",
            );
        }
        if s(&acme["privateKeySecretRef"], "name").is_empty() {
            err(
                out,
                "certmanager/acme",
                "/spec/acme/privateKeySecretRef/name",
                "private key secret name is a required field".into(),
                "name the Secret for the ACME account key (cert-manager creates it)",
            );
        }
        if !s(acme, "caBundle").is_empty() && is_true(acme, "skipTLSVerify") {
            err(
                out,
                "certmanager/acme",
                "/spec/acme/skipTLSVerify",
                "caBundle and skipTLSVerify are mutually exclusive and cannot both be set".into(),
                "keep caBundle",
            );
        }
        for (i, sol) in arr(&acme["solvers"]) {
            let path = || format!("/spec/acme/solvers/{i}");
            let kinds = ["http01", "dns01"].iter().filter(|k| has(sol, k)).count();
            if kinds != 1 {
                err(
                    out,
                    "certmanager/acme-solver",
                    path(),
                    if kinds == 0 {
                        "no solver type configured (http01 or dns01)".into()
                    } else {
                        "may not specify more than one solver type in a single solver".into()
                    },
                    "give each solver exactly one of http01 or dns01",
                );
            }
            let h = &sol["http01"];
            if h.is_object() {
                let n = ["ingress", "gatewayHTTPRoute"]
                    .iter()
                    .filter(|k| has(h, k))
                    .count();
                if n != 1 {
                    err(
                        out,
                        "certmanager/acme-solver",
                        format!("{}/http01", path()),
                        if n == 0 {
                            "no HTTP01 solver type configured (ingress or gatewayHTTPRoute)".into()
                        } else {
                            "only 1 HTTP01 solver type may be configured".into()
                        },
                        "set exactly one of ingress or gatewayHTTPRoute",
                    );
                }
            }
            let d = &sol["dns01"];
            if d.is_object() {
                let n = DNS01_PROVIDERS.iter().filter(|k| has(d, k)).count();
                if n != 1 {
                    err(
                        out,
                        "certmanager/acme-solver",
                        format!("{}/dns01", path()),
                        if n == 0 {
                            "no DNS01 provider configured".into()
                        } else {
                            "may not specify more than one DNS01 provider type".into()
                        },
                        "set exactly one provider, e.g. route53 or cloudflare",
                    );
                }
                let r53 = &d["route53"];
                if !s(r53, "accessKeyID").is_empty() && has(r53, "accessKeyIDSecretRef") {
                    err(
                        out,
                        "certmanager/acme-solver",
                        format!("{}/dns01/route53", path()),
                        "accessKeyID and accessKeyIDSecretRef cannot both be specified".into(),
                        "keep one of them",
                    );
                }
            }
        }
    }
}

/// Kubernetes' IsDNS1123Subdomain.
fn dns_subdomain(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::super::assert_table;
    use serde_json::{Value, json};

    fn cert(extra: Value) -> Value {
        let mut spec = json!({"secretName": "api-tls", "dnsNames": ["api.example.com"], "duration": "2160h", "renewBefore": "360h",
                              "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                              "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": "letsencrypt"}});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                spec.as_object_mut().unwrap().remove(k);
            } else {
                spec[k] = v.clone();
            }
        }
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"}, "spec": spec})
    }
    fn issuer(spec: Value) -> Value {
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "i"}, "spec": spec})
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn certificate_table() {
        let d = "certmanager/duration";
        assert_table(vec![
            ("as the generators write it", cert(json!({})), vec![]),
            (
                "no identity",
                cert(json!({"dnsNames": null})),
                vec![("certmanager/no-identity", "/spec")],
            ),
            (
                "secret name with capitals",
                cert(json!({"secretName": "API_tls"})),
                vec![("certmanager/secret-name", "/spec/secretName")],
            ),
            (
                "duration in days",
                cert(json!({"duration": "90d"})),
                vec![(d, "/spec/duration")],
            ),
            (
                "renewBefore not below duration",
                cert(json!({"duration": "24h", "renewBefore": "24h"})),
                vec![(d, "/spec/renewBefore")],
            ),
            (
                "renewBefore above the default duration",
                cert(json!({"duration": null, "renewBefore": "2400h"})),
                vec![(d, "/spec/renewBefore")],
            ),
            (
                "duration under an hour, renewBefore under 5m",
                cert(json!({"duration": "30m", "renewBefore": "1m"})),
                vec![(d, "/spec/duration"), (d, "/spec/renewBefore")],
            ),
            (
                "both renewBefore and percentage",
                cert(json!({"renewBeforePercentage": 20})),
                vec![(d, "/spec/renewBefore")],
            ),
            (
                "ECDSA 2048",
                cert(json!({"privateKey": {"algorithm": "ECDSA", "size": 2048}})),
                vec![("certmanager/private-key-size", "/spec/privateKey/size")],
            ),
            (
                "RSA 1024",
                cert(json!({"privateKey": {"algorithm": "RSA", "size": 1024}})),
                vec![("certmanager/private-key-size", "/spec/privateKey/size")],
            ),
            (
                "RSA signature on ECDSA key",
                cert(json!({"signatureAlgorithm": "SHA256WithRSA"})),
                vec![(
                    "certmanager/signature-algorithm",
                    "/spec/signatureAlgorithm",
                )],
            ),
            (
                "issuer kind without group",
                cert(json!({"issuerRef": {"kind": "AWSPCAIssuer", "name": "pca"}})),
                vec![("certmanager/issuer-ref", "/spec/issuerRef/kind")],
            ),
            (
                "external issuer with its group",
                cert(
                    json!({"issuerRef": {"group": "awspca.cert-manager.io", "kind": "AWSPCAIssuer", "name": "pca"}}),
                ),
                vec![],
            ),
            (
                "bad IP and email",
                cert(
                    json!({"ipAddresses": ["10.0.0.1", "10.0.0.300"], "emailAddresses": ["Admin <a@example.com>"]}),
                ),
                vec![
                    ("certmanager/ip-address", "/spec/ipAddresses/1"),
                    ("certmanager/email-address", "/spec/emailAddresses/0"),
                ],
            ),
            (
                "common name too long",
                cert(json!({"commonName": "a".repeat(65)})),
                vec![("certmanager/common-name-too-long", "/spec/commonName")],
            ),
            (
                "revision history 0, secret template annotation",
                cert(
                    json!({"revisionHistoryLimit": 0, "secretTemplate": {"annotations": {"cert-manager.io/x": "y"}}}),
                ),
                vec![
                    (
                        "certmanager/revision-history-limit",
                        "/spec/revisionHistoryLimit",
                    ),
                    (
                        "certmanager/secret-template-annotation",
                        "/spec/secretTemplate/annotations",
                    ),
                ],
            ),
        ]);
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn issuer_table() {
        let acme = json!({"server": "https://acme-v02.api.letsencrypt.org/directory", "email": "a@example.com",
                          "privateKeySecretRef": {"name": "acct"}, "solvers": [{"dns01": {"route53": {"region": "eu-west-1"}}}]});
        assert_table(vec![
            ("self-signed", issuer(json!({"selfSigned": {}})), vec![]),
            (
                "the corpus's ACME issuer",
                issuer(json!({"acme": acme})),
                vec![],
            ),
            (
                "no type",
                issuer(json!({})),
                vec![("certmanager/issuer-type", "/spec")],
            ),
            (
                "two types",
                issuer(json!({"selfSigned": {}, "ca": {"secretName": "ca"}})),
                vec![("certmanager/issuer-type", "/spec/selfSigned")],
            ),
            (
                "CA without secret",
                issuer(json!({"ca": {}})),
                vec![("certmanager/ca-secret-name", "/spec/ca/secretName")],
            ),
            (
                "ACME: no account key name, empty solver, two DNS providers",
                issuer(
                    json!({"acme": {"server": "https://x/dir", "privateKeySecretRef": {"name": ""},
                    "solvers": [{}, {"dns01": {"route53": {}, "cloudflare": {}}}, {"http01": {}}]}}),
                ),
                vec![
                    ("certmanager/acme", "/spec/acme/privateKeySecretRef/name"),
                    ("certmanager/acme-solver", "/spec/acme/solvers/0"),
                    ("certmanager/acme-solver", "/spec/acme/solvers/1/dns01"),
                    ("certmanager/acme-solver", "/spec/acme/solvers/2/http01"),
                ],
            ),
        ]);
    }
}
