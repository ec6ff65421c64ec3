//! A member's mailbox: a bounded queue the runtime fills and the member drains.
//!
//! Why not a tokio mpsc per member: an mpsc send wakes the receiver once per message. Here
//! the runtime puts each mail in the queue as it is routed and wakes the member once per
//! batch of work, so a busy swarm costs one wake-up per member per batch instead of one per
//! message. Mail goes straight into the shared queue (no staging queue on the runtime's
//! side): at 10k members a mail is mostly alone in its batch, and every extra buffer it
//! passes through is another cache miss on the runtime task, which serves every member.
//!
//! The member takes a whole queue at once by swapping it for its own empty one under the
//! lock, and copies the mail out after releasing it, so the runtime rarely waits for it.

use crate::runtime::Mail;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

#[derive(Debug)]
struct Shared {
    /// Unread mail, oldest first.
    queue: Mutex<VecDeque<Mail>>,
    capacity: usize,
    /// The member's mail arrives here.
    wake: Notify,
    /// The runtime dropped its end: the member left or the swarm was dissolved.
    sender_gone: AtomicBool,
    /// The member dropped its mailbox: nothing more is delivered to it.
    receiver_gone: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Mail>> {
        // A panic while holding the lock cannot leave the queue half-modified (push/pop
        // only), so a poisoned lock is still a consistent queue.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The receiving end, held by the member.
#[derive(Debug)]
pub struct Mailbox {
    shared: Arc<Shared>,
    /// An empty queue to swap for the shared one (see [`Mailbox::recv_many`]).
    spare: VecDeque<Mail>,
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
        if let Some(m) = self.shared.lock().pop_front() {
            return Ok(m);
        }
        if self.shared.sender_gone.load(Ordering::Acquire) {
            // Mail pushed just before the close is still there.
            return self.shared.lock().pop_front().ok_or(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// Waits for mail, then moves up to `limit` of it into `out`; returns how many (0 once
    /// closed and empty).
    pub async fn recv_many(&mut self, out: &mut Vec<Mail>, limit: usize) -> usize {
        // At least one, as `recv` would give.
        let limit = limit.max(1);
        loop {
            let n = self.take(out, limit);
            if n > 0 {
                return n;
            }
            if self.shared.sender_gone.load(Ordering::Acquire) {
                // Mail pushed just before the close is still there.
                return self.take(out, limit);
            }
            // A wake-up that raced with the check above left a permit: no mail is missed.
            self.shared.wake.notified().await;
        }
    }

    /// Moves up to `limit` mails into `out`. When all of it is wanted, the shared queue is
    /// swapped for the (empty) spare one and copied out after the lock is released.
    fn take(&mut self, out: &mut Vec<Mail>, limit: usize) -> usize {
        let mut q = self.shared.lock();
        let n = q.len().min(limit);
        if n == 0 {
            return 0;
        }
        if n < q.len() {
            out.extend(q.drain(..n));
            return n;
        }
        std::mem::swap(&mut *q, &mut self.spare);
        drop(q);
        out.extend(self.spare.drain(..));
        n
    }

    /// Unread mail.
    pub fn len(&self) -> usize {
        self.shared.lock().len()
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

/// What became of a mail handed to [`MailboxSender::post`].
#[derive(Debug)]
pub(crate) enum Posted {
    /// It is in the mailbox (the member is woken by [`MailboxSender::wake`]).
    Queued,
    /// The mailbox is full: the mail is handed back.
    Full(Mail),
    /// The member dropped its mailbox; the mail is gone.
    Closed,
}

/// The runtime's end.
#[derive(Debug)]
pub(crate) struct MailboxSender {
    shared: Arc<Shared>,
}

impl MailboxSender {
    /// Puts `mail` in the mailbox if it has room, without waking the member.
    pub(crate) fn post(&self, mail: Mail) -> Posted {
        if self.shared.receiver_gone.load(Ordering::Acquire) {
            return Posted::Closed;
        }
        let mut q = self.shared.lock();
        if q.len() >= self.shared.capacity {
            return Posted::Full(mail);
        }
        q.push_back(mail);
        Posted::Queued
    }

    /// Moves as much of `overflow` as fits into the mailbox (oldest first). Returns false if
    /// the member dropped its mailbox (`overflow` is left as is for the caller to discard).
    pub(crate) fn deliver(&self, overflow: &mut VecDeque<Mail>) -> bool {
        if self.shared.receiver_gone.load(Ordering::Acquire) {
            return false;
        }
        let mut q = self.shared.lock();
        let room = self.shared.capacity.saturating_sub(q.len());
        let n = room.min(overflow.len());
        q.extend(overflow.drain(..n));
        true
    }

    /// Wakes the member (once, however much mail arrived since it last looked).
    pub(crate) fn wake(&self) {
        self.shared.wake.notify_one();
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
        queue: Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        wake: Notify::new(),
        sender_gone: AtomicBool::new(false),
        receiver_gone: AtomicBool::new(false),
    });
    (
        MailboxSender {
            shared: shared.clone(),
        },
        Mailbox {
            shared,
            spare: VecDeque::new(),
        },
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
        tx.wake();
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
        tx.wake();
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

    #[tokio::test]
    async fn posted_mail_waits_for_the_wake_up_and_a_full_mailbox_hands_it_back() {
        let (tx, mut rx) = mailbox(2);
        assert!(matches!(tx.post(mail(0)), Posted::Queued));
        assert!(matches!(tx.post(mail(1)), Posted::Queued));
        assert!(matches!(tx.post(mail(2)), Posted::Full(m) if seq(&m) == 2));
        tx.wake();
        let mut got = Vec::new();
        // Part of the queue, then the rest (taken whole).
        assert_eq!(rx.recv_many(&mut got, 1).await, 1);
        assert_eq!(rx.recv_many(&mut got, 10).await, 1);
        assert!(matches!(tx.post(mail(2)), Posted::Queued), "room again");
        tx.wake();
        assert_eq!(rx.recv_many(&mut got, 10).await, 1);
        assert_eq!(got.iter().map(seq).collect::<Vec<_>>(), vec![0, 1, 2]);
        drop(rx);
        assert!(matches!(tx.post(mail(3)), Posted::Closed));
    }
}
