//! The replicated log entry. A `Txn` is ZooKeeper's own `TxnHeader` plus its txn record, so our
//! log and ZooKeeper's speak the same records; the header's `type_` says which record follows.
//! Must never: decide anything; `prep` makes txns and `tree` applies them.

use crate::proto::codes::op;
use crate::proto::jute::{DecodeError, Jute, Reader};
use crate::proto::records::*;
use bytes::{Bytes, BytesMut};

/// The body of a txn; the variant matches `TxnHeader::type_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    CreateSession(CreateSessionTxn),
    CloseSession(CloseSessionTxn),
    /// create / create2 (ephemeral owner is the header's client id when `ephemeral`).
    Create(CreateTxn),
    CreateContainer(CreateContainerTxn),
    CreateTtl(CreateTtlTxn),
    /// delete / deleteContainer.
    Delete(DeleteTxn),
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    Check(CheckVersionTxn),
    /// A failed op (inside a multi) or a failed request that still consumes a zxid.
    Error(ErrorTxn),
    /// All-or-nothing list of (op type, body).
    Multi(Vec<(i32, TxnBody)>),
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub header: TxnHeader,
    pub body: TxnBody,
}

fn acl_size(acl: &[Acl]) -> usize {
    acl.iter().map(|a| 12 + a.id.scheme.len() + a.id.id.len()).sum::<usize>() + 4
}

fn data_size(d: &Option<Bytes>) -> usize {
    4 + d.as_ref().map_or(0, |d| d.len())
}

impl TxnBody {
    /// About how many bytes `write` produces (to size the buffer once).
    fn size_hint(&self) -> usize {
        match self {
            TxnBody::Create(t) => 16 + t.path.len() + data_size(&t.data) + acl_size(&t.acl),
            TxnBody::CreateContainer(t) => 16 + t.path.len() + data_size(&t.data) + acl_size(&t.acl),
            TxnBody::CreateTtl(t) => 24 + t.path.len() + data_size(&t.data) + acl_size(&t.acl),
            TxnBody::SetData(t) => 12 + t.path.len() + data_size(&t.data),
            TxnBody::SetAcl(t) => 12 + t.path.len() + acl_size(&t.acl),
            TxnBody::Delete(DeleteTxn { path }) | TxnBody::Check(CheckVersionTxn { path, .. }) => 12 + path.len(),
            TxnBody::CloseSession(t) => 4 + t.paths2_delete.iter().map(|p| 4 + p.len()).sum::<usize>(),
            TxnBody::Multi(ops) => 4 + ops.iter().map(|(_, b)| 16 + b.size_hint()).sum::<usize>(),
            TxnBody::CreateSession(_) | TxnBody::Error(_) => 8,
        }
    }

    fn write(&self, w: &mut BytesMut) {
        match self {
            TxnBody::CreateSession(t) => t.write(w),
            TxnBody::CloseSession(t) => t.write(w),
            TxnBody::Create(t) => t.write(w),
            TxnBody::CreateContainer(t) => t.write(w),
            TxnBody::CreateTtl(t) => t.write(w),
            TxnBody::Delete(t) => t.write(w),
            TxnBody::SetData(t) => t.write(w),
            TxnBody::SetAcl(t) => t.write(w),
            TxnBody::Check(t) => t.write(w),
            TxnBody::Error(t) => t.write(w),
            TxnBody::Multi(ops) => {
                let txns = ops
                    .iter()
                    .map(|(ty, b)| {
                        let mut d = BytesMut::new();
                        b.write(&mut d);
                        TxnRecord { type_: *ty, data: d.freeze() }
                    })
                    .collect();
                MultiTxn { txns }.write(w)
            }
        }
    }

    fn read(type_: i32, r: &mut Reader<'_>) -> Result<TxnBody, DecodeError> {
        Ok(match type_ {
            op::CREATE_SESSION => TxnBody::CreateSession(Jute::read(r)?),
            op::CLOSE_SESSION => TxnBody::CloseSession(Jute::read(r)?),
            op::CREATE | op::CREATE2 => TxnBody::Create(Jute::read(r)?),
            op::CREATE_CONTAINER => TxnBody::CreateContainer(Jute::read(r)?),
            op::CREATE_TTL => TxnBody::CreateTtl(Jute::read(r)?),
            op::DELETE | op::DELETE_CONTAINER => TxnBody::Delete(Jute::read(r)?),
            op::SET_DATA => TxnBody::SetData(Jute::read(r)?),
            op::SET_ACL => TxnBody::SetAcl(Jute::read(r)?),
            op::CHECK => TxnBody::Check(Jute::read(r)?),
            op::ERROR => TxnBody::Error(Jute::read(r)?),
            op::MULTI => {
                let m = MultiTxn::read(r)?;
                let mut ops = Vec::with_capacity(m.txns.len());
                for t in m.txns {
                    // ZooKeeper never nests multis; refusing them also bounds the recursion.
                    if t.type_ == op::MULTI {
                        return Err(DecodeError::BadValue { what: "nested multi txn", value: t.type_ as i64 });
                    }
                    let mut sub = Reader::new(&t.data);
                    ops.push((t.type_, TxnBody::read(t.type_, &mut sub)?));
                }
                TxnBody::Multi(ops)
            }
            t => return Err(DecodeError::BadValue { what: "txn type", value: t as i64 }),
        })
    }
}

impl Txn {
    pub fn zxid(&self) -> i64 {
        self.header.zxid
    }

    /// Encodes header + record, the payload of one log record.
    pub fn encode(&self) -> Bytes {
        let mut w = BytesMut::with_capacity(64 + self.body.size_hint());
        self.header.write(&mut w);
        self.body.write(&mut w);
        w.freeze()
    }

    pub fn decode(b: &[u8]) -> Result<Txn, DecodeError> {
        let mut r = Reader::new(b);
        let header = TxnHeader::read(&mut r)?;
        let body = TxnBody::read(header.type_, &mut r)?;
        Ok(Txn { header, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_txn_round_trips() {
        let t = Txn {
            header: TxnHeader { client_id: 7, cxid: 3, zxid: 0x1_0000_0005, time: 99, type_: op::MULTI },
            body: TxnBody::Multi(vec![
                (
                    op::CREATE,
                    TxnBody::Create(CreateTxn {
                        path: "/a".into(),
                        data: Some(Bytes::from_static(b"x")),
                        acl: vec![Acl::new(31, "world", "anyone")],
                        ephemeral: true,
                        parent_cversion: 4,
                    }),
                ),
                (op::DELETE, TxnBody::Delete(DeleteTxn { path: "/b".into() })),
                (op::ERROR, TxnBody::Error(ErrorTxn { err: -101 })),
            ]),
        };
        assert_eq!(Txn::decode(&t.encode()).unwrap(), t);
    }
}
