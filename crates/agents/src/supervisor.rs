//! Supervision: notice every agent loop that ends, then restart it (same id, state restored
//! from the store) or give it up and hand its tasks to healthy agents.
//!
//! An agent loop carries an [`ExitGuard`]; whatever ends the loop — a normal exit, a panic, an
//! abort — drops the guard, which reports to the supervisor. Nothing has to be polled.

use mcpflow_model::{AgentStatus, RestartPolicy, TaskState};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;
use tokio::sync::mpsc;

use crate::agent::Agent;
use crate::runtime::Inner;
use crate::tasks::TaskEntry;

pub(crate) use crate::worker::agent_loop;

/// An agent loop ended.
#[derive(Debug)]
pub(crate) struct Exit {
    agent: Arc<Agent>,
    generation: u64,
    crashed: bool,
    panicked: bool,
}

/// Reports the end of an agent loop when dropped.
pub(crate) struct ExitGuard {
    exits: mpsc::UnboundedSender<Exit>,
    agent: Arc<Agent>,
    generation: u64,
    crashed: bool,
}

impl ExitGuard {
    pub fn new(rt: &Inner, agent: &Arc<Agent>, generation: u64) -> Self {
        Self {
            exits: rt.exits.clone(),
            agent: agent.clone(),
            generation,
            crashed: true,
        }
    }

    pub fn normal_exit(&mut self) {
        self.crashed = false;
    }
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let _ = self.exits.send(Exit {
            agent: self.agent.clone(),
            generation: self.generation,
            crashed: self.crashed,
            panicked: std::thread::panicking(),
        });
    }
}

/// Restart times per agent within the intensity window.
type Window = Vec<Instant>;

pub(crate) async fn run(rt: Weak<Inner>, mut exits: mpsc::UnboundedReceiver<Exit>) {
    let mut windows: HashMap<Arc<str>, Window> = HashMap::new();
    while let Some(exit) = exits.recv().await {
        let Some(rt) = rt.upgrade() else { return };
        if rt.is_shutting_down() || exit.generation != exit.agent.generation() {
            continue;
        }
        let agent = exit.agent;
        match agent.status() {
            AgentStatus::Stopped | AgentStatus::GivenUp => {
                windows.remove(&agent.id);
                retire(&rt, &agent);
            }
            AgentStatus::Running | AgentStatus::Restarting => {
                if exit.panicked {
                    tracing::error!(agent = %agent.id, "agent panicked");
                } else {
                    tracing::warn!(agent = %agent.id, "agent crashed");
                }
                let window = windows.entry(agent.id.clone()).or_default();
                let now = Instant::now();
                window.retain(|t| now.duration_since(*t) < rt.config.restart_period);
                let policy = agent.spec.restart;
                let restart = exit.crashed || policy == RestartPolicy::Permanent;
                if policy != RestartPolicy::Temporary
                    && restart
                    && (window.len() as u32) < rt.config.restart_intensity
                {
                    window.push(now);
                    restart_agent(&rt, &agent).await;
                } else {
                    let reason = if policy == RestartPolicy::Temporary {
                        "crashed; temporary agents are not restarted".to_string()
                    } else {
                        format!(
                            "crashed more than {} times in {} s",
                            rt.config.restart_intensity,
                            rt.config.restart_period.as_secs()
                        )
                    };
                    windows.remove(&agent.id);
                    give_up(&rt, &agent, reason);
                }
            }
        }
    }
}

/// Brings a crashed agent back: same id, state from the store, a fresh executor; its running
/// task goes back to the head of its queue (if attempts remain).
async fn restart_agent(rt: &Arc<Inner>, agent: &Arc<Agent>) {
    if !agent.swap_status(AgentStatus::Running, AgentStatus::Restarting) {
        return retire(rt, agent);
    }
    rt.agent_event(agent);
    // Everything this agent wrote before the crash must be durable before it is read back.
    let _ = rt.journal.flush().await;
    match rt.store.agent(&agent.id).await {
        Ok(Some(stored)) => agent.set_state(stored.state),
        Ok(None) => tracing::warn!(agent = %agent.id, "restarting agent has no stored record"),
        Err(e) => {
            tracing::error!(agent = %agent.id, error = %e, "could not read agent state; keeping memory's")
        }
    }
    match (rt.factory)(&agent.spec) {
        Ok(executor) => agent.set_executor(executor),
        Err(reason) => {
            give_up(
                rt,
                agent,
                format!("executor could not be rebuilt: {reason}"),
            );
            return;
        }
    }
    if let Some(task) = agent.take_current()
        && requeue(rt, agent, &task)
        && task
            .transition(TaskState::Assigned, |r| {
                r.agent = Some(agent.id.to_string())
            })
            .is_some()
    {
        agent.push_front(task);
    }
    if !agent.swap_status(AgentStatus::Restarting, AgentStatus::Running) {
        // Terminated while it was being restarted.
        return retire(rt, agent);
    }
    rt.start_agent(agent);
    // Counted once the new incarnation runs: whoever sees the count can reach (or crash) it.
    agent.update_state(|s| s.restarts += 1);
    agent.journal(&rt.journal, None);
    rt.counters.restarts.fetch_add(1, Ordering::Relaxed);
    rt.agent_event(agent);
}

/// Puts an interrupted task back to queued, or fails it if it had no attempts left.
/// Returns whether it is queued (to be handed to an agent).
fn requeue(rt: &Inner, agent: &Agent, task: &Arc<TaskEntry>) -> bool {
    let record = task.snapshot();
    if record.state.is_final() {
        return false;
    }
    if record.state == TaskState::Running {
        rt.counters.interrupted.fetch_add(1, Ordering::Relaxed);
    }
    let max = record.spec.max_attempts.unwrap_or(1);
    if record.state == TaskState::Running && record.attempts >= max {
        rt.fail(
            task,
            format!(
                "agent {} stopped during its last attempt ({}/{max})",
                agent.id, record.attempts
            ),
        );
        return false;
    }
    if record.state == TaskState::Queued {
        return true;
    }
    let moved = task
        .transition(TaskState::Queued, |r| r.agent = None)
        .is_some();
    if moved {
        rt.task_event(task);
    }
    moved
}

/// The agent is gone for good: record it, and hand its tasks to other agents.
fn give_up(rt: &Arc<Inner>, agent: &Arc<Agent>, reason: String) {
    if agent.end(AgentStatus::GivenUp).is_err() {
        // Already stopped: retire it as such.
        return retire(rt, agent);
    }
    tracing::warn!(agent = %agent.id, %reason, "agent given up");
    agent.set_reason(reason);
    rt.counters.given_up.fetch_add(1, Ordering::Relaxed);
    retire(rt, agent);
}

/// Removes a final agent from the registry and redistributes its tasks.
fn retire(rt: &Arc<Inner>, agent: &Arc<Agent>) {
    agent.close();
    rt.registry.remove(&agent.id);
    agent.journal(&rt.journal, None);
    rt.agent_event(agent);
    for task in agent.drain() {
        if requeue(rt, agent, &task) {
            rt.counters.redistributed.fetch_add(1, Ordering::Relaxed);
            rt.place(task);
        }
    }
}
