//! `rehearse`: run the stack on Envoy Gateway (standalone) with the real Envoy, the rate-limit
//! service and Redis, verify the spec against it, stop everything; and its hidden inner half,
//! which runs inside the rehearsal's namespaces (the MCP tool re-executes this binary too).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::args::{Format, RootArg};
use super::config::{existing_file, root_or_current};

#[derive(clap::Args)]
pub struct RehearseArgs {
    /// The spec file.
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    #[command(flatten)]
    root: RootArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Seconds to wait for Envoy and the rate-limit service to be ready.
    #[arg(long, value_name = "S", default_value_t = 60)]
    ready_timeout: u64,
}

#[derive(clap::Args)]
pub struct InsideArgs {
    session: PathBuf,
}

pub struct Rehearse {
    spec: PathBuf,
    root: PathBuf,
    format: Format,
    ready_timeout: u64,
}

impl RehearseArgs {
    pub fn resolve(self) -> anyhow::Result<Rehearse> {
        Ok(Rehearse {
            spec: existing_file("--spec", self.spec)?,
            root: root_or_current(&self.root),
            format: self.format,
            ready_timeout: self.ready_timeout,
        })
    }
}

/// The compliance table of the rehearsed gateway; exit 1 on any FAIL, UNREACHABLE, INVALID or
/// NOT-REHEARSED row, 2 when the rehearsal could not run.
pub fn run(c: Rehearse) -> anyhow::Result<ExitCode> {
    let spec_text = std::fs::read_to_string(&c.spec)
        .with_context(|| format!("reading {}", c.spec.display()))?;
    let opts = traffic_engineer::rehearse::Options {
        spec_text,
        root: c.root,
        self_exe: std::env::current_exe().context("locating the traffic-engineer binary")?,
        ready_timeout: std::time::Duration::from_secs(c.ready_timeout),
    };
    let mut out = super::stdout();
    match traffic_engineer::rehearse::rehearse(&opts) {
        Ok(r) => {
            if c.format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                for s in &r.supplied {
                    tracing::info!(supplied = %s, "rehearse");
                }
                for s in &r.steps {
                    tracing::info!(step = %s, "rehearse");
                }
                write!(out, "{}", r.to_text())?;
            }
            Ok(super::status(!r.failed()))
        }
        Err(e) => {
            if c.format == Format::Json {
                writeln!(out, "{}", serde_json::json!({"error": e.to_string()}))?;
            } else {
                writeln!(out, "NOT-REHEARSED: {e}")?;
            }
            Ok(ExitCode::from(2))
        }
    }
}

pub fn run_inside(a: InsideArgs) -> anyhow::Result<ExitCode> {
    let code = traffic_engineer::rehearse::inside::main(&a.session);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
