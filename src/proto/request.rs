//! Client requests and server responses as typed values, with the op-code dispatch of decoding
//! and the encoding of replies and notifications into frames.
//! Must never: validate semantics (paths, versions, ACLs): that is `prep`'s job.

use super::codes::{op, xid, CreateMode, ErrorCode};
use super::jute::{DecodeError, Jute, Reader};
use super::records::*;
use bytes::{Bytes, BytesMut};

/// One operation inside a multi (write multi) or multiRead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// op is CREATE, CREATE2, CREATE_CONTAINER or CREATE_TTL (ttl 0 unless CREATE_TTL).
    Create {
        op: i32,
        req: CreateTtlRequest,
    },
    Delete(PathVersionRequest),
    SetData(SetDataRequest),
    Check(PathVersionRequest),
    GetChildren(PathRequest),
    GetData(PathRequest),
}

/// A decoded client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create, create2, createContainer, createTTL: `op` tells which; ttl is 0 when absent.
    Create {
        op: i32,
        req: CreateTtlRequest,
    },
    Delete(PathVersionRequest),
    Exists(PathWatchRequest),
    GetData(PathWatchRequest),
    SetData(SetDataRequest),
    GetAcl(PathRequest),
    SetAcl(SetAclRequest),
    GetChildren(PathWatchRequest),
    GetChildren2(PathWatchRequest),
    Sync(PathRequest),
    Ping,
    Check(PathVersionRequest),
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    Reconfig(ReconfigRequest),
    CheckWatches(PathTypeRequest),
    RemoveWatches(PathTypeRequest),
    Auth(AuthPacket),
    SetWatches(SetWatches2),
    Sasl(SaslRequest),
    GetEphemerals(PathRequest),
    GetAllChildrenNumber(PathRequest),
    AddWatch(AddWatchRequest),
    WhoAmI,
    CloseSession,
    /// createSession sent on an established connection, with the timeout ZooKeeper's prep
    /// reads from it: ZooKeeper logs a createSession txn for the connection's own session and
    /// answers with the handshake's ConnectResponse again.
    CreateSession {
        timeout: i32,
    },
    /// An op code ZooKeeper does not accept from a client: answered with UNIMPLEMENTED, then
    /// the connection is closed.
    Unknown(i32),
    /// A known op whose body could not be decoded: answered with MARSHALLINGERROR in its turn
    /// (a write one as an error txn, as ZooKeeper's prep does), and the connection stays.
    Malformed {
        op: i32,
    },
}

fn create_from(op_code: i32, r: &mut Reader<'_>) -> Result<CreateTtlRequest, DecodeError> {
    if op_code == op::CREATE_TTL {
        CreateTtlRequest::read(r)
    } else {
        let c = CreateRequest::read(r)?;
        Ok(CreateTtlRequest { path: c.path, data: c.data, acl: c.acl, flags: c.flags, ttl: 0 })
    }
}

/// The op a create in a multi stands for (prep applies it). ZooKeeper 3.8 rebuilds each one
/// from its flags (MultiOperationRecord reads it into `Op.create`), dropping the op code the
/// client sent:
/// a create2 becomes a create, any create with the container flag a createContainer, and a
/// createTTL without a TTL mode a create. Its txn and its result take that type, and a
/// ZooKeeper 3.8 member cannot apply a create2 inside a multi txn at all.
pub fn multi_create_op(sent: i32, flags: i32) -> i32 {
    match CreateMode::from_flags(flags) {
        Some(m) if m.is_container() => op::CREATE_CONTAINER,
        // A TTL mode stays what was sent (a create with TTL flags is refused later).
        Some(m) if m.is_ttl() => sent,
        _ => op::CREATE,
    }
}

