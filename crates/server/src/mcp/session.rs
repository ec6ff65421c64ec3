//! Per-session state of the legacy (2025-11-25) era: log level, resource subscriptions, and
//! the task that forwards node events to the client.
//!
//! A [`SessionSlot`] lives as long as its handler instance: one per HTTP session, stdio
//! process or WebSocket connection. Stateless (2026-07-28) requests get a fresh, empty slot.

#![allow(deprecated)] // resources/subscribe and logging are legacy-only in rmcp 3.x.

use mcpflow_model::Event;
use mcpflow_node::Node;
use rmcp::model::{LoggingLevel, ResourceUpdatedNotificationParam};
use rmcp::{Peer, RoleServer};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::AbortHandle;

/// The level a session logs at until the client sets one.
const DEFAULT_LOG_LEVEL: LoggingLevel = LoggingLevel::Info;

/// State kept for one client session.
#[derive(Debug)]
pub struct SessionSlot {
    id: Mutex<Option<String>>,
    log_level: Mutex<LoggingLevel>,
    subscriptions: Arc<Mutex<HashSet<String>>>,
    forwarder: Mutex<Option<AbortHandle>>,
}

impl SessionSlot {
    /// A slot for a session; `id` is known up front for stdio and WebSocket, and learnt from
    /// the `Mcp-Session-Id` header for HTTP.
    pub fn new(id: Option<String>) -> Self {
        Self {
            id: Mutex::new(id),
            log_level: Mutex::new(DEFAULT_LOG_LEVEL),
            subscriptions: Arc::default(),
            forwarder: Mutex::new(None),
        }
    }

    /// The session id, once known.
    pub fn id(&self) -> Option<String> {
        self.id.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records the id if none is known yet; returns the id now held.
    pub fn learn_id(&self, id: &str) -> String {
        let mut slot = self.id.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert_with(|| id.to_owned()).clone()
    }

    /// The minimum level of log notifications sent to this session.
    pub fn log_level(&self) -> LoggingLevel {
        *self.log_level.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the minimum log level (`logging/setLevel`).
    pub fn set_log_level(&self, level: LoggingLevel) {
        *self.log_level.lock().unwrap_or_else(|p| p.into_inner()) = level;
    }

    /// Subscribes to updates of `uri`.
    pub fn subscribe(&self, uri: &str) {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uri.to_owned());
    }

    /// Unsubscribes from `uri`; returns whether it was subscribed.
    pub fn unsubscribe(&self, uri: &str) -> bool {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uri)
    }

    /// Starts forwarding node events to `peer` (once per session): `resources/updated` for
    /// subscribed URIs, `list_changed` for catalog changes. Stops when the client goes away
    /// or the slot is dropped.
    pub fn start_forwarding(&self, node: &Node, peer: Peer<RoleServer>) {
        let mut forwarder = self.forwarder.lock().unwrap_or_else(|p| p.into_inner());
        if forwarder.is_some() {
            return;
        }
        let events = node.events();
        let subscriptions = self.subscriptions.clone();
        let task = tokio::spawn(forward(events, subscriptions, peer));
        *forwarder = Some(task.abort_handle());
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        if let Some(task) = self.forwarder.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

async fn forward(
    mut events: tokio::sync::broadcast::Receiver<Event>,
    subscriptions: Arc<Mutex<HashSet<String>>>,
    peer: Peer<RoleServer>,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "session fell behind the event bus; some updates were skipped"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if peer.is_transport_closed() {
            return;
        }
        let sent = match event {
            Event::ResourceUpdated { uri } => {
                let subscribed = subscriptions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&uri);
                if !subscribed {
                    continue;
                }
                peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                    .await
            }
            Event::ListChanged { list } => match list.as_str() {
                "tools" => peer.notify_tool_list_changed().await,
                "resources" => peer.notify_resource_list_changed().await,
                "prompts" => peer.notify_prompt_list_changed().await,
                _ => continue,
            },
            Event::SessionStateChanged { .. }
            | Event::AgentChanged { .. }
            | Event::TaskChanged { .. }
            | Event::SwarmChanged { .. } => continue,
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "session gone; event forwarding stops");
            return;
        }
    }
}
