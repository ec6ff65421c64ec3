//! The swarm, message and consensus tools and the topology resource over real Streamable HTTP.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::{TestServer, wait_for_event};

fn error_text(result: &Value) -> String {
    assert_eq!(
        result["isError"], true,
        "expected an error result: {result}"
    );
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

fn ok(result: Value) -> Value {
    assert_ne!(result["isError"], true, "unexpected error: {result}");
    result["structuredContent"].clone()
}

async fn spawn_agents(server: &TestServer, s: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let agent = ok(server
            .call_tool(
                s,
                "agent_spawn",
                json!({
                    "name": format!("a{i}"), "role": "worker",
                    "executor": { "kind": "scripted", "reply": "ok" }
                }),
            )
            .await);
        ids.push(agent["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// A swarm: its id, swarm token and each member's token (in member order).
struct Swarm {
    id: String,
    token: String,
    tokens: Vec<String>,
    init: Value,
}

async fn init(server: &TestServer, s: &str, topology: &str, members: &[String]) -> Swarm {
    init_with(
        server,
        s,
        json!({ "topology": topology, "members": members }),
    )
    .await
}

async fn init_with(server: &TestServer, s: &str, args: Value) -> Swarm {
    let init = ok(server.call_tool(s, "swarm_init", args).await);
    Swarm {
        id: init["swarm_id"].as_str().unwrap().to_owned(),
        token: init["swarm_token"].as_str().unwrap().to_owned(),
        tokens: init["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["member_token"].as_str().unwrap().to_owned())
            .collect(),
        init,
    }
}

fn has_edge(topology: &Value, a: &str, b: &str) -> bool {
    topology["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| (e[0] == a && e[1] == b) || (e[0] == b && e[1] == a))
}

async fn read_topology(server: &TestServer, s: &str, swarm: &str) -> Value {
    let (_, read) = server
        .rpc(
            Some(s),
            json!({ "jsonrpc": "2.0", "id": 3, "method": "resources/read",
                    "params": { "uri": format!("mcpflow://swarms/{swarm}/topology") } }),
        )
        .await;
    serde_json::from_str(read["result"]["contents"][0]["text"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn every_topology_initialises_with_its_edges_and_leader() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let a = spawn_agents(&server, &s, 4).await;
    for (topology, edges) in [("mesh", 6), ("ring", 4), ("star", 3), ("hierarchical", 3)] {
        let sw = init(&server, &s, topology, &a).await;
        let t = &sw.init["topology"];
        assert_eq!(t["kind"], topology);
        assert_eq!(t["edges_total"], edges, "{topology}: {t}");
        assert_eq!(t["edges"].as_array().unwrap().len(), edges);
        assert_eq!(t["leader"], a[0].as_str(), "{topology}");
        assert_eq!(t["nodes"].as_array().unwrap().len(), 4);
        assert_eq!(t["nodes"][0]["inbox"], 0);
        assert_eq!(sw.tokens.len(), 4);
        let read = read_topology(&server, &s, &sw.id).await;
        assert_eq!(read["edges_total"], edges);
        let status = ok(server
            .call_tool(&s, "swarm_status", json!({ "swarm_id": sw.id }))
            .await);
        assert_eq!(status["edges"], t["edges"]);
    }
    // Shapes differ where they should.
    let ring = init(&server, &s, "ring", &a).await;
    let t = &ring.init["topology"];
    assert!(has_edge(t, &a[3], &a[0]) && !has_edge(t, &a[0], &a[2]));
    let star = init(&server, &s, "star", &a).await;
    assert!(!has_edge(&star.init["topology"], &a[1], &a[2]));
    let tree = init_with(
        &server,
        &s,
        json!({ "topology": "hierarchical", "members": a, "options": { "fanout": 1 } }),
    )
    .await;
    assert_eq!(tree.init["topology"]["fanout"], 1);
    assert!(has_edge(&tree.init["topology"], &a[2], &a[3]));
    // Edges are paged.
    let page = ok(server
        .call_tool(
            &s,
            "swarm_status",
            json!({ "swarm_id": "swarm-1", "edges_offset": 4, "edges_limit": 1 }),
        )
        .await);
    assert_eq!(page["edges"].as_array().unwrap().len(), 1);
    assert_eq!(page["edges_next"], 5);
    let last = ok(server
        .call_tool(
            &s,
            "swarm_status",
            json!({ "swarm_id": "swarm-1", "edges_offset": 5 }),
        )
        .await);
    assert_eq!(last["edges"].as_array().unwrap().len(), 1);
    assert_eq!(last["edges_next"], Value::Null);
}

#[tokio::test]
async fn add_and_remove_show_the_repair() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let a = spawn_agents(&server, &s, 5).await;
    let ring = init(&server, &s, "ring", &a[..4]).await;
    let added = ok(server
        .call_tool(
            &s,
            "swarm_add_agent",
            json!({ "swarm_id": ring.id, "swarm_token": ring.token, "agent_id": a[4] }),
        )
        .await);
    assert_eq!(added["member"]["agent_id"], a[4].as_str());
    assert!(has_edge(&added["topology"], &a[4], &a[0]));
    assert_eq!(added["topology"]["edges_total"], 5);
    let repair = ok(server
        .call_tool(
            &s,
            "swarm_remove_agent",
            json!({ "swarm_id": ring.id, "swarm_token": ring.token, "agent_id": a[1] }),
        )
        .await);
    assert_eq!(repair["removed"], a[1].as_str());
    assert!(
        has_edge(&repair["topology"], &a[0], &a[2]),
        "the ring closes the gap"
    );
    assert_eq!(repair["topology"]["edges_total"], 4);

    let star = init(&server, &s, "star", &a[..4]).await;
    let repair = ok(server
        .call_tool(
            &s,
            "swarm_remove_agent",
            json!({ "swarm_id": star.id, "swarm_token": star.token, "agent_id": a[0] }),
        )
        .await);
    assert_eq!(repair["leader_before"], a[0].as_str());
    assert_eq!(repair["leader_after"], a[1].as_str());
    assert!(has_edge(&repair["topology"], &a[1], &a[2]));
    assert!(has_edge(&repair["topology"], &a[1], &a[3]));

    let tree = init_with(
        &server,
        &s,
        json!({ "topology": "hierarchical", "members": a, "options": { "fanout": 2 } }),
    )
    .await;
    let repair = ok(server
        .call_tool(
            &s,
            "swarm_remove_agent",
            json!({ "swarm_id": tree.id, "swarm_token": tree.token, "agent_id": a[0] }),
        )
        .await);
    assert_eq!(repair["leader_after"], a[1].as_str());
    assert_eq!(repair["reattached"][0][0], a[2].as_str());
    assert_eq!(repair["topology"]["edges_total"], 3);

    // A removed member's token is dead; removing twice says it is not a member.
    let gone = server
        .call_tool(
            &s,
            "message_broadcast",
            json!({ "swarm_id": tree.id, "from": a[0], "member_token": tree.tokens[0], "text": "x" }),
        )
        .await;
    assert!(error_text(&gone).contains("swarm_add_agent"));
    let twice = server
        .call_tool(
            &s,
            "swarm_remove_agent",
            json!({ "swarm_id": tree.id, "swarm_token": tree.token, "agent_id": a[0] }),
        )
        .await;
    assert!(error_text(&twice).contains("not a member"));

    // Destroy ends it.
    let done = ok(server
        .call_tool(
            &s,
            "swarm_destroy",
            json!({ "swarm_id": tree.id, "swarm_token": tree.token }),
        )
        .await);
    assert_eq!(done["destroyed"], true);
    let after = server
        .call_tool(&s, "swarm_status", json!({ "swarm_id": tree.id }))
        .await;
    assert!(error_text(&after).contains("swarm_init"));
}

async fn receive(server: &TestServer, s: &str, sw: &Swarm, member: usize, agent: &str) -> Value {
    ok(server
        .call_tool(
            s,
            "message_receive",
            json!({ "swarm_id": sw.id, "agent_id": agent, "member_token": sw.tokens[member], "wait_ms": 5000 }),
        )
        .await)["messages"]
        .clone()
}

#[tokio::test]
async fn send_and_broadcast_are_delivered() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let a = spawn_agents(&server, &s, 5).await;
    // A ring, so the message crosses an intermediate member.
    let ring = init(&server, &s, "ring", &a).await;
    let sent = ok(server
        .call_tool(
            &s,
            "message_send",
            json!({ "swarm_id": ring.id, "from": a[0], "member_token": ring.tokens[0], "to": a[2], "text": "hello" }),
        )
        .await);
    assert_eq!(sent["message_id"], format!("{}#0", a[0]));
    let got = receive(&server, &s, &ring, 2, &a[2]).await;
    assert_eq!(got.as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got[0]["text"], "hello");
    assert_eq!(got[0]["from"], a[0].as_str());
    assert_eq!(got[0]["broadcast"], false);

    ok(server
        .call_tool(
            &s,
            "message_broadcast",
            json!({ "swarm_id": ring.id, "from": a[1], "member_token": ring.tokens[1], "text": "all" }),
        )
        .await);
    for i in [0, 2, 3, 4] {
        let got = receive(&server, &s, &ring, i, &a[i]).await;
        assert_eq!(got.as_array().unwrap().len(), 1, "member {i}: {got}");
        assert_eq!(got[0]["text"], "all");
        assert_eq!(got[0]["broadcast"], true);
    }
    // The sender does not get its own broadcast.
    let own = ok(server
        .call_tool(
            &s,
            "message_receive",
            json!({ "swarm_id": ring.id, "agent_id": a[1], "member_token": ring.tokens[1] }),
        )
        .await);
    assert_eq!(own["messages"], json!([]));
    let status = ok(server
        .call_tool(&s, "swarm_status", json!({ "swarm_id": ring.id }))
        .await);
    assert_eq!(status["sent"], 2);
    assert_eq!(status["delivered"], 5);
    assert_eq!(status["in_flight"], 0);
}

async fn vote(
    server: &TestServer,
    s: &str,
    sw: &Swarm,
    p: u64,
    agent: &str,
    i: usize,
    yes: bool,
) -> Value {
    server
        .call_tool(
            s,
            "consensus_vote",
            json!({ "swarm_id": sw.id, "proposal_id": p, "voter": agent, "member_token": sw.tokens[i], "approve": yes }),
        )
        .await
}

#[tokio::test]
async fn proposals_are_decided_by_their_quorum() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let a = spawn_agents(&server, &s, 3).await;
    let sw = init(&server, &s, "mesh", &a).await;
    let p = ok(server
        .call_tool(
            &s,
            "consensus_propose",
            json!({ "swarm_id": sw.id, "proposer": a[0], "member_token": sw.tokens[0],
                    "subject": "ship it", "quorum": { "policy": "majority" }, "deadline_ms": 60000 }),
        )
        .await);
    assert_eq!(p["status"], "open");
    let id = p["proposal_id"].as_u64().unwrap();
    assert_eq!(p["electorate"].as_object().unwrap().len(), 3);
    let after_one = ok(vote(&server, &s, &sw, id, &a[0], 0, true).await);
    assert_eq!(after_one["status"], "open");
    let twice = vote(&server, &s, &sw, id, &a[0], 0, true).await;
    assert!(error_text(&twice).contains("already voted"));
    let decided = ok(vote(&server, &s, &sw, id, &a[1], 1, true).await);
    assert_eq!(decided["status"], "accepted");
    assert_eq!(decided["yes"], 2);
    let status = ok(server
        .call_tool(
            &s,
            "consensus_status",
            json!({ "swarm_id": sw.id, "proposal_id": id }),
        )
        .await);
    assert_eq!(status["status"], "accepted");
    assert_eq!(status["votes"][&a[1]], true);
    let late = vote(&server, &s, &sw, id, &a[2], 2, false).await;
    assert!(error_text(&late).contains("already decided"));

    // Weighted: one heavy member decides alone; no votes can reject too.
    let w = ok(server
        .call_tool(
            &s,
            "consensus_propose",
            json!({ "swarm_id": sw.id, "proposer": a[1], "member_token": sw.tokens[1], "subject": "w",
                    "quorum": { "policy": "weighted", "weights": { a[0].clone(): 5, a[1].clone(): 1, a[2].clone(): 1 }, "threshold": 0.6 },
                    "deadline_ms": 60000 }),
        )
        .await);
    let wid = w["proposal_id"].as_u64().unwrap();
    assert_eq!(
        ok(vote(&server, &s, &sw, wid, &a[1], 1, true).await)["status"],
        "open"
    );
    let heavy = ok(vote(&server, &s, &sw, wid, &a[0], 0, true).await);
    assert_eq!(heavy["status"], "accepted");
    assert_eq!(heavy["yes"], 6);
    let u = ok(server
        .call_tool(
            &s,
            "consensus_propose",
            json!({ "swarm_id": sw.id, "proposer": a[2], "member_token": sw.tokens[2], "subject": "u",
                    "quorum": { "policy": "unanimous" }, "deadline_ms": 60000 }),
        )
        .await);
    let uid = u["proposal_id"].as_u64().unwrap();
    assert_eq!(
        ok(vote(&server, &s, &sw, uid, &a[2], 2, false).await)["status"],
        "rejected"
    );
}

#[tokio::test]
async fn a_vote_after_the_deadline_is_refused_and_the_proposal_expires() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let a = spawn_agents(&server, &s, 3).await;
    let sw = init(&server, &s, "star", &a).await;
    let p = ok(server
        .call_tool(
            &s,
            "consensus_propose",
            json!({ "swarm_id": sw.id, "proposer": a[0], "member_token": sw.tokens[0],
                    "subject": "soon", "quorum": { "policy": "two_thirds" }, "deadline_ms": 100 }),
        )
        .await);
    let id = p["proposal_id"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = vote(&server, &s, &sw, id, &a[1], 1, true).await;
    assert!(error_text(&late).contains("deadline passed"), "{late}");
    let status = ok(server
        .call_tool(
            &s,
            "consensus_status",
            json!({ "swarm_id": sw.id, "proposal_id": id }),
        )
        .await);
    assert_eq!(status["status"], "expired");
}

#[tokio::test]
async fn bad_input_is_an_actionable_tool_error() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let a = spawn_agents(&server, &s, 4).await;
    let call = |name: &'static str, args: Value| {
        let server = &server;
        let s = s.clone();
        async move { error_text(&server.call_tool(&s, name, args).await) }
    };
    // Init.
    assert!(
        call(
            "swarm_init",
            json!({ "topology": "mesh", "members": ["agent-nope"] })
        )
        .await
        .contains("agent_spawn")
    );
    assert!(
        call(
            "swarm_init",
            json!({ "topology": "torus", "members": [a[0]] })
        )
        .await
        .contains("mesh, hierarchical, ring or star")
    );
    assert!(
        call("swarm_init", json!({ "topology": "mesh", "members": [] }))
            .await
            .contains("at least one")
    );
    assert!(
        call(
            "swarm_init",
            json!({ "topology": "mesh", "members": [a[0], a[0]] })
        )
        .await
        .contains("twice")
    );
    assert!(
        call(
            "swarm_init",
            json!({ "topology": "mesh", "members": [a[0]], "colour": 1 })
        )
        .await
        .contains("colour")
    );
    assert!(
        call(
            "swarm_init",
            json!({ "topology": "ring", "members": [a[0]], "options": { "fanout": 2 } })
        )
        .await
        .contains("hierarchical")
    );
    assert!(
        call(
            "swarm_init",
            json!({ "topology": "mesh", "members": [a[0]], "options": { "redundancy": 4 } })
        )
        .await
        .contains("redundancy")
    );
    let stopped = ok(server
        .call_tool(&s, "agent_terminate", json!({ "id": a[3] }))
        .await);
    assert_eq!(stopped["status"], "stopped");
    assert!(
        call(
            "swarm_init",
            json!({ "topology": "mesh", "members": [a[3]] })
        )
        .await
        .contains("only live agents")
    );

    let sw = init(&server, &s, "mesh", &a[..2]).await;
    // Unknown swarm.
    assert!(
        call("swarm_status", json!({ "swarm_id": "swarm-99" }))
            .await
            .contains("unknown swarm swarm-99")
    );
    // Membership changes need the swarm token.
    assert!(
        call(
            "swarm_add_agent",
            json!({ "swarm_id": sw.id, "swarm_token": "guess", "agent_id": a[2] })
        )
        .await
        .contains("swarm_token")
    );
    assert!(
        call(
            "swarm_add_agent",
            json!({ "swarm_id": sw.id, "swarm_token": sw.token, "agent_id": a[0] })
        )
        .await
        .contains("already a member")
    );
    assert!(
        call(
            "swarm_destroy",
            json!({ "swarm_id": sw.id, "swarm_token": sw.tokens[0] })
        )
        .await
        .contains("swarm_token")
    );
    // Non-member sends, wrong tokens, non-member targets.
    assert!(
        call("message_send", json!({ "swarm_id": sw.id, "from": a[2], "member_token": sw.tokens[0], "to": a[0], "text": "x" }))
            .await
            .contains(&format!("agent {} is not a member", a[2]))
    );
    assert!(
        call("message_send", json!({ "swarm_id": sw.id, "from": a[0], "member_token": sw.tokens[1], "to": a[1], "text": "x" }))
            .await
            .contains("member token does not match")
    );
    assert!(
        call("message_send", json!({ "swarm_id": sw.id, "from": a[0], "member_token": sw.tokens[0], "to": a[2], "text": "x" }))
            .await
            .contains("not a member")
    );
    assert!(
        call(
            "message_receive",
            json!({ "swarm_id": sw.id, "agent_id": a[1], "member_token": sw.tokens[0] })
        )
        .await
        .contains("member token does not match")
    );
    let big = "x".repeat(mcpflow_node::MAX_PAYLOAD + 1);
    assert!(
        call(
            "message_broadcast",
            json!({ "swarm_id": sw.id, "from": a[0], "member_token": sw.tokens[0], "text": big })
        )
        .await
        .contains("at most")
    );
    // Invalid quorums.
    let propose = |quorum: Value| {
        json!({ "swarm_id": sw.id, "proposer": a[0], "member_token": sw.tokens[0],
                "subject": "q", "quorum": quorum, "deadline_ms": 1000 })
    };
    assert!(
        call("consensus_propose", propose(json!({ "policy": "most" })))
            .await
            .contains("unknown policy")
    );
    assert!(
        call("consensus_propose", propose(json!({ "policy": "weighted", "weights": { a[0].clone(): 1, a[1].clone(): 1 }, "threshold": 1.5 })))
            .await
            .contains("threshold")
    );
    assert!(
        call(
            "consensus_propose",
            propose(
                json!({ "policy": "weighted", "weights": { a[0].clone(): 1 }, "threshold": 0.5 })
            )
        )
        .await
        .contains(&format!("no weight for member {}", a[1]))
    );
    assert!(
        call("consensus_propose", propose(json!({ "policy": "weighted", "weights": { a[0].clone(): 1, a[1].clone(): 1, a[2].clone(): 1 }, "threshold": 0.5 })))
            .await
            .contains("not a member")
    );
    assert!(
        call("consensus_propose", propose(json!({ "policy": "weighted", "weights": { a[0].clone(): 0, a[1].clone(): 0 }, "threshold": 0.5 })))
            .await
            .contains("add up to 0")
    );
    assert!(
        call(
            "consensus_propose",
            propose(json!({ "policy": "majority", "threshold": 0.5 }))
        )
        .await
        .contains("weighted policy")
    );
    let mut no_deadline = propose(json!({ "policy": "majority" }));
    no_deadline["deadline_ms"] = json!(0);
    assert!(
        call("consensus_propose", no_deadline)
            .await
            .contains("deadline_ms")
    );
    // Votes: unknown proposal, wrong token, non-member voter.
    assert!(
        call("consensus_vote", json!({ "swarm_id": sw.id, "proposal_id": 9, "voter": a[0], "member_token": sw.tokens[0], "approve": true }))
            .await
            .contains("unknown proposal 9")
    );
    let p = ok(server
        .call_tool(
            &s,
            "consensus_propose",
            propose(json!({ "policy": "majority" })),
        )
        .await);
    let id = p["proposal_id"].as_u64().unwrap();
    assert!(
        call("consensus_vote", json!({ "swarm_id": sw.id, "proposal_id": id, "voter": a[1], "member_token": sw.tokens[0], "approve": true }))
            .await
            .contains("member token does not match")
    );
    assert!(
        call("consensus_vote", json!({ "swarm_id": sw.id, "proposal_id": id, "voter": a[2], "member_token": sw.tokens[0], "approve": true }))
            .await
            .contains("not a member")
    );
    // A member that joined after the proposal opened is not in its electorate.
    let added = ok(server
        .call_tool(
            &s,
            "swarm_add_agent",
            json!({ "swarm_id": sw.id, "swarm_token": sw.token, "agent_id": a[2] }),
        )
        .await);
    let t2 = added["member"]["member_token"].as_str().unwrap();
    assert!(
        call("consensus_vote", json!({ "swarm_id": sw.id, "proposal_id": id, "voter": a[2], "member_token": t2, "approve": true }))
            .await
            .contains("only members present")
    );
    let (_, missing) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": { "uri": "mcpflow://swarms/swarm-77/topology" } }))
        .await;
    assert_eq!(missing["error"]["code"], -32002, "{missing}");
}

#[tokio::test]
async fn topology_subscribers_hear_of_changes_and_stopped_agents_leave() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let a = spawn_agents(&server, &s, 4).await;
    let sw = init(&server, &s, "ring", &a[..3]).await;
    let uri = format!("mcpflow://swarms/{}/topology", sw.id);
    let (_, r) = server
        .rpc(Some(&s), json!({ "jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": { "uri": uri } }))
        .await;
    assert_eq!(r["result"], json!({}), "{r}");
    let stream = server
        .http
        .get(server.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut events = server.node.events();
    ok(server
        .call_tool(
            &s,
            "swarm_add_agent",
            json!({ "swarm_id": sw.id, "swarm_token": sw.token, "agent_id": a[3] }),
        )
        .await);
    let wanted = uri.clone();
    let update = wait_for_event(
        stream,
        move |v| v["method"] == "notifications/resources/updated" && v["params"]["uri"] == wanted,
        Duration::from_secs(5),
    )
    .await
    .expect("a join is notified");
    assert_eq!(update["params"]["uri"], uri);
    // The bus carries the typed fact too.
    let joined = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(mcpflow_model::Event::SwarmChanged {
                change, agent_id, ..
            }) = events.recv().await
                && change == "joined"
            {
                return agent_id;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(joined.as_deref(), Some(a[3].as_str()));

    // An agent that stops for good leaves the swarm and the ring closes around it.
    ok(server
        .call_tool(&s, "agent_terminate", json!({ "id": a[1] }))
        .await);
    let mut topology = Value::Null;
    for _ in 0..100 {
        topology = ok(server
            .call_tool(&s, "swarm_status", json!({ "swarm_id": sw.id }))
            .await);
        if topology["nodes"].as_array().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(topology["nodes"].as_array().unwrap().len(), 3, "{topology}");
    assert!(has_edge(&topology, &a[0], &a[2]));
}

#[tokio::test]
async fn a_big_mesh_shows_a_capped_page_of_edges_and_shutdown_stops_swarms() {
    let server = TestServer::start().await;
    let s = server.initialize().await;
    let a = spawn_agents(&server, &s, 50).await;
    let mesh = init(&server, &s, "mesh", &a).await;
    let read = read_topology(&server, &s, &mesh.id).await;
    assert_eq!(read["edges_total"], 50 * 49 / 2);
    assert_eq!(
        read["edges"].as_array().unwrap().len(),
        mcpflow_node::EDGE_PAGE
    );
    assert_eq!(read["edges_next"], mcpflow_node::EDGE_PAGE);
    let rest = ok(server
        .call_tool(
            &s,
            "swarm_status",
            json!({ "swarm_id": mesh.id, "edges_offset": read["edges_next"] }),
        )
        .await);
    assert_eq!(
        rest["edges"].as_array().unwrap().len(),
        50 * 49 / 2 - mcpflow_node::EDGE_PAGE
    );
    assert_eq!(rest["edges_next"], Value::Null);
    // Every pair appears exactly once across the pages.
    let mut pairs = std::collections::BTreeSet::new();
    for e in read["edges"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["edges"].as_array().unwrap())
    {
        let (x, y) = (e[0].as_str().unwrap(), e[1].as_str().unwrap());
        assert!(pairs.insert(if x < y { (x, y) } else { (y, x) }));
    }
    assert_eq!(pairs.len(), 50 * 49 / 2);

    server.node.shutdown().await;
    let after = server
        .call_tool(&s, "swarm_status", json!({ "swarm_id": mesh.id }))
        .await;
    assert!(error_text(&after).contains("shutting down"), "{after}");
}
