//! ZooKeeper 3.8's quorum wire formats, byte for byte (see docs/quorum-protocol.md):
//! the election port's initial message and leader-election notifications, and the quorum
//! port's `QuorumPacket` stream with the records carried inside packets (LearnerInfo, the
//! PING session touches, forwarded REQUESTs, REVALIDATE).
//! Must never: do I/O, or allocate more than the bytes given (every length is checked
//! against what is present and against the protocol's limits first).

use crate::proto::jute::{DecodeError, Jute, Reader};
use crate::proto::records::Id;
use bytes::{BufMut, Bytes, BytesMut};

/// `QuorumCnxManager.PROTOCOL_VERSION_V1`: one `host:port` election address.
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// `PROTOCOL_VERSION_V2`: `|`-separated election addresses.
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// Longest address string an initial message may carry (`QuorumCnxManager.maxBuffer`).
pub const MAX_INITIAL_ADDRESS: usize = 2048;
/// Longest election message after the handshake (`PACKETMAXSIZE`).
pub const MAX_ELECTION_MESSAGE: usize = 512 * 1024;
/// The notification version ZooKeeper 3.8 sends (`Notification.CURRENTVERSION`).
pub const NOTIFICATION_VERSION: i32 = 2;
/// `LearnerInfo.protocolVersion` and LEADERINFO's payload.
pub const LEARNER_PROTOCOL_VERSION: i32 = 0x10000;
/// The protocol version our members send in LEARNERINFO / LEADERINFO: ZooKeeper's 0x10000 with
/// a mark in the low bits. ZooKeeper only checks that a version is at least 0x10000, and our
/// links recognise one of ours by it: between two of ours a SNAP carries our own snapshot
/// encoding, towards or from a ZooKeeper member ZooKeeper's serialized DataTree.
pub const ZABKEEPER_PROTOCOL_VERSION: i32 = 0x10000 | 0x5a42;

/// `QuorumPacket` types (`Leader`).
pub mod packet {
    pub const REQUEST: i32 = 1;
    pub const PROPOSAL: i32 = 2;
    pub const ACK: i32 = 3;
    pub const COMMIT: i32 = 4;
    pub const PING: i32 = 5;
    pub const REVALIDATE: i32 = 6;
    pub const SYNC: i32 = 7;
    pub const INFORM: i32 = 8;
    pub const COMMITANDACTIVATE: i32 = 9;
    pub const NEWLEADER: i32 = 10;
    pub const FOLLOWERINFO: i32 = 11;
    pub const UPTODATE: i32 = 12;
    pub const DIFF: i32 = 13;
    pub const TRUNC: i32 = 14;
    pub const SNAP: i32 = 15;
    pub const OBSERVERINFO: i32 = 16;
    pub const LEADERINFO: i32 = 17;
    pub const ACKEPOCH: i32 = 18;
    pub const INFORMANDACTIVATE: i32 = 19;
}

/// What the connecting side of an election connection says first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    pub sid: i64,
    /// Election addresses the peer can be reached at (`host:port`, IPv6 in brackets); empty
    /// for a pre-3.5 peer that sent only its sid.
    pub addresses: Vec<String>,
}

impl InitialMessage {
    /// The V1 form ZooKeeper 3.8 sends by default: version, sid, one address. Must go out in
    /// one write: the receiver reads the address with a single `read`.
    pub fn encode(sid: i64, address: &str) -> BytesMut {
        let mut b = BytesMut::with_capacity(20 + address.len());
        b.put_i64(PROTOCOL_VERSION_V1);
        b.put_i64(sid);
        b.put_i32(address.len() as i32);
        b.put_slice(address.as_bytes());
        b
    }

    /// Parses an initial message; `Ok(None)` when more bytes are needed. Returns the message
    /// and how many bytes it took.
    pub fn decode(buf: &[u8]) -> Result<Option<(InitialMessage, usize)>, DecodeError> {
        let mut r = Reader::new(buf);
        let Some(first) = incomplete_ok(i64::read(&mut r))? else { return Ok(None) };
        if first >= 0 {
            // A pre-3.5 peer: the first long is its sid, nothing follows.
            return Ok(Some((InitialMessage { sid: first, addresses: Vec::new() }, 8)));
        }
        if first != PROTOCOL_VERSION_V1 && first != PROTOCOL_VERSION_V2 {
            return Err(DecodeError::BadValue { what: "election protocol version", value: first });
        }
        let Some(sid) = incomplete_ok(i64::read(&mut r))? else { return Ok(None) };
        let Some(len) = incomplete_ok(i32::read(&mut r))? else { return Ok(None) };
        if len <= 0 || len as usize > MAX_INITIAL_ADDRESS {
            return Err(DecodeError::BadValue { what: "election address length", value: len as i64 });
        }
        let Some(raw) = incomplete_ok(r.take(len as usize))? else { return Ok(None) };
        let text = std::str::from_utf8(raw).map_err(|_| DecodeError::BadUtf8)?;
        let addresses = text.split('|').map(str::to_owned).collect();
        Ok(Some((InitialMessage { sid, addresses }, r.position())))
    }
}

