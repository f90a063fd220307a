//! `serve` (the default): MCP over stdio for an assistant.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rmcp::{ServiceExt, transport::stdio};

use traffic_engineer::mcp::TrafficServer;
use traffic_engineer::workspace::Stack;

use super::args::{CrdsArg, RootArg};
use super::config::{Env, root_or_current};

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    root: RootArg,
    #[command(flatten)]
    crds: CrdsArg,
}

/// Resolved: the root (canonical, so every path the server names is absolute) and the CRDs.
pub struct Serve {
    root: PathBuf,
    crds: Vec<PathBuf>,
    openapi: Option<PathBuf>,
    load_cache: Option<PathBuf>,
}

impl ServeArgs {
    pub fn resolve(self, env: &Env) -> anyhow::Result<Serve> {
        let given = root_or_current(&self.root);
        let root = given
            .canonicalize()
            .with_context(|| format!("--root {}", given.display()))?;
        Ok(Serve {
            root,
            openapi: env.openapi_source(&self.crds),
            crds: env.crd_sources(&self.crds),
            load_cache: env.load_cache(&self.crds)?,
        })
    }
}

pub fn run(c: Serve) -> anyhow::Result<ExitCode> {
    tracing::info!(root = %c.root.display(), "serving MCP over stdio");
    let stack = Stack::new(c.root);
    // a crash between a manifest's rename and the kustomization's leaves it one file behind:
    // bring it in step before serving
    if let Err(e) = stack.reconcile() {
        tracing::warn!(error = %e, "could not reconcile the kustomization");
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // the server starts loading the CRDs in the background: inside the runtime
    let result = rt.block_on(async {
        serve(TrafficServer::with_schema_sources(
            stack,
            c.crds,
            c.openapi,
            c.load_cache,
        ))
        .await
    });
    // let a write in progress finish its rename (new calls are refused from here on)
    traffic_engineer::workspace::wait_for_writes(Duration::from_secs(10));
    // stdin's reader thread may still block in read(2): do not wait for it
    rt.shutdown_background();
    result.map(|()| ExitCode::SUCCESS)
}

/// Serve until end of input, SIGTERM or SIGINT (a clean stop, exit 0, during the handshake
/// too). Writes are atomic renames under the stack lock, so stopping never leaves a partial
/// file (a temporary file of an interrupted write is removed on the next call).
async fn serve(server: TrafficServer) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let run = async {
        let service = match server.serve(stdio()).await {
            Ok(s) => s,
            // the client closed stdin before (or instead of) initializing: a clean end
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(e) => return Err(anyhow::Error::new(e).context("MCP handshake failed")),
        };
        service.waiting().await?;
        anyhow::Ok(())
    };
    tokio::select! {
        r = run => r?,
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
    Ok(())
}
