//! Back-pressure on the client port: what bounds the memory a server holds for its clients
//! whatever they do.
//!
//! Three budgets, all enforced by not reading from sockets (TCP then pushes back on the
//! client) rather than by queueing more:
//! - requests read but not yet answered, server-wide (`globalOutstandingLimit`): a connection
//!   that already has one outstanding waits while the server is over the limit; one with
//!   nothing outstanding may always send one, so a quiet client is never starved by floods;
//! - reply bytes queued for one connection but not yet written to its socket
//!   (`clientMaxUnsentBytes`): that connection waits until its writer drains below the limit;
//! - requests outstanding on one connection (`MAX_PIPELINE`): replies are counted in bytes
//!   only once produced, so this caps what one connection's requests already read can add
//!   past its byte budget (at most `MAX_PIPELINE` replies), and keeps one client from
//!   taking the whole server-wide budget.
//!
//! So what the server holds for a connection's replies is at most `clientMaxUnsentBytes` plus
//! `MAX_PIPELINE` replies, and the requests it holds are at most `globalOutstandingLimit` plus
//! one per connection. Watch notifications are the one output a client's requests do not
//! pace (a persistent watch under a write load); a connection whose unwritten bytes reach
//! `hard_cap` (8 budgets plus a full pipeline of the largest replies) is closed at once, and
//! one that stays over its budget for a session timeout is closed too (`connection`).
//!
//! Each request read adds one to its connection's and the server's count; each reply the core
//! produces takes one off (`Action::Send` says how many replies a send carries); a connection
//! that ends gives back what it still held. All three go through the connection's own counter
//! with atomic read-modify-writes, so a unit is never given back twice.
//! Must never: block the node loop (it only adds and subtracts), or decide anything about a
//! request.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// How often a waiting reader looks again even without a wake-up (a safety net only).
const RECHECK: Duration = Duration::from_millis(200);

/// Requests one connection may have outstanding. Deep enough that one pipelining client
/// fills a group commit on its own (a batch is fsynced in ~0.2 ms here).
pub const MAX_PIPELINE: u32 = 64;

/// The server-wide count of outstanding requests.
pub struct Outstanding {
    count: AtomicUsize,
    limit: usize,
    below: Notify,
}

impl Outstanding {
    pub fn new(limit: usize) -> Outstanding {
        Outstanding { count: AtomicUsize::new(0), limit: limit.max(1), below: Notify::new() }
    }

    pub fn get(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn over(&self) -> bool {
        self.get() >= self.limit
    }

    fn give_back(&self, n: usize) {
        if n == 0 {
            return;
        }
        let before = self.count.fetch_sub(n, Ordering::AcqRel);
        if before >= self.limit && before - n < self.limit {
            self.below.notify_waiters();
        }
    }
}

/// One connection's budgets, shared by its reader, its writer and the node loop.
pub struct Flow {
    /// Requests read and handed to the node loop, not yet answered.
    outstanding: AtomicU32,
    /// Reply bytes handed to the writer, not yet written to the socket.
    unsent: AtomicUsize,
    max_unsent: usize,
    /// Unwritten bytes at which the connection is closed at once.
    hard_cap: usize,
    /// Wakes the reader when a budget of this connection frees up.
    freed: Notify,
    /// The negotiated session timeout (0 until the handshake is read).
    session_timeout_ms: AtomicU64,
}

impl Flow {
    /// A connection's budgets: `max_unsent` reply bytes (clientMaxUnsentBytes), replies of at
    /// most `max_reply` bytes (jute.maxbuffer).
    pub fn new(max_unsent: usize, max_reply: usize) -> Flow {
        Flow {
            outstanding: AtomicU32::new(0),
            unsent: AtomicUsize::new(0),
            max_unsent,
            hard_cap: max_unsent.saturating_mul(8).saturating_add((MAX_PIPELINE as usize).saturating_mul(max_reply)),
            freed: Notify::new(),
            session_timeout_ms: AtomicU64::new(0),
        }
    }

    pub fn unsent(&self) -> usize {
        self.unsent.load(Ordering::Relaxed)
    }

    pub fn max_unsent(&self) -> usize {
        self.max_unsent
    }

    pub fn hard_cap(&self) -> usize {
        self.hard_cap
    }

    /// Past this, the connection is closed without waiting.
    pub fn over_hard_cap(&self) -> bool {
        self.unsent() >= self.hard_cap
    }

    pub fn over_unsent(&self) -> bool {
        self.unsent() > self.max_unsent
    }

