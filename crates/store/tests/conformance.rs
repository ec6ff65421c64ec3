//! One test-suite, run against every backend: what one store does, the other must do too.
//!
//! PostgreSQL is the real server on 127.0.0.1:5432 (override with `MCPFLOW_TEST_POSTGRES_URL`);
//! each run works in a fresh schema of its own and drops it afterwards.

use mcpflow_model::{
    AgentLimits, AgentRecord, AgentSpec, AgentState, AgentStatus, ExecutorSpec, RestartPolicy,
    SessionRecord, SessionState, TaskRecord, TaskSpec, TaskState, Timestamp, Transport,
};
use mcpflow_store::{
    AgentQuery, DecisionRow, DynStore, EndingRow, Error, MIGRATION_COUNT, MemoryRow, StepRow,
    StoreUrl, TaskQuery, TrajectoryRow, open,
};

fn agent(id: &str, node: &str) -> AgentRecord {
    AgentRecord {
        id: id.into(),
        node: node.into(),
        spec: AgentSpec {
            name: format!("agent {id}"),
            role: "coder".into(),
            capabilities: vec!["rust".into()],
            instructions: None,
            executor: ExecutorSpec::Scripted {
                reply: "ok {input}".into(),
                delay_ms: 0,
                fail_every: 0,
            },
            limits: AgentLimits::default(),
            restart: RestartPolicy::Transient,
        },
        status: AgentStatus::Running,
        reason: None,
        state: AgentState::default(),
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    }
}

fn task(id: &str, node: &str, state: TaskState) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        node: node.into(),
        spec: TaskSpec::new(format!("input of {id}")),
        state,
        agent: None,
        attempts: 0,
        result: None,
        error: None,
        created_at: Timestamp(5),
        updated_at: Timestamp(5),
    }
}

