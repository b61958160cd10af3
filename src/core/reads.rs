//! The core's read side: every request that does not change the tree (reads, watch
//! registration and removal, setWatches, pings, whoAmI…), answered from the applied tree in
//! the connection's order.
//! Must never: change the tree or produce a txn.

use super::conn::ConnId;
use super::{op_name, Core};
use crate::acl::check_acl;
use crate::proto::codes::{add_watch_mode, event, op, perms, state, xid, ErrorCode};
use crate::proto::path;
use crate::proto::records::*;
use crate::proto::request::{self, MultiOp, MultiResult, Request, Response};
use crate::tree::Znode;
use crate::watch::WatchKind;

impl Core {
    pub(super) fn read(&mut self, conn: ConnId, xid_: i32, req: Request, received_us: u64) {
        let zxid = self.tree.last_zxid();
        let op_code = read_op_code(&req);
        if let Request::Ping = req {
            self.record_latency(conn, xid_, "PING", received_us, false);
            self.reply(conn, xid::PING, zxid, Ok(Response::Empty));
            return;
        }
        if let Request::SetWatches(sw) = req {
            self.set_watches(conn, sw);
            self.record_latency(conn, xid_, "SETW", received_us, false);
            // The request's own xid, as ZooKeeper answers: the Java client sends setWatches
            // with an ordinary xid (it renumbers the -8 it queued) and drops the connection on
            // any other; kazoo sends -8 and gets -8.
            self.reply(conn, xid_, zxid, Ok(Response::Empty));
            return;
        }
        let unknown = matches!(req, Request::Unknown(_));
        let result = self.read_result(conn, req);
        self.record_latency(conn, xid_, op_name(op_code), received_us, false);
        // ZooKeeper answers an unknown op before it has a zxid: -1.
        self.reply(conn, xid_, if unknown { -1 } else { zxid }, result);
        if unknown {
            // ZooKeeper's UnimplementedRequestProcessor answers, then closes the connection.
            self.close_conn(conn);
        }
    }

    fn node_for_read(&self, conn: ConnId, p: &str, perm: i32) -> Result<&Znode, ErrorCode> {
        path::validate(p, false).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        if perm != 0 && !self.cfg.skip_acl {
            let auth = &self.conns[&conn].auth;
            if !check_acl(&self.tree.acl_of(node), perm, auth) {
                return Err(ErrorCode::NoAuth);
            }
        }
        Ok(node)
    }

    fn get_data(&mut self, conn: ConnId, p: &str, watch: bool) -> Result<(Option<bytes::Bytes>, Stat), ErrorCode> {
        let node = self.node_for_read(conn, p, perms::READ)?;
        let r = (node.data().map(bytes::Bytes::copy_from_slice), node.stat());
        if watch {
            self.watches.add(p, conn, WatchKind::Data);
        }
        Ok(r)
    }

    fn get_children(&mut self, conn: ConnId, p: &str, watch: bool) -> Result<(Vec<String>, Stat), ErrorCode> {
        let node = self.node_for_read(conn, p, perms::READ)?;
        let r = (self.tree.children_of(node), node.stat());
        if watch {
            self.watches.add(p, conn, WatchKind::Child);
        }
        Ok(r)
    }

