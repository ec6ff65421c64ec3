//! The agent loop and one attempt of a task: timeout, cancellation, retry with backoff, and
//! exactly one final outcome.

use mcpflow_executors::{ExecError, Job, Progress};
use mcpflow_model::{AgentSpec, GateOutcome, GatePoint, TaskState, Timestamp};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::agent::{Agent, Next};
use crate::events::RuntimeEvent;
use crate::runtime::Inner;
use crate::supervisor::ExitGuard;
use crate::tasks::TaskEntry;

/// An agent's life between (re)starts: take a task, run it, repeat; park when idle.
///
/// The guard is made by the caller and moved in, so even a loop aborted before its first poll
/// reports its end.
pub(crate) async fn agent_loop(rt: Arc<Inner>, agent: Arc<Agent>, mut guard: ExitGuard) {
    loop {
        match agent.next() {
            // Boxed so an idle agent's future stays small (one pointer, not a whole attempt).
            Next::Run(task) => Box::pin(attempt(&rt, &agent, task)).await,
            Next::Idle => agent.wake.notified().await,
            Next::Closed => {
                guard.normal_exit();
                return;
            }
        }
    }
}

struct Streamed<'a> {
    rt: &'a Inner,
    task: &'a str,
}

impl Progress for Streamed<'_> {
    fn delta(&self, text: &str) {
        if self.rt.events.receiver_count() > 0 {
            let _ = self.rt.events.send(RuntimeEvent::TaskProgress {
                id: self.task.to_owned(),
                text: text.to_owned(),
            });
        }
    }
}

/// Runs one attempt of `task` on `agent` and records what came of it.
async fn attempt(rt: &Arc<Inner>, agent: &Arc<Agent>, task: Arc<TaskEntry>) {
    let Some(record) = task.transition(TaskState::Running, |r| {
        r.attempts += 1;
        r.agent = Some(agent.id.to_string());
    }) else {
        // It ended (cancelled) while queued.
        agent.clear_current();
        return;
    };
    rt.journal.record(Some(record.clone()), None);
    rt.task_event(&task);
    let job = Job {
        task_id: record.id.clone(),
        agent_id: agent.id.to_string(),
        input: record.spec.input.clone(),
        system: Some(system_prompt(&agent.spec)),
        tools: Vec::new(),
        attempt: record.attempts,
        origin: record.spec.origin.clone(),
    };
    let timeout = Duration::from_millis(
        record
            .spec
            .timeout_ms
            .unwrap_or(agent.spec.limits.task_timeout_ms),
    );
    let executor = agent.executor();
    let progress = Streamed {
        rt,
        task: &record.id,
    };
    let started = Instant::now();
    agent
        .stats
        .running_since
        .store(Timestamp::now().as_millis() as u64, Ordering::Relaxed);
    let outcome = tokio::select! {
        r = tokio::time::timeout(timeout, executor.execute(&job, &progress)) => Some(r),
        // Cancelled (or otherwise ended) meanwhile: dropping the attempt stops it.
        _ = task.finished() => None,
    };
    agent.stats.running_since.store(0, Ordering::Relaxed);
    agent.stats.attempts.fetch_add(1, Ordering::Relaxed);
    agent
        .stats
        .latency_us
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    match outcome {
        None => {}
        Some(Ok(Ok(reply))) => {
            if let Some(gate) = &rt.config.gate
                && let GateOutcome::Block(reason) = gate.inspect(
                    GatePoint::TaskResult {
                        task: &record.id,
                        instructions: agent.spec.instructions.as_deref(),
                    },
                    &agent.id,
                    &reply.text,
                )
            {
                // Not retried: the same input would most likely produce the same content.
                let refused = ExecError::Permanent(format!(
                    "the result was refused by the security gate: {reason}"
                ));
                failed_attempt(rt, agent, &task, &refused);
                agent.clear_current();
                return;
            }
            let result = serde_json::to_value(&reply).unwrap_or_default();
            if let Some(done) = task.transition(TaskState::Completed, |r| {
                r.result = Some(result);
                r.error = None;
            }) {
                agent.update_state(|s| {
                    s.completed += 1;
                    s.last_task = Some(done.id.clone());
                });
                rt.finished(&task, done, Some(agent.as_ref()));
            }
        }
        Some(Ok(Err(e))) => failed_attempt(rt, agent, &task, &e),
        Some(Err(_)) => failed_attempt(
            rt,
            agent,
            &task,
            &ExecError::Transient(format!("timed out after {} ms", timeout.as_millis())),
        ),
    }
    agent.clear_current();
}

/// A failed attempt: retry with backoff while attempts remain and the error is retryable,
/// otherwise fail the task with the reason.
fn failed_attempt(rt: &Arc<Inner>, agent: &Arc<Agent>, task: &Arc<TaskEntry>, error: &ExecError) {
    agent.stats.failures.fetch_add(1, Ordering::Relaxed);
    agent.update_state(|s| s.failed += 1);
    let record = task.snapshot();
    let max = record
        .spec
        .max_attempts
        .unwrap_or(agent.spec.limits.max_attempts);
    if error.is_retryable() && record.attempts < max {
        let reason = format!("attempt {} failed: {}", record.attempts, error.reason());
        if task
            .transition(TaskState::Queued, |r| {
                r.error = Some(reason);
                r.agent = None;
            })
            .is_some()
        {
            rt.counters.retries.fetch_add(1, Ordering::Relaxed);
            rt.task_event(task);
            let backoff = rt.config.retry_backoff * 2u32.pow((record.attempts - 1).min(5));
            // A provider that names a time (Retry-After) knows better than our backoff.
            let delay = backoff.max(error.retry_after().unwrap_or_default());
            let (rt, task) = (rt.clone(), task.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                rt.place(task);
            });
        }
        return;
    }
    let reason = if error.is_retryable() {
        format!("{} (after {} attempts)", error.reason(), record.attempts)
    } else {
        error.reason().to_owned()
    };
    if let Some(done) = task.transition(TaskState::Failed, |r| r.error = Some(reason)) {
        rt.finished(task, done, Some(agent.as_ref()));
    }
}

/// What the executor is told the agent is: its name and role, then its own instructions.
fn system_prompt(spec: &AgentSpec) -> String {
    let who = format!(
        "You are {}, an agent with the role {}.",
        spec.name, spec.role
    );
    match &spec.instructions {
        Some(instructions) => format!("{who}\n\n{instructions}"),
        None => who,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpflow_model::{AgentLimits, ExecutorSpec, RestartPolicy};

    #[test]
    fn the_system_prompt_carries_the_agents_instructions() {
        let mut spec = AgentSpec {
            name: "conductor".into(),
            role: "helpdesk".into(),
            capabilities: Vec::new(),
            instructions: None,
            executor: ExecutorSpec::Scripted {
                reply: String::new(),
                delay_ms: 0,
                fail_every: 0,
            },
            limits: AgentLimits::default(),
            restart: RestartPolicy::default(),
        };
        assert_eq!(
            system_prompt(&spec),
            "You are conductor, an agent with the role helpdesk."
        );
        spec.instructions = Some("Never discuss competitors' prices.".into());
        assert!(system_prompt(&spec).ends_with(".\n\nNever discuss competitors' prices."));
    }
}
