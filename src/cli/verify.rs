//! `verify`: prove the spec's criteria with real traffic against a running gateway on loopback.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use traffic_engineer::spec::live::{self, LiveOptions};
use traffic_engineer::verify::{ListenerFields, Listeners};

use super::args::Format;
use super::config::{existing_file, read_spec};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("listener").required(true).multiple(true).args(["gateway", "https_gateway"])))]
pub struct VerifyArgs {
    /// The spec file (traffic-spec.md).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// The gateway's listener on loopback: 127.0.0.1:PORT or http://127.0.0.1:PORT (plain
    /// HTTP, as `kubectl port-forward` prints it), or https://127.0.0.1:PORT.
    #[arg(long, value_name = "ADDRESS")]
    gateway: Option<String>,
    /// The HTTPS listener on loopback, when --gateway is the plain-HTTP one:
    /// https://127.0.0.1:PORT.
    #[arg(long, value_name = "ADDRESS")]
    https_gateway: Option<String>,
    /// PEM certificate to trust for HTTPS (e.g. the stack's self-signed certificate).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Host header and TLS SNI [default: the spec's first hostname].
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// A path that answers in 200 ms or more, for the circuit-breaker check.
    #[arg(long, value_name = "PATH", default_value = "/slow")]
    slow_path: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Also read the cluster (--kubeconfig/--context, or KUBECONFIG) for the criteria only a
    /// cluster proves (SC-004: the ScaledObject's Ready and its min/max); the stack is the one
    /// beside the spec.
    #[arg(long)]
    cluster: bool,
    #[command(flatten)]
    connect: traffic_engineer::cluster::cli::ConnectArgs,
}

pub struct Verify {
    cluster: Option<traffic_engineer::cluster::cli::ConnectArgs>,
    spec: PathBuf,
    listeners: Listeners,
    ca: Option<PathBuf>,
    host: Option<String>,
    slow_path: String,
    format: Format,
}

impl VerifyArgs {
    /// Listener addresses are checked here: a malformed or non-loopback one is one usage error
    /// naming the flag, before anything is read or sent.
    pub fn resolve(self) -> anyhow::Result<Verify> {
        let listeners = Listeners::parse(
            self.gateway.as_deref(),
            self.https_gateway.as_deref(),
            ListenerFields::CLI,
        )?;
        Ok(Verify {
            cluster: self.cluster.then_some(self.connect),
            spec: existing_file("--spec", self.spec)?,
            listeners,
            ca: self.ca.map(|p| existing_file("--ca", p)).transpose()?,
            host: self.host,
            slow_path: self.slow_path,
            format: self.format,
        })
    }
}

pub fn run(c: Verify) -> anyhow::Result<ExitCode> {
    let (spec, _) = read_spec(&c.spec)?;
    let ca_pem = match &c.ca {
        Some(p) => Some(
            std::fs::read_to_string(p).with_context(|| format!("reading --ca {}", p.display()))?,
        ),
        None => None,
    };
    let host = c
        .host
        .or_else(|| spec.gateway.hostnames.first().cloned())
        .unwrap_or_default();
    let target = live::target(&c.listeners, &host, ca_pem, ListenerFields::CLI);
    let opts = LiveOptions {
        slow_path: c.slow_path,
        ..Default::default()
    };
    let verdicts = match &c.cluster {
        Some(connect) => {
            let root = c.spec.parent().unwrap_or(std::path::Path::new("."));
            let root = if root.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                root
            };
            super::cluster::block_on(async {
                let stack = traffic_engineer::cluster::cli::stack_at(root)?;
                let cl = traffic_engineer::cluster::connect(&connect.options()).await?;
                Ok::<_, traffic_engineer::cluster::ClusterError>(
                    traffic_engineer::cluster::status(&cl, &stack, Some(&spec))
                        .await?
                        .cluster_verdicts(&spec),
                )
            })??
        }
        None => Vec::new(),
    };
    let (rows, results) = live::verify(&spec, &target, &opts, &mut |done, total, id| {
        tracing::info!(done, total, check = id, "verify progress")
    })?;
    let rows = live::with_cluster_verdicts(rows, &verdicts);
    let mut out = super::stdout();
    match c.format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"criteria": rows, "checks": results})
            )?
        )?,
        Format::Text => {
            for r in &rows {
                writeln!(out, "{}", r.to_text())?;
            }
        }
    }
    let bad = rows
        .iter()
        .any(|r| matches!(r.status.as_str(), "FAIL" | "UNREACHABLE" | "INVALID"));
    Ok(super::status(!bad))
}
