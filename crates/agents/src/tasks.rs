//! A live task: its record behind a lock, and a watch that tells waiters (and the attempt
//! running it) when its state changes.
//!
//! Every state change goes through [`TaskEntry::transition`], which applies the lifecycle rules
//! of [`TaskState::can_become`] under the lock: once a task is final, nothing moves it again, so
//! however many paths race to finish it (completion, timeout, cancellation, a crash), exactly
//! one wins.

use mcpflow_model::{TaskRecord, TaskState, Timestamp};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// A task the runtime is tracking.
#[derive(Debug)]
pub(crate) struct TaskEntry {
    pub id: Arc<str>,
    record: Mutex<TaskRecord>,
    state: watch::Sender<TaskState>,
}

impl TaskEntry {
    pub fn new(record: TaskRecord) -> Arc<Self> {
        Arc::new(Self {
            id: Arc::from(record.id.as_str()),
            state: watch::Sender::new(record.state),
            record: Mutex::new(record),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TaskRecord> {
        // Transitions check, then write whole fields: a panic cannot leave a half-made move.
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> TaskState {
        *self.state.borrow()
    }

    pub fn snapshot(&self) -> TaskRecord {
        self.lock().clone()
    }

    /// Moves the task to `next` if the lifecycle allows it, applying `change` to the record
    /// too; returns the new record, or `None` if the move was refused (e.g. it already ended).
    pub fn transition(
        &self,
        next: TaskState,
        change: impl FnOnce(&mut TaskRecord),
    ) -> Option<TaskRecord> {
        let mut record = self.lock();
        if !record.state.can_become(next) {
            return None;
        }
        record.state = next;
        record.updated_at = Timestamp::now();
        change(&mut record);
        let snapshot = record.clone();
        self.state.send_replace(next);
        Some(snapshot)
    }

    /// Waits until the task is final.
    pub async fn finished(&self) -> TaskState {
        let mut rx = self.state.subscribe();
        // The sender lives as long as `self`, so this only ends when the state is final.
        match rx.wait_for(|s| s.is_final()).await {
            Ok(s) => *s,
            Err(_) => self.state(),
        }
    }

    /// A receiver of state changes (for progress reporting).
    pub fn watch(&self) -> watch::Receiver<TaskState> {
        self.state.subscribe()
    }
}
