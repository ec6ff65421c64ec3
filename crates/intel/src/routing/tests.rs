use super::*;
use crate::memory::ManualClock;
use crate::trajectory::InMemoryTrajectories;

struct Fixture {
    router: Router,
    store: Arc<InMemoryTrajectories>,
    clock: Arc<ManualClock>,
}

fn config() -> RouterConfig {
    let mut c = RouterConfig::new(4);
    c.window_ms = 60_000;
    c
}

fn fixture(config: RouterConfig) -> Fixture {
    let store = Arc::new(InMemoryTrajectories::default());
    let clock = Arc::new(ManualClock::new(1_000_000));
    let router = Router::open(config, store.clone(), clock.clone()).unwrap();
    Fixture {
        router,
        store,
        clock,
    }
}

fn task(kind: usize) -> TaskSpec {
    let mut e = vec![0.05; 4];
    e[kind] = 1.0;
    TaskSpec::new(format!("type{kind}"), e).capabilities(["code"])
}

/// Runs one trajectory: `agent` on `kind`, succeeding when `ok`.
fn run(f: &Fixture, agent: &str, kind: usize, ok: bool) -> Ended {
    let id = f.router.start(agent, task(kind)).unwrap();
    f.clock.advance(100);
    let (outcome, reward) = if ok {
        (Outcome::Success, 1.0)
    } else {
        (Outcome::Failure, 0.0)
    };
    f.router.end(id, outcome, reward, 100).unwrap()
}

#[test]
fn capability_filter_and_clear_errors() {
    let f = fixture(config());
    f.router.register_agent("coder", ["code", "rust"]).unwrap();
    f.router.register_agent("writer", ["docs"]).unwrap();
    let ranked = f.router.route(&task(0)).unwrap();
    assert_eq!(ranked.len(), 1);
    assert_eq!(ranked[0].agent, "coder");
    assert!(ranked[0].explanation.contains("no similar past task"));
    assert!(ranked[0].confidence > 0.0 && ranked[0].confidence <= 1.0);

    let needs_go = TaskSpec::new("t", vec![1.0, 0.0, 0.0, 0.0]).capabilities(["go"]);
    let e = f.router.route(&needs_go).unwrap_err();
    assert_eq!(
        e,
        RoutingError::NoCapableAgent {
            required: vec!["go".into()],
            registered: 2
        }
    );
    assert!(e.to_string().contains("register an agent"));
    assert_eq!(
        f.router.start("nobody", task(0)).unwrap_err(),
        RoutingError::UnknownAgent("nobody".into())
    );
    assert_eq!(
        f.router.start("writer", task(0)).unwrap_err(),
        RoutingError::NotCapable {
            agent: "writer".into(),
            missing: vec!["code".into()]
        }
    );
    let bad_dim = TaskSpec::new("t", vec![1.0]);
    assert!(matches!(
        f.router.route(&bad_dim),
        Err(RoutingError::Trajectory(TrajectoryError::Invalid(_)))
    ));
    let id = f.router.start("coder", task(0)).unwrap();
    f.router.end(id, Outcome::Success, 1.0, 1).unwrap();
    assert_eq!(
        f.router.end(id, Outcome::Success, 1.0, 1).unwrap_err(),
        RoutingError::Trajectory(TrajectoryError::AlreadyEnded(id))
    );
    assert!(f.router.remove_agent("coder"));
    assert!(!f.router.remove_agent("coder"));
    assert!(f.router.route(&task(0)).is_err());
}

#[test]
fn nan_reward_is_refused_and_changes_nothing() {
    let f = fixture(config());
    f.router.register_agent("coder", ["code"]).unwrap();
    let id = f.router.start("coder", task(0)).unwrap();
    let e = f.router.end(id, Outcome::Success, f32::NAN, 1).unwrap_err();
    assert!(matches!(
        e,
        RoutingError::Trajectory(TrajectoryError::InvalidReward(r)) if r.is_nan()
    ));
    let stats = f.router.learning_stats();
    assert_eq!((stats.trajectories_seen, stats.active_trajectories), (0, 1));
    assert_eq!(stats.agents[0].in_flight, 1);
}

