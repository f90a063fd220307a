//! TLS across objects: listeners to their certificate Secrets and the Certificates that write
//! them, Certificates to their issuers, CA issuers to their CA Secret.
//!
//! Sources:
//! - Gateway API v1.4.0 `apis/v1/gateway_types.go` (`GatewayTLSConfig.certificateRefs`,
//!   core Secrets of type kubernetes.io/tls) and Envoy Gateway v1.9.0
//!   `internal/gatewayapi/listener.go` / `validate.go` (`validateTLSSecretsData`): a listener
//!   whose Secret is missing or not a TLS Secret gets `ResolvedRefs: False`.
//!   `ref/certificate-secret`: an error when the Secret is not of type kubernetes.io/tls, or
//!   when nothing writes it although the stack holds Certificates in its namespace (the
//!   certificateRef and a Certificate's secretName should meet); a warning when it may live
//!   outside the stack.
//! - cert-manager v1.21.1 `pkg/apis/certmanager/v1/types_certificate.go` (`dnsNames`,
//!   `commonName`, `secretName`) with Gateway API v1.4.0 listener hostnames (a `*.` wildcard
//!   listener) and RFC 6125 section 6.4.3 (a `*.` certificate name covers exactly one label):
//!   `ref/certificate-hostname` (error): no name of the Certificate that writes a listener's
//!   Secret covers the listener's hostname, so clients reject the certificate.
//! - cert-manager v1.21.1 `pkg/apis/certmanager/v1/types.go` (`issuerRef.kind` defaults to
//!   Issuer): `ref/issuer-kind` (error) and `ref/issuer` (error, or warning when the issuer may
//!   live outside the stack).
//! - cert-manager v1.21.1 `pkg/issuer/ca/setup.go` (`kube.SecretTLSCert`, `kube.SecretTLSKey`,
//!   `!cert.IsCA` -> "certificate is not a CA": the issuer is not Ready; a ClusterIssuer's
//!   Secret is read in the cluster resource namespace, `cert-manager` by default):
//!   `ref/ca-issuer-secret` (error): the CA Secret lacks tls.crt or tls.key, its tls.crt is
//!   not a PEM certificate or not a CA (basicConstraints CA:true), or the Certificate that
//!   writes it has no `isCA: true`; a warning when the Secret may live outside the stack.
//!   Certificates are parsed with x509-parser (the maintained DER/X.509 parser of the Rusticata
//!   project; no hand-written ASN.1); key material is never read.

use super::facts::Fact;

use super::scaling::{secret_has_key, secret_keys};
use super::{
    Finding, Index, RefContext, Scope, grants, group_of, items, kind, missing, name, ns, or, s,
};

/// Where cert-manager reads a ClusterIssuer's Secret (`--cluster-resource-namespace`; its
/// Helm default is the namespace it runs in, `cert-manager`).
const CLUSTER_RESOURCE_NAMESPACE: &str = "cert-manager";

/// Whether a certificate name covers a listener hostname: equal (case-insensitive), or a
/// `*.` name covering exactly one label of a non-wildcard hostname.
fn name_covers(cert_name: &str, host: &str) -> bool {
    let (c, h) = (cert_name.to_ascii_lowercase(), host.to_ascii_lowercase());
    if c == h {
        return true;
    }
    match (c.strip_prefix("*."), h.starts_with("*.")) {
        (Some(suffix), false) => h
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        _ => false,
    }
}

/// The names of a Certificate (dnsNames and commonName).
fn cert_names(c: &Fact) -> Vec<&str> {
    let mut v: Vec<&str> = items(&c["spec"]["dnsNames"])
        .filter_map(|(_, n)| n.as_str())
        .collect();
    if !s(&c["spec"], "commonName").is_empty() {
        v.push(s(&c["spec"], "commonName"));
    }
    v
}

/// The Certificates in `namespace` that write Secret `secret`.
fn writers<'a>(
    idx: &'a Index,
    namespace: &'a str,
    secret: &'a str,
) -> impl Iterator<Item = &'a Fact> + 'a {
    idx.in_namespace("Certificate", namespace)
        .map(|(_, c)| c)
        .filter(move |c| group_of(c) == "cert-manager.io" && s(&c["spec"], "secretName") == secret)
}

