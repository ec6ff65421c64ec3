//! Where trajectories (and the router's learning snapshot) are kept across restarts. The node
//! implements [`TrajectoryPersistence`] on its store (`mcpflow_node::StoreTrajectories`);
//! [`InMemoryTrajectories`] is the reference implementation (tests).

use super::Trajectory;
use crate::memory::PersistenceError;
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// Durable storage under the trajectory recorder. The recorder writes through it *before*
/// changing itself (every start, step and end puts the whole trajectory), so a failed write
/// leaves both sides as they were. Implementations must be safe to call from several threads.
pub trait TrajectoryPersistence: Send + Sync + std::fmt::Debug {
    /// Creates or replaces the trajectory with `trajectory.id`.
    fn put(&self, trajectory: &Trajectory) -> Result<(), PersistenceError>;
    /// Removes trajectory `id` (absent: not an error). Called when the recorder drops an
    /// ended trajectory beyond its retention.
    fn remove(&self, id: u64) -> Result<(), PersistenceError>;
    /// Every stored trajectory, to rebuild the recorder (and replay learning) at start.
    fn load_all(&self) -> Result<Vec<Trajectory>, PersistenceError>;
    /// Replaces the router's learning snapshot (opaque, checksummed bytes), saved after each
    /// learning cycle.
    fn save_snapshot(&self, data: &[u8]) -> Result<(), PersistenceError>;
    /// The latest learning snapshot, if any (read once, at start).
    fn load_snapshot(&self) -> Result<Option<Vec<u8>>, PersistenceError>;
}

/// Keeps trajectories in a map: a real [`TrajectoryPersistence`] without durability, for
/// tests and storeless nodes. Can be told to fail, to test that the recorder loses nothing
/// when the store does.
#[derive(Debug, Default)]
pub struct InMemoryTrajectories {
    items: Mutex<BTreeMap<u64, Trajectory>>,
    snapshot: Mutex<Option<Vec<u8>>>,
    fail: Mutex<Option<String>>,
}

impl InMemoryTrajectories {
    /// Makes every later call fail with `reason` (None: succeed again).
    pub fn fail_with(&self, reason: Option<&str>) {
        *self.fail.lock() = reason.map(str::to_string);
    }

    /// Trajectories held.
    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.lock().is_empty()
    }

    /// The saved learning snapshot.
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        self.snapshot.lock().clone()
    }

    /// The stored copy of trajectory `id`.
    pub fn get(&self, id: u64) -> Option<Trajectory> {
        self.items.lock().get(&id).cloned()
    }

    fn check(&self) -> Result<(), PersistenceError> {
        match &*self.fail.lock() {
            Some(reason) => Err(PersistenceError(reason.clone())),
            None => Ok(()),
        }
    }
}

impl TrajectoryPersistence for InMemoryTrajectories {
    fn put(&self, trajectory: &Trajectory) -> Result<(), PersistenceError> {
        self.check()?;
        self.items.lock().insert(trajectory.id, trajectory.clone());
        Ok(())
    }

    fn remove(&self, id: u64) -> Result<(), PersistenceError> {
        self.check()?;
        self.items.lock().remove(&id);
        Ok(())
    }

    fn load_all(&self) -> Result<Vec<Trajectory>, PersistenceError> {
        self.check()?;
        Ok(self.items.lock().values().cloned().collect())
    }

    fn save_snapshot(&self, data: &[u8]) -> Result<(), PersistenceError> {
        self.check()?;
        *self.snapshot.lock() = Some(data.to_vec());
        Ok(())
    }

    fn load_snapshot(&self) -> Result<Option<Vec<u8>>, PersistenceError> {
        self.check()?;
        Ok(self.snapshot.lock().clone())
    }
}
