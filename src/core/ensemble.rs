//! The core's part in an ensemble: the role it plays (standalone, leader, learner, or down
//! while no leader is established) and what changes with it. The leader prepares every txn
//! (its own clients' writes and the ones learners forward) with zxids of its epoch and applies
//! them once a quorum has logged them; a learner forwards its clients' writes, session
//! changes and syncs to the leader and applies what the leader commits; session expiry and
//! container deletes happen on the leader only; a member that is down serves nobody.
//! Must never: answer a write before its txn is committed, or answer a sync before the
//! leader's leadership was confirmed after the sync arrived.

use super::conn::{ConnId, Queued};
use super::{Action, Core};
use crate::prep::WriteContext;
use crate::proto::codes::{op, ErrorCode};
use crate::proto::jute::Jute;
use crate::proto::records::Id;
use crate::proto::records::{ErrorTxn, TxnHeader};
use crate::proto::request::Request;
use crate::tree::DataTree;
use crate::txn::{Txn, TxnBody};
use crate::zab::wire::ForwardedRequest;
use bytes::{Bytes, BytesMut};

/// What this member does for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No ensemble: writes commit when fsynced.
    Standalone,
    /// The established leader: prepares, proposes, commits on a quorum.
    Leader,
    /// A synchronised follower or observer: forwards writes, applies commits.
    Learner,
    /// Looking for a leader or synchronising: no client is served.
    Down,
}

impl Core {
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether this member prepares txns and runs expiry (standalone or leader).
    pub(super) fn prepares(&self) -> bool {
        matches!(self.role, Role::Standalone | Role::Leader)
    }

    /// Becomes the established leader of `epoch`: its txns are `epoch << 32 | counter` from 1.
    /// Every known session gets a full timeout from now, as ZooKeeper gives them on a leader
    /// change.
    pub fn become_leader(&mut self, epoch: i64) {
        self.role = Role::Leader;
        self.next_zxid = (epoch << 32) | 1;
        self.prep.clear();
        let ids: Vec<i64> = self.sessions.iter().map(|s| s.id).collect();
        for id in ids {
            self.sessions.touch(id, self.mono_ms);
        }
    }

    /// Becomes a synchronised learner.
    pub fn become_learner(&mut self) {
        self.role = Role::Learner;
        self.prep.clear();
        self.touched.clear();
    }

