//! Apache ZooKeeper's own formats, for moving data between a ZooKeeper ensemble and ours:
//! its snapshot (the jute-serialized DataTree with its ACL cache and sessions, in a
//! `snapshot.<zxid>` file sealed with Adler32 checksums, `snapshot`), its txn log files
//! (`log.<zxid>`, Adler32 per record, `txnlog`), its tree digest (`digest`), and the
//! `zabkeeper import` / `export` commands built on them (`migrate`).
//!
//! The layouts are ZooKeeper 3.8's (`FileSnap`, `SerializeUtils`, `DataTree.serialize`,
//! `FileTxnLog`, `DigestCalculator`), written from their description, not their code.
//! Must never: accept a damaged file silently where ZooKeeper would refuse it, or report a
//! problem without the file's name and the offset where it was found.

pub mod digest;
pub mod migrate;
pub mod snapshot;
pub mod txnlog;

use crate::proto::jute::{DecodeError, Jute, Reader};
use std::path::{Path, PathBuf};

/// What went wrong reading or writing ZooKeeper's files.
#[derive(Debug, thiserror::Error)]
pub enum ZkFormatError {
    #[error("{file}: {what} at offset {offset}")]
    Damaged { file: PathBuf, offset: u64, what: String },
    #[error("{file}: {source}")]
    Io { file: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Refused(String),
}

impl ZkFormatError {
    pub fn damaged(file: &Path, offset: usize, what: impl Into<String>) -> ZkFormatError {
        ZkFormatError::Damaged { file: file.to_path_buf(), offset: offset as u64, what: what.into() }
    }

    pub fn io(file: &Path, source: std::io::Error) -> ZkFormatError {
        ZkFormatError::Io { file: file.to_path_buf(), source }
    }
}

/// A jute string as ZooKeeper writes it: UTF-8, except that characters outside the Basic
/// Multilingual Plane come as two 3-byte surrogate halves (Java's per-`char` encoder).
pub fn read_string(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let n = i32::read(r)?;
    if n < 0 {
        return Err(DecodeError::BadLength(n));
    }
    let bytes = r.take(n as usize)?;
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => decode_cesu8(bytes).ok_or(DecodeError::BadUtf8),
    }
}

/// UTF-8 with surrogate pairs encoded half by half (CESU-8), as Java writes them.
fn decode_cesu8(b: &[u8]) -> Option<String> {
    let mut units: Vec<u16> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (cp, len) = match c {
            0x00..=0x7f => (c as u32, 1),
            0xc0..=0xdf if i + 1 < b.len() => (((c as u32 & 0x1f) << 6) | (b[i + 1] as u32 & 0x3f), 2),
            0xe0..=0xef if i + 2 < b.len() => {
                (((c as u32 & 0x0f) << 12) | ((b[i + 1] as u32 & 0x3f) << 6) | (b[i + 2] as u32 & 0x3f), 3)
            }
            _ => return None,
        };
        units.push(cp as u16);
        i += len;
    }
    String::from_utf16(&units).ok()
}

/// Writes a jute string (standard UTF-8, which ZooKeeper's reader decodes).
pub fn write_string(w: &mut Vec<u8>, s: &str) {
    w.extend_from_slice(&(s.len() as i32).to_be_bytes());
    w.extend_from_slice(s.as_bytes());
}

/// `zxid` as ZooKeeper names files: lowercase hex, no padding.
pub fn zk_hex(zxid: i64) -> String {
    format!("{:x}", zxid as u64)
}

/// The zxid in a ZooKeeper file name `prefix.<hex>[.suffix]`.
pub fn zxid_of_name(name: &str, prefix: &str) -> Option<i64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
    let hex = rest.split('.').next()?;
    u64::from_str_radix(hex, 16).ok().map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_strings_with_surrogate_pairs_decode() {
        // U+1F600 as Java writes it: D83D DE00, each as a 3-byte sequence.
        let mut framed = vec![0, 0, 0, 8];
        framed.extend_from_slice(&[b'/', b'a', 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]);
        assert_eq!(read_string(&mut Reader::new(&framed)).unwrap(), "/a\u{1F600}");
        let mut plain = Vec::new();
        write_string(&mut plain, "/é");
        assert_eq!(read_string(&mut Reader::new(&plain)).unwrap(), "/é");
    }

    #[test]
    fn file_names_carry_unpadded_hex_zxids() {
        assert_eq!(zk_hex(0x1_0000_002a), "10000002a");
        assert_eq!(zxid_of_name("snapshot.10000002a", "snapshot"), Some(0x1_0000_002a));
        assert_eq!(zxid_of_name("snapshot.0.gz", "snapshot"), Some(0));
        assert_eq!(zxid_of_name("log.zz", "log"), None);
        assert_eq!(zxid_of_name("logx.1", "log"), None);
    }
}
