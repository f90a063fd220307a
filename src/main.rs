//! traffic-engineer: `serve` (the default) speaks MCP over stdio; the other commands build,
//! check and prove the stack from the command line. See `cli` for the arguments-to-
//! configuration step and the commands.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let env = cli::Env::from_process();
    let config = match cli::Config::from_args(cli::parse(), &env) {
        Ok(config) => config,
        Err(e) => return cli::fail(&e),
    };
    cli::init_logging(config.log_filter.clone());
    cli::run(config).unwrap_or_else(|e| cli::fail(&e))
}
