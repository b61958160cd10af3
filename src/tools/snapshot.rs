//! `zabkeeper snapshot`: the znodes (path, Stat, ACL, data), sessions and zxid of a snapshot,
//! like ZooKeeper's zkSnapShotToolkit: a given file, or the newest snapshot of a dataDir that
//! verifies and decodes (as recovery picks it; the newer ones skipped are said). Ours are read
//! with `storage::snapfile::open_file` and `tree::snapshot::decode_from` (checksum checked at
//! the end, as the server does), Apache ZooKeeper's with `zkfmt::snapshot`.
//!
//! Owns: the text and JSON rendering of a snapshot's tree.
//! Must never: write to the data directory (not even removing a stale `.tmp`), or show a
//! tree from a file that failed its checksum.

use super::{acl_json, acl_text, data_json, data_text, file_kind, iso_time, version2_dir, FileKind, ToolError};
use crate::tree::DataTree;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// One JSON document instead of text.
    pub json: bool,
    /// Data always as hex (else as text when it is printable UTF-8).
    pub hex: bool,
}

/// A snapshot read back whole.
pub struct Loaded {
    pub file: PathBuf,
    /// `zabkeeper` or `zookeeper`.
    pub format: &'static str,
    pub zxid: i64,
    pub tree: DataTree,
    /// Newer snapshots of the directory that did not read back, one sentence each.
    pub skipped: Vec<String>,
}

/// Reads one snapshot file of either format, checking its checksums to the end.
pub fn load_file(path: &Path) -> Result<(i64, &'static str, DataTree), ToolError> {
    match file_kind(path)? {
        FileKind::OurSnapshot => {
            let (zxid, mut body, len) = crate::storage::snapfile::open_file(path)?;
            match crate::tree::snapshot::decode_from(&mut *body, len) {
                Ok(tree) => Ok((zxid, "zabkeeper", tree)),
                Err(e) => {
                    // A damaged byte usually breaks the decoding before the end, where the
                    // checksum is checked: read on, so damage is called damage.
                    let why = match std::io::copy(&mut body, &mut std::io::sink()) {
                        Err(c) if c.kind() == std::io::ErrorKind::InvalidData => format!(
                            "checksum mismatch over the body (offsets {} to {}), so the file is damaged",
                            crate::storage::snapfile::HEADER_LEN,
                            crate::storage::snapfile::HEADER_LEN as u64 + len
                        ),
                        _ => format!("does not read back: {e}"),
                    };
                    Err(ToolError(format!("{}: snapshot 0x{zxid:x}: {why}", path.display())))
                }
            }
        }
        FileKind::ZkSnapshot => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let zxid = crate::zkfmt::zxid_of_name(name, "snapshot").ok_or_else(|| {
                ToolError(format!(
                    "{}: a ZooKeeper snapshot's zxid is in its name; keep it named snapshot.<zxid hex>",
                    path.display()
                ))
            })?;
            let bytes = std::fs::read(path).map_err(|e| ToolError(format!("cannot read {}: {e}", path.display())))?;
            Ok((zxid, "zookeeper", crate::zkfmt::snapshot::decode_file(path, &bytes, zxid)?))
        }
        FileKind::OurLog | FileKind::ZkLog => {
            Err(ToolError(format!("{} is a txn log, not a snapshot (try zabkeeper txnlog)", path.display())))
        }
        FileKind::Unknown => {
            Err(ToolError(format!("{} is not a snapshot (its first bytes are neither ZBKF nor ZKSN)", path.display())))
        }
    }
}

/// The snapshot files of a `version-2` directory, newest first (unfinished `.tmp` files are
/// not snapshots).
pub fn snapshot_files(v2: &Path) -> Result<Vec<(i64, PathBuf)>, ToolError> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(v2).map_err(|e| ToolError(format!("cannot read {}: {e}", v2.display())))? {
        let e = e.map_err(|e| ToolError(format!("cannot read {}: {e}", v2.display())))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            continue;
        }
        if let Some(z) = crate::zkfmt::zxid_of_name(name, "snapshot") {
            v.push((z, e.path()));
        }
    }
    v.sort_by(|a, b| b.cmp(a));
    Ok(v)
}

