//! ZooKeeper's txn log files, read: `log.<zxid hex>` in `version-2`, a header (`ZKLG`,
//! version 2, dbid 0) then records `long adler32(payload) | int length | payload | 'B'` whose
//! payload is a TxnHeader, its txn record and (3.6+) a 12-byte TxnDigest; files are
//! preallocated with zeros, so a zero length ends a file's data.
//!
//! As ZooKeeper does: a record cut short (a crash mid-write) or one without its 'B' ends that
//! file, and reading goes on with the next file; a checksum mismatch, an impossible length or
//! an unreadable txn is damage, reported with the file and the record's offset. A record
//! repeating one earlier in the file (same zxid, same txn), which ZooKeeper 3.8 followers write
//! and ZooKeeper loads, is skipped; any other zxid going backwards is damage.
//! Must never: skip a damaged record and read on past it, or return txns out of zxid order.

use super::{zxid_of_name, ZkFormatError};
use crate::txn::Txn;
use std::path::{Path, PathBuf};

pub const LOG_MAGIC: &[u8; 4] = b"ZKLG";
const HEADER_LEN: usize = 16;
/// ZooKeeper's limit on one record (jute.maxbuffer plus its extra allowance, 2 MiB by default;
/// larger limits exist, so take what could be real).
const MAX_RECORD: usize = 64 << 20;

