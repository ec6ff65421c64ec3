//! MCP over WebSocket at `/ws`: one JSON-RPC message per text frame, one session per
//! connection.
//!
//! rmcp has no WebSocket transport, so the socket is adapted into its `(Sink, Stream)`
//! transport here. Frames that are not JSON-RPC get a JSON-RPC error frame back (the protocol
//! wants an answer, not silence); binary frames are read as UTF-8 JSON too.

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use mcpflow_model::Transport as TransportKind;
use mcpflow_node::SessionOutcome;
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

use super::HttpState;
use super::jsonrpc::{Refusal, inspect};
use crate::mcp::{McpHandler, Observed};

/// Upgrades `GET /ws` after the same admission checks as a new HTTP session.
pub(super) async fn upgrade(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Option<Extension<super::Caller>>,
    ws: WebSocketUpgrade,
) -> Response {
    if state.ready.get().is_none() {
        return super::not_ready();
    }
    if let Err(refusal) = state.admit_session(peer.ip()) {
        return *refusal;
    }
    ws.max_message_size(state.config.max_body_bytes)
        .on_upgrade(move |socket| serve_socket(state, socket, caller.map(|Extension(c)| c)))
}

async fn serve_socket(state: Arc<HttpState>, socket: WebSocket, caller: Option<super::Caller>) {
    let Some(ready) = state.ready.get() else {
        return;
    };
    let node = ready.mcp.node().clone();
    let id = format!("ws-{}", uuid::Uuid::new_v4().simple());
    state.ws_sessions.fetch_add(1, Ordering::AcqRel);
    metrics::gauge!("mcpflow_sessions_active", "transport" => "websocket").increment(1.0);
    metrics::counter!("mcpflow_sessions_total", "transport" => "websocket").increment(1);
    if let Err(e) = node.session_created(&id, TransportKind::WebSocket).await {
        tracing::warn!(session_id = %id, error = %e, "could not record new session");
    }

    let (mut ws_tx, ws_rx) = socket.split();
    // Outgoing frames go through one channel so protocol replies and error frames interleave
    // safely; the channel is bounded so a client that stops reading slows the session down
    // instead of growing memory.
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(256);
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if ws_tx.send(frame).await.is_err() {
                break;
            }
        }
        let _ = ws_tx.close().await;
    });

    let errors = out_tx.clone();
    let incoming = frames_to_messages(ws_rx, errors);
    let outgoing = futures::sink::unfold(out_tx, |tx, message: ServerJsonRpcMessage| async move {
        let text = serde_json::to_string(&message).map_err(std::io::Error::other)?;
        tx.send(Message::Text(text.into()))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "websocket closed"))?;
        Ok::<_, std::io::Error>(tx)
    });

    let handler = Observed::new(
        McpHandler::new(ready.mcp.clone(), Some(id.clone())).with_caller(caller),
        TransportKind::WebSocket,
        Duration::from_secs(state.config.request_timeout_secs),
        state.in_flight.clone(),
    );
    let outcome = match handler
        .serve_with_ct(
            (Box::pin(outgoing), incoming),
            state.mcp_shutdown.child_token(),
        )
        .await
    {
        Ok(running) => match running.waiting().await {
            Ok(rmcp::service::QuitReason::Cancelled) => SessionOutcome::Shutdown,
            _ => SessionOutcome::Closed,
        },
        Err(e) => {
            tracing::debug!(session_id = %id, error = %e, "websocket session ended before its handshake");
            SessionOutcome::Closed
        }
    };
    writer.abort();
    state.ws_sessions.fetch_sub(1, Ordering::AcqRel);
    metrics::gauge!("mcpflow_sessions_active", "transport" => "websocket").decrement(1.0);
    if let Err(e) = node.session_ended(&id, outcome).await {
        tracing::warn!(session_id = %id, error = %e, "could not record session end");
    }
}

/// Incoming frames as JSON-RPC messages. Bad frames are answered with an error frame and
/// skipped; the stream ends when the socket closes.
fn frames_to_messages(
    ws_rx: futures::stream::SplitStream<WebSocket>,
    errors: mpsc::Sender<Message>,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = ClientJsonRpcMessage> + Send>> {
    Box::pin(
        ws_rx
            .take_while(|frame| futures::future::ready(frame.is_ok()))
            .filter_map(move |frame| {
                let errors = errors.clone();
                async move {
                    let bytes = match frame.ok()? {
                        Message::Text(text) => text.as_bytes().to_vec(),
                        Message::Binary(bytes) => bytes.to_vec(),
                        Message::Close(_) | Message::Ping(_) | Message::Pong(_) => return None,
                    };
                    match parse_frame(&bytes) {
                        Ok(message) => Some(message),
                        Err(reply) => {
                            let _ = errors.send(Message::Text(reply.into())).await;
                            None
                        }
                    }
                }
            }),
    )
}

/// One frame → one message, or the JSON-RPC error frame to send back.
fn parse_frame(bytes: &[u8]) -> Result<ClientJsonRpcMessage, String> {
    let error = |code: i32, message: String| {
        serde_json::json!({
            "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message }
        })
        .to_string()
    };
    match inspect(bytes) {
        Err(Refusal::Parse(e)) => return Err(error(-32700, format!("Parse error: {e}"))),
        Err(Refusal::Batch) => {
            return Err(error(
                -32600,
                "Invalid Request: batches are not supported; send one message per frame".into(),
            ));
        }
        Err(_) => {
            return Err(error(
                -32600,
                "Invalid Request: a frame must hold one JSON-RPC message object".into(),
            ));
        }
        Ok(_) => {}
    }
    serde_json::from_slice::<ClientJsonRpcMessage>(bytes)
        .map_err(|e| error(-32600, format!("Invalid Request: {e}")))
}
