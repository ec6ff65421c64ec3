//! The scripted executor: deterministic replies, for tests, demos and benchmarks.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{ExecError, Executor, Job, Progress, Reply};

/// Replies with a template after a fixed delay; every `fail_every`-th attempt fails (transient).
///
/// `{input}` in the template is replaced by the job's input. The failure count is per executor,
/// so a restarted agent (a new executor) starts counting again.
#[derive(Debug)]
pub struct Scripted {
    reply: String,
    delay: Duration,
    fail_every: u64,
    attempts: AtomicU64,
}

impl Scripted {
    /// A scripted executor; `delay_ms` of simulated work, `fail_every` = 0 never fails.
    pub fn new(reply: impl Into<String>, delay_ms: u64, fail_every: u32) -> Self {
        Self {
            reply: reply.into(),
            delay: Duration::from_millis(delay_ms),
            fail_every: u64::from(fail_every),
            attempts: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Executor for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    async fn execute(&self, job: &Job, progress: &dyn Progress) -> Result<Reply, ExecError> {
        let n = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.fail_every > 0 && n.is_multiple_of(self.fail_every) {
            return Err(ExecError::Transient(format!(
                "scripted failure (attempt {n} of this executor; fail_every = {})",
                self.fail_every
            )));
        }
        let text = self.reply.replace("{input}", &job.input);
        progress.delta(&text);
        Ok(Reply {
            stop_reason: Some("end_turn".into()),
            ..Reply::text(text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;

    #[tokio::test]
    async fn substitutes_input_and_fails_every_nth() {
        let ex = Scripted::new("echo {input}!", 0, 3);
        let job = Job::new("t", "a", "hi");
        assert_eq!(
            ex.execute(&job, &NoProgress).await.unwrap().text,
            "echo hi!"
        );
        assert_eq!(
            ex.execute(&job, &NoProgress).await.unwrap().text,
            "echo hi!"
        );
        let err = ex.execute(&job, &NoProgress).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(ex.execute(&job, &NoProgress).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn waits_its_delay() {
        let ex = Scripted::new("x", 250, 0);
        let start = tokio::time::Instant::now();
        ex.execute(&Job::new("t", "a", ""), &NoProgress)
            .await
            .unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(250));
    }
}