fn decode_multi(r: &mut Reader<'_>, read_only: bool) -> Result<Vec<MultiOp>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(ops);
        }
        // Every op record in a multi starts with its path.
        r.refuse_null_string()?;
        let m = match (h.type_, read_only) {
            (op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL, false) => {
                MultiOp::Create { op: h.type_, req: create_from(h.type_, r)? }
            }
            (op::DELETE, false) => MultiOp::Delete(Jute::read(r)?),
            (op::SET_DATA, false) => MultiOp::SetData(Jute::read(r)?),
            (op::CHECK, false) => MultiOp::Check(Jute::read(r)?),
            // multiRead ops carry GetChildrenRequest / GetDataRequest: a path and a watch
            // flag, which ZooKeeper reads and ignores (MultiOperationRecord).
            (op::GET_CHILDREN, true) => MultiOp::GetChildren(PathRequest { path: PathWatchRequest::read(r)?.path }),
            (op::GET_DATA, true) => MultiOp::GetData(PathRequest { path: PathWatchRequest::read(r)?.path }),
            (t, _) => return Err(DecodeError::BadValue { what: "multi op type", value: t as i64 }),
        };
        ops.push(m);
    }
}

impl Request {
    /// Decodes the body of a request whose header carried `op_code`.
    pub fn decode(op_code: i32, body: &[u8]) -> Result<Request, DecodeError> {
        let mut r = Reader::new(body);
        let r = &mut r;
        if starts_with_path(op_code) {
            // ZooKeeper fails on a null path (MARSHALLINGERROR), where other strings may be null.
            r.refuse_null_string()?;
        }
        Ok(match op_code {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                Request::Create { op: op_code, req: create_from(op_code, r)? }
            }
            op::DELETE => Request::Delete(Jute::read(r)?),
            op::EXISTS => Request::Exists(Jute::read(r)?),
            op::GET_DATA => Request::GetData(Jute::read(r)?),
            op::SET_DATA => Request::SetData(Jute::read(r)?),
            op::GET_ACL => Request::GetAcl(Jute::read(r)?),
            op::SET_ACL => Request::SetAcl(Jute::read(r)?),
            op::GET_CHILDREN => Request::GetChildren(Jute::read(r)?),
            op::GET_CHILDREN2 => Request::GetChildren2(Jute::read(r)?),
            op::SYNC => Request::Sync(Jute::read(r)?),
            op::PING => Request::Ping,
            op::CHECK => Request::Check(Jute::read(r)?),
            op::MULTI => Request::Multi(decode_multi(r, false)?),
            op::MULTI_READ => Request::MultiRead(decode_multi(r, true)?),
            op::RECONFIG => Request::Reconfig(Jute::read(r)?),
            op::CHECK_WATCHES => Request::CheckWatches(Jute::read(r)?),
            op::REMOVE_WATCHES => Request::RemoveWatches(Jute::read(r)?),
            op::AUTH => Request::Auth(Jute::read(r)?),
            op::SET_WATCHES => {
                let s = SetWatches::read(r)?;
                Request::SetWatches(SetWatches2 {
                    relative_zxid: s.relative_zxid,
                    data_watches: s.data_watches,
                    exist_watches: s.exist_watches,
                    child_watches: s.child_watches,
                    persistent_watches: Vec::new(),
                    persistent_recursive_watches: Vec::new(),
                })
            }
            op::SET_WATCHES2 => Request::SetWatches(Jute::read(r)?),
            op::SASL => Request::Sasl(Jute::read(r)?),
            op::GET_EPHEMERALS => Request::GetEphemerals(Jute::read(r)?),
            op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber(Jute::read(r)?),
            op::ADD_WATCH => Request::AddWatch(Jute::read(r)?),
            op::WHO_AM_I => Request::WhoAmI,
            op::CLOSE_SESSION => Request::CloseSession,
            op::CREATE_SESSION => Request::CreateSession { timeout: i32::read(r)? },
            other => Request::Unknown(other),
        })
    }

    /// Decodes a request body as ZooKeeper treats one it cannot read. Auth and sasl packets
    /// are read as they arrive, and a bad one closes the connection (`Err`); every other known
    /// op is read in the pipeline, where a bad body is answered with MARSHALLINGERROR: that
    /// comes back as `Request::Malformed`, and the connection stays.
    pub fn decode_from_client(op_code: i32, body: &[u8]) -> Result<Request, DecodeError> {
        match Request::decode(op_code, body) {
            Err(e) if matches!(op_code, op::AUTH | op::SASL) => Err(e),
            Err(_) => Ok(Request::Malformed { op: op_code }),
            ok => ok,
        }
    }

    /// True for requests that change the tree and so go through prep and the log.
    pub fn is_write(&self) -> bool {
        match self {
            Request::Create { .. }
            | Request::Delete(_)
            | Request::SetData(_)
            | Request::SetAcl(_)
            | Request::Check(_)
            | Request::Multi(_)
            | Request::CloseSession
            | Request::CreateSession { .. } => true,
            Request::Malformed { op } => is_write_op(*op),
            _ => false,
        }
    }
}