pub(super) fn check_listener_certificates(
    idx: &Index,
    i: usize,
    g: &Fact,
    ctx: &RefContext,
    out: &mut Vec<(usize, Finding)>,
) {
    let gns = ns(g);
    for (li, l) in items(&g["spec"]["listeners"]) {
        for (ci, c) in items(&l["tls"]["certificateRefs"]) {
            let ck = or(c, "kind", "Secret");
            if ck != "Secret" {
                continue;
            }
            let cns = or(c, "namespace", gns);
            let cname = s(c, "name");
            let path = format!("/spec/listeners/{li}/tls/certificateRefs/{ci}");
            if let Some(f) = grants::missing_grant(
                idx,
                ("gateway.networking.k8s.io", "Gateway", gns),
                ("", "Secret", cns, cname),
                &path,
                (
                    "certificateRef",
                    " (listener RefNotPermitted)",
                    &format!(", or put the Secret in {gns}"),
                ),
            ) {
                out.push((i, f));
            }
            let secret = idx.get("Secret", cns, cname);
            if let Some(sec) = secret
                && s(sec, "type") != "kubernetes.io/tls"
            {
                out.push((
                    i,
                    Finding::error(
                        "ref/certificate-secret",
                        format!("{path}/name"),
                        format!("Secret {cns}/{cname} is not of type kubernetes.io/tls"),
                        "a TLS listener needs a kubernetes.io/tls Secret with tls.crt and tls.key",
                    ),
                ));
            }
            let made = secret.is_some()
                || idx.cert_secrets.contains(&(cns, cname))
                || ctx
                    .generated_secrets
                    .iter()
                    .any(|(n2, s2)| n2 == cns && s2 == cname);
            if !made {
                let written: Vec<&str> = idx
                    .in_namespace("Certificate", cns)
                    .map(|(_, c)| s(&c["spec"], "secretName"))
                    .collect();
                out.push((
                    i,
                    if written.is_empty() {
                        Finding::warning(
                            "ref/certificate-secret",
                            format!("{path}/name"),
                            format!("nothing among the documents creates Secret {cns}/{cname} (no Secret, Certificate with that secretName, or secretGenerator)"),
                            "create it with generate_tls, or make sure the Secret exists before the Gateway is applied",
                        )
                    } else {
                        Finding::error(
                            "ref/certificate-secret",
                            format!("{path}/name"),
                            format!("no Certificate writes Secret {cns}/{cname} and no such Secret is among the documents, though the documents hold Certificates in {cns}"),
                            format!("the Certificates in {cns} write: {}; make the certificateRef and the Certificate's secretName meet", written.join(", ")),
                        )
                    },
                ));
            }
            // the certificate must cover the listener's hostname
            let host = s(l, "hostname");
            if host.is_empty() {
                continue;
            }
            for cert in writers(idx, cns, cname) {
                let names = cert_names(cert);
                if names.is_empty() || names.iter().any(|n| name_covers(n, host)) {
                    continue;
                }
                out.push((
                    i,
                    Finding::error(
                        "ref/certificate-hostname",
                        format!("/spec/listeners/{li}/hostname"),
                        format!(
                            "Certificate {cns}/{} (Secret {cname}) names {}, none of which covers the listener hostname {host}: clients reject the certificate",
                            name(cert),
                            names.join(", ")
                        ),
                        format!("add {host} to the Certificate's dnsNames (a *. name covers exactly one label; a wildcard listener needs the same wildcard)"),
                    ),
                ));
            }
        }
    }
}

pub(super) fn check_certificates(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    for (i, c) in idx.objs.iter().enumerate() {
        if kind(c) != "Certificate" || group_of(c) != "cert-manager.io" {
            continue;
        }
        let r = &c["spec"]["issuerRef"];
        let ik = or(r, "kind", "Issuer");
        let iname = s(r, "name");
        let found = match ik {
            "Issuer" => idx.get("Issuer", ns(c), iname).is_some(),
            "ClusterIssuer" => idx.has_cluster("ClusterIssuer", iname),
            _ => continue,
        };
        if found {
            continue;
        }
        let other = if ik == "Issuer" {
            idx.has_cluster("ClusterIssuer", iname)
        } else {
            idx.get("Issuer", ns(c), iname).is_some()
        };
        if other {
            let (have, want) = if ik == "Issuer" {
                ("ClusterIssuer", "ClusterIssuer")
            } else {
                ("Issuer", "Issuer")
            };
            out.push((
                i,
                Finding::error(
                    "ref/issuer-kind",
                    "/spec/issuerRef/kind",
                    format!(
                        "{iname} is a {have}, but issuerRef.kind is {ik}{}",
                        if s(r, "kind").is_empty() {
                            " (the default)"
                        } else {
                            ""
                        }
                    ),
                    format!("set issuerRef.kind: {want}"),
                ),
            ));
        } else {
            let inns = if ik == "ClusterIssuer" { "" } else { ns(c) };
            let any = idx.any_of_kind(ik, inns);
            let f = if any {
                Finding::error(
                    "ref/issuer",
                    "/spec/issuerRef/name",
                    format!("{ik} {iname} does not exist"),
                    format!("{ik}s: {}", idx.names_of_kind(ik, inns).join(", ")),
                )
            } else {
                Finding::warning(
                    "ref/issuer",
                    "/spec/issuerRef/name",
                    format!("{ik} {iname} is not among the documents given"),
                    format!("make sure {ik} {iname} exists"),
                )
            };
            out.push((i, f));
        }
    }
}

