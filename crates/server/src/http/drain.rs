//! Counting in-flight requests so shutdown can wait for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How many MCP requests are being handled right now.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

/// Decrements the count when dropped (so a cancelled request is counted out too).
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicUsize>);

impl InFlight {
    /// Counts one request in until the guard drops.
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        metrics::gauge!("mcpflow_mcp_requests_in_flight").increment(1.0);
        InFlightGuard(self.0.clone())
    }

    /// Requests in flight now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Waits until no request is in flight, or `grace` passes; returns how many were left.
    pub async fn drained(&self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        while self.count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.count()
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("mcpflow_mcp_requests_in_flight").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_requests_to_leave() {
        let inflight = InFlight::default();
        let guard = inflight.enter();
        assert_eq!(inflight.count(), 1);
        let waiter = tokio::spawn({
            let inflight = inflight.clone();
            async move { inflight.drained(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(guard);
        assert_eq!(waiter.await.unwrap(), 0);
    }

    #[tokio::test]
    async fn gives_up_after_the_grace_period() {
        let inflight = InFlight::default();
        let _guard = inflight.enter();
        assert_eq!(inflight.drained(Duration::from_millis(30)).await, 1);
    }
}
