use super::*;
use crate::{Node, NodeConfig};
use mcpflow_intel::routing::{LearningStats, Ranked};
use mcpflow_store::testing::ScratchSchema;
use mcpflow_store::{StoreUrl, open};

const AGENTS: [(&str, &str); 3] = [("good", "rust"), ("bad", "rust"), ("docs", "writing")];

fn register(l: &NodeLearning) {
    for (name, cap) in AGENTS {
        l.register_agent(name, [cap]).unwrap();
    }
}

fn task(node: &Node, text: &str, cap: &str) -> TaskSpec {
    TaskSpec::new("review", node.memory().embed_text(text).unwrap())
        .capabilities([cap])
        .text(text)
}

const TEXTS: [&str; 3] = [
    "review the parser change",
    "refactor the storage layer",
    "document the release",
];

fn rankings(node: &Node) -> Vec<Vec<Ranked>> {
    TEXTS
        .iter()
        .map(|t| {
            let cap = if t.starts_with("document") {
                "writing"
            } else {
                "rust"
            };
            node.learning().route(&task(node, t, cap)).unwrap()
        })
        .collect()
}

/// learning_stats without the restore note (which says how this run restored).
fn counts(s: &LearningStats) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap();
    v.as_object_mut().unwrap().remove("restore");
    v
}

/// Trajectory `i` of a fixed schedule: good succeeds on code, bad mostly fails, docs writes.
async fn scheduled(node: &Node, i: usize) {
    let (agent, cap) = AGENTS[i % 3];
    let text = if cap == "writing" {
        TEXTS[2]
    } else {
        TEXTS[i % 2]
    };
    let l = node.learning();
    let id = l.start(agent, task(node, text, cap)).await.unwrap();
    l.record_step(id, Step::new("read", format!("step of {i}"), 3))
        .await
        .unwrap();
    let ok = agent != "bad" || i.is_multiple_of(5);
    let outcome = if ok {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    l.end(id, outcome, if ok { 0.9 } else { -0.5 }, 40 + i as u64)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_survives_a_node_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeConfig::new(dir.path())).await.unwrap();
    register(node.learning());
    for i in 0..23 {
        scheduled(&node, i).await;
    }
    let open_id = node
        .learning()
        .start("good", task(&node, TEXTS[0], "rust"))
        .await
        .unwrap();
    node.learning()
        .record_step(open_id, Step::new("plan", "two files", 5))
        .await
        .unwrap();
    let before = node.learning().learning_stats();
    assert_eq!((before.cycles, before.buffered), (2, 3));
    let ranked = rankings(&node);
    assert_eq!(ranked[0][0].agent, "good");
    node.shutdown().await;
    drop(node);

    let node = Node::open(NodeConfig::new(dir.path())).await.unwrap();
    register(node.learning());
    let after = node.learning().learning_stats();
    assert!(
        after
            .restore
            .starts_with("snapshot of cycle 2 plus 3 trajectories"),
        "{}",
        after.restore
    );
    assert_eq!(counts(&after), counts(&before));
    assert_eq!(
        rankings(&node),
        ranked,
        "same input, same ranking after restart"
    );

    // The open trajectory resumed, with its steps.
    let l = node.learning();
    l.record_step(open_id, Step::new("edit", "done", 7))
        .await
        .unwrap();
    let ended = l.end(open_id, Outcome::Success, 1.0, 30).await.unwrap();
    assert_eq!(ended.trajectory.steps.len(), 2);
    assert_eq!(l.learning_stats().recomputed_decisions, 0);

    // Bad input keeps its clear errors.
    let e = l.end(open_id, Outcome::Success, 1.0, 1).await.unwrap_err();
    assert!(e.to_string().contains("already ended"), "{e}");
    let e = l
        .record_step(open_id, Step::new("late", "", 1))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already ended"), "{e}");
    let e = l.end(9_999, Outcome::Failure, 0.0, 1).await.unwrap_err();
    assert!(e.to_string().contains("unknown trajectory 9999"), "{e}");
    node.shutdown().await;
}

/// Opens `node-a`'s learning on `url`, runs `range` of the schedule through it with a
/// hashing embedder, and returns it.
async fn direct(url: &StoreUrl, node: &str) -> NodeLearning {
    let store = open(url).await.unwrap();
    let l = NodeLearning::open(store, node, RouterConfig::new(8))
        .await
        .unwrap();
    for (name, cap) in AGENTS {
        l.register_agent(name, [cap]).unwrap();
    }
    l
}

fn vec_task(i: usize) -> TaskSpec {
    let mut e = vec![0.1; 8];
    e[i % 4] = 1.0;
    TaskSpec::new(format!("t{}", i % 4), e).capabilities(["rust"])
}

async fn run_direct(l: &NodeLearning, range: std::ops::Range<usize>) {
    for i in range {
        let agent = if i % 2 == 0 { "good" } else { "bad" };
        let id = l.start(agent, vec_task(i)).await.unwrap();
        let ok = agent == "good";
        l.end(
            id,
            if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            if ok { 1.0 } else { 0.0 },
            10,
        )
        .await
        .unwrap();
    }
}

async fn survives_restart(url: &StoreUrl) {
    let l = direct(url, "node-a").await;
    run_direct(&l, 0..15).await;
    let before = l.learning_stats();
    let ranked: Vec<_> = (0..4).map(|k| l.route(&vec_task(k)).unwrap()).collect();
    l.shutdown().await;
    // Stopped: a change is refused before it touches the router.
    let e = l.start("good", vec_task(0)).await.unwrap_err();
    assert!(e.to_string().contains("nothing was changed"), "{e}");
    assert_eq!(l.learning_stats().active_trajectories, 0);
    drop(l);

    let l = direct(url, "node-a").await;
    assert_eq!(counts(&l.learning_stats()), counts(&before));
    let again: Vec<_> = (0..4).map(|k| l.route(&vec_task(k)).unwrap()).collect();
    assert_eq!(again, ranked);
    // Another node on the same database learns on its own.
    let other = direct(url, "node-b").await;
    assert_eq!(other.learning_stats().trajectories_seen, 0);
    other.shutdown().await;
    l.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_survives_restarts_on_sqlite_directly() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(dir.path().join("l.db").to_str().unwrap()).unwrap();
    survives_restart(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learning_survives_restarts_on_postgres() {
    let schema = ScratchSchema::create("mcpflow_learning").await;
    let url = schema.url().clone();
    survives_restart(&url).await;

    // A write the store refuses: the caller hears the change is not durable, and every later
    // change is refused before it touches the router.
    let l = direct(&url, "node-c").await;
    run_direct(&l, 0..2).await;
    schema
        .admin()
        .batch_execute(&format!("DROP TABLE {}.trajectories", schema.name()))
        .await
        .unwrap();
    let e = l.start("good", vec_task(0)).await.unwrap_err();
    assert!(matches!(e, LearningError::NotDurable(_)), "{e}");
    assert!(e.to_string().contains("restarts"), "{e}");
    let active = l.learning_stats().active_trajectories;
    let e = l.start("good", vec_task(1)).await.unwrap_err();
    assert!(e.to_string().contains("nothing was changed"), "{e}");
    assert!(
        e.to_string().contains("an earlier learning write failed"),
        "{e}"
    );
    assert_eq!(l.learning_stats().active_trajectories, active);
    l.shutdown().await;
    schema.drop().await;
}
