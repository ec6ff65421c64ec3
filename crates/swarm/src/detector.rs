//! Failure detection by heartbeats: a member that misses `suspect_after` heartbeat intervals
//! is suspected; one that misses `remove_after` is declared failed (and the swarm removes it).
//! A heartbeat from a suspected member clears the suspicion.

use crate::error::{Error, Result};
use crate::id::{AgentId, Map};
use std::time::Duration;

/// Heartbeat timing.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// Expected time between a member's heartbeats.
    pub interval: Duration,
    /// Missed intervals before a member is suspected.
    pub suspect_after: u32,
    /// Missed intervals before a member is declared failed (at least `suspect_after`).
    pub remove_after: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            suspect_after: 3,
            remove_after: 4,
        }
    }
}

impl DetectorConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if self.interval.is_zero()
            || self.suspect_after == 0
            || self.remove_after < self.suspect_after
        {
            return Err(Error::InvalidConfig(
                "heartbeats need interval > 0 and 0 < suspect_after <= remove_after".into(),
            ));
        }
        Ok(())
    }
}

/// What the detector noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// Missed `suspect_after` heartbeats.
    Suspected(AgentId),
    /// A suspected member was heard again.
    Recovered(AgentId),
    /// Missed `remove_after` heartbeats: remove it.
    Failed(AgentId),
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    last: Duration,
    suspected: bool,
}

/// Tracks the last heartbeat of every member.
#[derive(Debug)]
pub struct FailureDetector {
    cfg: DetectorConfig,
    seen: Map<AgentId, Seen>,
}

impl FailureDetector {
    /// A detector with `cfg` (checked).
    pub fn new(cfg: DetectorConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            seen: Map::default(),
        })
    }

    /// Starts watching `m` as if it had just sent a heartbeat.
    pub fn watch(&mut self, m: AgentId, now: Duration) {
        self.seen.insert(
            m,
            Seen {
                last: now,
                suspected: false,
            },
        );
    }

    /// Stops watching `m`.
    pub fn forget(&mut self, m: AgentId) {
        self.seen.remove(&m);
    }

    /// Whether `m` is currently suspected.
    pub fn is_suspected(&self, m: AgentId) -> bool {
        self.seen.get(&m).is_some_and(|s| s.suspected)
    }

    /// Records a heartbeat; reports a recovery if `m` was suspected. Unwatched members are
    /// ignored (None).
    pub fn heartbeat(&mut self, m: AgentId, now: Duration) -> Option<Detection> {
        let s = self.seen.get_mut(&m)?;
        s.last = s.last.max(now);
        if std::mem::take(&mut s.suspected) {
            Some(Detection::Recovered(m))
        } else {
            None
        }
    }

    /// New suspicions and failures as of `now`, in member order. Failed members are no
    /// longer watched.
    pub fn tick(&mut self, now: Duration) -> Vec<Detection> {
        let interval = self.cfg.interval.as_nanos();
        let mut out = Vec::new();
        for (m, s) in self.seen.iter_mut() {
            let missed = (now.saturating_sub(s.last).as_nanos() / interval) as u64;
            if missed >= u64::from(self.cfg.remove_after) {
                out.push(Detection::Failed(*m));
            } else if missed >= u64::from(self.cfg.suspect_after) && !s.suspected {
                s.suspected = true;
                out.push(Detection::Suspected(*m));
            }
        }
        out.sort_by_key(|d| match d {
            Detection::Suspected(m) | Detection::Recovered(m) | Detection::Failed(m) => *m,
        });
        for d in &out {
            if let Detection::Failed(m) = d {
                self.seen.remove(m);
            }
        }
        out
    }
}