    fn read_result(&mut self, conn: ConnId, req: Request) -> Result<Response, ErrorCode> {
        match req {
            Request::Exists(r) => {
                path::validate(&r.path, false).map_err(|_| ErrorCode::BadArguments)?;
                let stat = self.tree.get(&r.path).map(|n| n.stat());
                if r.watch {
                    let kind = if stat.is_some() { WatchKind::Data } else { WatchKind::Exist };
                    self.watches.add(&r.path, conn, kind);
                }
                stat.map(Response::Stat).ok_or(ErrorCode::NoNode)
            }
            Request::GetData(r) => {
                self.get_data(conn, &r.path, r.watch).map(|(data, stat)| Response::GetData { data, stat })
            }
            Request::GetChildren(r) => self.get_children(conn, &r.path, r.watch).map(|(c, _)| Response::Children(c)),
            Request::GetChildren2(r) => {
                self.get_children(conn, &r.path, r.watch).map(|(children, stat)| Response::Children2 { children, stat })
            }
            Request::GetAcl(r) => {
                let node = self.node_for_read(conn, &r.path, perms::READ | perms::ADMIN)?;
                let acl = self.tree.acl_of(node);
                let stat = node.stat();
                let auth = &self.conns[&conn].auth;
                let admin = self.cfg.skip_acl || check_acl(&acl, perms::ADMIN, auth);
                let acl = acl
                    .iter()
                    .map(|a| {
                        if !admin && a.id.scheme == "digest" {
                            // Without ADMIN, digest hashes are hidden (ZooKeeper 3.6+).
                            let user = a.id.id.split(':').next().unwrap_or("");
                            Acl::new(a.perms, "digest", &format!("{user}:x"))
                        } else {
                            a.clone()
                        }
                    })
                    .collect();
                Ok(Response::Acl { acl, stat })
            }
            Request::GetAllChildrenNumber(r) => {
                self.node_for_read(conn, &r.path, perms::READ)?;
                Ok(Response::AllChildrenNumber(self.tree.all_children_number(&r.path).unwrap_or(0)))
            }
            Request::GetEphemerals(r) => {
                let session = self.conns[&conn].session_id;
                let prefix = r.path.trim();
                let all = self.tree.ephemerals_of(session);
                let list = if prefix.is_empty() || prefix == "/" {
                    all
                } else {
                    all.into_iter().filter(|p| p.starts_with(&r.path)).collect()
                };
                Ok(Response::Ephemerals(list))
            }
            Request::MultiRead(ops) => {
                let mut results = Vec::with_capacity(ops.len());
                for m in ops {
                    let r = match m {
                        MultiOp::GetData(r) => match self.get_data(conn, &r.path, false) {
                            Ok((data, stat)) => MultiResult::GetData { data, stat },
                            Err(e) => MultiResult::Error(e.code()),
                        },
                        MultiOp::GetChildren(r) => match self.get_children(conn, &r.path, false) {
                            Ok((c, _)) => MultiResult::GetChildren(c),
                            Err(e) => MultiResult::Error(e.code()),
                        },
                        _ => MultiResult::Error(ErrorCode::BadArguments.code()),
                    };
                    results.push(r);
                }
                Ok(Response::Multi(results))
            }
            Request::AddWatch(r) => {
                path::validate(&r.path, false).map_err(|_| ErrorCode::BadArguments)?;
                let kind = match r.mode {
                    add_watch_mode::PERSISTENT => WatchKind::Persistent,
                    add_watch_mode::PERSISTENT_RECURSIVE => WatchKind::PersistentRecursive,
                    _ => return Err(ErrorCode::BadArguments),
                };
                self.watches.add(&r.path, conn, kind);
                Ok(Response::ErrorBody(0))
            }
            Request::CheckWatches(r) => self.watches.check(&r.path, conn, r.type_).map(|_| Response::Empty),
            Request::RemoveWatches(r) => self.watches.remove(&r.path, conn, r.type_).map(|_| Response::Empty),
            Request::WhoAmI => {
                // As ZooKeeper answers: user names (a digest id's part before ':'), the
                // authenticated ids first and the connection's ip id last.
                let auth = &self.conns[&conn].auth;
                let info = |id: &Id| ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    user: if id.scheme == "digest" {
                        id.id.split(':').next().unwrap_or("").to_owned()
                    } else {
                        id.id.clone()
                    },
                };
                let (ip, other): (Vec<&Id>, Vec<&Id>) = auth.iter().partition(|id| id.scheme == "ip");
                Ok(Response::WhoAmI(other.into_iter().chain(ip).map(info).collect()))
            }
            Request::Reconfig(_) => Err(ErrorCode::ReconfigDisabled),
            Request::Sasl(_) => Err(ErrorCode::AuthFailed),
            Request::Unknown(code) => {
                tracing::warn!("Received packet at server of unknown type {code} (connection 0x{conn:x})");
                Err(ErrorCode::Unimplemented)
            }
            Request::Malformed { op: code } => {
                tracing::warn!("could not decode a request of type {code} (connection 0x{conn:x})");
                Err(ErrorCode::MarshallingError)
            }
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    /// setWatches / setWatches2: re-registers a reconnecting client's watches, firing at once
    /// those whose change the client missed since `relative_zxid` (DataTree.setWatches).
    fn set_watches(&mut self, conn: ConnId, sw: SetWatches2) {
        let rel = sw.relative_zxid;
        let mut events = Vec::new();
        for p in &sw.data_watches {
            match self.tree.get(p) {
                None => events.push((event::NODE_DELETED, p)),
                Some(n) if n.mzxid > rel => events.push((event::NODE_DATA_CHANGED, p)),
                Some(_) => self.watches.add(p, conn, WatchKind::Data),
            }
        }
        for p in &sw.exist_watches {
            match self.tree.get(p) {
                Some(_) => events.push((event::NODE_CREATED, p)),
                None => self.watches.add(p, conn, WatchKind::Exist),
            }
        }
        for p in &sw.child_watches {
            match self.tree.get(p) {
                None => events.push((event::NODE_DELETED, p)),
                Some(n) if n.pzxid > rel => events.push((event::NODE_CHILDREN_CHANGED, p)),
                Some(_) => self.watches.add(p, conn, WatchKind::Child),
            }
        }
        for p in &sw.persistent_watches {
            self.watches.add(p, conn, WatchKind::Persistent);
        }
        for p in &sw.persistent_recursive_watches {
            self.watches.add(p, conn, WatchKind::PersistentRecursive);
        }
        for (ty, p) in events {
            let ev = WatcherEvent { type_: ty, state: state::SYNC_CONNECTED, path: p.clone() };
            request::write_notification(self.out(conn), -1, &ev);
            self.stats.packets_sent += 1;
        }
    }
}

fn read_op_code(req: &Request) -> i32 {
    match req {
        Request::Exists(_) => op::EXISTS,
        Request::GetData(_) => op::GET_DATA,
        Request::GetChildren(_) => op::GET_CHILDREN,
        Request::GetChildren2(_) => op::GET_CHILDREN2,
        Request::GetAcl(_) => op::GET_ACL,
        Request::GetAllChildrenNumber(_) => op::GET_ALL_CHILDREN_NUMBER,
        Request::GetEphemerals(_) => op::GET_EPHEMERALS,
        Request::MultiRead(_) => op::MULTI_READ,
        Request::AddWatch(_) => op::ADD_WATCH,
        Request::CheckWatches(_) => op::CHECK_WATCHES,
        Request::RemoveWatches(_) => op::REMOVE_WATCHES,
        Request::WhoAmI => op::WHO_AM_I,
        Request::Malformed { op } => *op,
        _ => -1,
    }
}
