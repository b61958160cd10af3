//! Every record of `zookeeper.jute` the client protocol and the transaction log use, field for
//! field in jute order. Names follow the jute file (in Rust case).
//! Must never: hold behaviour beyond encoding; semantics live in `tree` and `prep`.

use crate::jute_record;
use bytes::Bytes;

jute_record! { pub struct Id { pub scheme: String, pub id: String } }
jute_record! { pub struct Acl { pub perms: i32, pub id: Id } }

jute_record! {
    /// The 68-byte znode metadata record.
    pub struct Stat {
        pub czxid: i64, pub mzxid: i64, pub ctime: i64, pub mtime: i64,
        pub version: i32, pub cversion: i32, pub aversion: i32,
        pub ephemeral_owner: i64, pub data_length: i32, pub num_children: i32, pub pzxid: i64,
    }
}

jute_record! {
    /// Handshake request. `read_only` is absent on the wire for old clients (44-byte form);
    /// see `ConnectRequest::decode`.
    pub struct ConnectRequest {
        pub protocol_version: i32, pub last_zxid_seen: i64, pub time_out: i32,
        pub session_id: i64, pub passwd: Bytes, pub read_only: bool,
    }
}
jute_record! {
    pub struct ConnectResponse {
        pub protocol_version: i32, pub time_out: i32, pub session_id: i64,
        pub passwd: Bytes, pub read_only: bool,
    }
}
jute_record! { pub struct RequestHeader { pub xid: i32, pub type_: i32 } }
jute_record! { pub struct ReplyHeader { pub xid: i32, pub zxid: i64, pub err: i32 } }
jute_record! { pub struct WatcherEvent { pub type_: i32, pub state: i32, pub path: String } }
jute_record! {
    /// `auth` is null (-1 on the wire) when the Java client is given no credential.
    pub struct AuthPacket { pub type_: i32, pub scheme: String, pub auth: Option<Bytes> }
}
jute_record! {
    pub struct SetWatches {
        pub relative_zxid: i64, pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>, pub child_watches: Vec<String>,
    }
}
jute_record! {
    pub struct SetWatches2 {
        pub relative_zxid: i64, pub data_watches: Vec<String>, pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>, pub persistent_watches: Vec<String>,
        pub persistent_recursive_watches: Vec<String>,
    }
}
jute_record! { pub struct MultiHeader { pub type_: i32, pub done: bool, pub err: i32 } }

jute_record! { pub struct PathRequest { pub path: String } }
jute_record! { pub struct PathWatchRequest { pub path: String, pub watch: bool } }
jute_record! { pub struct PathVersionRequest { pub path: String, pub version: i32 } }
jute_record! { pub struct PathTypeRequest { pub path: String, pub type_: i32 } }
jute_record! {
    pub struct CreateRequest { pub path: String, pub data: Option<Bytes>, pub acl: Vec<Acl>, pub flags: i32 }
}
jute_record! {
    pub struct CreateTtlRequest {
        pub path: String, pub data: Option<Bytes>, pub acl: Vec<Acl>, pub flags: i32, pub ttl: i64,
    }
}
jute_record! { pub struct SetDataRequest { pub path: String, pub data: Option<Bytes>, pub version: i32 } }
jute_record! { pub struct SetAclRequest { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
jute_record! { pub struct AddWatchRequest { pub path: String, pub mode: i32 } }
jute_record! {
    pub struct ReconfigRequest {
        pub joining_servers: Option<String>, pub leaving_servers: Option<String>,
        pub new_members: Option<String>, pub cur_config_id: i64,
    }
}
jute_record! { pub struct SaslRequest { pub token: Bytes } }

jute_record! { pub struct StatResponse { pub stat: Stat } }
jute_record! { pub struct GetDataResponse { pub data: Option<Bytes>, pub stat: Stat } }
jute_record! { pub struct PathResponse { pub path: String } }
jute_record! { pub struct Create2Response { pub path: String, pub stat: Stat } }
jute_record! { pub struct GetChildrenResponse { pub children: Vec<String> } }
jute_record! { pub struct GetChildren2Response { pub children: Vec<String>, pub stat: Stat } }
jute_record! { pub struct GetAclResponse { pub acl: Vec<Acl>, pub stat: Stat } }
jute_record! { pub struct ErrorResponse { pub err: i32 } }
jute_record! { pub struct GetEphemeralsResponse { pub ephemerals: Vec<String> } }
jute_record! { pub struct GetAllChildrenNumberResponse { pub total_number: i32 } }
jute_record! { pub struct ClientInfo { pub auth_scheme: String, pub user: String } }
jute_record! { pub struct WhoAmIResponse { pub client_info: Vec<ClientInfo> } }

// ---- transaction log records (org.apache.zookeeper.txn) ----
jute_record! {
    pub struct TxnHeader { pub client_id: i64, pub cxid: i32, pub zxid: i64, pub time: i64, pub type_: i32 }
}
jute_record! {
    pub struct CreateTxn {
        pub path: String, pub data: Option<Bytes>, pub acl: Vec<Acl>,
        pub ephemeral: bool, pub parent_cversion: i32,
    }
}
jute_record! {
    pub struct CreateContainerTxn {
        pub path: String, pub data: Option<Bytes>, pub acl: Vec<Acl>, pub parent_cversion: i32,
    }
}
jute_record! {
    pub struct CreateTtlTxn {
        pub path: String, pub data: Option<Bytes>, pub acl: Vec<Acl>,
        pub parent_cversion: i32, pub ttl: i64,
    }
}
jute_record! { pub struct DeleteTxn { pub path: String } }
jute_record! { pub struct SetDataTxn { pub path: String, pub data: Option<Bytes>, pub version: i32 } }
jute_record! { pub struct CheckVersionTxn { pub path: String, pub version: i32 } }
jute_record! { pub struct SetAclTxn { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
jute_record! { pub struct CreateSessionTxn { pub time_out: i32 } }
jute_record! { pub struct CloseSessionTxn { pub paths2_delete: Vec<String> } }
jute_record! { pub struct ErrorTxn { pub err: i32 } }
jute_record! { pub struct TxnRecord { pub type_: i32, pub data: Bytes } }
jute_record! { pub struct MultiTxn { pub txns: Vec<TxnRecord> } }

impl ConnectRequest {
    /// The handshake of a client asking for a new session (no id, an all-zero password).
    pub fn new_session(time_out: i32) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out,
            session_id: 0,
            passwd: Bytes::from_static(&[0u8; 16]),
            read_only: false,
        }
    }

    /// Decodes the handshake, accepting the 44-byte form without the trailing readOnly byte.
    pub fn decode(b: &[u8]) -> Result<(Self, bool), super::jute::DecodeError> {
        use super::jute::{Jute, Reader};
        let mut r = Reader::new(b);
        let protocol_version = i32::read(&mut r)?;
        let last_zxid_seen = i64::read(&mut r)?;
        let time_out = i32::read(&mut r)?;
        let session_id = i64::read(&mut r)?;
        let passwd = Bytes::read(&mut r)?;
        let has_ro = r.remaining() > 0;
        let read_only = if has_ro { bool::read(&mut r)? } else { false };
        Ok((ConnectRequest { protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only }, has_ro))
    }
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Self {
        Acl { perms, id: Id { scheme: scheme.to_owned(), id: id.to_owned() } }
    }
}
