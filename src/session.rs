//! The session table: which sessions exist, their negotiated timeouts, and when each will
//! expire. Expiry is tick-bucketed exactly like ZooKeeper's `ExpiryQueue` (a session touched
//! at `now` lands in the bucket `round_to_next_interval(now + timeout, tick)`), so finding the
//! expired sessions costs O(expired), not O(sessions). Also owns session-id allocation
//! (`SessionTrackerImpl.initializeNextSessionId`) and session-password derivation.
//!
//! Must never: do I/O, read a clock, use randomness or spawn tasks. Time comes in as
//! `now_ms` arguments; the shell owns the timer (see [`SessionTracker::next_expiry_ms`]) and
//! turns expired sessions into closeSession transactions. This module never removes an
//! expired session by itself: removal happens when its closeSession txn is applied.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One tracked session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: i64,
    /// Negotiated session timeout.
    pub timeout_ms: i32,
    /// The expiry bucket the session is (or, once closing, was last) in.
    pub expires_at: i64,
    /// Set by [`SessionTracker::set_closing`] or by [`SessionTracker::expire`]; a closing
    /// session is no longer touched and never expires (again).
    pub closing: bool,
}

/// Sessions with tick-bucketed expiry (ZooKeeper's `SessionTrackerImpl` + `ExpiryQueue`).
#[derive(Debug, Clone)]
pub struct SessionTracker {
    tick_ms: i64,
    next_id: i64,
    sessions: HashMap<i64, SessionInfo>,
    /// Expiry time -> sessions due then. Only non-closing sessions are in a bucket, and no
    /// bucket is ever left empty, so the first key is the next expiry.
    buckets: BTreeMap<i64, BTreeSet<i64>>,
}

/// Expiry bucket rounding exactly like ZooKeeper's `ExpiryQueue.roundToNextInterval`:
/// `(time / tick + 1) * tick` (truncating division, as in Java).
pub fn round_to_next_interval(time: i64, tick: i64) -> i64 {
    (time / tick + 1) * tick
}

/// ZooKeeper's `SessionTrackerImpl.initializeNextSessionId`:
/// `((now << 24) >>> 8) | (server_id << 56)`, skipping `Long.MIN_VALUE` (which ZooKeeper
/// reserves as the container ephemeral owner).
fn initial_session_id(now_ms: i64, server_id: i64) -> i64 {
    let low = (((now_ms << 24) as u64) >> 8) as i64;
    let id = low | (server_id << 56);
    if id == i64::MIN {
        id + 1
    } else {
        id
    }
}

/// ZooKeeper's `superSecret`, mixed into every session password (`ZooKeeperServer`).
const SUPER_SECRET: i64 = 0xB341_5C00;

/// A session's 16-byte password, derived exactly as ZooKeeper derives it
/// (`ZooKeeperServer.generatePasswd`): `java.util.Random` seeded with `id ^ superSecret`, then
/// `nextBytes`. Every member of an ensemble, ours or Apache ZooKeeper's, computes the same
/// password, so a client can move its session to any of them. Like ZooKeeper's, it protects
/// against mistakes, not against a client that knows another session's id.
pub fn session_password(session_id: i64) -> [u8; 16] {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;
    // java.util.Random: the seed is scrambled, then each next(32) steps a 48-bit LCG and
    // takes its top 32 bits; nextBytes emits each int least significant byte first.
    let mut seed = ((session_id ^ SUPER_SECRET) as u64 ^ MULTIPLIER) & MASK;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(4) {
        seed = (seed.wrapping_mul(MULTIPLIER).wrapping_add(0xB)) & MASK;
        let r = (seed >> 16) as u32;
        chunk.copy_from_slice(&r.to_le_bytes());
    }
    out
}

