//! The health monitor: every `health_interval` it looks at each agent's recent attempts,
//! mailbox and running task, and classifies it healthy, degraded or unhealthy. The scheduler
//! avoids unhealthy agents and gives degraded ones less work.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

use crate::agent::{Agent, Health};
use crate::runtime::Inner;

pub(crate) async fn run(rt: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    let interval = match rt.upgrade() {
        Some(rt) => rt.config.health_interval,
        None => return,
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let Some(rt) = rt.upgrade() else { return };
        let now_ms = mcpflow_model::Timestamp::now().as_millis() as u64;
        for agent in rt.registry.snapshot() {
            if agent.set_health(judge(&agent, now_ms)) {
                rt.agent_event(&agent);
            }
        }
    }
}

/// Reads and resets an agent's counters since the last sweep and judges it.
fn judge(agent: &Agent, now_ms: u64) -> Health {
    let attempts = agent.stats.attempts.swap(0, Ordering::Relaxed);
    let failures = agent.stats.failures.swap(0, Ordering::Relaxed);
    agent.stats.latency_us.swap(0, Ordering::Relaxed);
    let since = agent.stats.running_since.load(Ordering::Relaxed);
    let timeout_ms = agent.spec.limits.task_timeout_ms;
    // Running for more than twice its timeout means the executor ignores cancellation.
    let stuck = since > 0 && now_ms.saturating_sub(since) > timeout_ms.saturating_mul(2);
    let error_rate = if attempts == 0 {
        0.0
    } else {
        f64::from(failures) / f64::from(attempts)
    };
    let fill = f64::from(agent.depth()) / f64::from(agent.capacity().max(1));
    if stuck || (attempts >= 4 && error_rate >= 0.5) {
        Health::Unhealthy
    } else if error_rate >= 0.2 || fill >= 0.8 {
        Health::Degraded
    } else {
        Health::Healthy
    }
}