/// `QuorumPeer.ServerState` as election notifications carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl PeerState {
    pub fn code(self) -> i32 {
        match self {
            PeerState::Looking => 0,
            PeerState::Following => 1,
            PeerState::Leading => 2,
            PeerState::Observing => 3,
        }
    }

    pub fn from_code(c: i32) -> Option<PeerState> {
        Some(match c {
            0 => PeerState::Looking,
            1 => PeerState::Following,
            2 => PeerState::Leading,
            3 => PeerState::Observing,
            _ => return None,
        })
    }
}

/// One leader-election message (`FastLeaderElection` notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub state: PeerState,
    /// The proposed (or, outside an election, the elected) leader.
    pub leader: i64,
    /// That leader's last zxid as the vote knows it.
    pub zxid: i64,
    /// The sender's election round (logical clock).
    pub election_epoch: i64,
    /// The proposed leader's epoch.
    pub peer_epoch: i64,
    /// 0 for the old 28- and 40-byte forms, else as sent.
    pub version: i32,
    /// The sender's membership text (`server.N=…\nversion=…`), when it sent one.
    pub config: Option<Bytes>,
}

impl Notification {
    /// The 3.8 form: 44 bytes + the config text (without the outer length prefix).
    pub fn encode(&self) -> BytesMut {
        let config: &[u8] = self.config.as_deref().unwrap_or(&[]);
        let mut b = BytesMut::with_capacity(44 + config.len());
        b.put_i32(self.state.code());
        b.put_i64(self.leader);
        b.put_i64(self.zxid);
        b.put_i64(self.election_epoch);
        b.put_i64(self.peer_epoch);
        b.put_i32(NOTIFICATION_VERSION);
        b.put_i32(config.len() as i32);
        b.put_slice(config);
        b
    }

    /// Decodes a message body in any form ZooKeeper 3.8 accepts: 28 bytes (no peerEpoch: it is
    /// the zxid's epoch), 40 bytes (no version), or the full form with a config when the
    /// version is above 1. `Ok(None)` for bodies ZooKeeper drops (too short, a length between
    /// the forms, an unknown state).
    pub fn decode(body: &[u8]) -> Result<Option<Notification>, DecodeError> {
        if body.len() < 28 {
            return Ok(None);
        }
        let mut r = Reader::new(body);
        let Some(state) = PeerState::from_code(i32::read(&mut r)?) else { return Ok(None) };
        let leader = i64::read(&mut r)?;
        let zxid = i64::read(&mut r)?;
        let election_epoch = i64::read(&mut r)?;
        let mut n =
            Notification { state, leader, zxid, election_epoch, peer_epoch: zxid >> 32, version: 0, config: None };
        match body.len() {
            28 => return Ok(Some(n)),
            40 => {
                n.peer_epoch = i64::read(&mut r)?;
                return Ok(Some(n));
            }
            l if l < 44 => return Ok(None),
            _ => {}
        }
        n.peer_epoch = i64::read(&mut r)?;
        n.version = i32::read(&mut r)?;
        if n.version > 1 {
            let len = i32::read(&mut r)?;
            if len < 0 || len as usize > r.remaining() {
                return Ok(None);
            }
            n.config = Some(Bytes::copy_from_slice(r.take(len as usize)?));
        }
        Ok(Some(n))
    }
}

/// The membership text election notifications and NEWLEADER carry
/// (`QuorumMaj.toString`): one `server.N=…` line per member in id order, then `version=<hex>`.
pub fn membership_text(servers: &[crate::config::ServerSpec], version: u64) -> String {
    let mut sorted: Vec<&crate::config::ServerSpec> = servers.iter().collect();
    sorted.sort_by_key(|s| s.id);
    let mut out = String::new();
    for s in sorted {
        out.push_str(&format!("server.{}={s}\n", s.id));
    }
    out.push_str(&format!("version={version:x}"));
    out
}

