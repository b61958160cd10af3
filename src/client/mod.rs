//! A small asynchronous ZooKeeper client built on `proto`: one connection with pipelined
//! requests (replies are matched in order), pings, watch notifications delivered on a
//! channel, and typed calls for every op. Used by the shell and the load generator, and
//! usable against any ZooKeeper-compatible server.
//! Must never: hide a server error; every call returns the server's code as `ClientError`.

mod conn;

use crate::proto::codes::{op, ErrorCode};
use crate::proto::jute::{Jute, Reader};
use crate::proto::records::*;
use crate::proto::request::{MultiOp, MultiResult};
use bytes::{Bytes, BytesMut};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

pub use conn::ConnectOptions;

/// Why a call failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    #[error("{0}")]
    Server(ErrorCode),
    #[error("server answered with unknown error code {0}")]
    UnknownCode(i32),
    #[error("connection lost: {0}")]
    ConnectionLoss(String),
    #[error("session expired")]
    SessionExpired,
    #[error("malformed reply: {0}")]
    Malformed(String),
}

impl ClientError {
    fn from_code(c: i32) -> ClientError {
        match ErrorCode::from_code(c) {
            Some(e) => ClientError::Server(e),
            None => ClientError::UnknownCode(c),
        }
    }
    /// The ZooKeeper error code, when the server gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server(e) => Some(*e),
            ClientError::SessionExpired => Some(ErrorCode::SessionExpired),
            ClientError::ConnectionLoss(_) => Some(ErrorCode::ConnectionLoss),
            _ => None,
        }
    }
}

/// A watch notification or a connection state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: Option<String>,
    pub zxid: i64,
}

