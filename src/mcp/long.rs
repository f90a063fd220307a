//! Long calls (verify today; rehearse and apply later): a blocking worker that reports progress
//! and stops when the client cancels the request.
//!
//! MCP (basic/utilities/cancellation): after `notifications/cancelled` the receiver SHOULD stop
//! processing and MUST NOT send a response. rmcp already drops the response and cancels the
//! request's token (`RequestContext::ct`); this helper carries that token to the blocking worker
//! as an [`AtomicBool`] the worker polls between requests, and stops forwarding progress the
//! moment the token fires, so nothing at all is sent for a cancelled request.
//!
//! Usage from a tool:
//! ```ignore
//! let out = long::run_blocking(&ctx, "verifying", move |job| {
//!     target.cancel = job.cancel.clone();            // the engine polls it
//!     engine::run(&target, &mut |done, total, id| job.progress(done, total, format!("{id} checked")))
//! }).await;
//! match out { Ok(v) => ..., Err(stop) => return stop.into_result() }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rmcp::{RoleServer, model::*, service::RequestContext};

/// What a worker gets: the cancel flag to poll and a progress sink.
pub struct Job {
    /// Set once the client cancelled the request (or the connection closed). Poll it before
    /// every unit of outside work; once set, start nothing new and return.
    pub cancel: Arc<AtomicBool>,
    tx: tokio::sync::mpsc::UnboundedSender<(usize, usize, String)>,
}

impl Job {
    /// Report `done` of `total` steps with a short message. Dropped after a cancel.
    pub fn progress(&self, done: usize, total: usize, message: String) {
        if !self.cancelled() {
            let _ = self.tx.send((done, total, message));
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

/// Why a long call returned no value.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// The client cancelled the request; rmcp sends no response for it.
    #[error("cancelled by the client")]
    Cancelled,
    /// The worker panicked or could not be joined.
    #[error("internal error while {0}; nothing was changed by this call")]
    Failed(&'static str),
}

impl Stopped {
    /// The tool result for a stopped call (never sent for a cancelled request: rmcp drops it).
    pub fn into_result(self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(self.to_string())])
    }
}

/// Run `work` on a blocking thread. Progress goes to the client as `notifications/progress`
/// when the request carried a progress token and until the request is cancelled. On cancel the
/// worker's flag is set at once; the call then waits for the worker to return (it stops within
/// one request) and yields [`Stopped::Cancelled`].
pub async fn run_blocking<T, W>(
    ctx: &RequestContext<RoleServer>,
    what: &'static str,
    work: W,
) -> Result<T, Stopped>
where
    T: Send + 'static,
    W: FnOnce(&Job) -> T + Send + 'static,
{
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let job = Job {
        cancel: cancel.clone(),
        tx,
    };
    let mut worker = tokio::task::spawn_blocking(move || work(&job));
    let token = ctx.meta.get_progress_token();
    let ct = ctx.ct.clone();
    loop {
        tokio::select! {
            biased;
            _ = ct.cancelled() => {
                cancel.store(true, Ordering::SeqCst);
                tracing::info!(what, "request cancelled: stopping the worker");
                rx.close();
                let _ = (&mut worker).await;
                return Err(Stopped::Cancelled);
            }
            msg = rx.recv() => match msg {
                Some((done, total, message)) => {
                    if let Some(t) = &token && !ct.is_cancelled() {
                        let _ = ctx
                            .peer
                            .notify_progress(
                                ProgressNotificationParam::new(t.clone(), done as f64)
                                    .with_total(total as f64)
                                    .with_message(message),
                            )
                            .await;
                    }
                }
                // the worker dropped its sender: it has returned
                None => break,
            },
        }
    }
    let joined = worker.await;
    if ct.is_cancelled() {
        return Err(Stopped::Cancelled);
    }
    joined.map_err(|_| Stopped::Failed(what))
}
