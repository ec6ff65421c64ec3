//! The runtime against a real SQLite store: spawn, tasks, back-pressure, retries, timeouts,
//! cancellation, supervision, listing.

mod support;

use mcpflow_agents::{AgentFilter, Error, Health};
use mcpflow_model::{AgentStatus, RestartPolicy, TaskSpec, TaskState};
use support::*;

#[tokio::test]
async fn a_task_runs_on_a_capable_agent_and_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let rt = runtime(store.clone()).await;
    rt.spawn(spec("plain", &[], 0, 0)).await.unwrap();
    let rusty = rt.spawn(spec("rusty", &["rust"], 0, 0)).await.unwrap();
    let mut task = TaskSpec::new("refactor");
    task.capabilities = vec!["rust".into()];
    let submitted = rt.submit(task).await.unwrap();
    assert_eq!(submitted.state, TaskState::Assigned);
    assert_eq!(submitted.agent.as_deref(), Some(rusty.id.as_str()));
    // Durable before submit returned.
    assert!(store.task(&submitted.id).await.unwrap().is_some());
    let done = rt.wait(&submitted.id).await.unwrap();
    assert_eq!(done.state, TaskState::Completed);
    assert_eq!(done.result.as_ref().unwrap()["text"], "rusty did refactor");
    assert_eq!(done.attempts, 1);
    rt.flush().await.unwrap();
    assert_eq!(
        store.task(&submitted.id).await.unwrap().unwrap().state,
        TaskState::Completed
    );
    let agent = store.agent(&rusty.id).await.unwrap().unwrap();
    assert_eq!(agent.state.completed, 1);
    assert_eq!(
        agent.state.last_task.as_deref(),
        Some(submitted.id.as_str())
    );
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    let mut bad = spec("x", &[], 0, 0);
    bad.limits.mailbox = 0;
    let err = rt.spawn(bad).await.unwrap_err();
    assert!(err.to_string().contains("limits.mailbox"), "{err}");
    let mut llm = spec("x", &[], 0, 0);
    llm.executor = mcpflow_model::ExecutorSpec::McpSampling { max_tokens: 10 };
    assert!(matches!(
        rt.spawn(llm).await.unwrap_err(),
        Error::Executor(_)
    ));

    let err = rt.submit(TaskSpec::new("x")).await.unwrap_err();
    assert!(matches!(err, Error::NoCapableAgent(_)), "{err}");
    rt.spawn(spec("a", &["rust"], 0, 0)).await.unwrap();
    let mut needs = TaskSpec::new("x");
    needs.capabilities = vec!["go".into()];
    let err = rt.submit(needs).await.unwrap_err();
    assert!(err.to_string().contains("\"go\""), "{err}");
    let huge = TaskSpec::new("x".repeat(mcpflow_model::MAX_TASK_INPUT + 1));
    let err = rt.submit(huge).await.unwrap_err();
    assert!(err.to_string().contains("input"), "{err}");
    let mut pinned = TaskSpec::new("x");
    pinned.agent = Some("agent-nope".into());
    assert!(matches!(
        rt.submit(pinned).await.unwrap_err(),
        Error::UnknownAgent(_)
    ));
    assert!(matches!(
        rt.task("task-nope").await.unwrap_err(),
        Error::UnknownTask(_)
    ));
    assert!(matches!(
        rt.agent("agent-nope").await.unwrap_err(),
        Error::UnknownAgent(_)
    ));
    assert!(matches!(
        rt.terminate("agent-nope", "x").await.unwrap_err(),
        Error::UnknownAgent(_)
    ));
    assert_eq!(
        rt.stats().tasks_submitted,
        0,
        "refused tasks are not accepted"
    );
}

#[tokio::test]
async fn a_full_mailbox_pushes_back_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    let mut s = spec("slow", &[], 50, 0);
    s.limits.mailbox = 3;
    let agent = rt.spawn(s).await.unwrap();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..10 {
        let mut t = TaskSpec::new(format!("job {i}"));
        t.agent = Some(agent.id.clone());
        match rt.submit(t).await {
            Ok(t) => accepted.push(t.id),
            Err(Error::MailboxFull { capacity: 3, .. }) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(
        refused > 0 && accepted.len() <= 4,
        "accepted {}",
        accepted.len()
    );
    // Unpinned submissions see every capable mailbox full too.
    let err = rt.submit(TaskSpec::new("more")).await.unwrap_err();
    assert!(matches!(err, Error::AllMailboxesFull { .. }), "{err}");
    for id in &accepted {
        assert_eq!(rt.wait(id).await.unwrap().state, TaskState::Completed);
    }
}

#[tokio::test]
async fn retries_with_backoff_then_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    // Every second attempt fails: the first task succeeds at once, the second needs a retry.
    rt.spawn(spec("flaky", &[], 0, 2)).await.unwrap();
    let first = rt.submit(TaskSpec::new("a")).await.unwrap();
    assert_eq!(rt.wait(&first.id).await.unwrap().attempts, 1);
    let second = rt.submit(TaskSpec::new("b")).await.unwrap();
    let done = rt.wait(&second.id).await.unwrap();
    assert_eq!((done.state, done.attempts), (TaskState::Completed, 2));
    assert_eq!(rt.stats().retries, 1);

    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    rt.spawn(spec("broken", &[], 0, 1)).await.unwrap();
    let mut t = TaskSpec::new("c");
    t.max_attempts = Some(3);
    let id = rt.submit(t).await.unwrap().id;
    let done = rt.wait(&id).await.unwrap();
    assert_eq!((done.state, done.attempts), (TaskState::Failed, 3));
    let error = done.error.unwrap();
    assert!(
        error.contains("scripted failure") && error.contains("after 3 attempts"),
        "{error}"
    );
}