/// The log files under `dir` (`version-2` of a dataDir or dataLogDir), oldest first.
pub fn log_files(dir: &Path) -> Result<Vec<(i64, PathBuf)>, ZkFormatError> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| ZkFormatError::io(dir, e))? {
        let e = e.map_err(|e| ZkFormatError::io(dir, e))?;
        if let Some(z) = e.file_name().to_str().and_then(|n| zxid_of_name(n, "log")) {
            v.push((z, e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// How one file's data ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEnd {
    /// At the zero-filled preallocation, or exactly at the end of the file.
    Clean,
    /// In a record cut short or missing its end marker, at this offset (ZooKeeper stops
    /// reading the file there too).
    Torn { offset: u64 },
}

/// Reads one log file: its txns in order and how it ended.
pub fn read_file(path: &Path, bytes: &[u8]) -> Result<(Vec<Txn>, FileEnd), ZkFormatError> {
    if bytes.len() < HEADER_LEN {
        return Ok((Vec::new(), FileEnd::Torn { offset: 0 }));
    }
    if &bytes[..4] != LOG_MAGIC {
        return Err(ZkFormatError::damaged(path, 0, "not a ZooKeeper txn log (magic is not ZKLG)"));
    }
    let mut txns = Vec::new();
    let mut at = HEADER_LEN;
    let mut last = i64::MIN;
    loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            return Ok((txns, FileEnd::Clean));
        }
        if rest.len() < 12 {
            return Ok((txns, FileEnd::Torn { offset: at as u64 }));
        }
        let sum = i64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        if len == 0 {
            return Ok((txns, FileEnd::Clean));
        }
        if len < 0 || len as usize > MAX_RECORD {
            return Err(ZkFormatError::damaged(path, at, format!("impossible record length {len}")));
        }
        let len = len as usize;
        if rest.len() < 12 + len + 1 {
            return Ok((txns, FileEnd::Torn { offset: at as u64 }));
        }
        let payload = &rest[12..12 + len];
        if rest[12 + len] != b'B' {
            return Ok((txns, FileEnd::Torn { offset: at as u64 }));
        }
        if sum != i64::from(adler2::adler32_slice(payload)) {
            return Err(ZkFormatError::damaged(path, at, "record checksum mismatch (CRC check failed)"));
        }
        let txn = Txn::decode(payload).map_err(|e| ZkFormatError::damaged(path, at, format!("unreadable txn: {e}")))?;
        if txn.zxid() <= last {
            // ZooKeeper 3.8 followers can log a run of txns a second time (a DIFF that
            // resends what they had), and ZooKeeper loads such a file. A zxid names one txn,
            // so a repeat of one this file already holds, identical, is skipped; anything else
            // going backwards is damage.
            let earlier = txns.binary_search_by_key(&txn.zxid(), Txn::zxid).ok().map(|i| &txns[i]);
            if earlier != Some(&txn) {
                return Err(ZkFormatError::damaged(
                    path,
                    at,
                    format!("zxid 0x{:x} does not follow 0x{last:x}", txn.zxid()),
                ));
            }
        } else {
            last = txn.zxid();
            txns.push(txn);
        }
        at += 12 + len + 1;
    }
}

/// Builds a log file's bytes (tests, and the import tests' damaged inputs).
pub fn encode_file(txns: &[Txn]) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(LOG_MAGIC);
    w.extend_from_slice(&2i32.to_be_bytes());
    w.extend_from_slice(&0i64.to_be_bytes());
    for t in txns {
        let payload = t.encode();
        w.extend_from_slice(&i64::from(adler2::adler32_slice(&payload)).to_be_bytes());
        w.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        w.extend_from_slice(&payload);
        w.push(b'B');
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codes::op;
    use crate::proto::records::*;
    use crate::txn::TxnBody;

    fn txn(zxid: i64, path: &str) -> Txn {
        Txn {
            header: TxnHeader { client_id: 1, cxid: 1, zxid, time: 5, type_: op::DELETE },
            body: TxnBody::Delete(DeleteTxn { path: path.into() }),
        }
    }

    #[test]
    fn records_read_back_up_to_the_zero_fill() {
        let txns = vec![txn(1, "/a"), txn(2, "/b"), txn(3, "/c")];
        let mut bytes = encode_file(&txns);
        bytes.resize(bytes.len() + 4096, 0);
        assert_eq!(read_file(Path::new("log.1"), &bytes).unwrap(), (txns, FileEnd::Clean));
    }

    #[test]
    fn a_repeated_run_of_txns_is_read_once_and_a_different_one_is_damage() {
        // As a ZooKeeper 3.8 follower wrote it: 1..3, then 1..4 again after a DIFF.
        let once = vec![txn(1, "/a"), txn(2, "/b"), txn(3, "/c")];
        let again = [once.clone(), vec![txn(1, "/a"), txn(2, "/b"), txn(3, "/c"), txn(4, "/d")]].concat();
        let (got, end) = read_file(Path::new("log.1"), &encode_file(&again)).unwrap();
        assert_eq!((got, end), ([once.clone(), vec![txn(4, "/d")]].concat(), FileEnd::Clean));
        // Zxid 2 again, but another txn: not a repeat.
        let forked = [once.clone(), vec![txn(2, "/other")]].concat();
        let err = read_file(Path::new("log.1"), &encode_file(&forked)).unwrap_err().to_string();
        assert!(err.contains("zxid 0x2 does not follow 0x3"), "{err}");
        // Backwards to a zxid the file never had.
        let gap = vec![txn(1, "/a"), txn(5, "/e"), txn(3, "/c")];
        assert!(read_file(Path::new("log.1"), &encode_file(&gap)).is_err());
    }

    #[test]
    fn a_torn_last_record_ends_the_file_as_zookeeper_reads_it() {
        let txns = vec![txn(1, "/a"), txn(2, "/b")];
        let whole = encode_file(&txns);
        let first_end = encode_file(&txns[..1]).len();
        for cut in first_end + 1..whole.len() {
            let (got, end) = read_file(Path::new("log.1"), &whole[..cut]).unwrap();
            assert_eq!(got, txns[..1].to_vec(), "cut at {cut}");
            assert_eq!(end, FileEnd::Torn { offset: first_end as u64 });
        }
        // The body written, the 'B' not yet: zeros follow.
        let mut zeros = whole.clone();
        *zeros.last_mut().unwrap() = 0;
        assert_eq!(read_file(Path::new("log.1"), &zeros).unwrap().1, FileEnd::Torn { offset: first_end as u64 });
    }

    #[test]
    fn a_checksum_mismatch_is_damage_with_file_and_offset() {
        let txns = vec![txn(1, "/a"), txn(2, "/b")];
        let mut bytes = encode_file(&txns);
        let second = encode_file(&txns[..1]).len();
        let n = bytes.len();
        bytes[n - 3] ^= 1;
        let e = read_file(Path::new("/d/log.1"), &bytes).unwrap_err().to_string();
        assert!(e.contains("/d/log.1") && e.contains(&format!("offset {second}")) && e.contains("checksum"), "{e}");
        let mut bytes = encode_file(&txns);
        bytes[0] = b'X';
        assert!(read_file(Path::new("log.1"), &bytes).unwrap_err().to_string().contains("ZKLG"));
    }
}