/// Ops whose request record starts with the path it acts on.
fn starts_with_path(op_code: i32) -> bool {
    is_create_op(op_code)
        || matches!(
            op_code,
            op::DELETE
                | op::EXISTS
                | op::GET_DATA
                | op::SET_DATA
                | op::GET_ACL
                | op::SET_ACL
                | op::GET_CHILDREN
                | op::GET_CHILDREN2
                | op::SYNC
                | op::CHECK
                | op::CHECK_WATCHES
                | op::REMOVE_WATCHES
                | op::GET_EPHEMERALS
                | op::GET_ALL_CHILDREN_NUMBER
                | op::ADD_WATCH
        )
}

/// create, create2, createContainer, createTTL.
pub fn is_create_op(op_code: i32) -> bool {
    matches!(op_code, op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL)
}

/// Ops that ZooKeeper's prep turns into txns (a failure there is an error txn with a zxid).
pub fn is_write_op(op_code: i32) -> bool {
    is_create_op(op_code)
        || matches!(op_code, op::DELETE | op::SET_DATA | op::SET_ACL | op::CHECK | op::MULTI | op::CREATE_SESSION)
}

impl MultiOp {
    pub fn op_code(&self) -> i32 {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
            MultiOp::GetData(_) => op::GET_DATA,
        }
    }
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create { req, .. } => &req.path,
            MultiOp::Delete(r) | MultiOp::Check(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => &r.path,
        }
    }
    /// Encodes this op with its MultiHeader (used by clients: the shell and the benchmark).
    pub fn write(&self, w: &mut BytesMut) {
        MultiHeader { type_: self.op_code(), done: false, err: -1 }.write(w);
        match self {
            MultiOp::Create { op: o, req } => {
                if *o == op::CREATE_TTL {
                    req.write(w)
                } else {
                    CreateRequest {
                        path: req.path.clone(),
                        data: req.data.clone(),
                        acl: req.acl.clone(),
                        flags: req.flags,
                    }
                    .write(w)
                }
            }
            MultiOp::Delete(r) | MultiOp::Check(r) => r.write(w),
            MultiOp::SetData(r) => r.write(w),
            MultiOp::GetChildren(r) | MultiOp::GetData(r) => {
                PathWatchRequest { path: r.path.clone(), watch: false }.write(w)
            }
        }
    }
}

/// One result inside a multi / multiRead reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Create { path: String, stat: Option<Stat> },
    Delete,
    SetData(Stat),
    Check,
    GetData { data: Option<Bytes>, stat: Stat },
    GetChildren(Vec<String>),
    Error(i32),
}

impl MultiResult {
    fn write(&self, w: &mut BytesMut) {
        let (t, err) = match self {
            MultiResult::Create { stat: Some(_), .. } => (op::CREATE2, 0),
            MultiResult::Create { stat: None, .. } => (op::CREATE, 0),
            MultiResult::Delete => (op::DELETE, 0),
            MultiResult::SetData(_) => (op::SET_DATA, 0),
            MultiResult::Check => (op::CHECK, 0),
            MultiResult::GetData { .. } => (op::GET_DATA, 0),
            MultiResult::GetChildren(_) => (op::GET_CHILDREN, 0),
            MultiResult::Error(e) => (op::ERROR, *e),
        };
        MultiHeader { type_: t, done: false, err }.write(w);
        match self {
            MultiResult::Create { path, stat: Some(s) } => {
                path.write(w);
                s.write(w)
            }
            MultiResult::Create { path, stat: None } => path.write(w),
            MultiResult::SetData(s) => s.write(w),
            MultiResult::GetData { data, stat } => {
                data.write(w);
                stat.write(w)
            }
            MultiResult::GetChildren(c) => c.write(w),
            MultiResult::Error(e) => e.write(w),
            MultiResult::Delete | MultiResult::Check => {}
        }
    }

