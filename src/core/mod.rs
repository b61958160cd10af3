//! The standalone request pipeline as a deterministic state machine: it owns the tree, prep,
//! the session table, the watch registry and every connection's reply queue. The shell feeds
//! it inputs (a handshake, a decoded request, a durable-up-to notice from the log, a tick) and
//! executes the actions it returns (send bytes, close a connection, append to the log, write
//! a snapshot). Nothing here blocks, reads a clock or touches a socket or a file, so a test
//! can drive it step by step, and the ensemble can reuse it behind Zab.
//!
//! Life of a write: `request` → prep makes a txn with the next zxid → `Action::Log` → the log
//! fsyncs → `durable(zxid)` → the tree applies it → watches fire (notifications queued first)
//! → the reply is queued → the connection's later reads run.
//! Must never: acknowledge a write before `durable` covers its zxid.

pub mod conn;
mod ensemble;
mod reads;
mod sessions;

pub use ensemble::Role;

use crate::prep::{Prep, PrepOptions, WriteContext};
use crate::proto::codes::{op, ErrorCode};
use crate::proto::request::{self, MultiResult, Request, Response};
use crate::session::SessionTracker;
use crate::tree::{DataTree, OpResult, TreeImage};
use crate::txn::{Txn, TxnBody};
use crate::watch::WatchManager;
use bytes::{Bytes, BytesMut};
use conn::{Conn, ConnId, ConnState, Queued};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The core's per-request maps hash with ahash (keyed per process) rather than SipHash.
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// The settings the core needs, taken from `Config` by the shell.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub tick_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub snap_count: u64,
    pub skip_acl: bool,
    /// New connections start in linearizable-read mode.
    pub linearizable_reads: bool,
    pub ttl_enabled: bool,
    pub super_digest: Option<String>,
    pub server_id: i64,
    pub container_check_interval_ms: i64,
    /// The checkpoint registry; None: off.
    pub registry: Option<crate::prep::RegistryOptions>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            tick_ms: 2000,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            snap_count: 100_000,
            skip_acl: false,
            linearizable_reads: false,
            ttl_enabled: false,
            super_digest: None,
            server_id: 0,
            container_check_interval_ms: 60_000,
            registry: Some(crate::prep::RegistryOptions::default()),
        }
    }
}

/// What the shell must do.
#[derive(Debug)]
pub enum Action {
    /// Frames for a connection, already encoded and in order; `replies` of them answer
    /// requests (the rest are notifications and the handshake's answer), so the shell can
    /// count the connection's outstanding requests down.
    Send { conn: ConnId, bytes: BytesMut, replies: u32 },
    /// Close the connection after what was sent to it.
    Close { conn: ConnId },
    /// Append a txn to the write-ahead log; `durable` is called once it is fsynced.
    Log { zxid: i64, payload: Bytes },
    /// Persist this frozen image of the tree as of `zxid` (encoded and written in the
    /// background; the tree may change meanwhile).
    Snapshot { zxid: i64, image: Box<TreeImage> },
    /// A learner hands a client's write, session change or sync to the leader (a REQUEST
    /// packet carrying the connection's auth ids).
    Forward { req: crate::zab::wire::ForwardedRequest, auth: Vec<crate::proto::records::Id> },
    /// The leader has a client's sync waiting: once leadership is confirmed by a quorum (a
    /// read-index round), the shell calls `sync_confirmed`.
    ConfirmSync,
    /// A learner asks the leader whether a session a client reconnects with is alive
    /// (ZooKeeper's REVALIDATE); the shell calls `revalidated` with the answer.
    Revalidate { session_id: i64, timeout: i32 },
}

/// A connection's output gathered during one batch.
#[derive(Debug)]
struct OutBuf {
    bytes: BytesMut,
    /// How many of the frames answer requests.
    replies: u32,
}

/// Who waits for a committed txn (see `Core::waiter`).
enum Waiter {
    Handshake,
    Write { cxid: i32, op: i32, ops: u32, received_us: u64 },
}