/// A snapshot file, or the newest snapshot of a dataDir that reads back whole.
pub fn load(path: &Path) -> Result<Loaded, ToolError> {
    let meta = std::fs::metadata(path).map_err(|e| ToolError(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_file() {
        let (zxid, format, tree) = load_file(path)?;
        return Ok(Loaded { file: path.to_path_buf(), format, zxid, tree, skipped: Vec::new() });
    }
    let v2 = version2_dir(path)?;
    let files = snapshot_files(&v2)?;
    if files.is_empty() {
        return Err(ToolError(format!("no snapshot files in {}", v2.display())));
    }
    let mut skipped = Vec::new();
    for (_, file) in files {
        match load_file(&file) {
            Ok((zxid, format, tree)) => return Ok(Loaded { file, format, zxid, tree, skipped }),
            Err(e) => skipped.push(e.0),
        }
    }
    Err(ToolError(format!("no snapshot in {} reads back: {}", v2.display(), skipped.join("; "))))
}

/// Every znode's path, sorted.
fn paths(tree: &DataTree) -> Vec<String> {
    let mut v = Vec::with_capacity(tree.node_count());
    tree.walk(|p, _| v.push(p.to_owned()));
    v.sort();
    v
}

/// Sessions sorted by id, with their timeouts and ephemeral counts.
fn sessions(tree: &DataTree) -> Vec<(i64, i32, usize)> {
    let mut v: Vec<(i64, i32, usize)> =
        tree.sessions().iter().map(|(&id, &to)| (id, to, tree.ephemerals_of(id).len())).collect();
    v.sort_unstable();
    v
}

/// Prints `s` as text (a block per znode, then the sessions) or as one JSON document.
pub fn dump(s: &Loaded, opts: Options, out: &mut dyn Write) -> std::io::Result<()> {
    if opts.json {
        return dump_json(s, opts, out);
    }
    let t = &s.tree;
    writeln!(
        out,
        "snapshot 0x{:x} ({} format) from {}: {} znodes, {} sessions",
        s.zxid,
        s.format,
        s.file.display(),
        t.node_count(),
        t.sessions().len()
    )?;
    for p in paths(t) {
        let Some(n) = t.get(&p) else { continue };
        let st = n.stat();
        writeln!(out, "{p}")?;
        writeln!(
            out,
            "  czxid=0x{:x} mzxid=0x{:x} pzxid=0x{:x} ctime={} mtime={}",
            st.czxid,
            st.mzxid,
            st.pzxid,
            iso_time(st.ctime),
            iso_time(st.mtime)
        )?;
        writeln!(
            out,
            "  version={} cversion={} aversion={} ephemeralOwner=0x{:x} dataLength={} numChildren={}",
            st.version, st.cversion, st.aversion, st.ephemeral_owner, st.data_length, st.num_children
        )?;
        writeln!(out, "  acl={}", acl_text(&t.acl_of(n)))?;
        writeln!(out, "  data={}", data_text(n.data(), opts.hex))?;
    }
    let sessions = sessions(t);
    writeln!(out, "sessions ({}):", sessions.len())?;
    for (id, to, eph) in sessions {
        writeln!(out, "  0x{id:x} timeout={to} ephemerals={eph}")?;
    }
    writeln!(out, "last zxid 0x{:x}", t.last_zxid())
}

/// One JSON document, the znodes written one at a time (the tree is never copied whole).
fn dump_json(s: &Loaded, opts: Options, out: &mut dyn Write) -> std::io::Result<()> {
    let t = &s.tree;
    let sessions: Vec<Value> = sessions(t)
        .into_iter()
        .map(|(id, to, eph)| json!({"id": format!("0x{id:x}"), "timeout": to, "ephemerals": eph}))
        .collect();
    let head = json!({
        "file": s.file.display().to_string(),
        "format": s.format,
        "zxid": s.zxid,
        "zxid_hex": format!("0x{:x}", s.zxid),
        "last_zxid": t.last_zxid(),
        "znode_count": t.node_count(),
        "sessions": sessions,
    });
    let head = head.to_string();
    // The header's fields, then "znodes" as the last field.
    write!(out, "{},\"znodes\":[", &head[..head.len() - 1])?;
    for (i, p) in paths(t).into_iter().enumerate() {
        let Some(n) = t.get(&p) else { continue };
        let st = n.stat();
        let mut o = Map::new();
        o.insert("path".into(), p.into());
        o.insert(
            "stat".into(),
            json!({
                "czxid": st.czxid, "mzxid": st.mzxid, "pzxid": st.pzxid,
                "ctime": st.ctime, "mtime": st.mtime,
                "version": st.version, "cversion": st.cversion, "aversion": st.aversion,
                "ephemeralOwner": format!("0x{:x}", st.ephemeral_owner),
                "dataLength": st.data_length, "numChildren": st.num_children,
            }),
        );
        o.insert("acl".into(), acl_json(&t.acl_of(n)));
        data_json(&mut o, n.data(), opts.hex);
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &Value::Object(o))?;
    }
    writeln!(out, "]}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::snapfile::FileSnapshotStore;
    use crate::storage::snapshot::SnapshotStore;

    fn write(dir: &Path, tree: &DataTree, zxid: i64) {
        let mut store = FileSnapshotStore::open(dir).unwrap();
        let mut sink = store.begin(zxid).unwrap();
        crate::tree::snapshot::encode_image(&tree.image(), |p| sink.write(&p)).unwrap();
        sink.finish().unwrap();
    }

    #[test]
    fn newest_snapshot_that_reads_back_is_shown_and_damage_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let tree = DataTree::new();
        write(dir.path(), &tree, 0);
        write(dir.path(), &tree, 7);
        let newest = dir.path().join("version-2").join(crate::storage::snapfile::snapshot_name(7));
        let mut b = std::fs::read(&newest).unwrap();
        let n = b.len();
        b[n - 3] ^= 1;
        std::fs::write(&newest, &b).unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded.zxid, 0);
        assert!(loaded.skipped[0].contains("snapshot.0000000000000007"), "{:?}", loaded.skipped);
        let mut out = Vec::new();
        dump(&loaded, Options::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\n/zookeeper\n  czxid=0x0") && text.contains("acl=world:anyone:cdrwa"), "{text}");
        let mut out = Vec::new();
        dump(&loaded, Options { json: true, hex: true }, &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["znodes"][0]["path"], "/");
        assert_eq!(v["znode_count"], v["znodes"].as_array().unwrap().len());
        assert!(load(&newest).err().unwrap().to_string().contains("checksum"));
    }

    #[test]
    fn reads_a_zookeeper_snapshot_by_its_magic() {
        let dir = tempfile::tempdir().unwrap();
        let v2 = dir.path().join("version-2");
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(v2.join("snapshot.0"), crate::zkfmt::snapshot::encode_file(&DataTree::new())).unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!((loaded.format, loaded.zxid), ("zookeeper", 0));
        assert!(loaded.tree.get("/zookeeper").is_some());
        let log = v2.join("log.1");
        std::fs::write(&log, crate::zkfmt::txnlog::encode_file(&[])).unwrap();
        assert!(load(&log).err().unwrap().to_string().contains("txn log, not a snapshot"));
    }
}
