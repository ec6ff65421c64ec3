//! A member's mailbox: a bounded queue the runtime fills in batches and the member drains.
//!
//! Why not a tokio mpsc per member: the runtime delivers thousands of messages per batch of
//! work, and an mpsc send wakes the receiver once per message. Here the runtime appends all
//! of one member's mail from a batch under one lock and wakes the member once, so a busy
//! swarm costs one wake-up per member per batch instead of one per message.
//!
//! The runtime hands over a batch as a whole queue (moved in, not copied mail by mail) and
//! the member takes mail out of those batches in order; emptied queues go back to the runtime
//! for reuse. So the runtime task, which serves every member, pays per batch, and the
//! per-mail work happens on the member's side.

use crate::runtime::Mail;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    capacity: usize,
    /// The member's mail arrives here.
    wake: Notify,
    /// The runtime dropped its end: the member left or the swarm was dissolved.
    sender_gone: AtomicBool,
    /// The member dropped its mailbox: nothing more is delivered to it.
    receiver_gone: AtomicBool,
}

/// Unread mail as the batches it arrived in, oldest first.
#[derive(Debug, Default)]
struct Queue {
    batches: VecDeque<VecDeque<Mail>>,
    /// Mails in `batches`.
    len: usize,
    /// Emptied batch queues, for the runtime to fill again.
    spare: Vec<VecDeque<Mail>>,
}

/// Emptied batch queues kept for reuse per mailbox.
const SPARE: usize = 4;

impl Queue {
    fn pop(&mut self) -> Option<Mail> {
        let front = self.batches.front_mut()?;
        let m = front.pop_front();
        if front.is_empty()
            && let Some(done) = self.batches.pop_front()
            && self.spare.len() < SPARE
        {
            self.spare.push(done);
        }
        if m.is_some() {
            self.len -= 1;
        }
        m
    }

