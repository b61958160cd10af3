//! Offline data tools, like ZooKeeper's zkTxnLogToolkit and zkSnapShotToolkit, for the
//! `zabkeeper txnlog`, `zabkeeper snapshot` and `zabkeeper verify` subcommands: dumping a
//! txn log (`txnlog`), dumping a snapshot (`snapshot`) and checking a whole data directory
//! (`verify`). Our files are read through `storage`'s read-only readers (the same checks the
//! server's recovery makes); Apache ZooKeeper's `log.*` / `snapshot.*` files, told apart by
//! their magic, through `zkfmt`.
//!
//! Owns: finding the files of a data directory, and rendering txns, znodes and findings as
//! text or JSON.
//! Must never: write to, create, rename or remove anything in a data directory (every file is
//! opened read-only, and none of `storage`'s opening paths that repair or create is used), or
//! stop at a problem without naming its file and offset.

pub mod snapshot;
pub mod txnlog;
pub mod verify;

use crate::proto::records::Acl;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A tool's failure: a complete sentence naming what could not be read, and where.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

impl From<crate::storage::StorageError> for ToolError {
    fn from(e: crate::storage::StorageError) -> Self {
        ToolError(e.to_string())
    }
}

impl From<crate::zkfmt::ZkFormatError> for ToolError {
    fn from(e: crate::zkfmt::ZkFormatError) -> Self {
        ToolError(e.to_string())
    }
}

/// Which format a file is in, from its first four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Our txn log segment (`ZBKL`).
    OurLog,
    /// Our snapshot file (`ZBKF`).
    OurSnapshot,
    /// Apache ZooKeeper's txn log (`ZKLG`).
    ZkLog,
    /// Apache ZooKeeper's snapshot (`ZKSN`, or gzip-compressed).
    ZkSnapshot,
    /// Anything else (including an all-zero or empty file).
    Unknown,
}

/// Sniffs the format of the file at `path` (read-only).
pub fn file_kind(path: &Path) -> Result<FileKind, ToolError> {
    let mut f = std::fs::File::open(path).map_err(|e| ToolError(format!("cannot open {}: {e}", path.display())))?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ToolError(format!("cannot read {}: {e}", path.display()))),
        }
    }
    Ok(match &magic[..n] {
        m if m == crate::storage::wal::SEGMENT_MAGIC => FileKind::OurLog,
        m if m == crate::storage::snapfile::MAGIC => FileKind::OurSnapshot,
        m if m == crate::zkfmt::txnlog::LOG_MAGIC => FileKind::ZkLog,
        m if m == crate::zkfmt::snapshot::SNAP_MAGIC => FileKind::ZkSnapshot,
        [0x1f, 0x8b, ..] => FileKind::ZkSnapshot,
        _ => FileKind::Unknown,
    })
}

