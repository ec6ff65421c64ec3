//! [`SessionRegistry`]: rmcp's in-memory session manager, with what it lacks — a count for the
//! session limit, a durable record of each session in the node's store, and cleanup of
//! sessions whose worker ended (idle timeout, handshake timeout), which rmcp leaves in its map.
//!
//! A session's end is observed where it cannot be missed: the session's transport is dropped
//! when its service loop stops, whatever the reason.

use futures::{Stream, StreamExt};
use mcpflow_model::Transport as TransportKind;
use mcpflow_node::{Node, SessionOutcome};
use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::mcp::{BoxFuture, StreamControl};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

const TRANSPORT_LABEL: &str = "streamable_http";

/// Live HTTP sessions: rmcp's manager plus accounting.
#[derive(Debug)]
pub struct SessionRegistry {
    inner: LocalSessionManager,
    live: Arc<Mutex<HashSet<SessionId>>>,
    /// Open POST streams: (session, JSON-RPC request id) → rmcp's per-POST stream number,
    /// learnt from the stream's event ids (`<index>/<stream>`). Entries leave with their stream.
    streams: Arc<Mutex<HashMap<(SessionId, String), u64>>>,
    ended: mpsc::UnboundedSender<SessionId>,
    node: Node,
}

impl SessionRegistry {
    /// Wraps `inner`; spawns the task that buries ended sessions. Sessions are recorded in
    /// `node`'s store.
    pub fn new(inner: LocalSessionManager, node: Node) -> Arc<Self> {
        let (ended, mut ended_rx) = mpsc::unbounded_channel::<SessionId>();
        let registry = Arc::new(Self {
            inner,
            live: Arc::default(),
            streams: Arc::default(),
            ended,
            node,
        });
        let weak = Arc::downgrade(&registry);
        tokio::spawn(async move {
            while let Some(id) = ended_rx.recv().await {
                let Some(registry) = weak.upgrade() else {
                    return;
                };
                registry.bury(&id, SessionOutcome::Expired).await;
            }
        });
        registry
    }

    /// Sessions currently open.
    pub fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` names an open session.
    pub fn contains(&self, id: &str) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// Removes `id` everywhere and records its end, once.
    async fn bury(&self, id: &SessionId, outcome: SessionOutcome) {
        let was_live = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Err(e) = self.inner.close_session(id).await {
            tracing::debug!(session_id = %id, error = %e, "closing an ended session");
        }
        if !was_live {
            return;
        }
        metrics::gauge!("mcpflow_sessions_active", "transport" => TRANSPORT_LABEL).decrement(1.0);
        tracing::info!(session_id = %id, ?outcome, "session ended");
        if let Err(e) = self.node.session_ended(id, outcome).await {
            tracing::warn!(session_id = %id, error = %e, "could not record session end");
        }
    }
}

/// Records which rmcp stream number serves one POST; forgets it when the stream is dropped.
#[derive(Debug)]
struct StreamEntry {
    streams: Arc<Mutex<HashMap<(SessionId, String), u64>>>,
    key: (SessionId, String),
    learned: bool,
}

impl StreamEntry {
    /// Records the stream number from the first event that carries one (the priming event).
    fn learn(&mut self, item: &ServerSseMessage) {
        let Some(stream) = item
            .event_id
            .as_deref()
            .and_then(|id| id.split_once('/'))
            .and_then(|(_, stream)| stream.parse::<u64>().ok())
        else {
            return;
        };
        self.learned = true;
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.key.clone(), stream);
    }
}

impl Drop for StreamEntry {
    fn drop(&mut self) {
        if !self.learned {
            return;
        }
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl StreamControl for SessionRegistry {
    fn close_request_stream(
        &self,
        session: &str,
        request_id: &str,
        retry: Duration,
    ) -> BoxFuture<bool> {
        let key: (SessionId, String) = (session.into(), request_id.to_owned());
        let stream = self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied();
        let handle = stream.and_then(|_| {
            self.inner
                .sessions
                .try_read()
                .ok()
                .and_then(|sessions| sessions.get(&key.0).cloned())
        });
        Box::pin(async move {
            match (stream, handle) {
                (Some(stream), Some(handle)) => {
                    handle.close_sse_stream(stream, Some(retry)).await.is_ok()
                }
                _ => false,
            }
        })
    }
}

/// rmcp's transport for one session, reporting its id when dropped.
#[derive(Debug)]
pub struct TrackedTransport<T> {
    inner: T,
    _guard: EndGuard,
}

#[derive(Debug)]
struct EndGuard {
    id: SessionId,
    ended: mpsc::UnboundedSender<SessionId>,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        let _ = self.ended.send(self.id.clone());
    }
}

impl<T: Transport<RoleServer>> Transport<RoleServer> for TrackedTransport<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.inner.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

impl SessionManager for SessionRegistry {
    type Error = <LocalSessionManager as SessionManager>::Error;
    type Transport = TrackedTransport<<LocalSessionManager as SessionManager>::Transport>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone());
        metrics::gauge!("mcpflow_sessions_active", "transport" => TRANSPORT_LABEL).increment(1.0);
        metrics::counter!("mcpflow_sessions_total", "transport" => TRANSPORT_LABEL).increment(1);
        if let Err(e) = self
            .node
            .session_created(&id, TransportKind::StreamableHttp)
            .await
        {
            tracing::warn!(session_id = %id, error = %e, "could not record new session");
        }
        let guard = EndGuard {
            id: id.clone(),
            ended: self.ended.clone(),
        };
        Ok((
            id,
            TrackedTransport {
                inner: transport,
                _guard: guard,
            },
        ))
    }

    fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<ServerJsonRpcMessage, Self::Error>> + Send {
        self.inner.initialize_session(id, message)
    }

    fn has_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        self.inner.has_session(id)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.bury(id, SessionOutcome::Closed).await;
        Ok(())
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let request_id = match &message {
            rmcp::model::JsonRpcMessage::Request(request) => {
                serde_json::to_string(&request.id).ok()
            }
            _ => None,
        };
        let stream = self.inner.create_stream(id, message).await?;
        let mut entry = request_id.map(|request_id| StreamEntry {
            streams: self.streams.clone(),
            key: (id.clone(), request_id),
            learned: false,
        });
        Ok(stream.map(move |item| {
            if let Some(entry) = entry.as_mut().filter(|e| !e.learned) {
                entry.learn(&item);
            }
            item
        }))
    }

    fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.accept_message(id, message)
    }

    fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> impl Future<
        Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>,
    > + Send {
        self.inner.create_standalone_stream(id)
    }

    fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> impl Future<
        Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>,
    > + Send {
        self.inner.resume(id, last_event_id)
    }

    async fn restore_session(
        &self,
        _id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        // Sessions do not survive a restart (their streams died with the process); clients
        // re-initialize after the 404, as the protocol prescribes.
        Ok(RestoreOutcome::NotSupported)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}