impl SessionTracker {
    /// A tracker with expiry buckets `tick_ms` wide. `server_id` goes in the top byte of the
    /// ids handed out by [`next_session_id`](Self::next_session_id).
    pub fn new(tick_ms: i64, server_id: i64, now_ms: i64) -> Self {
        assert!(tick_ms > 0, "tick_ms must be positive");
        SessionTracker {
            tick_ms,
            next_id: initial_session_id(now_ms, server_id),
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// The bucket width.
    pub fn tick_ms(&self) -> i64 {
        self.tick_ms
    }

    /// A fresh session id (ZooKeeper's `nextSessionId.getAndIncrement()`). Does not add it.
    pub fn next_session_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn unbucket(&mut self, id: i64, at: i64) {
        if let Some(set) = self.buckets.get_mut(&at) {
            set.remove(&id);
            if set.is_empty() {
                self.buckets.remove(&at);
            }
        }
    }

    /// Moves a (non-closing) session to the bucket for `now_ms + timeout`
    /// (`ExpiryQueue.update`). No-op if it is already there.
    fn rebucket(&mut self, id: i64, now_ms: i64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        let old = s.expires_at;
        let new = round_to_next_interval(now_ms.saturating_add(s.timeout_ms as i64), self.tick_ms);
        s.expires_at = new;
        if old == new && self.buckets.get(&new).is_some_and(|b| b.contains(&id)) {
            return;
        }
        self.unbucket(id, old);
        self.buckets.entry(new).or_default().insert(id);
    }

    /// Tracks a session (`SessionTrackerImpl.trackSession` + `commitSession`): on create, on
    /// recovery, and when replaying createSession txns. If it is already tracked, its timeout
    /// is updated and, unless it is closing, its expiry is pushed to `now + timeout` as
    /// ZooKeeper does. (ZooKeeper would also re-queue a closing session; we don't, so an
    /// expired session is never reported twice.)
    pub fn add(&mut self, id: i64, timeout_ms: i32, now_ms: i64) {
        match self.sessions.get_mut(&id) {
            Some(s) => {
                s.timeout_ms = timeout_ms;
                if s.closing {
                    return;
                }
            }
            None => {
                self.sessions.insert(id, SessionInfo { id, timeout_ms, expires_at: i64::MIN, closing: false });
            }
        }
        self.rebucket(id, now_ms);
    }

    /// Keeps a session alive (`SessionTrackerImpl.touchSession`): false if it is unknown or
    /// closing; otherwise moves it to the bucket `round_to_next_interval(now + timeout)`.
    pub fn touch(&mut self, id: i64, now_ms: i64) -> bool {
        match self.sessions.get(&id) {
            Some(s) if !s.closing => {
                self.rebucket(id, now_ms);
                true
            }
            _ => false,
        }
    }

    /// Marks a session closing (`setSessionClosing`): it can no longer be touched and will
    /// not be returned by [`expire`](Self::expire). Unknown ids are ignored.
    pub fn set_closing(&mut self, id: i64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if s.closing {
            return;
        }
        s.closing = true;
        let at = s.expires_at;
        self.unbucket(id, at);
    }

    /// Forgets a session (`removeSession`), when its closeSession txn is applied.
    pub fn remove(&mut self, id: i64) -> Option<SessionInfo> {
        let s = self.sessions.remove(&id)?;
        self.unbucket(id, s.expires_at);
        Some(s)
    }

    pub fn get(&self, id: i64) -> Option<&SessionInfo> {
        self.sessions.get(&id)
    }

    /// Records a new negotiated timeout (on reconnect). Does not move the session's expiry:
    /// call [`touch`](Self::touch) afterwards, as ZooKeeper's `revalidateSession` does.
    /// Returns false if the session is unknown.
    pub fn set_timeout(&mut self, id: i64, timeout_ms: i32) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) => {
                s.timeout_ms = timeout_ms;
                true
            }
            None => false,
        }
    }

    /// Sessions whose expiry bucket time is `<= now_ms`, in ascending id order. They are
    /// marked closing (not removed: removal happens when their closeSession txn is applied)
    /// and leave their buckets, so each is returned once. Costs O(expired).
    pub fn expire(&mut self, now_ms: i64) -> Vec<i64> {
        let mut due = Vec::new();
        while let Some(entry) = self.buckets.first_entry() {
            if *entry.key() > now_ms {
                break;
            }
            due.extend(entry.remove());
        }
        for id in &due {
            if let Some(s) = self.sessions.get_mut(id) {
                s.closing = true;
            }
        }
        due.sort_unstable();
        due
    }

    /// When the next bucket falls due (for the shell's timer); None if no live session.
    pub fn next_expiry_ms(&self) -> Option<i64> {
        self.buckets.keys().next().copied()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// All tracked sessions (closing ones included), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &SessionInfo> {
        self.sessions.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: i64 = 2000;

    #[test]
    fn rounding_matches_expiry_queue() {
        assert_eq!(round_to_next_interval(0, TICK), 2000);
        assert_eq!(round_to_next_interval(1, TICK), 2000);
        assert_eq!(round_to_next_interval(1999, TICK), 2000);
        // An exact multiple still goes to the *next* interval.
        assert_eq!(round_to_next_interval(2000, TICK), 4000);
        assert_eq!(round_to_next_interval(10_500, 1000), 11_000);
    }

    #[test]
    fn ids_have_server_id_in_top_byte_and_increment() {
        let now = 1_700_000_000_123;
        let mut t = SessionTracker::new(TICK, 5, now);
        let a = t.next_session_id();
        let b = t.next_session_id();
        assert_eq!(b, a + 1);
        assert_eq!((a as u64) >> 56, 5);
        // Java: ((now << 24) >>> 8) | (5L << 56)
        let expected = ((((now << 24) as u64) >> 8) | (5u64 << 56)) as i64;
        assert_eq!(a, expected);
        // The low 16 bits start at zero (time occupies bits 16..56).
        assert_eq!(a & 0xffff, 0);
        // High server ids make negative ids, as in ZooKeeper.
        let mut t = SessionTracker::new(TICK, 200, now);
        assert_eq!((t.next_session_id() as u64) >> 56, 200);
    }

    #[test]
    fn container_owner_id_is_skipped() {
        assert_eq!(initial_session_id(0, 0x80), i64::MIN + 1);
    }

    #[test]
    fn add_buckets_by_rounded_timeout() {
        let mut t = SessionTracker::new(TICK, 1, 0);
        t.add(7, 5000, 10_100);
        let s = t.get(7).unwrap();
        assert_eq!(s.expires_at, 16_000); // (15100/2000+1)*2000
        assert!(!s.closing);
        assert_eq!(t.next_expiry_ms(), Some(16_000));
        assert_eq!(t.len(), 1);
        assert!(!t.is_empty());
    }

    #[test]
    fn touch_moves_bucket() {
        let mut t = SessionTracker::new(TICK, 1, 0);
        t.add(1, 4000, 0); // bucket 6000
        t.add(2, 4000, 0);
        assert!(t.touch(1, 3000)); // bucket 8000
        assert_eq!(t.get(1).unwrap().expires_at, 8000);
        assert_eq!(t.next_expiry_ms(), Some(6000));
        assert_eq!(t.expire(6000), vec![2]);
        assert_eq!(t.next_expiry_ms(), Some(8000));
        assert!(t.expire(7999).is_empty());
        assert_eq!(t.expire(8000), vec![1]);
        assert_eq!(t.next_expiry_ms(), None);
        // Touching within the same bucket is a no-op.
        t.add(3, 4000, 0);
        assert!(t.touch(3, 100));
        assert_eq!(t.get(3).unwrap().expires_at, 6000);
        assert_eq!(t.expire(6000), vec![3]);
    }

    #[test]
    fn touch_unknown_or_closing_is_refused() {
        let mut t = SessionTracker::new(TICK, 1, 0);
        assert!(!t.touch(42, 0));
        t.add(1, 4000, 0);
        t.set_closing(1);
        assert!(t.get(1).unwrap().closing);
        assert!(!t.touch(1, 1000));
        assert_eq!(t.get(1).unwrap().expires_at, 6000);
        // A closing session is not expired again.
        assert!(t.expire(i64::MAX).is_empty());
        assert_eq!(t.next_expiry_ms(), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn expire_marks_closing_returns_once_and_keeps_session() {
        let mut t = SessionTracker::new(TICK, 1, 0);
        t.add(3, 1000, 0); // 2000
        t.add(1, 1000, 0); // 2000
        t.add(2, 3000, 0); // 4000
        t.add(9, 9000, 0); // 10000
        assert!(t.expire(1999).is_empty());
        assert_eq!(t.expire(4500), vec![1, 2, 3]);
        assert!(t.expire(4500).is_empty());
        assert!(t.get(1).unwrap().closing);
        assert!(!t.touch(1, 5000));
        assert_eq!(t.len(), 4);
        assert_eq!(t.next_expiry_ms(), Some(10_000));
        // Re-adding an expired (closing) session doesn't resurrect it in the queue.
        t.add(1, 1000, 5000);
        assert!(t.get(1).unwrap().closing);
        assert_eq!(t.expire(20_000), vec![9]);
    }

    #[test]
    fn remove_drops_from_table_and_bucket() {
        let mut t = SessionTracker::new(TICK, 1, 0);
        t.add(1, 1000, 0);
        t.add(2, 1000, 0);
        let s = t.remove(1).unwrap();
        assert_eq!(s.id, 1);
        assert!(t.remove(1).is_none());
        assert!(t.get(1).is_none());
        assert_eq!(t.expire(2000), vec![2]);
        t.remove(2);
        assert!(t.is_empty());
        assert_eq!(t.next_expiry_ms(), None);
    }

    #[test]
    fn add_existing_updates_timeout_and_expiry() {
        let mut t = SessionTracker::new(TICK, 1, 0);
        t.add(1, 1000, 0);
        t.add(1, 9000, 0);
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(1).unwrap().timeout_ms, 9000);
        assert_eq!(t.get(1).unwrap().expires_at, 10_000);
        assert!(t.expire(9999).is_empty());
        assert_eq!(t.expire(10_000), vec![1]);
    }

    #[test]
    fn set_timeout_takes_effect_on_next_touch() {
        let mut t = SessionTracker::new(TICK, 1, 0);
        assert!(!t.set_timeout(1, 5000));
        t.add(1, 1000, 0);
        assert!(t.set_timeout(1, 5000));
        assert_eq!(t.get(1).unwrap().expires_at, 2000);
        assert!(t.touch(1, 0));
        assert_eq!(t.get(1).unwrap().expires_at, 6000);
        let ids: Vec<i64> = t.iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![1]);
    }

    #[test]
    fn password_is_deterministic_and_keyed() {
        // Vectors from the JDK's java.util.Random (docs/quorum-protocol.md section 6).
        let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(session_password(0)), "f22acd4a97e69d6d20a49bb638eadb38");
        assert_eq!(hex(session_password(1)), "054cc74a37327db215e702e20c73f005");
        assert_eq!(hex(session_password(0x0100_0001_a2b3_c4d5)), "75f7b92fa39dd98d12e9a0f471d573ff");
        assert_eq!(hex(session_password(0x0100_018a_1b2c_0000)), "3665f1f18bcd13d304323e584c2cbd9c");
    }
}