#[test]
fn invalid_config_is_refused() {
    let store = Arc::new(InMemoryTrajectories::default());
    let clock = Arc::new(ManualClock::new(0));
    let mut bad = vec![];
    let mut c = config();
    c.window_ms = MAX_WINDOW_MS + 1;
    bad.push(c);
    let mut c = config();
    c.cycle_size = 0;
    bad.push(c);
    let mut c = config();
    c.policy.forgetting = 1.5;
    bad.push(c);
    let mut c = config();
    c.policy.ewc_lambda = f64::NAN;
    bad.push(c);
    let mut c = config();
    c.patterns.radius = 0.0;
    bad.push(c);
    for c in bad {
        let e = Router::open(c, store.clone(), clock.clone()).unwrap_err();
        assert!(matches!(e, RoutingError::InvalidConfig(_)), "{e}");
    }
}

#[test]
fn cycles_run_every_cycle_size_trajectories() {
    let f = fixture(config());
    f.router.register_agent("a", ["code"]).unwrap();
    for i in 1..=25 {
        let ended = run(&f, "a", 0, true);
        assert_eq!(ended.cycle.is_some(), i % 10 == 0, "trajectory {i}");
    }
    let s = f.router.learning_stats();
    assert_eq!((s.cycles, s.trajectories_seen, s.buffered), (2, 25, 5));
    assert_eq!(s.last_cycle.as_ref().unwrap().trajectories, 10);
    assert_eq!(s.patterns, 1);
    assert_eq!(s.agents[0].learned, 20);
    assert_eq!(s.agents[0].window_success_rate, Some(1.0));
    let forced = f.router.learn_now().unwrap();
    assert_eq!((forced.cycle, forced.trajectories), (3, 5));
    assert!(f.router.learn_now().is_none());
}

#[test]
fn learns_which_agent_suits_which_task_type() {
    let f = fixture(config());
    for a in ["alpha", "beta", "gamma"] {
        f.router.register_agent(a, ["code"]).unwrap();
    }
    // alpha is good at type 0, beta at type 1, gamma at nothing.
    let skill = |agent: &str, kind: usize| match (agent, kind) {
        ("alpha", 0) | ("beta", 1) => 0.9,
        _ => 0.2,
    };
    let mut coin = crate::rng::SplitMix64::new(3);
    let mut losses = Vec::new();
    for i in 0..300 {
        let kind = i % 2;
        let agent = f.router.route(&task(kind)).unwrap()[0].agent.clone();
        let ok = coin.next_f64() < skill(&agent, kind);
        if let Some(c) = run(&f, &agent, kind, ok).cycle {
            losses.push(c.loss);
        }
    }
    for kind in 0..2 {
        let ranked = f.router.route(&task(kind)).unwrap();
        let want = ["alpha", "beta"][kind];
        assert_eq!(ranked[0].agent, want, "type {kind}: {ranked:#?}");
        assert!(ranked[0].mean > ranked[2].mean + 0.3, "{ranked:#?}");
        assert!(ranked[0].explanation.contains("nearest pattern"));
    }
    let s = f.router.learning_stats();
    assert_eq!(losses.len(), 30);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    // Each cycle's loss is over 10 coin flips, so single cycles are noisy: compare the first
    // (predicted before any learning) with the mean of the last ten.
    let (untrained, late) = (losses[0], mean(&losses[20..]));
    assert!(
        late < untrained,
        "prediction loss fell: {untrained} -> {late}: {losses:?}"
    );
    let alpha = s.agents.iter().find(|a| a.agent == "alpha").unwrap();
    assert!(alpha.fisher_mean > 0.0 && alpha.theta_norm > 0.0);
}

#[test]
fn load_and_health_come_from_the_window() {
    let f = fixture(config());
    f.router.register_agent("a", ["code"]).unwrap();
    let open = f.router.start("a", task(0)).unwrap();
    run(&f, "a", 0, false);
    let s = f.router.learning_stats();
    assert_eq!(s.agents[0].in_flight, 1);
    assert_eq!(s.agents[0].window_success_rate, Some(0.0));
    assert_eq!(s.agents[0].window_mean_latency_ms, Some(100.0));
    let text = &f.router.route(&task(0)).unwrap()[0].explanation;
    assert!(
        text.contains("0/1 succeeded") && text.contains("1 in flight"),
        "{text}"
    );
    f.clock.advance(61_000);
    let s = f.router.learning_stats();
    assert_eq!(
        s.agents[0].window_success_rate, None,
        "slid out of the window"
    );
    f.router.end(open, Outcome::Success, 1.0, 5).unwrap();
    assert_eq!(f.router.learning_stats().agents[0].in_flight, 0);
}