    /// Moves up to `n` mails into `out`, oldest first.
    fn take(&mut self, out: &mut Vec<Mail>, mut n: usize) {
        while n > 0 {
            let Some(front) = self.batches.front_mut() else {
                return;
            };
            let k = n.min(front.len());
            out.extend(front.drain(..k));
            self.len -= k;
            n -= k;
            if front.is_empty()
                && let Some(done) = self.batches.pop_front()
                && self.spare.len() < SPARE
            {
                self.spare.push(done);
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-modified (push/pop
        // only), so a poisoned lock is still a consistent queue.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The receiving end, held by the member.
#[derive(Debug)]
pub struct Mailbox {
    shared: Arc<Shared>,
}

/// Why [`Mailbox::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// No mail now; more may come.
    #[error("the mailbox is empty")]
    Empty,
    /// No mail, and none will come: the member left or the swarm was dissolved.
    #[error("the mailbox is closed: the member left or the swarm was dissolved")]
    Closed,
}

impl Mailbox {
    /// Waits for the next mail; `None` once the mailbox is empty and closed.
    pub async fn recv(&mut self) -> Option<Mail> {
        loop {
            match self.try_recv() {
                Ok(m) => return Some(m),
                Err(TryRecvError::Closed) => return None,
                // A wake-up that raced with the check above left a permit: no mail is missed.
                Err(TryRecvError::Empty) => self.shared.wake.notified().await,
            }
        }
    }

    /// Takes the next mail without waiting.
    pub fn try_recv(&mut self) -> Result<Mail, TryRecvError> {
        if let Some(m) = self.shared.lock().pop() {
            return Ok(m);
        }
        if self.shared.sender_gone.load(Ordering::Acquire) {
            // Mail pushed just before the close is still there.
            return self.shared.lock().pop().ok_or(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// Waits for mail, then moves up to `limit` of it into `out`; returns how many (0 once
    /// closed and empty).
    pub async fn recv_many(&mut self, out: &mut Vec<Mail>, limit: usize) -> usize {
        // At least one, as `recv` would give.
        let limit = limit.max(1);
        loop {
            // One lock per batch taken (this runs once per wake-up of a busy member).
            let n = {
                let mut q = self.shared.lock();
                let n = q.len.min(limit);
                q.take(out, n);
                n
            };
            if n > 0 {
                return n;
            }
            if self.shared.sender_gone.load(Ordering::Acquire) {
                // Mail pushed just before the close is still there.
                let mut q = self.shared.lock();
                let n = q.len.min(limit);
                q.take(out, n);
                return n;
            }
            // A wake-up that raced with the check above left a permit: no mail is missed.
            self.shared.wake.notified().await;
        }
    }

    /// Unread mail.
    pub fn len(&self) -> usize {
        self.shared.lock().len
    }

    /// True when no mail is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mail it holds at most; beyond that the runtime keeps it (and refuses new sends to
    /// this member once that overflow is as large again).
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
    }
}

/// The runtime's end.
#[derive(Debug)]
pub(crate) struct MailboxSender {
    shared: Arc<Shared>,
}

impl MailboxSender {
    /// Moves as much of `pending` as fits into the mailbox (oldest first) and wakes the
    /// member once. Returns false if the member dropped its mailbox (`pending` is left as is
    /// for the caller to discard).
    pub(crate) fn deliver(&self, pending: &mut VecDeque<Mail>) -> bool {
        if self.shared.receiver_gone.load(Ordering::Acquire) {
            return false;
        }
        if pending.is_empty() {
            return true;
        }
        let moved = {
            let mut q = self.shared.lock();
            let room = self.shared.capacity.saturating_sub(q.len);
            let n = room.min(pending.len());
            if n == pending.len() {
                // All of it fits: hand the queue over whole; the runtime keeps an emptied
                // one (or a new one) for next time.
                let fresh = q.spare.pop().unwrap_or_default();
                q.batches.push_back(std::mem::replace(pending, fresh));
            } else if n > 0 {
                let mut part = q.spare.pop().unwrap_or_default();
                part.extend(pending.drain(..n));
                q.batches.push_back(part);
            }
            q.len += n;
            n
        };
        if moved > 0 {
            self.shared.wake.notify_one();
        }
        true
    }
}

impl Drop for MailboxSender {
    fn drop(&mut self) {
        self.shared.sender_gone.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// A mailbox holding at most `capacity` (≥ 1) unread mails.
pub(crate) fn mailbox(capacity: usize) -> (MailboxSender, Mailbox) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        capacity: capacity.max(1),
        wake: Notify::new(),
        sender_gone: AtomicBool::new(false),
        receiver_gone: AtomicBool::new(false),
    });
    (
        MailboxSender {
            shared: shared.clone(),
        },
        Mailbox { shared },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{AgentId, MsgId};
    use crate::router::Delivered;
    use bytes::Bytes;
    use std::time::Duration;

    fn mail(seq: u64) -> Mail {
        Mail::Message(Delivered {
            id: MsgId {
                origin: AgentId(1),
                seq,
            },
            payload: Bytes::new(),
            broadcast: false,
            sent_at: Duration::ZERO,
        })
    }

    fn seq(m: &Mail) -> u64 {
        match m {
            Mail::Message(d) => d.id.seq,
            Mail::Loss(r) => r.id.seq,
        }
    }

    #[tokio::test]
    async fn delivers_in_order_up_to_capacity_and_keeps_the_rest_pending() {
        let (tx, mut rx) = mailbox(3);
        let mut pending: VecDeque<Mail> = (0..5).map(mail).collect();
        assert!(tx.deliver(&mut pending));
        assert_eq!(rx.len(), 3);
        assert_eq!(pending.len(), 2, "what does not fit stays with the runtime");
        let mut got = Vec::new();
        assert_eq!(rx.recv_many(&mut got, 10).await, 3);
        assert!(tx.deliver(&mut pending));
        while let Ok(m) = rx.try_recv() {
            got.push(m);
        }
        assert_eq!(got.iter().map(seq).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[tokio::test]
    async fn a_waiting_member_wakes_and_sees_the_close_after_the_last_mail() {
        let (tx, mut rx) = mailbox(4);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(m) = rx.recv().await {
                got.push(seq(&m));
            }
            got
        });
        tokio::task::yield_now().await;
        let mut pending: VecDeque<Mail> = (0..2).map(mail).collect();
        assert!(tx.deliver(&mut pending));
        drop(tx);
        assert_eq!(reader.await.unwrap(), vec![0, 1]);
    }

    #[test]
    fn a_dropped_mailbox_refuses_delivery() {
        let (tx, rx) = mailbox(4);
        drop(rx);
        let mut pending: VecDeque<Mail> = (0..2).map(mail).collect();
        assert!(!tx.deliver(&mut pending));
        assert_eq!(pending.len(), 2);
    }
}