#[tokio::test]
async fn an_attempt_that_runs_too_long_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    rt.spawn(spec("sleepy", &[], 5_000, 0)).await.unwrap();
    let mut t = TaskSpec::new("x");
    t.timeout_ms = Some(30);
    t.max_attempts = Some(2);
    let id = rt.submit(t).await.unwrap().id;
    let done = rt.wait(&id).await.unwrap();
    assert_eq!((done.state, done.attempts), (TaskState::Failed, 2));
    assert!(done.error.unwrap().contains("timed out after 30 ms"));
}

#[tokio::test]
async fn cancellation_stops_a_running_attempt_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let rt = runtime(store.clone()).await;
    rt.spawn(spec("sleepy", &[], 10_000, 0)).await.unwrap();
    let running = rt.submit(TaskSpec::new("long")).await.unwrap().id;
    let queued = rt.submit(TaskSpec::new("next")).await.unwrap().id;
    eventually("the first task runs", async || {
        rt.task(&running).await.unwrap().state == TaskState::Running
    })
    .await;
    let cancelled = rt.cancel(&running, "user asked").await.unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(cancelled.error.unwrap().contains("user asked"));
    assert_eq!(
        rt.cancel(&queued, "too").await.unwrap().state,
        TaskState::Cancelled
    );
    let again = rt.cancel(&running, "again").await.unwrap_err();
    assert!(
        matches!(
            again,
            Error::AlreadyFinal {
                state: TaskState::Cancelled,
                ..
            }
        ),
        "{again}"
    );
    // The agent is free again at once (the attempt was dropped, not waited out).
    let next = rt.submit(TaskSpec::new("after")).await.unwrap();
    eventually("the agent takes new work", async || {
        rt.task(&next.id).await.unwrap().state == TaskState::Running
    })
    .await;
    rt.flush().await.unwrap();
    assert_eq!(
        store.task(&running).await.unwrap().unwrap().state,
        TaskState::Cancelled
    );
    assert_eq!(rt.stats().tasks_cancelled, 2);
}

#[tokio::test]
async fn a_crashed_agent_restarts_with_its_id_and_stored_state() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    let agent = rt.spawn(spec("phoenix", &[], 0, 0)).await.unwrap();
    for i in 0..3 {
        let id = rt.submit(TaskSpec::new(format!("t{i}"))).await.unwrap().id;
        rt.wait(&id).await.unwrap();
    }
    rt.crash(&agent.id).unwrap();
    eventually("the agent restarts", async || {
        rt.agent(&agent.id).await.unwrap().state.restarts == 1
    })
    .await;
    let back = rt.agent(&agent.id).await.unwrap();
    assert_eq!(back.status, AgentStatus::Running);
    assert_eq!(back.state.completed, 3, "state restored from the store");
    let id = rt.submit(TaskSpec::new("after")).await.unwrap().id;
    assert_eq!(rt.wait(&id).await.unwrap().state, TaskState::Completed);
}

