//! Recent load and health of each agent: ended trajectories inside a sliding time window
//! (success rate, mean latency) and trajectories in flight.

use std::collections::VecDeque;

/// One agent's recent record.
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentWindow {
    /// `(ended_ms, success, latency_ms)`, oldest first.
    ended: VecDeque<(u64, bool, u64)>,
    pub(crate) in_flight: u64,
}

/// What the window says about an agent now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Health {
    pub(crate) ended: usize,
    pub(crate) successes: usize,
    pub(crate) mean_latency_ms: Option<f64>,
    pub(crate) in_flight: u64,
}

impl Health {
    /// Success rate smoothed towards ½ (Laplace), so an agent with no record is neutral.
    pub(crate) fn smoothed_success(&self) -> f64 {
        (self.successes as f64 + 1.0) / (self.ended as f64 + 2.0)
    }
}

impl AgentWindow {
    pub(crate) fn record(&mut self, ended_ms: u64, success: bool, latency_ms: u64) {
        self.ended.push_back((ended_ms, success, latency_ms));
    }

    /// Drops records older than `window_ms` before `now_ms`, then summarises.
    pub(crate) fn health(&mut self, now_ms: u64, window_ms: u64) -> Health {
        let cutoff = now_ms.saturating_sub(window_ms);
        while self.ended.front().is_some_and(|e| e.0 < cutoff) {
            self.ended.pop_front();
        }
        let n = self.ended.len();
        let successes = self.ended.iter().filter(|e| e.1).count();
        let mean_latency_ms =
            (n > 0).then(|| self.ended.iter().map(|e| e.2 as f64).sum::<f64>() / n as f64);
        Health {
            ended: n,
            successes,
            mean_latency_ms,
            in_flight: self.in_flight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_records_slide_out() {
        let mut w = AgentWindow::default();
        w.record(1_000, true, 100);
        w.record(2_000, false, 300);
        w.in_flight = 2;
        let h = w.health(2_500, 5_000);
        assert_eq!((h.ended, h.successes, h.in_flight), (2, 1, 2));
        assert_eq!(h.mean_latency_ms, Some(200.0));
        let h = w.health(6_500, 5_000);
        assert_eq!((h.ended, h.successes), (1, 0));
        let h = w.health(100_000, 5_000);
        assert_eq!((h.ended, h.mean_latency_ms), (0, None));
        assert_eq!(h.smoothed_success(), 0.5);
    }
}
