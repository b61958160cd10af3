//! The core's session side: handshakes (new session, reconnect, refusal), closeSession,
//! expiry closes, and auth packets.
//! Must never: expire or close a session other than through a closeSession txn.

use super::conn::{Conn, ConnId, ConnState, Queued};
use super::Core;
use crate::acl;
use crate::prep::Prep;
use crate::proto::frame::write_frame;
use crate::proto::jute::Jute;
use crate::proto::records::*;
use crate::proto::request::Response;
use crate::session::session_password;
use crate::txn::{Txn, TxnBody};
use bytes::Bytes;
use std::net::IpAddr;

impl Core {
    /// A new TCP connection; its handshake follows.
    pub fn connection_opened(&mut self, conn: ConnId, remote_ip: Option<IpAddr>) {
        let mut c = Conn::new(remote_ip);
        c.linearizable = self.cfg.linearizable_reads;
        c.stats.established_ms = self.wall_ms;
        c.stats.last_active_ms = self.wall_ms;
        self.conns.insert(conn, c);
    }

    fn send_connect_response(&mut self, conn: ConnId, timeout: i32, session_id: i64, passwd: &[u8]) {
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: timeout,
            session_id,
            passwd: Bytes::copy_from_slice(passwd),
            read_only: false,
        };
        write_frame(self.out(conn), |w| resp.write(w));
        self.stats.packets_sent += 1;
    }

    pub(super) fn negotiate_timeout(&self, requested: i32) -> i32 {
        requested.clamp(self.cfg.min_session_timeout_ms, self.cfg.max_session_timeout_ms)
    }

    /// The handshake of a connection opened with `connection_opened`.
    pub fn connect(&mut self, conn: ConnId, req: ConnectRequest) {
        self.stats.packets_received += 1;
        if !self.conns.contains_key(&conn) {
            return;
        }
        if self.role == super::Role::Down {
            // As ZooKeeper does while it has no quorum: the client tries another member.
            tracing::debug!("not serving (no quorum): closing a new client connection");
            self.close_conn(conn);
            return;
        }
        if req.last_zxid_seen > self.tree.last_zxid() {
            tracing::info!(
                "Refusing session request for client as it has seen zxid 0x{:x} our last zxid is 0x{:x} client must try another server",
                req.last_zxid_seen,
                self.tree.last_zxid()
            );
            self.close_conn(conn);
            return;
        }
        let timeout = self.negotiate_timeout(req.time_out);
        if req.session_id == 0 {
            let id = self.sessions.next_session_id();
            let c = self.conns.get_mut(&conn).expect("conn");
            c.session_id = id;
            c.timeout_ms = timeout;
            c.stats.established_ms = self.wall_ms;
            c.queue.push_back(Queued::Handshake);
            self.session_conn.insert(id, conn);
            // Track it now so it can expire even if the client vanishes before the commit.
            self.sessions.add(id, timeout, self.mono_ms);
            if self.role == super::Role::Learner {
                // The leader owns sessions: it logs the createSession this member asks for.
                self.touched.insert(id, timeout);
                self.forward(
                    id,
                    0,
                    crate::proto::codes::op::CREATE_SESSION,
                    Bytes::copy_from_slice(&timeout.to_be_bytes()),
                    conn,
                );
                return;
            }
            let zxid = self.take_zxid();
            let txn = Prep::prepare_create_session(id, timeout, zxid, self.wall_ms);
            self.log(txn);
            return;
        }
        let id = req.session_id;
        let good_password = req.passwd.as_ref() == session_password(id).as_slice();
        if good_password && self.role == super::Role::Learner {
            // The leader owns sessions; this member may not have applied the session's
            // creation yet, or its expiry: ask the leader, as ZooKeeper's learners do.
            let c = self.conns.get_mut(&conn).expect("conn");
            c.session_id = id;
            c.timeout_ms = timeout;
            if let Some(old) = self.revalidating.insert(id, conn) {
                if old != conn {
                    self.close_conn(old);
                }
            }
            self.actions.push(super::Action::Revalidate { session_id: id, timeout });
            return;
        }
        let known = self.sessions.get(id).is_some_and(|s| !s.closing);
        if !known || !good_password {
            tracing::info!("Invalid session 0x{:x} for client, probably expired", id);
            self.send_connect_response(conn, 0, 0, &[0u8; 16]);
            self.close_conn(conn);
            return;
        }
        self.session_reopened(conn, id, timeout);
    }

    /// The session `conn` reconnects with is alive: it is this connection's now.
    fn session_reopened(&mut self, conn: ConnId, id: i64, timeout: i32) {
        if self.sessions.get(id).is_none() {
            // Known to the leader, not yet applied here: tracked from now on.
            self.sessions.add(id, timeout, self.mono_ms);
        }
        self.sessions.set_timeout(id, timeout);
        self.sessions.touch(id, self.mono_ms);
        if self.role == super::Role::Learner {
            self.touched.insert(id, timeout);
        }
        if let Some(old) = self.session_conn.insert(id, conn) {
            if old != conn {
                self.close_conn(old);
            }
        }
        let c = self.conns.get_mut(&conn).expect("conn");
        c.session_id = id;
        c.timeout_ms = timeout;
        c.state = ConnState::Open;
        c.stats.established_ms = self.wall_ms;
        let deferred = std::mem::take(&mut c.deferred);
        let pw = session_password(id);
        self.send_connect_response(conn, timeout, id, &pw);
        for (xid, req, body, received_us) in deferred {
            self.run_request(conn, xid, req, body, received_us);
        }
    }

    /// The leader's answer to a learner's REVALIDATE: the waiting connection is opened with
    /// its session, or told the session expired.
    pub fn revalidated(&mut self, session_id: i64, valid: bool) {
        let Some(conn) = self.revalidating.remove(&session_id) else { return };
        let Some(c) = self.conns.get(&conn) else { return };
        if !valid {
            tracing::info!("Invalid session 0x{:x} for client, probably expired", session_id);
            self.send_connect_response(conn, 0, 0, &[0u8; 16]);
            self.close_conn(conn);
            return;
        }
        let timeout = c.timeout_ms;
        self.session_reopened(conn, session_id, timeout);
    }

    /// The createSession txn is durable and applied: answer the handshake.
    pub(super) fn session_created(&mut self, conn: ConnId, txn: &Txn) {
        let id = txn.header.client_id;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if matches!(c.queue.front(), Some(Queued::Handshake)) {
            c.queue.pop_front();
        }
        c.state = ConnState::Open;
        let timeout = c.timeout_ms;
        let deferred = std::mem::take(&mut c.deferred);
        let pw = session_password(id);
        self.send_connect_response(conn, timeout, id, &pw);
        self.drain_queue(conn);
        for (xid, req, body, received_us) in deferred {
            self.run_request(conn, xid, req, body, received_us);
        }
    }

    /// createSession on an established connection: logged as a createSession txn for the
    /// connection's own session (ZooKeeper records the requested timeout in its session
    /// table), answered by `session_reinitialised` once applied.
    pub(super) fn recreate_session(&mut self, conn: ConnId, xid: i32, timeout: i32, received_us: u64) {
        let id = self.conns[&conn].session_id;
        let op = crate::proto::codes::op::CREATE_SESSION;
        if self.role == super::Role::Learner {
            self.conns.get_mut(&conn).expect("conn").queue.push_back(Queued::Write {
                cxid: xid,
                op,
                ops: 1,
                received_us,
            });
            self.forward(id, xid, op, Bytes::copy_from_slice(&timeout.to_be_bytes()), conn);
            return;
        }
        let zxid = self.take_zxid();
        let mut txn = Prep::prepare_create_session(id, timeout, zxid, self.wall_ms);
        txn.header.cxid = xid;
        self.conns.get_mut(&conn).expect("conn").queue.push_back(Queued::Write { cxid: xid, op, ops: 1, received_us });
        self.log(txn);
    }

    /// Sends an open connection's ConnectResponse again.
    pub(super) fn session_reinitialised(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else { return };
        let (id, timeout) = (c.session_id, c.timeout_ms);
        let pw = session_password(id);
        self.send_connect_response(conn, timeout, id, &pw);
    }

    pub(super) fn close_session_request(&mut self, conn: ConnId, xid: i32, received_us: u64) {
        let c = self.conns.get_mut(&conn).expect("conn");
        let id = c.session_id;
        c.state = ConnState::Closing;
        let op = crate::proto::codes::op::CLOSE_SESSION;
        if self.role == super::Role::Learner {
            c.queue.push_back(Queued::Write { cxid: xid, op, ops: 1, received_us });
            self.forward(id, xid, op, Bytes::new(), conn);
            return;
        }
        self.sessions.set_closing(id);
        let zxid = self.take_zxid();
        let mut txn = self.prep.prepare_close_session(&self.tree, id, zxid, self.wall_ms);
        // As ZooKeeper's header does: the client's cxid, so the commit finds this request.
        txn.header.cxid = xid;
        self.conns.get_mut(&conn).expect("conn").queue.push_back(Queued::Write { cxid: xid, op, ops: 1, received_us });
        self.log(txn);
    }

    /// A closeSession txn (or a server delete) was applied: forget the session and close the
    /// connection that still carries it.
    pub(super) fn after_close_apply(&mut self, txn: &Txn) {
        if let TxnBody::CloseSession(_) = txn.body {
            let id = txn.header.client_id;
            self.sessions.remove(id);
            if let Some(conn) = self.session_conn.remove(&id) {
                self.close_conn(conn);
            }
        }
    }

    /// ZooKeeper answers an auth packet with the xid of its header (clients conventionally
    /// send -4, but some use ordinary xids and match replies by xid).
    pub(super) fn auth(&mut self, conn: ConnId, xid_: i32, a: AuthPacket) {
        if a.scheme == "linearizable" {
            // Ours, not an identity: `addauth linearizable on|off` switches this connection's
            // reads to linearizable (a read-index round before each) or back.
            let on = !matches!(a.auth.as_deref(), Some(b"off") | Some(b"false") | Some(b"0"));
            self.conns.get_mut(&conn).expect("conn").linearizable = on;
            self.reply(conn, xid_, 0, Ok(Response::Empty));
            return;
        }
        let c = self.conns.get(&conn).expect("conn");
        match acl::authenticate(&a.scheme, a.auth.as_deref(), c.remote_ip, self.cfg.super_digest.as_deref()) {
            Ok(ids) => {
                let c = self.conns.get_mut(&conn).expect("conn");
                for id in ids {
                    if !c.auth.contains(&id) {
                        c.auth.push(id);
                    }
                }
                self.reply(conn, xid_, 0, Ok(Response::Empty));
            }
            Err(e) => {
                self.stats.auth_failed += 1;
                tracing::warn!("Authentication failed for scheme: {}", a.scheme);
                self.reply(conn, xid_, 0, Err(e));
                self.close_conn(conn);
            }
        }
    }
}
