//! A member's mailbox: a queue the runtime fills and the member drains.
//!
//! Why not a tokio mpsc per member: an mpsc send wakes the receiver once per message. Here
//! the runtime puts each mail in the queue as it is routed and wakes the member once per
//! batch of work, so a busy swarm costs one wake-up per member per batch instead of one per
//! message. Everything a mailbox shares (queue, the member's waker, the close flags) sits
//! behind one lock: at 10k members a mail is mostly alone in its batch, so each cache line
//! the runtime task touches per mail is a miss on the one task that serves every member.
//!
//! The queue is bounded where mail enters the swarm: the runtime refuses a new send to a
//! member with `capacity` unread mails ([`crate::Error::MailboxFull`]). Mail already on its
//! way when the mailbox filled (or a loss report) is never refused, so the queue can exceed
//! `capacity` by what was in flight, and nothing accepted is dropped while the member reads.
//!
//! The member takes a whole queue at once by swapping it for its own empty one under the
//! lock, and copies the mail out after releasing it, so the runtime rarely waits for it.

use crate::runtime::Mail;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    capacity: usize,
    /// Mails the member has taken (`u64::MAX` once it dropped its mailbox). With the count
    /// the runtime keeps of what it posted, this tells the runtime how much is unread without
    /// taking the lock the member uses: the member bumps it once per take, while a lock per
    /// admitted send would bounce between the two cores per message.
    taken: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Unread mail, oldest first.
    queue: VecDeque<Mail>,
    /// The member, parked until mail arrives.
    waiting: Option<Waker>,
    /// Mail arrived since the last wake-up (the runtime holds a [`MailWaker`]).
    listed: bool,
    /// The runtime dropped its end: the member left or the swarm was dissolved.
    sender_gone: bool,
    /// The member dropped its mailbox: nothing more is delivered to it.
    receiver_gone: bool,
}