/// The `version-2` directory of a dataDir or dataLogDir given on the command line (or that
/// directory itself, if given). A readable error if it is missing or not a directory.
pub fn version2_dir(dir: &Path) -> Result<PathBuf, ToolError> {
    let meta = std::fs::metadata(dir).map_err(|e| ToolError(format!("cannot read {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(ToolError(format!("{} is not a directory", dir.display())));
    }
    let v2 = dir.join("version-2");
    if v2.is_dir() {
        return Ok(v2);
    }
    if dir.file_name().is_some_and(|n| n == "version-2") {
        return Ok(dir.to_path_buf());
    }
    Err(ToolError(format!("{} has no version-2 directory, so it is not a dataDir or dataLogDir", dir.display())))
}

/// A zxid's epoch (its high 32 bits).
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// Milliseconds since 1970 as ISO 8601 in UTC: `2024-05-01T12:34:56.789Z`.
pub fn iso_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::zkcli::format::civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", tod / 3600, tod % 3600 / 60, tod % 60, ms.rem_euclid(1000))
}

/// Lowercase hex of `b`, no prefix.
pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// `b` as text if it is UTF-8 without control characters other than tab, CR and LF.
pub fn printable(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    s.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')).then_some(s)
}

/// Data for one line of text: `"text"` (escaped) when printable and not `force_hex`, else
/// `0x<hex>`; `null` for no data.
pub fn data_text(data: Option<&[u8]>, force_hex: bool) -> String {
    match data {
        None => "null".into(),
        Some(d) => match printable(d).filter(|_| !force_hex) {
            Some(s) => format!("{s:?}"),
            None => format!("0x{}", hex(d)),
        },
    }
}

/// Adds data to a JSON object: `"data": "text"` when printable and not `force_hex`, else
/// `"data_hex": "…"`; `"data": null` for no data.
pub fn data_json(obj: &mut serde_json::Map<String, serde_json::Value>, data: Option<&[u8]>, force_hex: bool) {
    match data {
        None => {
            obj.insert("data".into(), serde_json::Value::Null);
        }
        Some(d) => match printable(d).filter(|_| !force_hex) {
            Some(s) => {
                obj.insert("data".into(), s.into());
            }
            None => {
                obj.insert("data_hex".into(), hex(d).into());
            }
        },
    }
}

/// An ACL as zkCli's setAcl takes it: `world:anyone:cdrwa,digest:bob:x=:r`.
pub fn acl_text(acl: &[Acl]) -> String {
    let v: Vec<String> = acl
        .iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, crate::zkcli::format::perm_string(a.perms)))
        .collect();
    if v.is_empty() {
        "[]".into()
    } else {
        v.join(",")
    }
}

/// An ACL as JSON: a list of `{"scheme", "id", "perms": "cdrwa"}`.
pub fn acl_json(acl: &[Acl]) -> serde_json::Value {
    acl.iter()
        .map(|a| {
            serde_json::json!({
                "scheme": a.id.scheme,
                "id": a.id.id,
                "perms": crate::zkcli::format::perm_string(a.perms),
            })
        })
        .collect::<Vec<_>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(1_714_566_896_789), "2024-05-01T12:34:56.789Z");
        assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn data_is_text_when_printable_else_hex() {
        assert_eq!(data_text(Some(b"hello \"x\"\n"), false), r#""hello \"x\"\n""#);
        assert_eq!(data_text(Some(&[0, 1, 0xff]), false), "0x0001ff");
        assert_eq!(data_text(Some(b"ab"), true), "0x6162");
        assert_eq!(data_text(Some(b""), false), "\"\"");
        assert_eq!(data_text(None, false), "null");
        let mut o = serde_json::Map::new();
        data_json(&mut o, Some(&[0xc3, 0x28]), false);
        assert_eq!(serde_json::Value::Object(o).to_string(), r#"{"data_hex":"c328"}"#);
    }

    #[test]
    fn acls_render_as_zkcli_takes_them() {
        let acl = vec![Acl::new(31, "world", "anyone"), Acl::new(1, "digest", "bob:x=")];
        assert_eq!(acl_text(&acl), "world:anyone:cdrwa,digest:bob:x=:r");
        assert_eq!(acl_json(&acl)[1]["perms"], "r");
    }

    #[test]
    fn formats_are_told_apart_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], FileKind); 5] = [
            (b"ZBKL\0\0\0\x01", FileKind::OurLog),
            (b"ZBKF", FileKind::OurSnapshot),
            (b"ZKLG\0\0\0\x02", FileKind::ZkLog),
            (b"ZKSN", FileKind::ZkSnapshot),
            (b"", FileKind::Unknown),
        ];
        for (i, (bytes, kind)) in cases.iter().enumerate() {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, bytes).unwrap();
            assert_eq!(file_kind(&p).unwrap(), *kind);
        }
        assert!(file_kind(&dir.path().join("missing")).unwrap_err().to_string().contains("cannot open"));
        assert!(version2_dir(&dir.path().join("f0")).unwrap_err().to_string().contains("not a directory"));
        assert!(version2_dir(dir.path()).unwrap_err().to_string().contains("no version-2"));
    }
}
