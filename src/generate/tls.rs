//! generate_tls: a cert-manager Certificate from an existing issuer (or a self-signed one the
//! stack creates when asked), or a certificate made here for local use.

use serde_json::json;

use super::params::TlsParams;
use super::{
    GenerateError, Plan, PlannedFile, Snapshot, TlsSecretGenerator, check_not_broken,
    namespace_file, rendered,
};
use crate::intent::{self, IssuerKind, TlsIntent, TlsSource, defaults};

/// File names of a local certificate and key for a Secret.
pub fn local_files(secret: &str) -> (String, String) {
    (format!("{secret}.crt"), format!("{secret}.key"))
}

/// A freshly made self-signed certificate. `key_pem` is private key material: it goes to a
/// 0600 file and nowhere else.
pub struct LocalCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Make a self-signed ECDSA P-256 certificate for `hostnames` with rcgen.
pub fn make_local_cert(hostnames: &[String], days: u32) -> Result<LocalCert, GenerateError> {
    let internal =
        |e: rcgen::Error| GenerateError::Internal(format!("certificate generation failed: {e}"));
    let mut params = rcgen::CertificateParams::new(hostnames.to_vec()).map_err(internal)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostnames[0].clone());
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days));
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    // A self-signed END-ENTITY certificate: clients trust it as it is (--cacert, verify's --ca).
    // Marked as a CA it is refused as a server certificate by rustls/webpki (CaUsedAsEndEntity),
    // as a rehearsal against Envoy Gateway showed.
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let key = rcgen::KeyPair::generate().map_err(internal)?;
    let cert = params.self_signed(&key).map_err(internal)?;
    Ok(LocalCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// generate_tls: resolve the arguments against the stack, then build.
pub fn generate(p: &TlsParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let r = intent::resolve::tls(p, snap)?;
    let mut plan = build(&r.intent, snap)?;
    plan.defaults = r.defaulted;
    Ok(plan)
}

/// The self-signed issuer the stack creates; refuses to overwrite an issuer it did not create.
fn self_signed_issuer(
    kind: IssuerKind,
    name: &str,
    ns: &str,
    snap: &Snapshot,
) -> Result<PlannedFile, GenerateError> {
    let issuer_ns = match kind {
        IssuerKind::Issuer => ns,
        IssuerKind::ClusterIssuer => "",
    };
    let issuer = rendered(
        "issuer.yaml.j2",
        &json!({"kind": kind.as_str(), "name": name, "namespace": issuer_ns,
                "label": defaults::MANAGED_BY_LABEL, "managed_by": defaults::MANAGED_BY}),
        kind.as_str(),
        name,
        issuer_ns,
    )?;
    check_not_broken(snap, &issuer.file)?;
    if let Some(m) = snap
        .of_kind(kind.as_str())
        .find(|m| m.name() == name && m.file == issuer.file)
        && m.value["metadata"]["labels"][defaults::MANAGED_BY_LABEL] != defaults::MANAGED_BY
    {
        return Err(GenerateError::NotOurs {
            kind: kind.as_str().into(),
            name: name.into(),
            file: crate::workspace::Stack::display_path(&m.file),
        });
    }
    Ok(issuer)
}

/// Render the TLS section.
pub fn build(t: &TlsIntent, snap: &Snapshot) -> Result<Plan, GenerateError> {
    let ns = &t.namespace.name;
    let secret = &t.secret;
    let (crt, key) = local_files(secret);
    let local_exists = snap.other_files.contains(&crt) && snap.other_files.contains(&key);
    let cert_manager_cert = snap
        .of_kind("Certificate")
        .find(|m| m.namespace() == ns && m.value["spec"]["secretName"] == secret.as_str())
        .map(|m| m.file.clone());

    let mut plan = Plan::default();
    namespace_file(&t.namespace, &mut plan)?;
    match &t.source {
        TlsSource::ExistingIssuer { kind, name } | TlsSource::SelfSignedIssuer { kind, name } => {
            if local_exists {
                return Err(GenerateError::SecretWrittenTwice {
                    secret: secret.clone(),
                    existing: format!("a local certificate ({crt}, {key} and a secretGenerator)"),
                    fix: "Delete those files and the secretGenerator entry, or call generate_tls with mode local".into(),
                });
            }
            let self_signed = matches!(t.source, TlsSource::SelfSignedIssuer { .. });
            if self_signed {
                plan.files.push(self_signed_issuer(*kind, name, ns, snap)?);
            }
            let hours = u64::from(t.days) * 24;
            let renew = (hours / 6).max(1);
            let cert = rendered(
                "certificate.yaml.j2",
                &json!({
                    "name": secret, "namespace": ns, "secret_name": secret,
                    // cert-manager's webhook refuses a commonName over 64 characters
                    // (certificate.go v1.21.1); dnsNames carry the names either way
                    "common_name": if t.hostnames[0].len() <= 64 { t.hostnames[0].as_str() } else { "" },
                    "dns_names": t.hostnames,
                    "duration": format!("{hours}h"), "renew_before": format!("{renew}h"),
                    "issuer_kind": kind.as_str(), "issuer_name": name,
                }),
                "Certificate",
                secret,
                ns,
            )?;
            check_not_broken(snap, &cert.file)?;
            plan.files.push(cert);
            if self_signed {
                plan.notes.push(format!("needs cert-manager in the cluster; the self-signed {} {name} gives no trust chain (clients must trust it explicitly): for production, name your ACME or CA issuer with issuer_name", kind.as_str()));
                plan.summary = format!(
                    "self-signed {} {name} and Certificate {ns}/{secret} writing Secret {secret} for {}",
                    kind.as_str(),
                    t.hostnames.join(", ")
                );
            } else {
                plan.notes.push(format!(
                    "{} {name} must exist in the cluster{} and be Ready; nothing was created for it",
                    kind.as_str(),
                    if *kind == IssuerKind::Issuer { format!(" in namespace {ns}") } else { String::new() }
                ));
                plan.summary = format!(
                    "Certificate {ns}/{secret} from your existing {} {name}, writing Secret {secret} for {}",
                    kind.as_str(),
                    t.hostnames.join(", ")
                );
            }
        }
        TlsSource::Local { rotate } => {
            if let Some(f) = cert_manager_cert {
                return Err(GenerateError::SecretWrittenTwice {
                    secret: secret.clone(),
                    existing: format!("the Certificate in {f}"),
                    fix: format!("Delete {f} or call generate_tls with mode cert_manager"),
                });
            }
            if local_exists && !rotate {
                plan.notes.push(format!(
                    "kept the existing {crt} and {key} (pass rotate: true to replace them)"
                ));
            } else {
                let c = make_local_cert(&t.hostnames, t.days)?;
                plan.files.push(PlannedFile {
                    file: crt.clone(),
                    contents: c.cert_pem,
                    kind: "Certificate file".into(),
                    name: secret.clone(),
                    namespace: ns.clone(),
                    private: true,
                });
                plan.files.push(PlannedFile {
                    file: key.clone(),
                    contents: c.key_pem,
                    kind: "Private key file".into(),
                    name: secret.clone(),
                    namespace: ns.clone(),
                    private: true,
                });
            }
            plan.secret_generators.push(TlsSecretGenerator {
                name: secret.clone(),
                namespace: ns.clone(),
                cert_file: crt.clone(),
                key_file: key.clone(),
            });
            plan.notes.push(format!(
                "{key} is a private key (mode 0600): keep it out of version control; kustomize turns it into the Secret at apply time"
            ));
            plan.summary = format!(
                "self-signed certificate for {} ({} days), Secret {ns}/{secret} from a kustomize secretGenerator ({crt}, {key})",
                t.hostnames.join(", "),
                t.days,
            );
        }
    }
    let listener_ok = snap.of_kind("Gateway").any(|g| {
        g.namespace() == ns
            && g.value["spec"]["listeners"].as_array().is_some_and(|ls| {
                ls.iter().any(|l| {
                    l["tls"]["certificateRefs"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["name"] == secret.as_str()))
                })
            })
    });
    if !listener_ok {
        plan.notes.push(format!(
            "no Gateway in the stack references Secret {secret} yet: call generate_gateway with listeners https (or both, or https_redirect) and tls_secret: {secret}"
        ));
    }
    plan.next_step = format!("generate_scaledobject {{\"namespace\": \"{ns}\"}}");
    Ok(plan)
}
