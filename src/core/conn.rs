//! Per-connection state inside the core: the session it carries, its authenticated ids, and
//! the queue that keeps its replies in request order (a read waits behind the same
//! session's earlier writes).
//! Must never: touch sockets; the shell owns them and only knows the connection id.

use crate::proto::codes::ErrorCode;
use crate::proto::records::Id;
use crate::proto::request::Request;
use std::collections::VecDeque;
use std::net::IpAddr;

/// The shell's handle for one client connection.
pub type ConnId = u64;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting for its createSession txn to commit.
    Connecting,
    Open,
    /// closeSession was prepared: further requests are ignored.
    Closing,
}

/// A request waiting for its turn in the connection's queue.
#[derive(Debug)]
pub enum Queued {
    /// A write handed on (to the log; in an ensemble, to the leader). Answered when a
    /// committed txn of this connection's session with this cxid is applied: the txn finds
    /// its waiter by (session, cxid), whoever prepared it.
    /// `ops`: how many ops the client sent (a multi's count, else 1); the checkpoint registry
    /// may add its own after them, and the client is answered for its own only.
    Write { cxid: i32, op: i32, ops: u32, received_us: u64 },
    /// A new session's handshake, answered when its createSession txn is applied.
    Handshake,
    /// A read (or any non-txn request) to run once everything before it is answered.
    Read { xid: i32, req: Request, received_us: u64 },
    /// A request refused before it reached the pipeline (its session expired), answered with
    /// `err` in its turn.
    Refused { xid: i32, err: ErrorCode },
    /// A sync: answered once it is `confirmed` (standalone at once; in an ensemble when the
    /// leader has confirmed its leadership with a quorum) and every write prepared before it
    /// (`wait_zxid`) is applied.
    /// A `silent` one is the barrier in front of a linearizable read and answers nobody.
    Sync { xid: i32, path: String, wait_zxid: i64, confirmed: bool, silent: bool, received_us: u64 },
}

/// Counters the admin words print for a connection.
#[derive(Debug, Clone, Default)]
pub struct ConnStats {
    pub received: u64,
    pub sent: u64,
    pub last_op: &'static str,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_latency_us: u64,
    pub min_latency_us: u64,
    pub max_latency_us: u64,
    pub total_latency_us: u64,
    pub latency_count: u64,
    pub established_ms: i64,
    /// Wall time (ms) of the last request read (ZooKeeper touches a connection's expiry then).
    pub last_active_ms: i64,
}

#[derive(Debug)]
pub struct Conn {
    pub session_id: i64,
    pub timeout_ms: i32,
    pub auth: Vec<Id>,
    pub remote_ip: Option<IpAddr>,
    pub state: ConnState,
    pub queue: VecDeque<Queued>,
    /// Requests that arrived behind the handshake of a new session, run once it is answered.
    pub deferred: VecDeque<(i32, Request, bytes::Bytes, u64)>,
    /// Reads wait for a read-index round (linearizable-read mode).
    pub linearizable: bool,
    pub stats: ConnStats,
}

impl Conn {
    pub fn new(remote_ip: Option<IpAddr>) -> Conn {
        let mut auth = Vec::new();
        // ZooKeeper gives every connection its ip id (used by ip ACLs and whoAmI).
        if let Some(ip) = remote_ip {
            auth.push(Id { scheme: "ip".into(), id: ip.to_string() });
        }
        Conn {
            session_id: 0,
            timeout_ms: 0,
            auth,
            remote_ip,
            state: ConnState::Connecting,
            queue: VecDeque::new(),
            deferred: VecDeque::new(),
            linearizable: false,
            stats: ConnStats::default(),
        }
    }
}
