//! `apply` and `status`: the cluster half (src/cluster), run on a tokio runtime of their own
//! (the other commands are synchronous).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use traffic_engineer::cluster::cli::{ApplyArgs, StatusArgs};

/// Run a future of the cluster half to completion.
pub fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f))
}

pub struct Apply {
    args: ApplyArgs,
}

pub struct Status {
    args: StatusArgs,
}

pub fn resolve_apply(args: ApplyArgs) -> Apply {
    Apply { args }
}

pub fn resolve_status(args: StatusArgs) -> Status {
    Status { args }
}

fn print(text: &str, code: i32) -> anyhow::Result<ExitCode> {
    write!(super::stdout(), "{text}")?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

pub fn run_apply(c: Apply) -> anyhow::Result<ExitCode> {
    let root = PathBuf::from(".");
    let (text, code) = block_on(traffic_engineer::cluster::cli::apply(&c.args, &root))??;
    print(&text, code)
}

pub fn run_status(c: Status) -> anyhow::Result<ExitCode> {
    let root = PathBuf::from(".");
    let (text, code) = block_on(traffic_engineer::cluster::cli::status(&c.args, &root))??;
    print(&text, code)
}