/// Server-wide counters for the admin words.
#[derive(Debug, Clone, Default)]
pub struct CoreStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub min_latency_us: u64,
    pub max_latency_us: u64,
    pub total_latency_us: u64,
    pub latency_count: u64,
    pub auth_failed: u64,
    /// Replies to requests whose size was recorded, and the last, smallest and largest of
    /// those sizes in bytes without the length prefix (ZooKeeper's `client_response` stats).
    pub responses_sized: u64,
    pub last_response_size: u64,
    pub min_response_size: u64,
    pub max_response_size: u64,
    /// Bytes of all replies (`response_bytes`).
    pub response_bytes: u64,
    /// Request latencies in ms, split as ZooKeeper's `readlatency` (no txn: reads, syncs,
    /// pings) and `updatelatency` (txns).
    pub read_latency: crate::stats::Timing,
    pub update_latency: crate::stats::Timing,
    /// Learners: ms from a txn's time (set where it was prepared) to its commit here
    /// (`commit_propagation_latency`).
    pub commit_propagation: crate::stats::Timing,
}

impl CoreStats {
    fn response_size(&mut self, size: u64) {
        self.min_response_size = if self.responses_sized == 0 { size } else { self.min_response_size.min(size) };
        self.max_response_size = self.max_response_size.max(size);
        self.last_response_size = size;
        self.responses_sized += 1;
        self.response_bytes += size;
    }
}

pub struct Core {
    cfg: CoreConfig,
    tree: DataTree,
    prep: Prep,
    sessions: SessionTracker,
    watches: WatchManager,
    conns: FastMap<ConnId, Conn>,
    session_conn: FastMap<i64, ConnId>,
    next_zxid: i64,
    /// Txns this core prepared and handed to the log, not yet durable (standalone).
    inflight: VecDeque<Txn>,
    /// Connections whose queue may be able to make progress once more is applied.
    sync_waiters: BTreeMap<i64, Vec<ConnId>>,
    out: FastMap<ConnId, OutBuf>,
    actions: Vec<Action>,
    txns_since_snapshot: u64,
    /// The shell is still writing the previous snapshot.
    snapshot_busy: bool,
    wall_ms: i64,
    mono_ms: i64,
    now_us: u64,
    last_container_check_ms: i64,
    stats: CoreStats,
    /// Standalone, or this member's part in an ensemble.
    role: Role,
    /// A learner's sessions touched since its last PING reply, with their timeouts.
    touched: FastMap<i64, i32>,
    /// A learner's reconnecting sessions waiting for the leader's REVALIDATE answer.
    revalidating: FastMap<i64, ConnId>,
    /// Syncs waiting for confirmation (leader: a read-index round; learner: the leader's
    /// SYNC), oldest first.
    pending_syncs: VecDeque<(ConnId, i32)>,
}

/// Expired sessions logged one line each; more at once are one summary line.
const EXPIRY_LINES: usize = 10;

impl Core {
    /// A core over a recovered tree. Sessions recorded in the tree get a full timeout to
    /// reconnect, as ZooKeeper gives them after a restart.
    pub fn new(cfg: CoreConfig, tree: DataTree, last_logged_zxid: i64, wall_ms: i64, mono_ms: i64) -> Core {
        let mut sessions = SessionTracker::new(cfg.tick_ms, cfg.server_id, wall_ms);
        for (&id, &timeout) in tree.sessions() {
            sessions.add(id, timeout, mono_ms);
        }
        let prep = Prep::new(PrepOptions {
            skip_acl: cfg.skip_acl,
            ttl_enabled: cfg.ttl_enabled,
            registry: cfg.registry.clone(),
        });
        let next_zxid = tree.last_zxid().max(last_logged_zxid) + 1;
        Core {
            cfg,
            tree,
            prep,
            sessions,
            watches: WatchManager::new(),
            conns: FastMap::default(),
            session_conn: FastMap::default(),
            next_zxid,
            inflight: VecDeque::new(),
            sync_waiters: BTreeMap::new(),
            out: FastMap::default(),
            actions: Vec::new(),
            txns_since_snapshot: 0,
            snapshot_busy: false,
            wall_ms,
            mono_ms,
            now_us: 0,
            last_container_check_ms: mono_ms,
            stats: CoreStats::default(),
            role: Role::Standalone,
            touched: FastMap::default(),
            revalidating: FastMap::default(),
            pending_syncs: VecDeque::new(),
        }
    }

