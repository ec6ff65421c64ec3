//! The other two transports: WebSocket at `/ws` and stdio (over an in-memory pipe).

mod support;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use support::TestServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

fn initialize(id: u64) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "initialize",
            "params": { "protocolVersion": "2025-11-25", "capabilities": {},
                        "clientInfo": { "name": "t", "version": "1" } } })
}

#[tokio::test]
async fn websocket_sessions_serve_mcp_and_answer_garbage_with_errors() {
    let server = TestServer::start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .unwrap();
    async fn ws_recv(
        ws: &mut tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) -> Option<Value> {
        match ws.next().await?.ok()? {
            Message::Text(t) => serde_json::from_str(t.as_str()).ok(),
            _ => None,
        }
    }
    ws.send(Message::Text(initialize(1).to_string().into()))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws_recv(&mut ws))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply["result"]["serverInfo"]["name"], "mcpflow");
    ws.send(Message::Text(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(server.open_sessions().await, 1);

    ws.send(Message::Text("{oops".into())).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws_recv(&mut ws))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply["error"]["code"], -32700);

    ws.send(Message::Text(
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws_recv(&mut ws))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply["id"], 2);
    assert_eq!(
        reply["result"]["content"][0]["text"],
        mcpflow_server::conformance::SIMPLE_TEXT
    );

    ws.close(None).await.unwrap();
    for _ in 0..50 {
        if server.open_sessions().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.open_sessions().await,
        0,
        "closed websocket session still counted"
    );
}

#[tokio::test]
async fn stdio_serves_one_session_and_ends_at_eof() {
    let data = tempfile::tempdir().unwrap();
    let node = mcpflow_node::Node::open(mcpflow_node::NodeConfig::new(data.path()))
        .await
        .unwrap();
    let mut catalog = mcpflow_server::mcp::Catalog::new();
    mcpflow_server::conformance::register(&mut catalog);
    let state = mcpflow_server::mcp::McpState::new(node.clone(), catalog);
    let (client, server_side) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_side);
    let serving = tokio::spawn(mcpflow_server::stdio::serve(
        state,
        server_read,
        server_write,
        Duration::from_secs(30),
        tokio_util::sync::CancellationToken::new(),
    ));
    let (client_read, mut client_write) = tokio::io::split(client);
    let mut lines = BufReader::new(client_read).lines();
    async fn send(w: &mut (impl AsyncWriteExt + Unpin), v: Value) {
        w.write_all(format!("{v}\n").as_bytes()).await.unwrap();
    }
    send(&mut client_write, initialize(1)).await;
    let reply: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(reply["result"]["protocolVersion"], "2025-11-25");
    send(
        &mut client_write,
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .await;
    send(&mut client_write, json!({"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"test_simple_prompt"}})).await;
    let reply: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        reply["result"]["messages"][0]["content"]["text"],
        "This is a simple prompt for testing."
    );
    client_write.shutdown().await.unwrap(); // EOF
    let exit = tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(exit, mcpflow_server::stdio::StdioExit::Eof);
    // The handshake note is handled concurrently with the session's end; it may land last,
    // but it must never bring the session back to life.
    let mut sessions = Vec::new();
    for _ in 0..100 {
        sessions = node.store().sessions(None, 10).await.unwrap();
        if sessions.first().is_some_and(|s| s.client.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].client.as_deref(), Some("t/1"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let session = node
        .store()
        .session(&sessions[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.state, mcpflow_model::SessionState::Dead);
}
