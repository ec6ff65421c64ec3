use super::*;
use crate::memory::ManualClock;

fn setup(
    max_ended: usize,
) -> (
    TrajectoryRecorder,
    Arc<InMemoryTrajectories>,
    Arc<ManualClock>,
) {
    let store = Arc::new(InMemoryTrajectories::default());
    let clock = Arc::new(ManualClock::new(1_000));
    let mut config = RecorderConfig::new(2);
    config.max_ended = max_ended;
    config.max_steps = 2;
    let r = TrajectoryRecorder::open(config, store.clone(), clock.clone()).unwrap();
    (r, store, clock)
}

fn task() -> TaskSpec {
    TaskSpec::new("review", vec![1.0, 0.5]).capabilities(["rust"])
}

#[test]
fn full_lifecycle_is_written_through() {
    let (mut r, store, clock) = setup(10);
    let id = r.start("coder", task()).unwrap();
    r.record_step(id, Step::new("read", "ok", 5)).unwrap();
    assert_eq!(store.get(id).unwrap().steps.len(), 1);
    clock.advance(30);
    let t = r.end(id, Outcome::Failure, -0.5, 30).unwrap();
    let e = t.ending.unwrap();
    assert_eq!(
        (e.outcome, e.reward, e.ended_ms),
        (Outcome::Failure, -0.5, 1_030)
    );
    assert_eq!(store.get(id).unwrap().ending.unwrap().latency_ms, 30);
    assert_eq!(r.active().count(), 0);
    assert_eq!(r.ended().count(), 1);
}

#[test]
fn clear_errors() {
    let (mut r, _, _) = setup(10);
    assert_eq!(
        r.record_step(7, Step::new("a", "b", 1)),
        Err(TrajectoryError::Unknown(7))
    );
    assert_eq!(
        r.end(7, Outcome::Success, 1.0, 1).unwrap_err(),
        TrajectoryError::Unknown(7)
    );
    let id = r.start("coder", task()).unwrap();
    for bad in [f32::NAN, f32::INFINITY, 1.5, -2.0] {
        let err = r.end(id, Outcome::Success, bad, 1).unwrap_err();
        assert!(matches!(err, TrajectoryError::InvalidReward(_)), "{bad}");
        assert!(err.to_string().contains("[-1, 1]"));
    }
    r.record_step(id, Step::new("a", "", 1)).unwrap();
    r.record_step(id, Step::new("b", "", 1)).unwrap();
    assert_eq!(
        r.record_step(id, Step::new("c", "", 1)),
        Err(TrajectoryError::TooManySteps { id, max: 2 })
    );
    r.end(id, Outcome::Success, 1.0, 1).unwrap();
    assert_eq!(
        r.end(id, Outcome::Success, 1.0, 1).unwrap_err(),
        TrajectoryError::AlreadyEnded(id)
    );
    assert_eq!(
        r.record_step(id, Step::new("d", "", 1)),
        Err(TrajectoryError::AlreadyEnded(id))
    );
    // Bad inputs.
    assert!(r.start("", task()).is_err());
    assert!(r.start("a\u{0}b", task()).is_err());
    assert!(r.start("coder", TaskSpec::new("", vec![1.0, 0.0])).is_err());
    let e = r.start("coder", TaskSpec::new("t", vec![1.0])).unwrap_err();
    assert!(e.to_string().contains("1 dimensions but 2"), "{e}");
    assert!(
        r.start("coder", TaskSpec::new("t", vec![f32::NAN, 0.0]))
            .is_err()
    );
    assert!(
        r.start("coder", TaskSpec::new("t", vec![0.0, 0.0]))
            .is_err()
    );
    assert!(
        r.start(
            "coder",
            TaskSpec::new("t", vec![1.0, 0.0]).capabilities([" "])
        )
        .is_err()
    );
}

#[test]
fn failed_persistence_changes_nothing() {
    let (mut r, store, _) = setup(10);
    let id = r.start("coder", task()).unwrap();
    store.fail_with(Some("disk full"));
    let e = r.record_step(id, Step::new("a", "b", 1)).unwrap_err();
    assert!(e.to_string().contains("disk full"));
    assert!(r.get(id).unwrap().steps.is_empty());
    assert!(r.end(id, Outcome::Success, 1.0, 1).is_err());
    assert!(r.get(id).unwrap().ending.is_none());
    assert!(r.start("coder", task()).is_err());
    store.fail_with(None);
    r.end(id, Outcome::Success, 1.0, 1).unwrap();
    // The failed start did not burn state: the next id follows.
    assert_eq!(r.start("coder", task()).unwrap(), id + 1);
}

#[test]
fn reopen_restores_and_retention_drops_oldest() {
    let (mut r, store, clock) = setup(2);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = r.start("coder", task()).unwrap();
        clock.advance(1);
        r.end(id, Outcome::Success, 1.0, 1).unwrap();
        ids.push(id);
    }
    let open = r.start("tester", task()).unwrap();
    assert_eq!(store.len(), 3, "oldest ended dropped from the store too");
    assert!(r.get(ids[0]).is_none());
    let mut config = RecorderConfig::new(2);
    config.max_ended = 2;
    let r2 = TrajectoryRecorder::open(config, store.clone(), clock.clone()).unwrap();
    assert_eq!(r2.ended().map(|t| t.id).collect::<Vec<_>>(), ids[1..]);
    assert_eq!(r2.active().map(|t| t.id).collect::<Vec<_>>(), [open]);
    let mut r2 = r2;
    assert_eq!(r2.start("x", task()).unwrap(), open + 1);
    // Ends keep their order across the reopen: the fourth end is number 4.
    let ended = r2.end(open, Outcome::Failure, 0.0, 1).unwrap();
    assert_eq!(ended.ending.unwrap().seq, 4);
    assert_eq!(
        r2.ended()
            .map(|t| t.ending.as_ref().unwrap().seq)
            .collect::<Vec<_>>(),
        [3, 4]
    );
}