pub(crate) struct Call {
    pub xid_kind: XidKind,
    pub op: i32,
    pub body: BytesMut,
    pub reply: oneshot::Sender<Result<(ReplyHeader, Bytes), ClientError>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XidKind {
    Normal,
    Auth,
    SetWatches,
}

/// A connected session.
pub struct Client {
    calls: mpsc::UnboundedSender<Call>,
    pub session_id: i64,
    pub password: Bytes,
    pub timeout_ms: i32,
    pub server: String,
    /// The server granted a read-only session.
    pub read_only: bool,
    chroot: Option<String>,
    last_zxid: Arc<AtomicI64>,
    auth_failed: Arc<AtomicBool>,
}

fn acl_open() -> Vec<Acl> {
    vec![Acl::new(crate::proto::codes::perms::ALL, "world", "anyone")]
}

impl Client {
    /// Connects to the first reachable server of `hosts` ("h:p,h:p[/chroot]").
    pub async fn connect(
        hosts: &str,
        opts: ConnectOptions,
    ) -> Result<(Client, mpsc::UnboundedReceiver<WatchedEvent>), ClientError> {
        let (list, chroot) = match hosts.find('/') {
            Some(i) => (&hosts[..i], Some(hosts[i..].trim_end_matches('/').to_owned()).filter(|c| !c.is_empty())),
            None => (hosts, None),
        };
        let mut last = ClientError::ConnectionLoss("no servers given".into());
        for server in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let last_zxid = Arc::new(AtomicI64::new(opts.last_zxid_seen));
            let auth_failed = Arc::new(AtomicBool::new(false));
            let shared = conn::Shared { last_zxid: last_zxid.clone(), auth_failed: auth_failed.clone() };
            match conn::open(server, &opts, chroot.clone(), shared).await {
                Ok((calls, events, resp)) => {
                    if resp.time_out <= 0 {
                        return Err(ClientError::SessionExpired);
                    }
                    return Ok((
                        Client {
                            calls,
                            session_id: resp.session_id,
                            password: resp.passwd,
                            timeout_ms: resp.time_out,
                            server: server.to_owned(),
                            read_only: resp.read_only,
                            chroot,
                            last_zxid,
                            auth_failed,
                        },
                        events,
                    ));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn path(&self, p: &str) -> String {
        match &self.chroot {
            Some(c) if p == "/" => c.clone(),
            Some(c) => format!("{c}{p}"),
            None => p.to_owned(),
        }
    }

    fn unchroot(&self, p: String) -> String {
        conn::strip_chroot(self.chroot.as_deref(), p)
    }

    /// Whether the connection is gone (every call would fail with connection loss).
    pub fn is_closed(&self) -> bool {
        self.calls.is_closed()
    }

    /// The server refused an auth packet; the connection is over and must not be retried.
    pub fn auth_failed(&self) -> bool {
        self.auth_failed.load(Ordering::Relaxed)
    }

    /// The highest zxid this connection has seen in a reply or notification.
    pub fn last_zxid_seen(&self) -> i64 {
        self.last_zxid.load(Ordering::Relaxed)
    }

    /// setWatches2: re-registers watches on a new connection of the same session; the server
    /// fires at once those whose node changed after `relative_zxid`. Paths are client paths.
    pub async fn set_watches(&self, mut w: SetWatches2) -> Result<(), ClientError> {
        for list in [
            &mut w.data_watches,
            &mut w.exist_watches,
            &mut w.child_watches,
            &mut w.persistent_watches,
            &mut w.persistent_recursive_watches,
        ] {
            for p in list.iter_mut() {
                *p = self.path(p);
            }
        }
        let mut body = BytesMut::new();
        w.write(&mut body);
        self.send(XidKind::SetWatches, op::SET_WATCHES2, body).await.map(|_| ())
    }

    /// Resolves once the connection is gone (after its Disconnected event was sent).
    pub async fn closed(&self) {
        self.calls.closed().await
    }

    async fn send(&self, xid_kind: XidKind, op_code: i32, body: BytesMut) -> Result<(ReplyHeader, Bytes), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.calls
            .send(Call { xid_kind, op: op_code, body, reply: tx })
            .map_err(|_| ClientError::ConnectionLoss("connection closed".into()))?;
        let (h, b) = rx.await.map_err(|_| ClientError::ConnectionLoss("connection closed".into()))??;
        if h.err != 0 {
            return Err(ClientError::from_code(h.err));
        }
        Ok((h, b))
    }

    /// Sends one request exactly as given (no chroot applied to its paths) and decodes the
    /// reply as `T`.
    pub async fn call<T: Jute>(&self, op_code: i32, req: &impl Jute) -> Result<T, ClientError> {
        let mut body = BytesMut::new();
        req.write(&mut body);
        let (_, b) = self.send(XidKind::Normal, op_code, body).await?;
        T::read(&mut Reader::new(&b)).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// create / create2 / createContainer / createTTL, chosen from `flags` and `ttl`.
    pub async fn create(
        &self,
        path: &str,
        data: Option<&[u8]>,
        acl: Option<Vec<Acl>>,
        flags: i32,
        ttl: i64,
    ) -> Result<(String, Stat), ClientError> {
        let acl = acl.unwrap_or_else(acl_open);
        let data = data.map(Bytes::copy_from_slice);
        let p = self.path(path);
        let r: Create2Response = if flags == 5 || flags == 6 {
            self.call(op::CREATE_TTL, &CreateTtlRequest { path: p, data, acl, flags, ttl }).await?
        } else {
            let code = if flags == 4 { op::CREATE_CONTAINER } else { op::CREATE2 };
            self.call(code, &CreateRequest { path: p, data, acl, flags }).await?
        };
        Ok((self.unchroot(r.path), r.stat))
    }

    pub async fn delete(&self, path: &str, version: i32) -> Result<(), ClientError> {
        let mut body = BytesMut::new();
        PathVersionRequest { path: self.path(path), version }.write(&mut body);
        self.send(XidKind::Normal, op::DELETE, body).await.map(|_| ())
    }

    pub async fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>, ClientError> {
        match self.call::<Stat>(op::EXISTS, &PathWatchRequest { path: self.path(path), watch }).await {
            Ok(s) => Ok(Some(s)),
            Err(ClientError::Server(ErrorCode::NoNode)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn get_data(&self, path: &str, watch: bool) -> Result<(Option<Bytes>, Stat), ClientError> {
        let r: GetDataResponse = self.call(op::GET_DATA, &PathWatchRequest { path: self.path(path), watch }).await?;
        Ok((r.data, r.stat))
    }

    pub async fn set_data(&self, path: &str, data: Option<&[u8]>, version: i32) -> Result<Stat, ClientError> {
        let req = SetDataRequest { path: self.path(path), data: data.map(Bytes::copy_from_slice), version };
        self.call(op::SET_DATA, &req).await
    }

    pub async fn get_children(&self, path: &str, watch: bool) -> Result<(Vec<String>, Stat), ClientError> {
        let r: GetChildren2Response =
            self.call(op::GET_CHILDREN2, &PathWatchRequest { path: self.path(path), watch }).await?;
        Ok((r.children, r.stat))
    }

    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat), ClientError> {
        let r: GetAclResponse = self.call(op::GET_ACL, &PathRequest { path: self.path(path) }).await?;
        Ok((r.acl, r.stat))
    }

    pub async fn set_acl(&self, path: &str, acl: Vec<Acl>, version: i32) -> Result<Stat, ClientError> {
        self.call(op::SET_ACL, &SetAclRequest { path: self.path(path), acl, version }).await
    }

    pub async fn sync(&self, path: &str) -> Result<String, ClientError> {
        let r: PathResponse = self.call(op::SYNC, &PathRequest { path: self.path(path) }).await?;
        Ok(self.unchroot(r.path))
    }

    /// addAuth; `auth` None sends a null credential (what the Java client sends for none).
    /// A failed auth ends the connection: the server closes it and `auth_failed()` is true.
    pub async fn add_auth(&self, scheme: &str, auth: Option<&[u8]>) -> Result<(), ClientError> {
        let mut body = BytesMut::new();
        AuthPacket { type_: 0, scheme: scheme.to_owned(), auth: auth.map(Bytes::copy_from_slice) }.write(&mut body);
        self.send(XidKind::Auth, op::AUTH, body).await.map(|_| ())
    }

    pub async fn add_watch(&self, path: &str, mode: i32) -> Result<(), ClientError> {
        let mut body = BytesMut::new();
        AddWatchRequest { path: self.path(path), mode }.write(&mut body);
        self.send(XidKind::Normal, op::ADD_WATCH, body).await.map(|_| ())
    }

    pub async fn remove_watches(&self, path: &str, watcher_type: i32) -> Result<(), ClientError> {
        let mut body = BytesMut::new();
        PathTypeRequest { path: self.path(path), type_: watcher_type }.write(&mut body);
        self.send(XidKind::Normal, op::REMOVE_WATCHES, body).await.map(|_| ())
    }

    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>, ClientError> {
        let r: GetEphemeralsResponse = self.call(op::GET_EPHEMERALS, &PathRequest { path: self.path(prefix) }).await?;
        Ok(r.ephemerals.into_iter().map(|p| self.unchroot(p)).collect())
    }

    pub async fn get_all_children_number(&self, path: &str) -> Result<i32, ClientError> {
        let r: GetAllChildrenNumberResponse =
            self.call(op::GET_ALL_CHILDREN_NUMBER, &PathRequest { path: self.path(path) }).await?;
        Ok(r.total_number)
    }

    pub async fn who_am_i(&self) -> Result<Vec<ClientInfo>, ClientError> {
        let (_, b) = self.send(XidKind::Normal, op::WHO_AM_I, BytesMut::new()).await?;
        let r = WhoAmIResponse::read(&mut Reader::new(&b)).map_err(|e| ClientError::Malformed(e.to_string()))?;
        Ok(r.client_info)
    }

    pub async fn get_config(&self, watch: bool) -> Result<(Option<Bytes>, Stat), ClientError> {
        let r: GetDataResponse =
            self.call(op::GET_DATA, &PathWatchRequest { path: "/zookeeper/config".into(), watch }).await?;
        Ok((r.data, r.stat))
    }

    /// multi: Ok(results) when every op succeeded; Err with the per-op results otherwise.
    pub async fn multi(&self, ops: &[MultiOp]) -> Result<Vec<MultiResult>, (ClientError, Vec<MultiResult>)> {
        self.multi_op(op::MULTI, ops).await
    }

    /// multiRead: per-op results (errors inline).
    pub async fn multi_read(&self, ops: &[MultiOp]) -> Result<Vec<MultiResult>, ClientError> {
        self.multi_op(op::MULTI_READ, ops).await.map_err(|(e, _)| e)
    }

    async fn multi_op(&self, code: i32, ops: &[MultiOp]) -> Result<Vec<MultiResult>, (ClientError, Vec<MultiResult>)> {
        let mut body = BytesMut::new();
        for m in ops {
            match &self.chroot {
                Some(_) => self.chrooted(m).write(&mut body),
                None => m.write(&mut body),
            }
        }
        MultiHeader { type_: -1, done: true, err: -1 }.write(&mut body);
        let (_, b) = self.send(XidKind::Normal, code, body).await.map_err(|e| (e, Vec::new()))?;
        let mut results =
            MultiResult::decode_all(&b).map_err(|e| (ClientError::Malformed(e.to_string()), Vec::new()))?;
        for r in &mut results {
            if let MultiResult::Create { path, .. } = r {
                *path = self.unchroot(std::mem::take(path));
            }
        }
        if code == op::MULTI {
            if let Some(MultiResult::Error(c)) = results.iter().find(|r| matches!(r, MultiResult::Error(c) if *c != 0))
            {
                return Err((ClientError::from_code(*c), results));
            }
        }
        Ok(results)
    }

    /// `m` with its path under the chroot.
    fn chrooted(&self, m: &MultiOp) -> MultiOp {
        let mut m = m.clone();
        match &mut m {
            MultiOp::Create { req, .. } => req.path = self.path(&req.path),
            MultiOp::Delete(r) | MultiOp::Check(r) => r.path = self.path(&r.path),
            MultiOp::SetData(r) => r.path = self.path(&r.path),
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => r.path = self.path(&r.path),
        }
        m
    }

    /// closeSession, then the connection closes.
    pub async fn close(&self) -> Result<(), ClientError> {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            self.send(XidKind::Normal, op::CLOSE_SESSION, BytesMut::new()),
        )
        .await;
        match r {
            Ok(Ok(_)) | Ok(Err(ClientError::ConnectionLoss(_))) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClientError::ConnectionLoss("close timed out".into())),
        }
    }
}