    pub fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Relaxed)
    }

    pub fn set_session_timeout_ms(&self, ms: u64) {
        self.session_timeout_ms.store(ms, Ordering::Relaxed);
    }

    pub fn session_timeout_ms(&self) -> u64 {
        self.session_timeout_ms.load(Ordering::Relaxed)
    }

    /// The reader: waits until this connection may hand one more request to the node loop,
    /// then counts it.
    pub async fn admit(&self, global: &Outstanding) {
        // The common case costs two loads: waiters are registered only when blocked.
        while self.blocked(global) {
            let freed = self.freed.notified();
            let below = global.below.notified();
            tokio::pin!(freed, below);
            // Registered before the check, so a wake-up between check and wait is not lost.
            freed.as_mut().enable();
            below.as_mut().enable();
            if !self.blocked(global) {
                break;
            }
            tokio::select! {
                _ = freed => {}
                _ = below => {}
                _ = tokio::time::sleep(RECHECK) => {}
            }
        }
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        global.count.fetch_add(1, Ordering::AcqRel);
    }

    fn blocked(&self, global: &Outstanding) -> bool {
        let held = self.outstanding();
        self.over_unsent() || held >= MAX_PIPELINE || (held > 0 && global.over())
    }

    /// The node loop: `bytes` more are queued for the writer, answering `replies` requests.
    pub fn queued(&self, bytes: usize, replies: u32, global: &Outstanding) {
        self.unsent.fetch_add(bytes, Ordering::AcqRel);
        self.answered(replies, global);
    }

    fn answered(&self, replies: u32, global: &Outstanding) {
        if replies == 0 {
            return;
        }
        // Never below zero: the connection may have given its count back already.
        let before = self
            .outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v.saturating_sub(replies)))
            .unwrap_or(0);
        if before >= MAX_PIPELINE && before.saturating_sub(replies) < MAX_PIPELINE {
            self.freed.notify_one();
        }
        global.give_back(before.min(replies) as usize);
    }

    /// The writer: `n` queued bytes reached the socket (or were dropped with it).
    pub fn written(&self, n: usize) {
        let before = self.unsent.fetch_sub(n, Ordering::AcqRel);
        if before > self.max_unsent && before - n <= self.max_unsent {
            self.freed.notify_one();
        }
    }

    /// The connection ended: what it still held goes back to the server-wide count.
    pub fn release(&self, global: &Outstanding) {
        let held = self.outstanding.swap(0, Ordering::AcqRel);
        global.give_back(held as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies_and_release_give_back_exactly_what_was_taken() {
        let g = Outstanding::new(10);
        let a = Flow::new(1000, 100);
        for _ in 0..3 {
            a.admit(&g).await;
        }
        assert_eq!((a.outstanding(), g.get()), (3, 3));
        a.queued(100, 2, &g);
        assert_eq!((a.outstanding(), g.get(), a.unsent()), (1, 1, 100));
        a.release(&g);
        // A reply counted after the release takes nothing more.
        a.queued(10, 1, &g);
        assert_eq!((a.outstanding(), g.get()), (0, 0));
    }

    #[tokio::test]
    async fn over_the_global_limit_only_idle_connections_are_admitted() {
        let g = Outstanding::new(2);
        let busy = Flow::new(1000, 100);
        busy.admit(&g).await;
        busy.admit(&g).await;
        // An idle connection still gets one in.
        let quiet = Flow::new(1000, 100);
        tokio::time::timeout(Duration::from_secs(5), quiet.admit(&g)).await.expect("idle connection admitted");
        // The busy one waits until a reply brings the count under the limit.
        let waiting = busy.admit(&g);
        tokio::pin!(waiting);
        assert!(tokio::time::timeout(Duration::from_millis(50), waiting.as_mut()).await.is_err(), "throttled");
        quiet.queued(0, 1, &g);
        busy.queued(0, 1, &g);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("admitted once below the limit");
        assert_eq!(g.get(), 2);
    }

    #[tokio::test]
    async fn one_connection_holds_at_most_a_pipeline_of_requests() {
        let g = Outstanding::new(10_000);
        let f = Flow::new(1 << 20, 1 << 20);
        for _ in 0..MAX_PIPELINE {
            f.admit(&g).await;
        }
        let waiting = f.admit(&g);
        tokio::pin!(waiting);
        assert!(tokio::time::timeout(Duration::from_millis(50), waiting.as_mut()).await.is_err(), "throttled");
        f.queued(16, 1, &g);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("admitted once one is answered");
        assert_eq!(f.outstanding(), MAX_PIPELINE);
    }

    #[tokio::test]
    async fn unsent_bytes_past_the_limit_hold_the_reader_until_written() {
        let g = Outstanding::new(100);
        let f = Flow::new(1000, 100);
        f.queued(1500, 0, &g);
        assert!(f.over_unsent());
        let waiting = f.admit(&g);
        tokio::pin!(waiting);
        assert!(tokio::time::timeout(Duration::from_millis(50), waiting.as_mut()).await.is_err(), "throttled");
        f.written(400);
        assert!(tokio::time::timeout(Duration::from_millis(50), waiting.as_mut()).await.is_err(), "still over");
        f.written(200);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("admitted once drained");
        assert_eq!(f.unsent(), 900);
    }
}