/// One packet of the quorum port's stream: jute `QuorumPacket`, written back to back with no
/// outer length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumPacket {
    pub type_: i32,
    pub zxid: i64,
    /// Null (`-1`) and empty (`0`) differ on the wire: a PING reply with no sessions is empty.
    pub data: Option<Bytes>,
    /// Null except on REQUEST (the client's auth ids) and echoes of it.
    pub authinfo: Option<Vec<Id>>,
}

impl QuorumPacket {
    pub fn new(type_: i32, zxid: i64, data: Option<Bytes>) -> QuorumPacket {
        QuorumPacket { type_, zxid, data, authinfo: None }
    }

    pub fn write(&self, w: &mut BytesMut) {
        w.put_i32(self.type_);
        w.put_i64(self.zxid);
        self.data.write(w);
        match &self.authinfo {
            None => w.put_i32(-1),
            Some(ids) => ids.write(w),
        }
    }

    /// Decodes one packet from the front of `buf`; `Ok(None)` when `buf` does not hold a
    /// whole packet yet. `max_data` bounds the data buffer (jute.maxbuffer plus its extra
    /// size), so an incomplete packet never asks for more than that.
    pub fn decode(buf: &[u8], max_data: usize) -> Result<Option<(QuorumPacket, usize)>, DecodeError> {
        let mut r = Reader::new(buf);
        let Some(type_) = incomplete_ok(i32::read(&mut r))? else { return Ok(None) };
        let Some(zxid) = incomplete_ok(i64::read(&mut r))? else { return Ok(None) };
        let Some(len) = incomplete_ok(i32::read(&mut r))? else { return Ok(None) };
        let data = match len {
            -1 => None,
            l if l < 0 || l as usize > max_data => return Err(DecodeError::BadLength(l)),
            l => match incomplete_ok(r.take(l as usize))? {
                None => return Ok(None),
                Some(d) => Some(Bytes::copy_from_slice(d)),
            },
        };
        let Some(count) = incomplete_ok(i32::read(&mut r))? else { return Ok(None) };
        let authinfo = if count < 0 {
            None
        } else {
            let mut ids = Vec::new();
            for _ in 0..count {
                match incomplete_ok(Id::read(&mut r))? {
                    Some(id) => ids.push(id),
                    None => return Ok(None),
                }
            }
            Some(ids)
        };
        Ok(Some((QuorumPacket { type_, zxid, data, authinfo }, r.position())))
    }
}

/// A truncated read means "wait for more bytes"; anything else is an error.
fn incomplete_ok<T>(r: Result<T, DecodeError>) -> Result<Option<T>, DecodeError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(DecodeError::Truncated { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

crate::jute_record! {
    /// FOLLOWERINFO / OBSERVERINFO payload.
    pub struct LearnerInfo { pub server_id: i64, pub protocol_version: i32, pub config_version: i64 }
}

/// A PING reply's payload: the sessions the learner's clients touched, with their timeouts.
pub fn encode_session_touches(touches: &[(i64, i32)]) -> Bytes {
    let mut b = BytesMut::with_capacity(touches.len() * 12);
    for &(id, timeout) in touches {
        b.put_i64(id);
        b.put_i32(timeout);
    }
    b.freeze()
}

/// Parses a PING reply's payload (trailing bytes short of a pair are ignored, as ZooKeeper's
/// `DataInputStream` loop stops at them).
pub fn decode_session_touches(data: &[u8]) -> Vec<(i64, i32)> {
    data.chunks_exact(12)
        .map(|c| {
            (i64::from_be_bytes(c[0..8].try_into().expect("8")), i32::from_be_bytes(c[8..12].try_into().expect("4")))
        })
        .collect()
}

/// A forwarded client write (REQUEST payload): the session, the client's xid and op, then the
/// request body exactly as the client sent it after its RequestHeader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedRequest {
    pub session_id: i64,
    pub cxid: i32,
    pub op: i32,
    pub body: Bytes,
}

impl ForwardedRequest {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(16 + self.body.len());
        b.put_i64(self.session_id);
        b.put_i32(self.cxid);
        b.put_i32(self.op);
        b.put_slice(&self.body);
        b.freeze()
    }

    pub fn decode(data: &[u8]) -> Result<ForwardedRequest, DecodeError> {
        let mut r = Reader::new(data);
        let session_id = i64::read(&mut r)?;
        let cxid = i32::read(&mut r)?;
        let op = i32::read(&mut r)?;
        Ok(ForwardedRequest { session_id, cxid, op, body: Bytes::copy_from_slice(r.rest()) })
    }
}

#[cfg(test)]
mod tests;