#[test]
fn reopening_replays_learning_and_keeps_open_trajectories() {
    let f = fixture(config());
    f.router.register_agent("good", ["code"]).unwrap();
    f.router.register_agent("bad", ["code"]).unwrap();
    for i in 0..40 {
        let (agent, ok) = if i % 2 == 0 {
            ("good", true)
        } else {
            ("bad", false)
        };
        run(&f, agent, 0, ok);
    }
    let open = f.router.start("good", task(0)).unwrap();
    let before = f.router.learning_stats();
    let again = Router::open(config(), f.store.clone(), f.clock.clone()).unwrap();
    again.register_agent("good", ["code"]).unwrap();
    again.register_agent("bad", ["code"]).unwrap();
    let after = again.learning_stats();
    assert_eq!(after.trajectories_seen, 40);
    assert_eq!(after.cycles, before.cycles);
    assert_eq!(after.active_trajectories, 1);
    assert_eq!(again.route(&task(0)).unwrap()[0].agent, "good");
    assert!(
        after.restore.contains("snapshot of cycle 4"),
        "{}",
        after.restore
    );
    // The open trajectory's decision was stored with it: it resumes, nothing is recomputed.
    again.end(open, Outcome::Success, 1.0, 10).unwrap();
    assert_eq!(again.learning_stats().recomputed_decisions, 0);
}

/// Runs trajectory `i` of a fixed schedule: agents, task kinds and outcomes vary.
fn scheduled(f: &Fixture, i: usize) {
    let agent = ["good", "bad", "slow"][i % 3];
    let kind = (i / 3) % 4;
    let ok = match agent {
        "good" => kind != 3,
        "bad" => kind == 3 || i.is_multiple_of(7),
        _ => i.is_multiple_of(2),
    };
    run(f, agent, kind, ok);
}

fn register_all(r: &Router) {
    for a in ["good", "bad", "slow"] {
        r.register_agent(a, ["code"]).unwrap();
    }
}

fn rankings(r: &Router) -> Vec<Vec<Ranked>> {
    (0..4).map(|k| r.route(&task(k)).unwrap()).collect()
}

/// The counters of learning_stats that must survive a restart.
fn counts(s: &LearningStats) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap();
    v.as_object_mut().unwrap().remove("restore");
    v
}

#[test]
fn a_reopened_router_ranks_and_learns_exactly_as_one_that_never_stopped() {
    // One router stops after 27 trajectories (2 cycles, 7 buffered, one open) and is reopened
    // on its persistence; another runs the same schedule without stopping.
    let stopped = fixture(config());
    let steady = fixture(config());
    register_all(&stopped.router);
    register_all(&steady.router);
    for i in 0..25 {
        scheduled(&stopped, i);
        scheduled(&steady, i);
    }
    // Two trajectories of one agent overlap: the second was decided with the first in
    // flight, a context only the captured decision remembers.
    for f in [&stopped, &steady] {
        let x = f.router.start("good", task(1)).unwrap();
        let y = f.router.start("good", task(2)).unwrap();
        f.clock.advance(10);
        f.router.end(x, Outcome::Success, 1.0, 10).unwrap();
        f.router.end(y, Outcome::Failure, -1.0, 10).unwrap();
    }
    let open_a = stopped.router.start("slow", task(2)).unwrap();
    let open_b = steady.router.start("slow", task(2)).unwrap();
    let before = stopped.router.learning_stats();
    assert_eq!((before.cycles, before.buffered), (2, 7));
    let ranked_before = rankings(&stopped.router);

    let reopened = Router::open(config(), stopped.store.clone(), stopped.clock.clone()).unwrap();
    register_all(&reopened);
    assert_eq!(
        rankings(&reopened),
        ranked_before,
        "same input, same ranking"
    );
    assert_eq!(counts(&reopened.learning_stats()), counts(&before));

    // Learning goes on identically: the buffered ends, the resumed trajectory, new ones.
    let resumed = Fixture {
        router: reopened,
        store: stopped.store.clone(),
        clock: stopped.clock.clone(),
    };
    resumed.clock.advance(50);
    steady.clock.advance(50);
    resumed
        .router
        .end(open_a, Outcome::Success, 0.5, 50)
        .unwrap();
    steady
        .router
        .end(open_b, Outcome::Success, 0.5, 50)
        .unwrap();
    for i in 27..30 {
        scheduled(&resumed, i);
        scheduled(&steady, i);
    }
    // The cycle that learned from the ends buffered across the restart.
    let (a, b) = (
        resumed.router.learning_stats(),
        steady.router.learning_stats(),
    );
    assert_eq!(a.cycles, 3);
    assert_eq!(counts(&a), counts(&b));
    assert_eq!(rankings(&resumed.router), rankings(&steady.router));
    for i in 30..61 {
        scheduled(&resumed, i);
        scheduled(&steady, i);
    }
    let (a, b) = (
        resumed.router.learning_stats(),
        steady.router.learning_stats(),
    );
    assert_eq!(a.cycles, 6);
    assert_eq!(counts(&a), counts(&b));
    assert_eq!(rankings(&resumed.router), rankings(&steady.router));
}

