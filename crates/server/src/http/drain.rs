//! Counting in-flight requests so shutdown can wait for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How many MCP requests are being handled right now (also exported as the
/// `mcpflow_mcp_requests_in_flight` gauge).
#[derive(Debug, Clone)]
pub struct InFlight(Arc<Counter>);

#[derive(Debug)]
struct Counter {
    count: AtomicUsize,
    /// Resolved once: a metrics lookup per request would cost more than the count itself.
    gauge: metrics::Gauge,
}

impl Default for InFlight {
    fn default() -> Self {
        Self(Arc::new(Counter {
            count: AtomicUsize::new(0),
            gauge: metrics::gauge!("mcpflow_mcp_requests_in_flight"),
        }))
    }
}

/// Decrements the count when dropped (so a cancelled request is counted out too).
#[derive(Debug)]
pub struct InFlightGuard(Arc<Counter>);

impl InFlight {
    /// Counts one request in until the guard drops.
    pub fn enter(&self) -> InFlightGuard {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        self.0.gauge.increment(1.0);
        InFlightGuard(self.0.clone())
    }

    /// Requests in flight now.
    pub fn count(&self) -> usize {
        self.0.count.load(Ordering::Acquire)
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
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.gauge.decrement(1.0);
    }
}

/// A response body that keeps a request counted in flight until the body ends or is dropped.
#[derive(Debug)]
pub struct CountedBody<B> {
    inner: B,
    _guard: InFlightGuard,
}

impl<B> CountedBody<B> {
    /// Wraps `inner`, holding `guard` as long as it lives.
    pub fn new(inner: B, guard: InFlightGuard) -> Self {
        Self {
            inner,
            _guard: guard,
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
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