/// What is wrong with the tls.crt of a CA Secret, if anything (never its content).
fn ca_certificate_problem(sec: &Fact) -> Option<String> {
    use base64::Engine;
    let pem: Vec<u8> = if let Some(b64) = sec["data"]["tls.crt"].as_str() {
        // the API server's base64 decoder skips line breaks (kustomize splits long values)
        let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        match base64::engine::general_purpose::STANDARD.decode(compact) {
            Ok(b) => b,
            Err(_) => return Some("data.tls.crt is not valid base64".into()),
        }
    } else if let Some(text) = sec["stringData"]["tls.crt"].as_str() {
        text.as_bytes().to_vec()
    } else {
        return None;
    };
    let Ok((_, block)) = x509_parser::pem::parse_x509_pem(&pem) else {
        return Some("tls.crt is not a PEM certificate".into());
    };
    let Ok(cert) = block.parse_x509() else {
        return Some("tls.crt does not hold a valid X.509 certificate".into());
    };
    (!cert.is_ca()).then(|| {
        "the certificate in tls.crt is not a CA (no basicConstraints CA:true): cert-manager refuses it (\"certificate is not a CA\")".into()
    })
}

pub(super) fn check_ca_issuers(idx: &Index, out: &mut Vec<(usize, Finding)>) {
    for (i, o) in idx.objs.iter().enumerate() {
        let (k, g) = (kind(o), group_of(o));
        if g != "cert-manager.io" || !matches!(k, "Issuer" | "ClusterIssuer") {
            continue;
        }
        let ca = &o["spec"]["ca"];
        let secret = s(ca, "secretName");
        if !ca.is_object() || secret.is_empty() {
            continue;
        }
        let sns = if k == "Issuer" {
            ns(o)
        } else {
            CLUSTER_RESOURCE_NAMESPACE
        };
        let path = "/spec/ca/secretName".to_string();
        if let Some(sec) = idx.get("Secret", sns, secret) {
            let lacking: Vec<&str> = ["tls.crt", "tls.key"]
                .into_iter()
                .filter(|key| !secret_has_key(sec, key))
                .collect();
            let problem = if !lacking.is_empty() {
                Some(format!(
                    "Secret {sns}/{secret} has no {} (its keys: {})",
                    lacking.join(" and "),
                    secret_keys(sec).join(", ")
                ))
            } else {
                ca_certificate_problem(sec).map(|p| format!("Secret {sns}/{secret}: {p}"))
            };
            if let Some(p) = problem {
                out.push((
                    i,
                    Finding::error(
                        "ref/ca-issuer-secret",
                        path,
                        format!("{p}; the {k} is not Ready and issues nothing"),
                        "a CA issuer's Secret holds the CA certificate (basicConstraints CA:true) in tls.crt and its key in tls.key, e.g. written by a Certificate with isCA: true",
                    ),
                ));
            }
            continue;
        }
        let mut by_cert = writers(idx, sns, secret).peekable();
        if by_cert.peek().is_some() {
            for c in by_cert {
                if c["spec"]["isCA"].as_bool() != Some(true) {
                    out.push((
                        i,
                        Finding::error(
                            "ref/ca-issuer-secret",
                            path.clone(),
                            format!("Certificate {sns}/{} writes Secret {secret} without isCA: true, so its certificate is not a CA and cert-manager refuses this {k} (\"certificate is not a CA\")", name(c)),
                            format!("set isCA: true on Certificate {}", name(c)),
                        ),
                    ));
                }
            }
            continue;
        }
        out.push((
            i,
            missing(
                idx,
                Scope::Outside,
                "ref/ca-issuer-secret",
                path,
                "Secret",
                sns,
                secret,
                "ca.secretName",
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_hostnames() {
        let cases = [
            ("a.example.com", "a.example.com", true),
            ("A.example.com", "a.EXAMPLE.com", true),
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "a.b.example.com", false),
            ("*.example.com", "example.com", false),
            ("*.example.com", "*.example.com", true),
            ("a.example.com", "*.example.com", false),
            ("b.example.com", "a.example.com", false),
        ];
        for (cert, host, want) in cases {
            assert_eq!(name_covers(cert, host), want, "{cert} covers {host}");
        }
    }
}