#[test]
fn an_unusable_snapshot_is_reported_and_learning_is_replayed() {
    let f = fixture(config());
    register_all(&f.router);
    for i in 0..20 {
        scheduled(&f, i);
    }
    let good = f.store.snapshot().expect("a snapshot after each cycle");
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    f.store.save_snapshot(&bad).unwrap();
    let again = Router::open(config(), f.store.clone(), f.clock.clone()).unwrap();
    let stats = again.learning_stats();
    assert!(
        stats
            .restore
            .contains("snapshot not used (checksum mismatch"),
        "{}",
        stats.restore
    );
    assert_eq!((stats.cycles, stats.trajectories_seen), (2, 20));
    // Replaying saved a fresh snapshot, which the next open uses.
    let third = Router::open(config(), f.store.clone(), f.clock.clone()).unwrap();
    assert!(
        third
            .learning_stats()
            .restore
            .starts_with("snapshot of cycle 2")
    );

    // A snapshot of another configuration is not used either.
    let mut other = config();
    other.projection_dims = 4;
    let fourth = Router::open(other, f.store.clone(), f.clock.clone()).unwrap();
    let stats = fourth.learning_stats();
    assert!(
        stats
            .restore
            .contains("another embedding dimension or projection"),
        "{}",
        stats.restore
    );
    assert_eq!(stats.cycles, 2);
}

/// Keeps trajectories, refuses snapshots while told to.
#[derive(Debug, Default)]
struct NoSnapshots {
    inner: InMemoryTrajectories,
    refuse: std::sync::atomic::AtomicBool,
}

impl TrajectoryPersistence for NoSnapshots {
    fn put(&self, t: &Trajectory) -> Result<(), crate::memory::PersistenceError> {
        self.inner.put(t)
    }
    fn remove(&self, id: u64) -> Result<(), crate::memory::PersistenceError> {
        self.inner.remove(id)
    }
    fn load_all(&self) -> Result<Vec<Trajectory>, crate::memory::PersistenceError> {
        self.inner.load_all()
    }
    fn save_snapshot(&self, data: &[u8]) -> Result<(), crate::memory::PersistenceError> {
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::memory::PersistenceError("disk full".into()));
        }
        self.inner.save_snapshot(data)
    }
    fn load_snapshot(&self) -> Result<Option<Vec<u8>>, crate::memory::PersistenceError> {
        self.inner.load_snapshot()
    }
}

#[test]
fn a_failed_snapshot_is_visible_and_retention_keeps_what_it_would_hold() {
    let mut c = config();
    c.recorder.max_ended = 5;
    c.cycle_size = 5;
    let store = Arc::new(NoSnapshots::default());
    store
        .refuse
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let f = Fixture {
        router: Router::open(c.clone(), store.clone(), clock.clone()).unwrap(),
        store: Arc::new(InMemoryTrajectories::default()),
        clock: clock.clone(),
    };
    register_all(&f.router);
    for i in 0..12 {
        scheduled(&f, i);
    }
    let stats = f.router.learning_stats();
    assert_eq!(stats.cycles, 2);
    assert!(stats.snapshot_error.unwrap().contains("disk full"));
    assert_eq!(store.inner.len(), 12, "no snapshot holds them: all kept");

    // Reopened without a snapshot, learning is replayed from the kept trajectories.
    let again = Router::open(c, store.clone(), clock.clone()).unwrap();
    register_all(&again);
    assert_eq!(
        (
            again.learning_stats().cycles,
            again.learning_stats().trajectories_seen
        ),
        (2, 12)
    );
    store
        .refuse
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let f = Fixture {
        router: again,
        store: f.store,
        clock,
    };
    for i in 12..15 {
        scheduled(&f, i);
    }
    let stats = f.router.learning_stats();
    assert_eq!((stats.cycles, stats.snapshot_error), (3, None));
    assert_eq!(
        store.inner.len(),
        5,
        "held by the snapshot now: retention applies"
    );
}