#[tokio::test]
async fn past_the_restart_intensity_an_agent_is_given_up_and_its_tasks_move() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    let doomed = rt.spawn(spec("doomed", &["x"], 200, 0)).await.unwrap();
    let mut queued = Vec::new();
    for i in 0..3 {
        let mut t = TaskSpec::new(format!("t{i}"));
        t.agent = None;
        t.capabilities = vec!["x".into()];
        queued.push(rt.submit(t).await.unwrap().id);
    }
    // Only after the tasks are queued on it does a second capable agent appear.
    let heir = rt.spawn(spec("heir", &["x"], 0, 0)).await.unwrap();
    for n in 1..=5 {
        rt.crash(&doomed.id).unwrap();
        eventually("restart", async || {
            rt.agent(&doomed.id).await.unwrap().state.restarts == n
        })
        .await;
    }
    rt.crash(&doomed.id).unwrap();
    eventually("given up", async || {
        rt.agent(&doomed.id).await.unwrap().status == AgentStatus::GivenUp
    })
    .await;
    let given_up = rt.agent(&doomed.id).await.unwrap();
    assert!(
        given_up
            .reason
            .unwrap()
            .contains("more than 5 times in 60 s")
    );
    // Each crash interrupts the running attempt and counts as one: the first task runs out
    // of attempts (failed, with the reason); the last one never started on `doomed` and
    // finishes on the heir.
    for id in &queued {
        let done = rt.wait(id).await.unwrap();
        match done.state {
            TaskState::Completed => assert_eq!(done.agent.as_deref(), Some(heir.id.as_str())),
            TaskState::Failed => assert!(
                done.error
                    .as_deref()
                    .unwrap()
                    .contains("stopped during its last attempt"),
                "{done:?}"
            ),
            other => panic!("{other} is not final"),
        }
    }
    let last = rt.task(&queued[2]).await.unwrap();
    assert_eq!(last.state, TaskState::Completed);
    assert_eq!(last.agent.as_deref(), Some(heir.id.as_str()));
    assert_eq!(rt.stats().given_up, 1);
    assert!(rt.stats().redistributed >= 1);
}

#[tokio::test]
async fn temporary_agents_are_not_restarted_and_terminated_agents_hand_over() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    let mut s = spec("once", &[], 0, 0);
    s.restart = RestartPolicy::Temporary;
    let temp = rt.spawn(s).await.unwrap();
    rt.crash(&temp.id).unwrap();
    eventually("given up", async || {
        rt.agent(&temp.id).await.unwrap().status == AgentStatus::GivenUp
    })
    .await;

    let busy = rt.spawn(spec("busy", &[], 100, 0)).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut t = TaskSpec::new(format!("t{i}"));
        t.agent = None;
        ids.push(rt.submit(t).await.unwrap().id);
    }
    rt.spawn(spec("spare", &[], 0, 0)).await.unwrap();
    let stopped = rt.terminate(&busy.id, "scaling down").await.unwrap();
    assert_eq!(stopped.status, AgentStatus::Stopped);
    for id in &ids {
        assert_eq!(rt.wait(id).await.unwrap().state, TaskState::Completed);
    }
    let gone = rt.agent(&busy.id).await.unwrap();
    assert_eq!(gone.status, AgentStatus::Stopped);
    assert_eq!(gone.reason.as_deref(), Some("scaling down"));
    assert!(matches!(
        rt.terminate(&busy.id, "again").await.unwrap_err(),
        Error::UnknownAgent(_) | Error::AgentNotRunning { .. }
    ));
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let caps: &[&str] = if i % 5 == 0 { &["rare"] } else { &["common"] };
        let mut s = spec(&format!("a{i}"), caps, 0, 0);
        if i % 2 == 0 {
            s.role = "reviewer".into();
        }
        ids.push(rt.spawn(s).await.unwrap().id);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = rt.agents(&AgentFilter {
            after: after.clone(),
            limit: 10,
            ..AgentFilter::default()
        });
        seen.extend(page.items.iter().map(|a| a.id.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every agent once, in id order");
    let rare = rt.agents(&AgentFilter {
        capability: Some("rare".into()),
        ..AgentFilter::default()
    });
    assert_eq!(rare.items.len(), 5);
    let reviewers = rt.agents(&AgentFilter {
        role: Some("reviewer".into()),
        capability: Some("common".into()),
        ..AgentFilter::default()
    });
    // Even i (13 of them) minus the even multiples of 5 (0, 10, 20), which are `rare`.
    assert_eq!(reviewers.items.len(), 10);
    let healthy = rt.agents(&AgentFilter {
        health: Some(Health::Healthy),
        status: Some(AgentStatus::Running),
        limit: 1000,
        ..AgentFilter::default()
    });
    assert_eq!(healthy.items.len(), 25);
}

#[tokio::test]
async fn the_health_monitor_marks_a_failing_agent_unhealthy_and_scheduling_avoids_it() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(sqlite(&dir).await).await;
    let bad = rt.spawn(spec("bad", &["x"], 0, 1)).await.unwrap();
    for i in 0..6 {
        let mut t = TaskSpec::new(format!("t{i}"));
        t.agent = Some(bad.id.clone());
        t.max_attempts = Some(1);
        rt.submit(t).await.unwrap();
    }
    eventually("bad is unhealthy", async || {
        rt.agent(&bad.id).await.unwrap().health == Some(Health::Unhealthy)
    })
    .await;
    let good = rt.spawn(spec("good", &["x"], 0, 0)).await.unwrap();
    for i in 0..5 {
        let mut t = TaskSpec::new(format!("u{i}"));
        t.capabilities = vec!["x".into()];
        let task = rt.submit(t).await.unwrap();
        assert_eq!(task.agent.as_deref(), Some(good.id.as_str()));
        rt.wait(&task.id).await.unwrap();
    }
}