    /// Stops serving: every client connection is closed (clients move to another member with
    /// their sessions), then the txns this member logged but did not see committed are
    /// applied, as ZooKeeper fast-forwards its database from its log (the next leader keeps
    /// them or truncates them away): the leader's own prepared txns up to `durable`, a
    /// learner's logged proposals in `logged`. No client learns of them here.
    pub fn step_down(&mut self, durable: i64, logged: Vec<Txn>) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in conns {
            self.close_conn(c);
        }
        self.pending_syncs.clear();
        self.sync_waiters.clear();
        self.touched.clear();
        self.revalidating.clear();
        while self.inflight.front().is_some_and(|t| t.zxid() <= durable) {
            let txn = self.inflight.pop_front().expect("front");
            self.apply(txn);
        }
        self.inflight.clear();
        for txn in logged {
            if txn.zxid() > self.tree.last_zxid() {
                self.apply(txn);
            }
        }
        self.prep.clear();
        self.role = Role::Down;
        self.next_zxid = self.tree.last_zxid() + 1;
    }

    /// Starts over from another tree (a snapshot from the leader, or the tree rebuilt after a
    /// truncation). Only while down.
    pub fn replace_tree(&mut self, tree: DataTree) {
        debug_assert_eq!(self.role, Role::Down);
        let ids: Vec<i64> = self.sessions.iter().map(|s| s.id).collect();
        for id in ids {
            self.sessions.remove(id);
        }
        for (&id, &timeout) in tree.sessions() {
            self.sessions.add(id, timeout, self.mono_ms);
        }
        self.tree = tree;
        self.next_zxid = self.tree.last_zxid() + 1;
        self.prep.clear();
        self.txns_since_snapshot = 0;
    }

    /// A txn the leader committed (learner), in zxid order: applied and answered like one of
    /// ours.
    pub fn commit_remote(&mut self, txn: Txn) {
        let propagation = self.wall_ms.saturating_sub(txn.header.time);
        self.stats.commit_propagation.record(propagation.max(0) as u64);
        self.commit(txn);
        self.after_commits();
    }

    /// Hands a request to the leader and remembers nothing more: the commit finds its waiter.
    pub(super) fn forward(&mut self, session_id: i64, cxid: i32, op: i32, body: Bytes, conn: ConnId) {
        let auth = self.conns.get(&conn).map(|c| c.auth.clone()).unwrap_or_default();
        self.actions.push(Action::Forward { req: ForwardedRequest { session_id, cxid, op, body }, auth });
    }

    /// A learner's client write: queued for its commit, forwarded with its body as received.
    pub(super) fn forward_write(&mut self, conn: ConnId, xid: i32, req: &Request, body: Bytes, received_us: u64) {
        let op_code = super::write_op_code(req);
        let c = self.conns.get_mut(&conn).expect("conn");
        let session = c.session_id;
        c.queue.push_back(Queued::Write { cxid: xid, op: op_code, ops: super::client_ops(req), received_us });
        let body = match req {
            // A body that did not decode still goes to the leader, whose prep answers it.
            _ if !body.is_empty() || matches!(req, Request::Malformed { .. }) => body,
            // Callers without the raw body (tests): nothing to forward but an empty body.
            _ => Bytes::new(),
        };
        self.forward(session, xid, op_code, body, conn);
    }

    /// A client's sync: standalone it waits for every write prepared before it; a leader
    /// also confirms it still leads (`Action::ConfirmSync`); a learner asks the leader, whose
    /// SYNC answer follows every commit before it.
    pub(super) fn sync(&mut self, conn: ConnId, xid: i32, path: String, body: Bytes, received_us: u64) {
        self.sync_as(conn, xid, path, body, received_us, false)
    }

    /// Whether a read of this connection must first wait for a read-index round.
    pub(super) fn needs_read_barrier(&self, conn: ConnId, req: &Request) -> bool {
        matches!(self.role, Role::Leader | Role::Learner)
            && self.conns.get(&conn).is_some_and(|c| c.linearizable)
            && matches!(
                req,
                Request::GetData(_)
                    | Request::Exists(_)
                    | Request::GetChildren(_)
                    | Request::GetChildren2(_)
                    | Request::GetAcl(_)
                    | Request::GetAllChildrenNumber(_)
                    | Request::GetEphemerals(_)
                    | Request::MultiRead(_)
            )
    }

    /// The silent sync in front of a linearizable read.
    pub(super) fn barrier(&mut self, conn: ConnId, xid: i32, received_us: u64) {
        self.sync_as(conn, xid, "/".into(), Bytes::new(), received_us, true)
    }

    fn sync_as(&mut self, conn: ConnId, xid: i32, path: String, body: Bytes, received_us: u64, silent: bool) {
        // Everything prepared before it: applied already, or the last txn still in flight (a
        // new leader's next zxid starts its epoch, past anything applied).
        let prepared = self.inflight.back().map_or(self.tree.last_zxid(), |t| t.zxid());
        let (wait_zxid, confirmed) = match self.role {
            Role::Learner => (i64::MIN, false),
            Role::Leader => (prepared, false),
            Role::Standalone | Role::Down => (prepared, true),
        };
        let c = self.conns.get_mut(&conn).expect("conn");
        let session = c.session_id;
        c.queue.push_back(Queued::Sync { xid, path: path.clone(), wait_zxid, confirmed, silent, received_us });
        if !confirmed {
            self.pending_syncs.push_back((conn, xid));
        }
        match self.role {
            Role::Learner => {
                let body = if body.is_empty() {
                    let mut b = BytesMut::new();
                    path.write(&mut b);
                    b.freeze()
                } else {
                    body
                };
                self.forward(session, xid, op::SYNC, body, conn);
            }
            Role::Leader => self.actions.push(Action::ConfirmSync),
            _ => {}
        }
        self.sync_waiters.entry(wait_zxid).or_default().push(conn);
        self.drain_queue(conn);
    }

    /// The oldest waiting sync is confirmed (leader: its read-index round completed; learner:
    /// the leader's SYNC arrived, after every commit the sync must see).
    pub fn sync_confirmed(&mut self) {
        let Some((conn, xid)) = self.pending_syncs.pop_front() else { return };
        let Some(c) = self.conns.get_mut(&conn) else { return };
        for q in c.queue.iter_mut() {
            if let Queued::Sync { xid: x, confirmed, .. } = q {
                if *x == xid && !*confirmed {
                    *confirmed = true;
                    break;
                }
            }
        }
        self.drain_queue(conn);
    }

    /// Syncs still waiting for confirmation.
    pub fn pending_syncs(&self) -> usize {
        self.pending_syncs.len()
    }

    /// A learner's sessions touched since the last call (for its PING reply).
    pub fn take_touches(&mut self) -> Vec<(i64, i32)> {
        let mut v: Vec<(i64, i32)> = self.touched.drain().collect();
        v.sort_unstable();
        v
    }

    /// The leader hears that a learner's clients kept these sessions alive.
    pub fn touch_sessions(&mut self, touches: &[(i64, i32)]) {
        for &(id, _) in touches {
            self.sessions.touch(id, self.mono_ms);
        }
    }

    /// The leader prepares a request a learner forwarded (with the auth ids of the client's
    /// connection there). A session the leader does not know (expired, or closing) gets
    /// SESSIONEXPIRED as an error txn, as ZooKeeper's prep answers it.
    pub fn forwarded(&mut self, f: ForwardedRequest, auth: &[Id]) {
        if self.role != Role::Leader {
            return;
        }
        self.stats.packets_received += 1;
        let zxid_time = self.wall_ms;
        if f.op == op::CREATE_SESSION {
            let Some(timeout) = f.body.get(..4).and_then(|b| b.try_into().ok()).map(i32::from_be_bytes) else {
                // A createSession without its timeout (a client sent the header alone).
                let zxid = self.take_zxid();
                self.log(error_txn(f.session_id, f.cxid, zxid, zxid_time, ErrorCode::MarshallingError));
                return;
            };
            let timeout = self.negotiate_timeout(timeout);
            self.sessions.add(f.session_id, timeout, self.mono_ms);
            let zxid = self.take_zxid();
            let mut txn = crate::prep::Prep::prepare_create_session(f.session_id, timeout, zxid, zxid_time);
            txn.header.cxid = f.cxid;
            self.log(txn);
            return;
        }
        let alive = self.sessions.get(f.session_id).is_some_and(|s| !s.closing);
        if !alive {
            let zxid = self.take_zxid();
            self.log(error_txn(f.session_id, f.cxid, zxid, zxid_time, ErrorCode::SessionExpired));
            return;
        }
        self.sessions.touch(f.session_id, self.mono_ms);
        if f.op == op::CLOSE_SESSION {
            self.sessions.set_closing(f.session_id);
            let zxid = self.take_zxid();
            let mut txn = self.prep.prepare_close_session(&self.tree, f.session_id, zxid, zxid_time);
            txn.header.cxid = f.cxid;
            self.log(txn);
            return;
        }
        let req = match Request::decode_from_client(f.op, &f.body) {
            Ok(r) if r.is_write() => r,
            // Only writes are forwarded; anything else is a broken learner's, refused alike.
            Ok(_) | Err(_) => Request::Malformed { op: f.op },
        };
        let zxid = self.take_zxid();
        let ctx = WriteContext { session_id: f.session_id, cxid: f.cxid, zxid, time: zxid_time, auth };
        let txn = self.prep.prepare(&self.tree, &ctx, &req);
        self.log(txn);
    }
}

fn error_txn(session: i64, cxid: i32, zxid: i64, time: i64, err: ErrorCode) -> Txn {
    Txn {
        header: TxnHeader { client_id: session, cxid, zxid, time, type_: op::ERROR },
        body: TxnBody::Error(ErrorTxn { err: err.code() }),
    }
}