impl Shared {
    fn took(&self, n: usize) {
        self.taken.fetch_add(n as u64, Ordering::Release);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-modified (pushes,
        // pops and flag stores only), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
    ///
    /// Cancel-safe: mail leaves the queue only when the future completes.
    pub async fn recv(&mut self) -> Option<Mail> {
        std::future::poll_fn(|cx| {
            let mut s = self.shared.lock();
            if let Some(m) = s.queue.pop_front() {
                self.shared.took(1);
                return Poll::Ready(Some(m));
            }
            if s.sender_gone {
                return Poll::Ready(None);
            }
            park(&mut s, cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Takes the next mail without waiting.
    pub fn try_recv(&mut self) -> Result<Mail, TryRecvError> {
        let mut s = self.shared.lock();
        match s.queue.pop_front() {
            Some(m) => {
                self.shared.took(1);
                Ok(m)
            }
            None if s.sender_gone => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Waits for mail, then moves up to `limit` of it into `out`; returns how many (0 once
    /// closed and empty).
    ///
    /// Cancel-safe: mail leaves the queue only when the future completes.
    pub async fn recv_many(&mut self, out: &mut Vec<Mail>, limit: usize) -> usize {
        // At least one, as `recv` would give.
        let limit = limit.max(1);
        std::future::poll_fn(|cx| {
            let mut s = self.shared.lock();
            let n = s.queue.len().min(limit);
            if n == 0 {
                if s.sender_gone {
                    return Poll::Ready(0);
                }
                park(&mut s, cx.waker());
                return Poll::Pending;
            }
            if n < s.queue.len() {
                out.extend(s.queue.drain(..n));
            } else {
                // All of it: swap in the empty spare and copy out after releasing the lock.
                std::mem::swap(&mut s.queue, &mut self.spare);
                drop(s);
                out.extend(self.spare.drain(..));
            }
            self.shared.took(n);
            Poll::Ready(n)
        })
        .await
    }

    /// Unread mail.
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// True when no mail is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unread mails at which the runtime refuses new sends to this member (mail already on
    /// its way still arrives).
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

/// Leaves the member's waker for the next [`MailWaker::wake`] (a clone only when it changed).
fn park(s: &mut State, waker: &Waker) {
    match &s.waiting {
        Some(w) if w.will_wake(waker) => {}
        _ => s.waiting = Some(waker.clone()),
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.receiver_gone = true;
        s.queue.clear();
        // Nothing is unread any more: sends to the member are not refused as if it lagged.
        self.shared.taken.store(u64::MAX, Ordering::Release);
    }
}

/// What became of a mail handed to [`MailboxSender::post`].
#[derive(Debug)]
pub(crate) enum Posted {
    /// It is in the mailbox, and the member is already due a wake-up.
    Queued,
    /// It is the first mail since the member's last wake-up: wake it with this, once the
    /// batch of work is done.
    First(MailWaker),
    /// The member dropped its mailbox; the mail is gone.
    Closed,
}

/// The runtime's end.
#[derive(Debug)]
pub(crate) struct MailboxSender {
    shared: Arc<Shared>,
    /// Mails put in the mailbox so far.
    posted: u64,
}

impl MailboxSender {
    /// Puts `mail` in the mailbox, without waking the member.
    pub(crate) fn post(&mut self, mail: Mail) -> Posted {
        let mut s = self.shared.lock();
        if s.receiver_gone {
            return Posted::Closed;
        }
        s.queue.push_back(mail);
        self.posted += 1;
        if s.listed {
            return Posted::Queued;
        }
        s.listed = true;
        Posted::First(MailWaker(self.shared.clone()))
    }

    /// True while the member has fewer than `capacity` unread mails: a new send may go.
    pub(crate) fn has_room(&self) -> bool {
        let taken = self.shared.taken.load(Ordering::Acquire);
        self.posted.saturating_sub(taken) < self.shared.capacity as u64
    }
}

impl Drop for MailboxSender {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.sender_gone = true;
        let waiting = s.waiting.take();
        drop(s);
        if let Some(w) = waiting {
            w.wake();
        }
    }
}

/// Wakes a member that got mail, once per batch of work (see [`Posted::First`]). Dropping
/// it wakes the member too, so no path can lose the wake-up.
#[derive(Debug)]
pub(crate) struct MailWaker(Arc<Shared>);

impl MailWaker {
    /// Wakes the member if it waits; the next mail after this lists it again.
    pub(crate) fn wake(self) {
        drop(self);
    }
}

impl Drop for MailWaker {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.listed = false;
        let waiting = s.waiting.take();
        drop(s);
        if let Some(w) = waiting {
            w.wake();
        }
    }
}

/// A mailbox refusing new sends at `capacity` (≥ 1) unread mails.
pub(crate) fn mailbox(capacity: usize) -> (MailboxSender, Mailbox) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        capacity: capacity.max(1),
        taken: AtomicU64::new(0),
    });
    (
        MailboxSender {
            shared: shared.clone(),
            posted: 0,
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

    fn posted(p: Posted) -> Option<MailWaker> {
        match p {
            Posted::First(w) => Some(w),
            Posted::Queued => None,
            Posted::Closed => panic!("closed"),
        }
    }

    #[tokio::test]
    async fn posted_mail_waits_for_the_wake_up_and_arrives_in_order() {
        let (mut tx, mut rx) = mailbox(2);
        let waker = posted(tx.post(mail(0))).expect("the first mail lists the member");
        assert!(posted(tx.post(mail(1))).is_none(), "already due a wake-up");
        assert!(!tx.has_room(), "two unread of two: new sends are refused");
        // Mail already on its way is never refused.
        assert!(posted(tx.post(mail(2))).is_none());
        waker.wake();
        let mut got = Vec::new();
        // Part of the queue, then the rest (taken whole).
        assert_eq!(rx.recv_many(&mut got, 1).await, 1);
        assert_eq!(rx.recv_many(&mut got, 10).await, 2);
        assert!(tx.has_room());
        posted(tx.post(mail(3)))
            .expect("listed again after the wake-up")
            .wake();
        assert_eq!(rx.recv().await.map(|m| seq(&m)), Some(3));
        assert_eq!(got.iter().map(seq).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        posted(tx.post(mail(4))).unwrap().wake();
        posted(tx.post(mail(5))).unwrap().wake();
        assert!(!tx.has_room(), "two unread again");
        drop(rx);
        assert!(
            tx.has_room(),
            "a member that dropped its mailbox is not refused as slow"
        );
        assert!(matches!(tx.post(mail(6)), Posted::Closed));
    }

    #[tokio::test]
    async fn a_waiting_member_wakes_and_sees_the_close_after_the_last_mail() {
        let (mut tx, mut rx) = mailbox(4);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(m) = rx.recv().await {
                got.push(seq(&m));
            }
            got
        });
        tokio::task::yield_now().await;
        let waker = posted(tx.post(mail(0)));
        assert!(posted(tx.post(mail(1))).is_none());
        drop(waker);
        drop(tx);
        assert_eq!(reader.await.unwrap(), vec![0, 1]);
    }

    #[tokio::test]
    async fn a_parked_member_is_woken_once_the_batch_is_done() {
        let (mut tx, mut rx) = mailbox(4);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let n = rx.recv_many(&mut got, 10).await;
            (n, got.iter().map(seq).collect::<Vec<_>>())
        });
        tokio::task::yield_now().await;
        let waker = posted(tx.post(mail(0))).unwrap();
        assert!(posted(tx.post(mail(1))).is_none());
        tokio::task::yield_now().await;
        assert!(!reader.is_finished(), "not woken before the batch is done");
        waker.wake();
        assert_eq!(reader.await.unwrap(), (2, vec![0, 1]));
    }
}