    /// Decodes a multi reply body (used by clients).
    pub fn decode_all(body: &[u8]) -> Result<Vec<MultiResult>, DecodeError> {
        let mut r = Reader::new(body);
        let mut out = Vec::new();
        loop {
            let h = MultiHeader::read(&mut r)?;
            if h.done {
                return Ok(out);
            }
            out.push(match h.type_ {
                op::CREATE => MultiResult::Create { path: Jute::read(&mut r)?, stat: None },
                op::CREATE2 => MultiResult::Create { path: Jute::read(&mut r)?, stat: Some(Jute::read(&mut r)?) },
                op::DELETE => MultiResult::Delete,
                op::SET_DATA => MultiResult::SetData(Jute::read(&mut r)?),
                op::CHECK => MultiResult::Check,
                op::GET_DATA => MultiResult::GetData { data: Jute::read(&mut r)?, stat: Jute::read(&mut r)? },
                op::GET_CHILDREN => MultiResult::GetChildren(Jute::read(&mut r)?),
                op::ERROR => MultiResult::Error(Jute::read(&mut r)?),
                t => return Err(DecodeError::BadValue { what: "multi result type", value: t as i64 }),
            });
        }
    }
}

/// A reply body for a successful request (err == 0). Errors carry no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Empty,
    Path(String),
    Create2 {
        path: String,
        stat: Stat,
    },
    Stat(Stat),
    GetData {
        data: Option<Bytes>,
        stat: Stat,
    },
    Children(Vec<String>),
    Children2 {
        children: Vec<String>,
        stat: Stat,
    },
    Acl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    /// Multi and multiRead results; `MultiResult::Error` entries mark failed ops.
    Multi(Vec<MultiResult>),
    Ephemerals(Vec<String>),
    AllChildrenNumber(i32),
    WhoAmI(Vec<ClientInfo>),
    /// addWatch answers an ErrorResponse{0}.
    ErrorBody(i32),
    Sasl(Bytes),
}

impl Response {
    pub fn write(&self, w: &mut BytesMut) {
        match self {
            Response::Empty => {}
            Response::Path(p) => p.write(w),
            Response::Create2 { path, stat } => {
                path.write(w);
                stat.write(w)
            }
            Response::Stat(s) => s.write(w),
            Response::GetData { data, stat } => {
                data.write(w);
                stat.write(w)
            }
            Response::Children(c) | Response::Ephemerals(c) => c.write(w),
            Response::Children2 { children, stat } => {
                children.write(w);
                stat.write(w)
            }
            Response::Acl { acl, stat } => {
                acl.write(w);
                stat.write(w)
            }
            Response::Multi(rs) => {
                for r in rs {
                    r.write(w);
                }
                MultiHeader { type_: -1, done: true, err: -1 }.write(w);
            }
            Response::AllChildrenNumber(n) => n.write(w),
            Response::WhoAmI(v) => v.write(w),
            Response::ErrorBody(e) => e.write(w),
            Response::Sasl(t) => t.write(w),
        }
    }
}

pub use super::frame::write_frame;

/// Appends one reply frame holding `header` and, when `err == 0`, `body`.
pub fn write_reply(out: &mut BytesMut, xid_: i32, zxid: i64, err: i32, body: &Response) {
    write_frame(out, |w| {
        ReplyHeader { xid: xid_, zxid, err }.write(w);
        if err == 0 {
            body.write(w);
        }
    });
}

/// Appends a watch notification frame.
pub fn write_notification(out: &mut BytesMut, zxid: i64, ev: &WatcherEvent) {
    write_frame(out, |w| {
        ReplyHeader { xid: xid::NOTIFICATION, zxid, err: 0 }.write(w);
        ev.write(w);
    });
}

/// Converts a result into the (err, body) pair of a reply.
pub fn split_result(r: Result<Response, ErrorCode>) -> (i32, Response) {
    match r {
        Ok(b) => (0, b),
        Err(e) => (e.code(), Response::Empty),
    }
}
