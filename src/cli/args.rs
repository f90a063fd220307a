//! What the user typed, as clap parses it. Each command's options live in its own file and are
//! shown only on that command; resolution into a [`super::Config`] happens in `config.rs`.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use super::{crds, demo, generate, serve, validate, verify};

#[derive(Parser)]
#[command(
    name = "traffic-engineer",
    version,
    about = "Build, check and prove a Gateway API / Envoy Gateway / KEDA traffic stack",
    long_about = "Build, check and prove a Gateway API / Envoy Gateway / KEDA traffic stack.\n\n\
                  With no command it serves MCP over stdio (`serve`). Logs go to stderr: \
                  warnings only, or info when serving; set TRAFFIC_ENGINEER_LOG or RUST_LOG \
                  (an EnvFilter directive such as `debug`) for more.",
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    /// The options of `serve`, the default command.
    #[command(flatten)]
    pub serve: serve::ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve MCP over stdio (the default).
    Serve(serve::ServeArgs),
    /// Build the Task API stack with the default arguments of every tool, then validate it.
    Demo(demo::DemoArgs),
    /// Build the whole stack from a traffic spec (traffic-spec.md).
    Generate(generate::GenerateArgs),
    /// Check YAML files or folders offline (default: the stack): findings with file, line and
    /// fix; with --spec, a PASS/FAIL row per success criterion.
    Validate(validate::ValidateArgs),
    /// Apply the stack to a cluster: server-side dry run of everything first, then server-side
    /// apply in the kustomization's order, then wait for the controllers (writes only with --yes).
    Apply(traffic_engineer::cluster::cli::ApplyArgs),
    /// The live conditions of every object of the stack in the cluster, and the criteria they prove.
    Status(traffic_engineer::cluster::cli::StatusArgs),
    /// Prove the spec's criteria with real traffic against a running gateway on loopback.
    Verify(verify::VerifyArgs),
    /// Rehearse: run the stack (ROOT/traffic/, generated from the spec when absent) on Envoy
    /// Gateway in standalone mode with the real Envoy and the rate-limit service, verify the
    /// spec's criteria against it, then stop everything.
    Rehearse(super::rehearse::RehearseArgs),
    /// The inner half of `rehearse` (runs inside its namespaces).
    #[command(hide = true)]
    RehearseInside(super::rehearse::InsideArgs),
    /// Manage the upstream CRDs the schema and CEL checks use.
    Crds(crds::CrdsArgs),
}

/// `--root`, for the commands that read or write the stack.
#[derive(clap::Args)]
pub struct RootArg {
    /// The root; the stack is ROOT/traffic/ [default: the current folder].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// `--crds`, for the commands that run the schema and CEL checks.
#[derive(clap::Args)]
pub struct CrdsArg {
    /// CRD YAML file or folder for the schema and CEL checks (repeatable). Also read:
    /// TRAFFIC_ENGINEER_CRDS (a path list), then the `crds fetch` cache.
    #[arg(long, value_name = "PATH")]
    pub crds: Vec<PathBuf>,
    /// Folder of Kubernetes' OpenAPI v3 documents (api/openapi-spec/v3/*_openapi.json) for the
    /// built-in kinds' schemas. Also read: TRAFFIC_ENGINEER_OPENAPI, then the `crds fetch`
    /// cache's kubernetes-openapi folder.
    #[arg(long, value_name = "DIR")]
    pub openapi: Option<PathBuf>,
    /// Read every CRD and OpenAPI document afresh: neither use nor fill the load cache (the
    /// cache folder's load-cache/, which keeps each CRD file's index and each parsed schema).
    /// Also: TRAFFIC_ENGINEER_NO_CACHE=1.
    #[arg(long)]
    pub no_cache: bool,
}

/// Output of `generate` and `verify`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Output of `validate`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    #[default]
    Text,
    Json,
    Sarif,
}

/// Commands listed before the workflow's (the default, then the demo) and after it.
const BEFORE_WORKFLOW: &[&str] = &["serve", "demo"];
const AFTER_WORKFLOW: &[&str] = &["rehearse", "crds", "rehearse-inside"];

/// The clap command, its subcommands in help in workflow order
/// (`traffic_engineer::workflow::commands`).
pub fn command() -> clap::Command {
    let order: Vec<&str> = BEFORE_WORKFLOW
        .iter()
        .copied()
        .chain(traffic_engineer::workflow::commands())
        .chain(AFTER_WORKFLOW.iter().copied())
        .collect();
    let mut cmd = Args::command();
    for (i, name) in order.iter().enumerate() {
        if cmd.find_subcommand(name).is_some() {
            cmd = cmd.mut_subcommand(*name, |s| s.display_order(i));
        }
    }
    cmd
}

/// Parse the process's arguments; a usage error exits 2 with clap's message.
pub fn parse() -> Args {
    let matches = command().get_matches();
    Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_a_place_in_the_help_order() {
        let known: Vec<&str> = BEFORE_WORKFLOW
            .iter()
            .copied()
            .chain(traffic_engineer::workflow::commands())
            .chain(AFTER_WORKFLOW.iter().copied())
            .collect();
        for s in command().get_subcommands() {
            assert!(
                known.contains(&s.get_name()),
                "{} is not placed in the help order",
                s.get_name()
            );
        }
    }
}
