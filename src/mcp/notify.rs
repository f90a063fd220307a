//! What the server tells a client without being asked: resource changes after a write
//! (`notifications/resources/list_changed` and `notifications/resources/updated`) and log
//! messages (`notifications/message`).
//!
//! Two protocol eras (see ../shared/docs/mcp.md):
//! * 2025-11-25 (session, `initialize`): list_changed goes to the peer after every write;
//!   `resources/updated` only for URIs the client subscribed to with `resources/subscribe`.
//!   Log messages at or above the level set with `logging/setLevel` (default: warning).
//! * 2026-07-28 (no session): notifications go only through an open `subscriptions/listen`
//!   stream, filtered by what that stream accepted; a log message only when the request itself
//!   carried `_meta["io.modelcontextprotocol/logLevel"]` (rmcp does not gate this for us).

use std::collections::BTreeSet;
use std::sync::Mutex;

use rmcp::{
    RoleServer,
    model::*,
    service::{RequestContext, SubscriptionSendError, SubscriptionSink},
};

/// Subscriptions of the connected client(s). One per server; cheap to share behind an Arc.
#[derive(Default)]
pub struct Watchers {
    /// 2025-11-25 `resources/subscribe` URIs.
    subscribed: Mutex<BTreeSet<String>>,
    /// 2026-07-28 `subscriptions/listen` streams that are open.
    streams: Mutex<Vec<SubscriptionSink>>,
    /// Threshold set by `logging/setLevel` (2025-11-25 era).
    level: Mutex<Option<LoggingLevel>>,
}

/// Whether a request uses the 2026-07-28 era (no unsolicited notifications, per-request log level).
pub fn modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

fn rank(l: LoggingLevel) -> u8 {
    match l {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl Watchers {
    pub fn subscribe(&self, uri: String) {
        self.subscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uri);
    }

    pub fn unsubscribe(&self, uri: &str) {
        self.subscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uri);
    }

    pub fn open(&self, sink: SubscriptionSink) {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sink);
    }

    pub fn close(&self, id: &RequestId) {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| s.id() != id);
    }

    pub fn set_level(&self, level: LoggingLevel) {
        *self.level.lock().unwrap_or_else(|p| p.into_inner()) = Some(level);
    }

    /// Tell the client(s) that the stack changed: the list (files may have been added) and each
    /// URI in `changed` (files whose content changed). Called after every write that changed
    /// something; send failures only mean the client is gone.
    pub async fn stack_changed(&self, ctx: &RequestContext<RoleServer>, changed: &[String]) {
        if !modern(ctx) {
            let _ = ctx.peer.notify_resource_list_changed().await;
            let subscribed: Vec<String> = {
                let set = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
                changed
                    .iter()
                    .filter(|u| set.contains(*u))
                    .cloned()
                    .collect()
            };
            for uri in subscribed {
                let _ = ctx
                    .peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                    .await;
            }
        }
        let streams: Vec<SubscriptionSink> = self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for sink in streams {
            if let Err(SubscriptionSendError::SubscriptionClosed) =
                sink.notify_resource_list_changed().await
            {
                self.close(sink.id());
                continue;
            }
            for uri in changed {
                // the sink drops URIs its stream did not accept
                let _ = sink.notify_resource_updated(uri.clone()).await;
            }
        }
    }

    /// Send a log message to the client of `ctx` if its level lets it through.
    pub async fn log(
        &self,
        ctx: &RequestContext<RoleServer>,
        level: LoggingLevel,
        logger: &str,
        message: String,
    ) {
        let threshold = if modern(ctx) {
            match ctx.meta.log_level() {
                Some(l) => l,
                None => return,
            }
        } else {
            self.level
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or(LoggingLevel::Warning)
        };
        if rank(level) < rank(threshold) {
            return;
        }
        let _ = ctx
            .peer
            .notify_logging_message(
                LoggingMessageNotificationParam::new(level, serde_json::Value::String(message))
                    .with_logger(logger),
            )
            .await;
    }
}
