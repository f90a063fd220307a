//! The command line, in three steps as ripgrep does it: clap parses what the user typed
//! ([`Args`], low level), [`Config::from_args`] resolves it once (the root, the CRD sources, the
//! cache folder, environment variables, formats; nothing below reads the environment), and
//! [`run`] hands each command's resolved configuration to that command's own function.
//!
//! Adding a subcommand `NAME`:
//! 1. `src/cli/NAME.rs`: its clap `Args` struct (flatten [`args::RootArg`] / [`args::CrdsArg`] if
//!    it uses them), its resolved config with `fn resolve(self, env: &Env) -> Result<..>`, and
//!    `pub fn run(config) -> anyhow::Result<ExitCode>`;
//! 2. one variant in [`args::Command`], one in [`config::Command`], one arm in
//!    [`config::Config::from_args`] and one in [`run`];
//! 3. if it is a stage of the workflow, a row in `traffic_engineer::workflow::WORKFLOW` (the
//!    help lists workflow commands in that order).

mod args;
mod cluster;
mod config;
mod crds;
mod demo;
mod generate;
mod rehearse;
mod serve;
mod validate;
mod verify;

use std::io::Write;
use std::process::ExitCode;

pub use args::parse;
pub use config::{Config, Env};

use config::Command;

/// Exit status when the command could not run (usage errors, unreadable files): 2.
const COULD_NOT_RUN: u8 = 2;

/// Run the resolved command; `Ok` carries its exit status (0 = clean, 1 = findings or failed
/// criteria), `Err` is a failure to run (exit 2).
pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    match config.command {
        Command::Serve(c) => serve::run(c),
        Command::Demo(c) => demo::run(c),
        Command::Generate(c) => generate::run(c),
        Command::Validate(c) => validate::run(c),
        Command::Verify(c) => verify::run(c),
        Command::Apply(c) => cluster::run_apply(c),
        Command::Rehearse(c) => rehearse::run(c),
        Command::RehearseInside(a) => rehearse::run_inside(a),
        Command::Status(c) => cluster::run_status(c),
        Command::Crds(c) => crds::run(c),
    }
}

/// Install the stderr log subscriber with the resolved filter.
pub fn init_logging(filter: tracing_subscriber::EnvFilter) {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// Print an error that stopped the command and give the "could not run" status.
pub fn fail(e: &anyhow::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "traffic-engineer: error: {e:#}");
    ExitCode::from(COULD_NOT_RUN)
}

/// 0 when `ok`, else 1.
fn status(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The command's own output (never used by `serve`, whose stdout carries only JSON-RPC).
#[allow(clippy::disallowed_methods)]
fn stdout() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}