    /// Sets the clocks for the inputs that follow: wall time (txn times), monotonic
    /// milliseconds (expiry) and monotonic microseconds (latency).
    pub fn set_time(&mut self, wall_ms: i64, mono_ms: i64, now_us: u64) {
        self.wall_ms = wall_ms;
        self.mono_ms = mono_ms;
        self.now_us = now_us;
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
    }
    pub fn watches(&self) -> &WatchManager {
        &self.watches
    }
    pub fn sessions(&self) -> &SessionTracker {
        &self.sessions
    }
    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }
    pub fn reset_stats(&mut self) {
        self.stats = CoreStats { auth_failed: self.stats.auth_failed, ..Default::default() };
    }
    /// crst: resets every connection's counters.
    pub fn reset_conn_stats(&mut self) {
        for c in self.conns.values_mut() {
            c.stats = conn::ConnStats {
                established_ms: c.stats.established_ms,
                last_active_ms: c.stats.last_active_ms,
                ..Default::default()
            };
        }
    }
    pub fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }
    pub fn conns(&self) -> impl Iterator<Item = (&ConnId, &Conn)> {
        self.conns.iter()
    }
    pub fn outstanding(&self) -> usize {
        self.inflight.len()
    }
    pub fn last_applied_zxid(&self) -> i64 {
        self.tree.last_zxid()
    }

    /// Everything the shell must do since the last call, sends coalesced per connection.
    pub fn take_actions(&mut self) -> Vec<Action> {
        let mut acts = std::mem::take(&mut self.actions);
        // Sends go before closes and logs are independent of sends, so order: logs/snapshots
        // as produced, then sends, then closes.
        let (closes, mut rest): (Vec<Action>, Vec<Action>) =
            acts.drain(..).partition(|a| matches!(a, Action::Close { .. }));
        for (conn, o) in self.out.drain() {
            if !o.bytes.is_empty() {
                rest.push(Action::Send { conn, bytes: o.bytes, replies: o.replies });
            }
        }
        rest.extend(closes);
        rest
    }

    /// Whether there is anything for `take_actions`.
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty() || !self.out.is_empty()
    }

    fn out_buf(&mut self, conn: ConnId) -> &mut OutBuf {
        // Room for a few replies up front: growing from nothing costs several reallocations.
        self.out.entry(conn).or_insert_with(|| OutBuf { bytes: BytesMut::with_capacity(512), replies: 0 })
    }

    /// Where notifications and the handshake's answer go (frames that answer no request).
    fn out(&mut self, conn: ConnId) -> &mut BytesMut {
        &mut self.out_buf(conn).bytes
    }

    /// Answers one request.
    fn reply(&mut self, conn: ConnId, xid: i32, zxid: i64, result: Result<Response, ErrorCode>) {
        let (err, body) = request::split_result(result);
        let o = self.out_buf(conn);
        o.replies += 1;
        let before = o.bytes.len();
        request::write_reply(&mut o.bytes, xid, zxid, err, &body);
        let size = (o.bytes.len() - before).saturating_sub(4) as u64;
        self.stats.packets_sent += 1;
        self.stats.response_size(size);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.sent += 1;
            c.stats.last_zxid = zxid;
        }
    }

    /// `write`: the request became a txn (ZooKeeper's `updatelatency`, else `readlatency`).
    fn record_latency(&mut self, conn: ConnId, xid: i32, op_name: &'static str, received_us: u64, write: bool) {
        let lat = self.now_us.saturating_sub(received_us);
        let s = &mut self.stats;
        if write { &mut s.update_latency } else { &mut s.read_latency }.record(lat / 1000);
        s.min_latency_us = if s.latency_count == 0 { lat } else { s.min_latency_us.min(lat) };
        s.max_latency_us = s.max_latency_us.max(lat);
        s.total_latency_us += lat;
        s.latency_count += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            let cs = &mut c.stats;
            cs.min_latency_us = if cs.latency_count == 0 { lat } else { cs.min_latency_us.min(lat) };
            cs.max_latency_us = cs.max_latency_us.max(lat);
            cs.total_latency_us += lat;
            cs.latency_count += 1;
            cs.last_latency_us = lat;
            cs.last_op = op_name;
            cs.last_cxid = xid;
        }
    }

    /// A decoded request from a connection that has sent its handshake.
    pub fn request(&mut self, conn: ConnId, xid: i32, req: Request, received_us: u64) {
        self.request_with_body(conn, xid, req, Bytes::new(), received_us)
    }

    /// A decoded request with its body as received (after the request header), which a
    /// learner forwards to the leader unchanged.
    pub fn request_with_body(&mut self, conn: ConnId, xid: i32, req: Request, body: Bytes, received_us: u64) {
        self.stats.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.stats.received += 1;
        c.stats.last_active_ms = self.wall_ms;
        match c.state {
            // ZooKeeper ignores what a client sends after closeSession.
            ConnState::Closing => return,
            // ZooKeeper reads nothing more until the handshake is answered, so every reply
            // follows the ConnectResponse (a client may pipeline its auth behind the connect).
            ConnState::Connecting => {
                c.deferred.push_back((xid, req, body, received_us));
                return;
            }
            ConnState::Open => {}
        }
        self.run_request(conn, xid, req, body, received_us);
    }

    /// A request of an open connection, in its turn.
    fn run_request(&mut self, conn: ConnId, xid: i32, req: Request, body: Bytes, received_us: u64) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.state != ConnState::Open {
            return;
        }
        let session = c.session_id;
        if !self.sessions.touch(session, self.mono_ms) && c.state == ConnState::Open {
            // The session expired under a live connection: the close is under way. The refusal
            // still waits behind the connection's earlier requests.
            c.queue.push_back(Queued::Refused { xid, err: ErrorCode::SessionExpired });
            self.drain_queue(conn);
            return;
        }
        if self.role == Role::Learner {
            let timeout = c.timeout_ms;
            self.touched.insert(session, timeout);
        }
        match req {
            Request::Auth(a) => self.auth(conn, xid, a),
            Request::CloseSession => self.close_session_request(conn, xid, received_us),
            Request::CreateSession { timeout } => self.recreate_session(conn, xid, timeout, received_us),
            r if r.is_write() && self.role == Role::Learner => self.forward_write(conn, xid, &r, body, received_us),
            r if r.is_write() => self.submit_write(conn, xid, r, received_us),
            Request::Sync(s) => self.sync(conn, xid, s.path, body, received_us),
            r => {
                if self.needs_read_barrier(conn, &r) {
                    // Linearizable: a sync nobody is answered for goes first.
                    self.barrier(conn, xid, received_us);
                }
                let c = self.conns.get_mut(&conn).expect("conn");
                c.queue.push_back(Queued::Read { xid, req: r, received_us });
                self.drain_queue(conn);
            }
        }
    }

    fn submit_write(&mut self, conn: ConnId, xid: i32, req: Request, received_us: u64) {
        let zxid = self.take_zxid();
        let c = self.conns.get(&conn).expect("conn");
        let ctx = WriteContext { session_id: c.session_id, cxid: xid, zxid, time: self.wall_ms, auth: &c.auth };
        let op_code = write_op_code(&req);
        let txn = self.prep.prepare(&self.tree, &ctx, &req);
        let ops = client_ops(&req);
        self.conns.get_mut(&conn).expect("conn").queue.push_back(Queued::Write {
            cxid: xid,
            op: op_code,
            ops,
            received_us,
        });
        self.log(txn);
    }

    fn log(&mut self, txn: Txn) {
        self.actions.push(Action::Log { zxid: txn.zxid(), payload: txn.encode() });
        self.inflight.push_back(txn);
    }

    /// The log has fsynced everything up to `zxid`. Standalone, that commits it: apply and
    /// answer.
    pub fn durable(&mut self, zxid: i64) {
        self.committed_up_to(zxid)
    }

    /// Every txn this core prepared up to `zxid` is committed (standalone: fsynced; leader: a
    /// quorum ACKed it): apply and answer, in zxid order.
    pub fn committed_up_to(&mut self, zxid: i64) {
        while self.inflight.front().is_some_and(|t| t.zxid() <= zxid) {
            let txn = self.inflight.pop_front().expect("front");
            self.commit(txn);
        }
        self.after_commits();
    }

    /// A committed txn, in zxid order: applied to the tree, its watches fired, and its
    /// writer answered if that session's connection is here and waits for it (matched by
    /// session and cxid, so a txn prepared elsewhere finds its waiter too).
    pub fn commit(&mut self, txn: Txn) {
        self.apply(txn);
        // A sync waits for this txn, not for the rest of the batch: answer it before a later
        // write of its connection is applied and answered.
        self.wake_syncs();
    }

    /// After a batch of commits: syncs, and a snapshot when one is due.
    fn after_commits(&mut self) {
        self.wake_syncs();
        if self.txns_since_snapshot >= self.cfg.snap_count {
            self.txns_since_snapshot = 0;
            if self.snapshot_busy {
                // As ZooKeeper does ("Too busy to snap, skipping"): the log holds everything,
                // and snapshots never queue up behind a slow disk.
                tracing::warn!("the previous snapshot is still being written; skipping this one");
                return;
            }
            self.actions.push(Action::Snapshot { zxid: self.tree.last_zxid(), image: Box::new(self.tree.image()) });
        }
    }

    /// Whether the shell is still writing the last snapshot (then the next one due is skipped).
    pub fn set_snapshot_busy(&mut self, busy: bool) {
        self.snapshot_busy = busy;
    }

    /// Drains the queues of connections whose sync has become answerable.
    fn wake_syncs(&mut self) {
        let applied = self.tree.last_zxid();
        while let Some(entry) = self.sync_waiters.first_entry() {
            if *entry.key() > applied {
                break;
            }
            for conn in entry.remove() {
                self.drain_queue(conn);
            }
        }
    }

    fn apply(&mut self, txn: Txn) {
        let zxid = txn.zxid();
        if let TxnBody::CreateSession(t) = &txn.body {
            // Every member tracks every global session, so a learner that becomes leader
            // expires them and any member accepts a moved one.
            if self.sessions.get(txn.header.client_id).is_none() {
                self.sessions.add(txn.header.client_id, t.time_out, self.mono_ms);
            }
        }
        let outcome = self.tree.apply(&txn);
        self.prep.applied(zxid);
        self.txns_since_snapshot += 1;
        for t in &outcome.triggers {
            for (w, ev) in self.watches.fire(t) {
                request::write_notification(self.out(w), zxid, &ev);
                self.stats.packets_sent += 1;
            }
        }
        match self.waiter(&txn) {
            Some((conn, Waiter::Handshake)) => self.session_created(conn, &txn),
            Some((conn, Waiter::Write { cxid, op: op_code, ops, received_us })) => {
                self.conns.get_mut(&conn).expect("waiter's conn").queue.pop_front();
                self.record_latency(conn, cxid, op_name(op_code), received_us, true);
                if op_code == op::CREATE_SESSION && matches!(outcome.result, OpResult::SessionCreated) {
                    // Answered as ZooKeeper does: with the handshake's response again.
                    self.out_buf(conn).replies += 1;
                    self.session_reinitialised(conn);
                    self.drain_queue(conn);
                    return;
                }
                let result = self.write_response(op_code, ops, &txn, outcome.result);
                self.reply(conn, cxid, zxid, result);
                if op_code == op::CLOSE_SESSION {
                    self.after_close_apply(&txn);
                    self.close_conn(conn);
                } else {
                    self.drain_queue(conn);
                }
            }
            None => self.after_close_apply(&txn),
        }
    }

    /// The connection waiting for this txn: the one carrying its session, whose oldest
    /// unanswered request is this txn's (same cxid, a matching op; an error txn matches any
    /// write), or whose handshake waits for this createSession.
    fn waiter(&self, txn: &Txn) -> Option<(ConnId, Waiter)> {
        let conn = *self.session_conn.get(&txn.header.client_id)?;
        let c = self.conns.get(&conn)?;
        let ty = txn.header.type_;
        match c.queue.front()? {
            Queued::Handshake if ty == op::CREATE_SESSION => Some((conn, Waiter::Handshake)),
            // A single create, delete or setData that the checkpoint registry completed comes
            // back as a multi.
            Queued::Write { cxid, op: o, ops, received_us }
                if *cxid == txn.header.cxid
                    && (ty == *o
                        || (ty == op::ERROR && *o != op::CLOSE_SESSION)
                        || (ty == op::MULTI && registry_expandable(*o))) =>
            {
                Some((conn, Waiter::Write { cxid: *cxid, op: *o, ops: *ops, received_us: *received_us }))
            }
            _ => None,
        }
    }

    /// The answer to a write of `ops` client ops (a multi's count, else 1) from its applied
    /// txn, leaving out what the checkpoint registry added after them.
    fn write_response(&self, op_code: i32, ops: u32, txn: &Txn, result: OpResult) -> Result<Response, ErrorCode> {
        let result = match result {
            OpResult::Multi(mut results) if op_code == op::MULTI => {
                results.truncate(ops as usize);
                OpResult::Multi(results)
            }
            // A single op the registry completed: answered from its own (first) result.
            OpResult::Multi(results) if op_code != op::MULTI => {
                results.into_iter().next().unwrap_or(OpResult::Error(ErrorCode::RuntimeInconsistency))
            }
            r => r,
        };
        match result {
            OpResult::Error(e) => Err(e),
            OpResult::RolledBack => Err(ErrorCode::RuntimeInconsistency),
            OpResult::Created { path, stat } => {
                Ok(if op_code == op::CREATE { Response::Path(path) } else { Response::Create2 { path, stat } })
            }
            OpResult::Deleted | OpResult::SessionClosed | OpResult::SessionCreated => Ok(Response::Empty),
            OpResult::SetData(s) | OpResult::SetAcl(s) => Ok(Response::Stat(s)),
            OpResult::Checked => {
                let path = match &txn.body {
                    TxnBody::Check(c) => c.path.as_str(),
                    _ => "",
                };
                Ok(Response::Stat(self.tree.get(path).map(|n| n.stat()).unwrap_or_default()))
            }
            OpResult::Multi(results) => {
                let ops: Vec<i32> = match &txn.body {
                    TxnBody::Multi(v) => v.iter().map(|(t, _)| *t).collect(),
                    _ => Vec::new(),
                };
                let mr = results
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| match r {
                        OpResult::Created { path, stat } => MultiResult::Create {
                            path,
                            stat: (ops.get(i).copied() != Some(op::CREATE)).then_some(stat),
                        },
                        OpResult::Deleted => MultiResult::Delete,
                        OpResult::SetData(s) => MultiResult::SetData(s),
                        OpResult::Checked => MultiResult::Check,
                        OpResult::Error(e) => MultiResult::Error(e.code()),
                        _ => MultiResult::Error(0),
                    })
                    .collect();
                Ok(Response::Multi(mr))
            }
        }
    }

    /// Runs queued reads at the front of a connection's queue until a pending write (or a
    /// sync still waiting for the log) blocks it.
    fn drain_queue(&mut self, conn: ConnId) {
        loop {
            let applied = self.tree.last_zxid();
            let Some(c) = self.conns.get_mut(&conn) else { return };
            let ready = match c.queue.front() {
                Some(Queued::Read { .. } | Queued::Refused { .. }) => true,
                Some(Queued::Sync { wait_zxid, confirmed, .. }) => *confirmed && *wait_zxid <= applied,
                _ => false,
            };
            if !ready {
                return;
            }
            match c.queue.pop_front() {
                Some(Queued::Read { xid, req, received_us }) => self.read(conn, xid, req, received_us),
                Some(Queued::Refused { xid, err }) => self.reply(conn, xid, applied, Err(err)),
                Some(Queued::Sync { silent: true, .. }) => {}
                Some(Queued::Sync { xid, path, received_us, .. }) => {
                    self.record_latency(conn, xid, "SYNC", received_us, false);
                    self.reply(conn, xid, applied, Ok(Response::Path(path)));
                }
                _ => return,
            }
        }
    }

    /// Drops a connection's state (its session lives on until closed or expired).
    fn forget_conn(&mut self, conn: ConnId) -> bool {
        let Some(c) = self.conns.remove(&conn) else { return false };
        if self.session_conn.get(&c.session_id) == Some(&conn) {
            self.session_conn.remove(&c.session_id);
        }
        self.watches.remove_watcher(conn);
        true
    }

    /// The core closes a connection, after what was already queued for it.
    fn close_conn(&mut self, conn: ConnId) {
        if self.forget_conn(conn) {
            self.actions.push(Action::Close { conn });
        }
    }

    /// The shell lost the connection (client went away or a protocol error).
    pub fn connection_closed(&mut self, conn: ConnId) {
        if self.forget_conn(conn) {
            self.out.remove(&conn);
        }
    }

    /// Takes the next zxid for a txn about to be prepared.
    fn take_zxid(&mut self) -> i64 {
        let zxid = self.next_zxid;
        self.next_zxid += 1;
        zxid
    }

    /// Periodic work: session expiry, container and TTL cleanup (standalone and on the leader
    /// only: a learner's sessions and containers are the leader's to end).
    pub fn tick(&mut self) {
        if !self.prepares() {
            return;
        }
        let expired = self.sessions.expire(self.mono_ms);
        let burst = expired.len() > EXPIRY_LINES;
        if burst {
            // A burst (a client fleet lost its network, a pause): one line, not thousands.
            let first: Vec<String> = expired.iter().take(EXPIRY_LINES).map(|id| format!("0x{id:x}")).collect();
            tracing::info!("Expiring {} sessions at once (first: {}, ...)", expired.len(), first.join(", "));
        }
        for id in expired {
            if !burst {
                tracing::info!("Expiring session 0x{:x}", id);
            }
            let zxid = self.take_zxid();
            let txn = self.prep.prepare_close_session(&self.tree, id, zxid, self.wall_ms);
            self.log(txn);
        }
        if self.mono_ms - self.last_container_check_ms >= self.cfg.container_check_interval_ms {
            self.last_container_check_ms = self.mono_ms;
            self.check_containers();
        }
    }

    /// The next time `tick` has work, in monotonic ms.
    pub fn next_tick_ms(&self) -> i64 {
        if !self.prepares() {
            return self.mono_ms + 1000;
        }
        let container = self.last_container_check_ms + self.cfg.container_check_interval_ms;
        self.sessions.next_expiry_ms().map_or(container, |s| s.min(container))
    }

    fn check_containers(&mut self) {
        let mut doomed = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.get(p) {
                if n.num_children() == 0 && n.cversion > 0 {
                    doomed.push(p.clone());
                }
            }
        }
        for p in self.tree.ttl_nodes() {
            if let Some(n) = self.tree.get(p) {
                let ttl = crate::proto::codes::ttl_of_owner(n.ephemeral_owner).unwrap_or(i64::MAX);
                if n.num_children() == 0 && self.wall_ms - n.mtime > ttl {
                    doomed.push(p.clone());
                }
            }
        }
        doomed.sort();
        for p in doomed {
            let zxid = self.next_zxid;
            if let Some(txn) = self.prep.prepare_container_delete(&self.tree, &p, zxid, self.wall_ms) {
                self.next_zxid += 1;
                self.log(txn);
            }
        }
    }
}

