//! `zabkeeper txnlog`: every txn of a txn log, one per line (a multi's ops indented on the
//! lines after it) or one JSON object per line, like ZooKeeper's zkTxnLogToolkit dump, from a
//! dataDir / dataLogDir (every segment, oldest first) or one segment file; ours are read with
//! `storage::wal::inspect_segment` (the checks the server's recovery makes, without its
//! repair), Apache ZooKeeper's `log.*` files with `zkfmt::txnlog`.
//!
//! Owns: the readable and the JSON rendering of a `Txn`.
//! Must never: write to the log directory, or pass over a damaged record without saying so
//! with its file and offset (reading stops at damage, as the server's would).

use super::{acl_json, acl_text, data_json, data_text, file_kind, iso_time, version2_dir, FileKind, ToolError};
use crate::proto::codes::{op, ErrorCode};
use crate::storage::wal::{inspect_segment, parse_segment_name, Inspected, LogOptions};
use crate::txn::{Txn, TxnBody};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What to print.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only txns with a zxid at or above this.
    pub from: Option<i64>,
    /// Only txns with a zxid at or below this.
    pub to: Option<i64>,
    /// One JSON object per txn instead of text.
    pub json: bool,
}

/// What a dump read.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Log files read.
    pub files: usize,
    /// Txns printed (within `from`..=`to`).
    pub count: u64,
    /// The first and last zxid printed.
    pub first: Option<i64>,
    pub last: Option<i64>,
    /// Things recovery tolerates (a torn tail, an empty last segment), one sentence each.
    pub warnings: Vec<String>,
    /// Damage that stopped the reading, one sentence each with file and offset.
    pub damage: Vec<String>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} txns from {} log file(s)", self.count, self.files)?;
        match (self.first, self.last) {
            (Some(a), Some(b)) => write!(f, ", zxid 0x{a:x} to 0x{b:x}"),
            _ => Ok(()),
        }
    }
}

/// A log file to read, and how.
#[derive(Debug, Clone)]
enum Source {
    /// Ours; `name_zxid` when its name is `log.<16 hex digits>`, `is_last` when it is the
    /// newest segment (only there recovery tolerates a torn tail).
    Ours { path: PathBuf, name_zxid: Option<i64>, is_last: bool },
    /// Apache ZooKeeper's.
    Zk { path: PathBuf },
}

