//! generate_tls: self-signed TLS for local use, through cert-manager or made here.

use serde_json::json;

use super::params::{IssuerKind, TlsMode, TlsParams};
use super::{
    GenerateError, Plan, PlannedFile, Snapshot, TlsSecretGenerator, namespace_file, rendered,
};
use crate::names::{self, InputError};

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
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    // self-signed: the certificate is its own CA, so clients can trust it with --cacert
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    let key = rcgen::KeyPair::generate().map_err(internal)?;
    let cert = params.self_signed(&key).map_err(internal)?;
    Ok(LocalCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

pub fn generate(p: &TlsParams, snap: &Snapshot) -> Result<Plan, GenerateError> {
    names::label("namespace", &p.namespace)?;
    names::subdomain("secret_name", &p.secret_name)?;
    if p.secret_name.contains('.') {
        return Err(InputError::new(
            "secret_name",
            "dots are not allowed here",
            "a DNS-1123 label such as task-api-tls",
        )
        .into());
    }
    if p.hostnames.is_empty() || p.hostnames.len() > 16 {
        return Err(InputError::new(
            "hostnames",
            format!("{} entries", p.hostnames.len()),
            "1 to 16 hostnames, e.g. [\"task-api.example.com\"]",
        )
        .into());
    }
    for (i, h) in p.hostnames.iter().enumerate() {
        names::hostname(&format!("hostnames[{i}]"), h)?;
    }
    if !(1..=3650).contains(&p.days) {
        return Err(
            InputError::new("days", p.days.to_string(), "a validity from 1 to 3650 days").into(),
        );
    }
    let (crt, key) = local_files(&p.secret_name);
    let local_exists = snap.other_files.contains(&crt) && snap.other_files.contains(&key);
    let cert_manager_cert = snap
        .of_kind("Certificate")
        .find(|m| {
            m.namespace() == p.namespace && m.value["spec"]["secretName"] == p.secret_name.as_str()
        })
        .map(|m| m.file.clone());

    let mut plan = Plan::default();
    if let Some(ns) = namespace_file(&p.namespace)? {
        plan.files.push(ns);
    }
    match p.mode {
        TlsMode::CertManager => {
            if local_exists {
                return Err(GenerateError::Conflict(format!(
                    "a local certificate for Secret {0} exists ({crt}, {key} and a secretGenerator); both would write the Secret. Delete those files and the secretGenerator entry, or call generate_tls with mode local",
                    p.secret_name
                )));
            }
            names::object_name("issuer_name", &p.issuer_name)?;
            let (kind, issuer_name, issuer_ns) = match p.issuer_kind {
                IssuerKind::Issuer => (
                    "Issuer",
                    format!("{}-issuer", p.issuer_name),
                    p.namespace.as_str(),
                ),
                IssuerKind::ClusterIssuer => (
                    "ClusterIssuer",
                    format!("{}-cluster-issuer", p.issuer_name),
                    "",
                ),
            };
            names::object_name("issuer_name", &issuer_name)?;
            let issuer = rendered(
                "issuer.yaml.j2",
                &json!({"kind": kind, "name": issuer_name, "namespace": issuer_ns}),
                kind,
                &issuer_name,
                issuer_ns,
            )?;
            snap.check_not_broken(&issuer.file)?;
            plan.files.push(issuer);
            let hours = u64::from(p.days) * 24;
            let renew = (hours / 6).max(1);
            let cert = rendered(
                "certificate.yaml.j2",
                &json!({
                    "name": p.secret_name, "namespace": p.namespace, "secret_name": p.secret_name,
                    "common_name": p.hostnames[0], "dns_names": p.hostnames,
                    "duration": format!("{hours}h"), "renew_before": format!("{renew}h"),
                    "issuer_kind": kind, "issuer_name": issuer_name,
                }),
                "Certificate",
                &p.secret_name,
                &p.namespace,
            )?;
            snap.check_not_broken(&cert.file)?;
            plan.files.push(cert);
            plan.notes.push("needs cert-manager in the cluster; a self-signed leaf has no trust chain (clients must trust it explicitly)".into());
            plan.summary = format!(
                "self-signed {kind} {issuer_name} and Certificate {}/{} writing Secret {} for {}",
                p.namespace,
                p.secret_name,
                p.secret_name,
                p.hostnames.join(", ")
            );
        }
        TlsMode::Local => {
            if let Some(f) = cert_manager_cert {
                return Err(GenerateError::Conflict(format!(
                    "Certificate in {f} already writes Secret {}; both would write it. Delete {f} or call generate_tls with mode cert_manager",
                    p.secret_name
                )));
            }
            if local_exists && !p.rotate {
                plan.notes.push(format!(
                    "kept the existing {crt} and {key} (pass rotate: true to replace them)"
                ));
            } else {
                let c = make_local_cert(&p.hostnames, p.days)?;
                plan.files.push(PlannedFile {
                    file: crt.clone(),
                    contents: c.cert_pem,
                    kind: "Certificate file".into(),
                    name: p.secret_name.clone(),
                    namespace: p.namespace.clone(),
                    private: true,
                });
                plan.files.push(PlannedFile {
                    file: key.clone(),
                    contents: c.key_pem,
                    kind: "Private key file".into(),
                    name: p.secret_name.clone(),
                    namespace: p.namespace.clone(),
                    private: true,
                });
            }
            plan.secret_generators.push(TlsSecretGenerator {
                name: p.secret_name.clone(),
                namespace: p.namespace.clone(),
                cert_file: crt.clone(),
                key_file: key.clone(),
            });
            plan.notes.push(format!(
                "{key} is a private key (mode 0600): keep it out of version control; kustomize turns it into the Secret at apply time"
            ));
            plan.summary = format!(
                "self-signed certificate for {} ({} days), Secret {}/{} from a kustomize secretGenerator ({crt}, {key})",
                p.hostnames.join(", "),
                p.days,
                p.namespace,
                p.secret_name
            );
        }
    }
    let listener_ok = snap.of_kind("Gateway").any(|g| {
        g.namespace() == p.namespace
            && g.value["spec"]["listeners"].as_array().is_some_and(|ls| {
                ls.iter().any(|l| {
                    l["tls"]["certificateRefs"].as_array().is_some_and(|refs| {
                        refs.iter().any(|r| r["name"] == p.secret_name.as_str())
                    })
                })
            })
    });
    if !listener_ok {
        plan.notes.push(format!(
            "no Gateway in the stack references Secret {} yet: call generate_gateway with https: true and tls_secret: {}",
            p.secret_name, p.secret_name
        ));
    }
    plan.next_step = format!(
        "generate_scaledobject {{\"namespace\": \"{}\"}}",
        p.namespace
    );
    Ok(plan)
}