async fn agents_and_tasks(store: &DynStore) {
    // Agents round-trip whole, and replace.
    let mut a1 = agent("agent-1", "node-1");
    store.save_agent(&a1).await.unwrap();
    store.save_agent(&agent("agent-2", "node-1")).await.unwrap();
    store.save_agent(&agent("agent-3", "node-2")).await.unwrap();
    assert_eq!(store.agent("agent-1").await.unwrap().as_ref(), Some(&a1));
    assert_eq!(store.agent("ghost").await.unwrap(), None);
    a1.state.completed = 7;
    a1.state.restarts = 2;
    a1.status = AgentStatus::Stopped;
    a1.reason = Some("terminated".into());
    store.save_agent(&a1).await.unwrap();
    assert_eq!(store.agent("agent-1").await.unwrap().as_ref(), Some(&a1));

    // Queries filter by node and liveness, order by id, and page.
    let ids = |v: Vec<AgentRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let q = |node: Option<&str>, live_only, after: Option<&str>, limit| AgentQuery {
        node: node.map(Into::into),
        live_only,
        after: after.map(Into::into),
        limit,
    };
    assert_eq!(
        ids(store.agents(&q(None, false, None, 10)).await.unwrap()),
        ["agent-1", "agent-2", "agent-3"]
    );
    assert_eq!(
        ids(store
            .agents(&q(Some("node-1"), true, None, 10))
            .await
            .unwrap()),
        ["agent-2"]
    );
    assert_eq!(
        ids(store
            .agents(&q(None, false, Some("agent-1"), 1))
            .await
            .unwrap()),
        ["agent-2"]
    );

    // Tasks: insert, move, and a final state is never overwritten.
    let mut t1 = task("task-1", "node-1", TaskState::Queued);
    let t2 = task("task-2", "node-1", TaskState::Queued);
    let t3 = task("task-3", "node-2", TaskState::Queued);
    assert_eq!(
        store
            .save_tasks(&[t1.clone(), t2.clone(), t3.clone()], &[])
            .await
            .unwrap(),
        [true, true, true]
    );
    assert_eq!(store.task("task-1").await.unwrap().as_ref(), Some(&t1));
    t1.state = TaskState::Completed;
    t1.agent = Some("agent-2".into());
    t1.attempts = 1;
    t1.result = Some(serde_json::json!({ "text": "ok" }));
    let mut a2 = agent("agent-2", "node-1");
    a2.state.completed = 1;
    a2.state.last_task = Some("task-1".into());
    // The task's outcome and the agent's state land together.
    assert_eq!(
        store
            .save_tasks(std::slice::from_ref(&t1), &[a2.clone()])
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(store.agent("agent-2").await.unwrap(), Some(a2));
    let mut late = t1.clone();
    late.state = TaskState::Failed;
    late.error = Some("a second outcome".into());
    assert!(!store.save_task(&late).await.unwrap(), "final is final");
    assert_eq!(store.task("task-1").await.unwrap().as_ref(), Some(&t1));
    assert_eq!(store.task("ghost").await.unwrap(), None);

    let tids = |v: Vec<TaskRecord>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let open = TaskQuery {
        node: Some("node-1".into()),
        open_only: true,
        limit: 10,
        ..TaskQuery::default()
    };
    assert_eq!(tids(store.tasks(&open).await.unwrap()), ["task-2"]);
    let completed = TaskQuery {
        state: Some(TaskState::Completed),
        limit: 10,
        ..TaskQuery::default()
    };
    assert_eq!(tids(store.tasks(&completed).await.unwrap()), ["task-1"]);
    let page = TaskQuery {
        after: Some("task-1".into()),
        limit: 1,
        ..TaskQuery::default()
    };
    assert_eq!(tids(store.tasks(&page).await.unwrap()), ["task-2"]);
}

async fn memory(store: &DynStore) {
    let row = |ns: &str, key: &str, doc: &str| MemoryRow {
        namespace: ns.into(),
        key: key.into(),
        doc: doc.into(),
    };
    assert!(store.memory_entries().await.unwrap().is_empty());
    store
        .memory_put(&row("b", "k", r#"{"v":1}"#), 5)
        .await
        .unwrap();
    store
        .memory_put(&row("a", "k2", r#"{"v":2}"#), 6)
        .await
        .unwrap();
    store
        .memory_put(&row("a", "k1", r#"{"v":"\u0000 ü"}"#), 7)
        .await
        .unwrap();
    // Replacing by (namespace, key).
    store
        .memory_put(&row("b", "k", r#"{"v":3}"#), u64::MAX)
        .await
        .unwrap();
    assert_eq!(
        store.memory_entries().await.unwrap(),
        [
            row("a", "k1", r#"{"v":"\u0000 ü"}"#),
            row("a", "k2", r#"{"v":2}"#),
            row("b", "k", r#"{"v":3}"#)
        ]
    );
    store.memory_remove("a", "k2").await.unwrap();
    store.memory_remove("a", "absent").await.unwrap();
    store.memory_remove("zz", "k").await.unwrap();
    assert_eq!(store.memory_entries().await.unwrap().len(), 2);

    assert!(store.memory_snapshots().await.unwrap().is_empty());
    let blob: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    store.save_memory_snapshot("a", &blob).await.unwrap();
    store.save_memory_snapshot("b", &[0, 1]).await.unwrap();
    store.save_memory_snapshot("b", &[]).await.unwrap();
    assert_eq!(
        store.memory_snapshots().await.unwrap(),
        [("a".to_string(), blob), ("b".to_string(), vec![])]
    );
}

fn trajectory(id: u64, agent: &str) -> TrajectoryRow {
    TrajectoryRow {
        id,
        agent: agent.into(),
        task_type: "review".into(),
        capabilities: vec!["rust".into(), "ü\u{0}".into()],
        text: "look at the diff".into(),
        // Values that a decimal text encoding would round: stored bit-exact.
        embedding: vec![0.1, -1.0e-38, f32::MAX, 1.0 / 3.0],
        steps: Vec::new(),
        decision: None,
        started_ms: id.wrapping_add(1_000),
        ending: None,
    }
}

async fn trajectories(store: &DynStore) {
    assert!(store.trajectories("n1").await.unwrap().is_empty());
    assert_eq!(store.learning_snapshot("n1").await.unwrap(), None);

    let mut a = trajectory(2, "coder");
    let b = trajectory(1, "tester");
    assert!(store.trajectory_put("n1", &a).await.unwrap());
    assert!(store.trajectory_put("n1", &b).await.unwrap());
    // Steps and a decision are added by replacing the open trajectory.
    a.steps.push(StepRow {
        action: "read".into(),
        observation: "3 files\n".into(),
        ms: 12,
    });
    a.decision = Some(DecisionRow {
        features: vec![1.0, 0.1 + 0.2, -0.0, f64::MIN_POSITIVE],
        best_mean: 0.7 / 3.0,
    });
    assert!(store.trajectory_put("n1", &a).await.unwrap());
    assert_eq!(
        store.trajectories("n1").await.unwrap(),
        [b.clone(), a.clone()]
    );

    // Ending is final: a later write to an ended trajectory changes nothing.
    a.ending = Some(EndingRow {
        success: true,
        reward: 0.3,
        latency_ms: 40,
        ended_ms: 2_000,
        seq: 1,
    });
    assert!(store.trajectory_put("n1", &a).await.unwrap());
    let mut again = a.clone();
    again.ending.as_mut().unwrap().success = false;
    again.steps.clear();
    assert!(!store.trajectory_put("n1", &again).await.unwrap());
    assert_eq!(
        store.trajectories("n1").await.unwrap(),
        [b.clone(), a.clone()]
    );

    store.trajectory_remove("n1", 1).await.unwrap();
    store.trajectory_remove("n1", 99).await.unwrap();
    assert_eq!(store.trajectories("n1").await.unwrap(), [a]);
    // Ids the database cannot hold are refused, not wrapped.
    let err = store
        .trajectory_put("n1", &trajectory(u64::MAX, "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");

    // Another node's trajectories and snapshot are its own.
    assert!(
        store
            .trajectory_put("n2", &trajectory(2, "other"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.trajectories("n2").await.unwrap(),
        [trajectory(2, "other")]
    );
    store.save_learning_snapshot("n2", &[9]).await.unwrap();

    let blob: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    store.save_learning_snapshot("n1", &[1, 2]).await.unwrap();
    store.save_learning_snapshot("n1", &blob).await.unwrap();
    assert_eq!(store.learning_snapshot("n1").await.unwrap(), Some(blob));
    assert_eq!(store.learning_snapshot("n2").await.unwrap(), Some(vec![9]));
    assert_eq!(store.trajectories("n1").await.unwrap().len(), 1);
}

async fn suite(store: DynStore) {
    agents_and_tasks(&store).await;
    memory(&store).await;
    trajectories(&store).await;
    store.ping().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), MIGRATION_COUNT);

    // Insert, read back, replace.
    let mut a = SessionRecord::new("a", "node-1", Transport::StreamableHttp, Timestamp(10));
    store.upsert_session(&a).await.unwrap();
    assert_eq!(store.session("a").await.unwrap().as_ref(), Some(&a));
    a.protocol_version = Some("2025-11-25".into());
    a.client = Some("pytest/1.0".into());
    store.upsert_session(&a).await.unwrap();
    assert_eq!(store.session("a").await.unwrap().as_ref(), Some(&a));
    assert_eq!(store.session("nope").await.unwrap(), None);

    // The lifecycle is enforced in the store, not only in memory.
    let b = SessionRecord::new("b", "node-2", Transport::Stdio, Timestamp(11));
    store.upsert_session(&b).await.unwrap();
    let moved = store
        .set_session_state("a", SessionState::Active, Timestamp(20))
        .await
        .unwrap();
    assert_eq!(moved.state, SessionState::Active);
    assert_eq!(moved.updated_at, Timestamp(20));
    let refused = store
        .set_session_state("a", SessionState::Initializing, Timestamp(21))
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::InvalidTransition(_)), "{refused}");
    assert_eq!(
        store.session("a").await.unwrap().unwrap().state,
        SessionState::Active,
        "a refused move must not be written"
    );
    let missing = store
        .set_session_state("ghost", SessionState::Dead, Timestamp(22))
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");

    // Describing a session never touches its state (no lost update against a concurrent move).
    store
        .describe_session("a", "2026-07-28", "other/2")
        .await
        .unwrap();
    let described = store.session("a").await.unwrap().unwrap();
    assert_eq!(described.state, SessionState::Active);
    assert_eq!(described.client.as_deref(), Some("other/2"));
    assert!(matches!(
        store.describe_session("ghost", "v", "c").await.unwrap_err(),
        Error::NotFound { .. }
    ));

    // Listing filters by state and keeps creation order.
    let all = store.sessions(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let active = store
        .sessions(Some(SessionState::Active), 10)
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(store.sessions(None, 1).await.unwrap().len(), 1);

    // Burying a node's sessions leaves other nodes' sessions alone.
    assert_eq!(
        store.bury_sessions("node-1", Timestamp(30)).await.unwrap(),
        1
    );
    assert_eq!(
        store.bury_sessions("node-1", Timestamp(31)).await.unwrap(),
        0
    );
    assert_eq!(
        store.session("a").await.unwrap().unwrap().state,
        SessionState::Dead
    );
    assert_eq!(
        store.session("b").await.unwrap().unwrap().state,
        SessionState::Initializing
    );
}

#[tokio::test]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(dir.path().join("nested/dir/m.db").to_str().unwrap()).unwrap();
    let store = open(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    suite(store).await;

    // Reopening finds the data and does not re-run migrations.
    let store = open(&url).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), MIGRATION_COUNT);
    assert_eq!(store.sessions(None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn sqlite_refuses_a_database_from_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let url = StoreUrl::parse(path.to_str().unwrap()).unwrap();
    drop(open(&url).await.unwrap());
    let conn = rusqlite_connection(&path);
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let err = open(&url).await.unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
}

fn rusqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[tokio::test]
async fn postgres_backend() {
    let schema = mcpflow_store::testing::ScratchSchema::create("mcpflow_test").await;
    let url = schema.url().clone();

    let store = open(&url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    suite(store).await;
    // A second node opening the same database finds it migrated.
    let again = open(&url).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), MIGRATION_COUNT);
    schema.drop().await;
}