/// The log files `path` names: one file, or every `log.*` of a directory's `version-2`.
fn sources(path: &Path) -> Result<Vec<Source>, ToolError> {
    let meta = std::fs::metadata(path).map_err(|e| ToolError(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_file() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        return match file_kind(path)? {
            FileKind::OurLog => {
                Ok(vec![Source::Ours { path: path.to_path_buf(), name_zxid: parse_segment_name(name), is_last: true }])
            }
            FileKind::ZkLog => Ok(vec![Source::Zk { path: path.to_path_buf() }]),
            FileKind::OurSnapshot | FileKind::ZkSnapshot => {
                Err(ToolError(format!("{} is a snapshot, not a txn log (try zabkeeper snapshot)", path.display())))
            }
            FileKind::Unknown => Err(ToolError(format!(
                "{} is not a txn log (its first bytes are neither ZBKL nor ZKLG)",
                path.display()
            ))),
        };
    }
    let v2 = version2_dir(path)?;
    let mut files = Vec::new();
    for e in std::fs::read_dir(&v2).map_err(|e| ToolError(format!("cannot read {}: {e}", v2.display())))? {
        let e = e.map_err(|e| ToolError(format!("cannot read {}: {e}", v2.display())))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(z) = crate::zkfmt::zxid_of_name(name, "log").filter(|_| !name.ends_with(".tmp")) {
            files.push((z, e.path(), parse_segment_name(name)));
        }
    }
    files.sort();
    let n = files.len();
    files
        .into_iter()
        .enumerate()
        .map(|(i, (_, path, name_zxid))| {
            Ok(match file_kind(&path)? {
                FileKind::ZkLog => Source::Zk { path },
                _ => Source::Ours { path, name_zxid, is_last: i + 1 == n },
            })
        })
        .collect()
}

/// Prints every txn under `path` (a file or a directory) within `opts`' range to `out`.
/// Damage stops the reading and is returned in the summary (after the txns before it were
/// printed); an unreadable path or a failed write is an error.
pub fn dump(path: &Path, opts: &Options, out: &mut dyn Write) -> Result<Summary, ToolError> {
    let sources = sources(path)?;
    let mut sum = Summary::default();
    let max_payload = LogOptions::default().max_payload;
    let mut prev = 0;
    let mut write_err = None;
    for src in sources {
        sum.files += 1;
        let mut emit = |txn: &Txn, sum: &mut Summary| {
            let z = txn.zxid();
            if opts.from.is_some_and(|f| z < f) || opts.to.is_some_and(|t| z > t) || write_err.is_some() {
                return;
            }
            let line = if opts.json { txn_json(txn).to_string() } else { txn_text(txn) };
            if let Err(e) = writeln!(out, "{line}") {
                write_err = Some(e);
                return;
            }
            sum.count += 1;
            sum.first.get_or_insert(z);
            sum.last = Some(z);
        };
        match &src {
            Source::Ours { path, name_zxid, is_last } => {
                let mut undecodable = None;
                let r = inspect_segment(path, *name_zxid, prev, *is_last, max_payload, |off, zxid, payload| {
                    if undecodable.is_some() {
                        return;
                    }
                    match Txn::decode(payload) {
                        Ok(t) => emit(&t, &mut sum),
                        Err(e) => {
                            undecodable = Some(format!(
                                "{}: the record at offset {off} (zxid 0x{zxid:x}) does not decode as a txn: {e}",
                                path.display()
                            ))
                        }
                    }
                });
                if let Some(u) = undecodable {
                    sum.damage.push(u);
                    break;
                }
                match r {
                    Ok(Inspected::Clean { last, .. }) => prev = last.unwrap_or(prev),
                    Ok(Inspected::NoHeader) => sum.warnings.push(format!(
                        "{}: no segment header (an unused last segment, which recovery removes)",
                        path.display()
                    )),
                    Ok(Inspected::Torn { last, end, reason }) => {
                        prev = last.unwrap_or(prev);
                        sum.warnings.push(format!(
                            "{}: torn tail at offset {end} ({reason}); recovery truncates the log there",
                            path.display()
                        ));
                    }
                    Err(e) if e.is_corrupt() => {
                        sum.damage.push(e.to_string());
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Source::Zk { path } => {
                let bytes =
                    std::fs::read(path).map_err(|e| ToolError(format!("cannot read {}: {e}", path.display())))?;
                match crate::zkfmt::txnlog::read_file(path, &bytes) {
                    Ok((txns, end)) => {
                        for t in &txns {
                            emit(t, &mut sum);
                        }
                        if let crate::zkfmt::txnlog::FileEnd::Torn { offset } = end {
                            sum.warnings.push(format!(
                                "{}: torn record at offset {offset}; ZooKeeper ends this file's data there",
                                path.display()
                            ));
                        }
                    }
                    Err(e) => {
                        sum.damage.push(e.to_string());
                        break;
                    }
                }
            }
        }
        if let Some(e) = write_err.take() {
            return Err(ToolError(format!("writing the output: {e}")));
        }
    }
    Ok(sum)
}

/// The name of a txn type as ZooKeeper's tools print it (`create`, `setData`, `multi`, …).
pub fn op_name(type_: i32) -> String {
    match type_ {
        op::CREATE => "create",
        op::CREATE2 => "create2",
        op::CREATE_CONTAINER => "createContainer",
        op::CREATE_TTL => "createTTL",
        op::DELETE => "delete",
        op::DELETE_CONTAINER => "deleteContainer",
        op::SET_DATA => "setData",
        op::SET_ACL => "setACL",
        op::CHECK => "check",
        op::MULTI => "multi",
        op::RECONFIG => "reconfig",
        op::CREATE_SESSION => "createSession",
        op::CLOSE_SESSION => "closeSession",
        op::ERROR => "error",
        other => return format!("type{other}"),
    }
    .into()
}

/// True if the last component of `path` ends in the 10 digits ZooKeeper appends to a
/// sequential znode's name (the txn itself does not record the flag).
fn looks_sequential(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    name.len() >= 10 && name.as_bytes()[name.len() - 10..].iter().all(u8::is_ascii_digit)
}

fn error_name(err: i32) -> String {
    match ErrorCode::from_code(err) {
        Some(c) => format!("{err} ({c:?})"),
        None => err.to_string(),
    }
}

/// One txn as text: time, session, cxid, zxid, op and its fields; a multi's ops follow on
/// their own lines, indented.
pub fn txn_text(t: &Txn) -> String {
    let h = &t.header;
    let mut s = format!(
        "{} session 0x{:x} cxid 0x{:x} zxid 0x{:x} {}",
        iso_time(h.time),
        h.client_id,
        h.cxid,
        h.zxid,
        op_name(h.type_)
    );
    match &t.body {
        TxnBody::Multi(ops) => {
            s.push_str(&format!(" ({} ops)", ops.len()));
            for (ty, b) in ops {
                s.push_str(&format!("\n    {}{}", op_name(*ty), body_text(b)));
            }
        }
        b => s.push_str(&body_text(b)),
    }
    s
}

/// A txn body's fields as ` key=value` pairs.
fn body_text(b: &TxnBody) -> String {
    let create = |path: &str, data: &Option<bytes::Bytes>, acl, flags: String, pcv: i32| {
        format!(
            " path={path:?} data={} acl={} {flags}parent_cversion={pcv}",
            data_text(data.as_deref(), false),
            acl_text(acl)
        )
    };
    let seq = |p: &str| if looks_sequential(p) { "sequential " } else { "" };
    match b {
        TxnBody::Create(c) => create(
            &c.path,
            &c.data,
            &c.acl,
            format!("{}{}", if c.ephemeral { "ephemeral " } else { "" }, seq(&c.path)),
            c.parent_cversion,
        ),
        TxnBody::CreateContainer(c) => create(&c.path, &c.data, &c.acl, "container ".into(), c.parent_cversion),
        TxnBody::CreateTtl(c) => {
            create(&c.path, &c.data, &c.acl, format!("{}ttl={} ", seq(&c.path), c.ttl), c.parent_cversion)
        }
        TxnBody::Delete(d) => format!(" path={:?}", d.path),
        TxnBody::SetData(d) => {
            format!(" path={:?} data={} version={}", d.path, data_text(d.data.as_deref(), false), d.version)
        }
        TxnBody::SetAcl(a) => format!(" path={:?} acl={} version={}", a.path, acl_text(&a.acl), a.version),
        TxnBody::Check(c) => format!(" path={:?} version={}", c.path, c.version),
        TxnBody::CreateSession(c) => format!(" timeout={}", c.time_out),
        TxnBody::CloseSession(c) => format!(" deletes={:?}", c.paths2_delete),
        TxnBody::Error(e) => format!(" err={}", error_name(e.err)),
        TxnBody::Multi(ops) => format!(" ({} ops)", ops.len()),
    }
}

/// One txn as a JSON object: `time` (ISO), `time_ms`, `session` and `zxid_hex` as hex
/// strings, `cxid`, `zxid`, `op`, the op's fields, and `ops` (a list of `{op, …}`) for a multi.
pub fn txn_json(t: &Txn) -> Value {
    let h = &t.header;
    let mut o = Map::new();
    o.insert("time".into(), iso_time(h.time).into());
    o.insert("time_ms".into(), h.time.into());
    o.insert("session".into(), format!("0x{:x}", h.client_id).into());
    o.insert("cxid".into(), h.cxid.into());
    o.insert("zxid".into(), h.zxid.into());
    o.insert("zxid_hex".into(), format!("0x{:x}", h.zxid).into());
    o.insert("op".into(), op_name(h.type_).into());
    body_json(&t.body, &mut o);
    Value::Object(o)
}

fn body_json(b: &TxnBody, o: &mut Map<String, Value>) {
    let mut put = |k: &str, v: Value| {
        o.insert(k.into(), v);
    };
    match b {
        TxnBody::Create(c) => {
            put("path", c.path.clone().into());
            put("acl", acl_json(&c.acl));
            put("ephemeral", c.ephemeral.into());
            put("sequential", looks_sequential(&c.path).into());
            put("parent_cversion", c.parent_cversion.into());
            data_json(o, c.data.as_deref(), false);
        }
        TxnBody::CreateContainer(c) => {
            put("path", c.path.clone().into());
            put("acl", acl_json(&c.acl));
            put("container", true.into());
            put("parent_cversion", c.parent_cversion.into());
            data_json(o, c.data.as_deref(), false);
        }
        TxnBody::CreateTtl(c) => {
            put("path", c.path.clone().into());
            put("acl", acl_json(&c.acl));
            put("ttl", c.ttl.into());
            put("sequential", looks_sequential(&c.path).into());
            put("parent_cversion", c.parent_cversion.into());
            data_json(o, c.data.as_deref(), false);
        }
        TxnBody::Delete(d) => put("path", d.path.clone().into()),
        TxnBody::SetData(d) => {
            put("path", d.path.clone().into());
            put("version", d.version.into());
            data_json(o, d.data.as_deref(), false);
        }
        TxnBody::SetAcl(a) => {
            put("path", a.path.clone().into());
            put("acl", acl_json(&a.acl));
            put("version", a.version.into());
        }
        TxnBody::Check(c) => {
            put("path", c.path.clone().into());
            put("version", c.version.into());
        }
        TxnBody::CreateSession(c) => put("timeout", c.time_out.into()),
        TxnBody::CloseSession(c) => put("deletes", json!(c.paths2_delete)),
        TxnBody::Error(e) => {
            put("err", e.err.into());
            if let Some(c) = ErrorCode::from_code(e.err) {
                put("err_name", format!("{c:?}").into());
            }
        }
        TxnBody::Multi(ops) => {
            let v: Vec<Value> = ops
                .iter()
                .map(|(ty, b)| {
                    let mut m = Map::new();
                    m.insert("op".into(), op_name(*ty).into());
                    body_json(b, &mut m);
                    Value::Object(m)
                })
                .collect();
            put("ops", v.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::records::*;
    use bytes::Bytes;

    fn multi() -> Txn {
        Txn {
            header: TxnHeader { client_id: 0x1_0000_0001, cxid: 9, zxid: 0x1_0000_0005, time: 0, type_: op::MULTI },
            body: TxnBody::Multi(vec![
                (
                    op::CREATE,
                    TxnBody::Create(CreateTxn {
                        path: "/q/item-0000000003".into(),
                        data: Some(Bytes::from_static(b"x")),
                        acl: vec![Acl::new(31, "world", "anyone")],
                        ephemeral: true,
                        parent_cversion: 4,
                    }),
                ),
                (
                    op::SET_DATA,
                    TxnBody::SetData(SetDataTxn {
                        path: "/b".into(),
                        data: Some(Bytes::from_static(&[0, 1])),
                        version: 2,
                    }),
                ),
                (op::ERROR, TxnBody::Error(ErrorTxn { err: -101 })),
            ]),
        }
    }

    #[test]
    fn text_has_header_fields_and_indented_multi_ops() {
        let text = txn_text(&multi());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "1970-01-01T00:00:00.000Z session 0x100000001 cxid 0x9 zxid 0x100000005 multi (3 ops)");
        assert_eq!(
            lines[1],
            "    create path=\"/q/item-0000000003\" data=\"x\" acl=world:anyone:cdrwa ephemeral sequential parent_cversion=4"
        );
        assert_eq!(lines[2], "    setData path=\"/b\" data=0x0001 version=2");
        assert_eq!(lines[3], "    error err=-101 (NoNode)");
    }

    #[test]
    fn json_carries_the_same_fields() {
        let v = txn_json(&multi());
        assert_eq!(v["op"], "multi");
        assert_eq!(v["zxid"], 0x1_0000_0005i64);
        assert_eq!(v["session"], "0x100000001");
        assert_eq!(v["ops"][0]["path"], "/q/item-0000000003");
        assert_eq!(v["ops"][0]["ephemeral"], true);
        assert_eq!(v["ops"][0]["sequential"], true);
        assert_eq!(v["ops"][1]["data_hex"], "0001");
        assert_eq!(v["ops"][2]["err_name"], "NoNode");
        let ttl = Txn {
            header: TxnHeader { client_id: 1, cxid: 1, zxid: 2, time: 0, type_: op::CREATE_TTL },
            body: TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: None,
                acl: vec![],
                parent_cversion: 1,
                ttl: 5000,
            }),
        };
        assert!(txn_text(&ttl).ends_with("createTTL path=\"/t\" data=null acl=[] ttl=5000 parent_cversion=1"));
        assert_eq!(txn_json(&ttl)["ttl"], 5000);
    }

    #[test]
    fn dumps_a_log_directory_with_range_and_reports_damage() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LogOptions { pre_alloc_size: 4096, ..LogOptions::default() };
        let mut log = crate::storage::wal::TxnLog::open(dir.path(), opts).unwrap();
        for z in 1..=6 {
            let t = Txn {
                header: TxnHeader { client_id: 1, cxid: z as i32, zxid: z, time: 0, type_: op::DELETE },
                body: TxnBody::Delete(DeleteTxn { path: format!("/n{z}") }),
            };
            log.append(z, &t.encode()).unwrap();
            if z == 3 {
                log.roll().unwrap();
            }
        }
        log.sync().unwrap();
        let segs = log.segments();
        drop(log);
        let mut out = Vec::new();
        let opts = Options { from: Some(2), to: Some(5), json: false };
        let sum = dump(dir.path(), &opts, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!((sum.files, sum.count, sum.first, sum.last), (2, 4, Some(2), Some(5)));
        assert!(text.contains("delete path=\"/n2\"") && !text.contains("/n6"), "{text}");
        assert!(sum.damage.is_empty() && sum.warnings.is_empty());
        // A flipped byte in the first segment's second record stops the dump there.
        let mut bytes = std::fs::read(&segs[0]).unwrap();
        let second = 32 + u32::from_be_bytes(bytes[16..20].try_into().unwrap()) as usize;
        bytes[second + 20] ^= 1;
        std::fs::write(&segs[0], &bytes).unwrap();
        let sum = dump(dir.path(), &Options::default(), &mut Vec::new()).unwrap();
        assert_eq!(sum.count, 1);
        assert!(sum.damage[0].contains(&format!("offset {second}")), "{:?}", sum.damage);
        assert!(dump(&dir.path().join("nope"), &Options::default(), &mut Vec::new()).is_err());
    }

    #[test]
    fn reads_zookeeper_log_files_by_their_magic() {
        let dir = tempfile::tempdir().unwrap();
        let v2 = dir.path().join("version-2");
        std::fs::create_dir(&v2).unwrap();
        let txn = |zxid: i64, path: &str| Txn {
            header: TxnHeader { client_id: 1, cxid: 1, zxid, time: 0, type_: op::DELETE },
            body: TxnBody::Delete(DeleteTxn { path: path.into() }),
        };
        let zk = crate::zkfmt::txnlog::encode_file(&[txn(0x1_0000_0001, "/a"), txn(0x1_0000_0002, "/b")]);
        std::fs::write(v2.join("log.100000001"), &zk).unwrap();
        let mut out = Vec::new();
        let sum = dump(dir.path(), &Options { json: true, ..Options::default() }, &mut out).unwrap();
        assert_eq!((sum.count, sum.last), (2, Some(0x1_0000_0002)));
        let first: Value = serde_json::from_slice(out.split(|&b| b == b'\n').next().unwrap()).unwrap();
        assert_eq!((first["op"].as_str(), first["path"].as_str()), (Some("delete"), Some("/a")));
        // One file alone, cut in its last record: what ZooKeeper reads of it, and a warning.
        let file = v2.join("log.100000001");
        std::fs::write(&file, &zk[..zk.len() - 3]).unwrap();
        let sum = dump(&file, &Options::default(), &mut Vec::new()).unwrap();
        assert_eq!(sum.count, 1);
        assert!(sum.warnings[0].contains("torn record"), "{:?}", sum.warnings);
    }
}
