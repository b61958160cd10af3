//! Jute primitives: the big-endian binary encoding every ZooKeeper record uses.
//!
//! Owns: reading and writing ints, longs, booleans, buffers, strings and vectors, and the
//! `jute_record!` macro that derives both directions for a record. Decoding is bounded:
//! every length is checked against the bytes actually present before anything is allocated,
//! so a hostile frame can never make us allocate more than the frame itself.
//! Must never: know about op codes, sessions, or anything above the record level.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Why a record could not be decoded. Always maps to a closed connection or MARSHALLINGERROR.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record truncated: wanted {wanted} bytes, {left} left")]
    Truncated { wanted: usize, left: usize },
    #[error("negative length {0}")]
    BadLength(i32),
    #[error("string is not valid UTF-8")]
    BadUtf8,
    #[error("unknown value {what}: {value}")]
    BadValue { what: &'static str, value: i64 },
    #[error("null string where one is required")]
    NullString,
}

/// A cursor over one frame's bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { wanted: n, left: self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
    /// Fails with `NullString` when the next field is a null string or buffer (-1), without
    /// consuming anything: for fields that must be present, like a request's path.
    pub fn refuse_null_string(&self) -> Result<(), DecodeError> {
        match self.buf.get(self.pos..self.pos + 4) {
            Some(b) if b == [0xff; 4] => Err(DecodeError::NullString),
            _ => Ok(()),
        }
    }

    fn length(&mut self) -> Result<Option<usize>, DecodeError> {
        let n = i32::read(self)?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            return Err(DecodeError::BadLength(n));
        }
        Ok(Some(n as usize))
    }
}

/// A value with a jute encoding.
pub trait Jute: Sized {
    fn write(&self, w: &mut BytesMut);
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

impl Jute for i32 {
    fn write(&self, w: &mut BytesMut) {
        w.put_i32(*self)
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(i32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes")))
    }
}

impl Jute for i64 {
    fn write(&self, w: &mut BytesMut) {
        w.put_i64(*self)
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(i64::from_be_bytes(r.take(8)?.try_into().expect("8 bytes")))
    }
}

impl Jute for bool {
    fn write(&self, w: &mut BytesMut) {
        w.put_u8(u8::from(*self))
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(r.take(1)?[0] != 0)
    }
}

/// `ustring`: a null string decodes as empty. Clients send null for empty strings (kazoo
/// writes an ACL id of "" as -1, for example); a null *path* is refused one level up
/// (`Reader::refuse_null_string`), as ZooKeeper fails on it with MARSHALLINGERROR.
impl Jute for String {
    fn write(&self, w: &mut BytesMut) {
        w.put_i32(self.len() as i32);
        w.put_slice(self.as_bytes());
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Option::<String>::read(r)?.unwrap_or_default())
    }
}

/// `ustring` where null is meaningful (reconfig's unused member lists).
impl Jute for Option<String> {
    fn write(&self, w: &mut BytesMut) {
        match self {
            None => w.put_i32(-1),
            Some(s) => s.write(w),
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.length()? {
            None => Ok(None),
            Some(n) => {
                let b = r.take(n)?;
                std::str::from_utf8(b).map(|s| Some(s.to_owned())).map_err(|_| DecodeError::BadUtf8)
            }
        }
    }
}

/// `buffer` where null and empty need not be told apart (passwords, auth data).
impl Jute for Bytes {
    fn write(&self, w: &mut BytesMut) {
        w.put_i32(self.len() as i32);
        w.put_slice(self);
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.length()? {
            None => Ok(Bytes::new()),
            Some(n) => Ok(Bytes::copy_from_slice(r.take(n)?)),
        }
    }
}

/// `buffer` where null matters: znode data (a znode created with null data reads back null).
impl Jute for Option<Bytes> {
    fn write(&self, w: &mut BytesMut) {
        match self {
            None => w.put_i32(-1),
            Some(b) => b.write(w),
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.length()? {
            None => Ok(None),
            Some(n) => Ok(Some(Bytes::copy_from_slice(r.take(n)?))),
        }
    }
}

/// `vector<T>`: a null vector decodes as empty, and so does any other negative count (jute's
/// reader loops while the count is positive, so ZooKeeper sees an empty list: a setACL with
/// count -2 is INVALIDACL, not MARSHALLINGERROR). The count is bounded by the bytes left, since
/// every element takes at least one byte, so a forged count cannot trigger a huge allocation.
impl<T: Jute> Jute for Vec<T> {
    fn write(&self, w: &mut BytesMut) {
        w.put_i32(self.len() as i32);
        for item in self {
            item.write(w);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match usize::try_from(i32::read(r)?).ok() {
            None => Ok(Vec::new()),
            Some(n) => {
                if n > r.remaining() {
                    return Err(DecodeError::Truncated { wanted: n, left: r.remaining() });
                }
                // Preallocate no more memory than the bytes left: an element may be far
                // larger in memory than its smallest encoding.
                let mut v = Vec::with_capacity(n.min(r.remaining() / std::mem::size_of::<T>().max(1)));
                for _ in 0..n {
                    v.push(T::read(r)?);
                }
                Ok(v)
            }
        }
    }
}

/// Declares a jute record: the struct plus both directions of its encoding, fields in order.
#[macro_export]
macro_rules! jute_record {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        impl $crate::proto::jute::Jute for $name {
            #[allow(unused_variables)]
            fn write(&self, w: &mut bytes::BytesMut) {
                $($crate::proto::jute::Jute::write(&self.$f, w);)*
            }
            #[allow(unused_variables)]
            fn read(r: &mut $crate::proto::jute::Reader<'_>) -> Result<Self, $crate::proto::jute::DecodeError> {
                Ok(Self { $($f: $crate::proto::jute::Jute::read(r)?),* })
            }
        }
    };
}

/// Encodes a record into a fresh buffer.
pub fn to_bytes<T: Jute>(v: &T) -> BytesMut {
    let mut w = BytesMut::new();
    v.write(&mut w);
    w
}

/// Decodes a record that must use every byte given.
pub fn from_bytes<T: Jute>(b: &[u8]) -> Result<T, DecodeError> {
    let mut r = Reader::new(b);
    T::read(&mut r)
}