/// How many ops a client's write carries: a multi's count, else 1.
fn client_ops(req: &Request) -> u32 {
    match req {
        Request::Multi(v) => v.len() as u32,
        _ => 1,
    }
}

/// Single writes the checkpoint registry may complete with ops of its own (into a multi).
fn registry_expandable(op_code: i32) -> bool {
    matches!(op_code, op::CREATE | op::CREATE2)
}

fn write_op_code(req: &Request) -> i32 {
    match req {
        Request::Create { op, .. } => *op,
        Request::Delete(_) => op::DELETE,
        Request::SetData(_) => op::SET_DATA,
        Request::SetAcl(_) => op::SET_ACL,
        Request::Check(_) => op::CHECK,
        Request::Multi(_) => op::MULTI,
        Request::CloseSession => op::CLOSE_SESSION,
        Request::CreateSession { .. } => op::CREATE_SESSION,
        Request::Malformed { op } => *op,
        _ => op::ERROR,
    }
}

/// ZooKeeper's short op names, as `cons` prints them.
pub fn op_name(op_code: i32) -> &'static str {
    match op_code {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => "CREA",
        op::DELETE => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN | op::GET_CHILDREN2 => "GETC",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::CHECK => "CHEC",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::CLOSE_SESSION => "CLOS",
        op::CREATE_SESSION => "SESS",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::ADD_WATCH => "ADDW",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::WHO_AM_I => "HOMI",
        _ => "NA",
    }
}

#[cfg(test)]
mod tests;
