//! `zabkeeper txnlog`, `snapshot` and `verify` on a data directory a real server wrote: every
//! kind of znode and txn, several snapshots and log segments; then verify on damaged copies
//! (a flipped byte in a record, a torn tail, a missing segment, a damaged snapshot, epochs out
//! of order), each named with its file and offset or zxid. The tools must never change the
//! directory they read.

mod common;

use common::{start_server_with, wait_until, zk_connect, zk_persistent};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use zk::{Acls, CreateMode};
use zookeeper_client as zk;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zabkeeper"))
        .args(args)
        .env("ZABKEEPER_LOG", "warn")
        .output()
        .expect("run zabkeeper")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn v2_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("version-2"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.starts_with(prefix) && !n.ends_with(".tmp")
        })
        .collect();
    v.sort();
    v
}

/// The zxid in `log.<hex>` / `snapshot.<hex>`.
fn name_zxid(p: &Path) -> i64 {
    let n = p.file_name().unwrap().to_str().unwrap();
    i64::from_str_radix(n.rsplit('.').next().unwrap(), 16).unwrap()
}

/// (offset, payload length, zxid) of every record of one of our segments.
fn records(seg: &Path) -> Vec<(usize, usize, i64)> {
    let b = std::fs::read(seg).unwrap();
    let mut v = Vec::new();
    let mut at = 16;
    while at + 16 <= b.len() {
        let len = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        let zxid = i64::from_be_bytes(b[at + 8..at + 16].try_into().unwrap());
        v.push((at, len, zxid));
        at += 16 + len;
    }
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Every file's path and contents, to show the tools changed nothing.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            v.extend(contents(&e.path()));
        } else {
            v.push((e.path(), std::fs::read(e.path()).unwrap()));
        }
    }
    v.sort();
    v
}

/// Writes every kind of txn through a real server (snapshots every 10 txns), waits until
/// the interesting part is in a snapshot and the log has at least three segments, stops it.
async fn build_data_dir() -> (tempfile::TempDir, PathBuf) {
    let mut srv = start_server_with(|c| {
        c.snap_count = 10;
        c.max_session_timeout = Some(60_000);
    })
    .await;
    let data = srv.data_dir();
    let c = zk_connect(&srv).await;
    c.create("/app", b"hello-app", &zk_persistent()).await.unwrap();
    c.create("/app/eph", b"ephemeral-data", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.unwrap();
    c.create("/app/seq-", b"seq-data", &CreateMode::PersistentSequential.with_acls(Acls::anyone_all())).await.unwrap();
    c.create("/app/ctr", b"", &CreateMode::Container.with_acls(Acls::anyone_all())).await.unwrap();
    c.create("/app/ctr/child", b"in-container", &zk_persistent()).await.unwrap();
    c.create("/app/ttl", b"ttl-data", &zk_persistent().with_ttl(Duration::from_secs(3600))).await.unwrap();
    let secret = [
        zk::Acl::new(zk::Permission::READ, zk::AuthId::new("digest", "bob:G4UEz1hSJKrHsY0hINlWaqPOd2I=")),
        zk::Acl::new(zk::Permission::READ | zk::Permission::ADMIN, zk::AuthId::anyone()),
    ];
    c.create("/app/secret", b"top-secret", &CreateMode::Persistent.with_acls(Acls::new(&secret))).await.unwrap();
    c.create("/app/bin", &[0, 1, 2, 0xff], &zk_persistent()).await.unwrap();
    c.set_data("/app", b"hello-v2", None).await.unwrap();
    c.create("/app/acl", b"", &zk_persistent()).await.unwrap();
    let read_only = [zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone())];
    c.set_acl("/app/acl", &read_only, None).await.unwrap();
    c.create("/app/todelete", b"", &zk_persistent()).await.unwrap();
    let mut w = c.new_multi_writer();
    w.add_create("/app/m1", b"multi-1", &zk_persistent()).unwrap();
    w.add_set_data("/app/m1", b"multi-2", Some(0)).unwrap();
    w.add_delete("/app/todelete", None).unwrap();
    w.commit().await.unwrap();
    c.create("/app/gone", b"", &zk_persistent()).await.unwrap();
    c.delete("/app/gone", None).await.unwrap();
    // A second session that ends: its closeSession deletes its ephemeral.
    let c2 = zk_connect(&srv).await;
    c2.create("/app/eph2", b"", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.unwrap();
    let (_, last) = c.get_data("/app/m1").await.unwrap();
    // Dropping the client ends its session (at the latest it expires, 30 s on).
    drop(c2);
    wait_until(90, "the second session's ephemeral to go", || {
        let c = c.clone();
        async move { c.check_stat("/app/eph2").await.unwrap().is_none() }
    })
    .await;
    let interesting = last.mzxid.max(c.get_data("/app").await.unwrap().1.pzxid);
    // More writes until a snapshot holds all of the above and there are three segments.
    let mut i = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let snaps = v2_files(&data, "snapshot.");
        let segs = v2_files(&data, "log.");
        if snaps.iter().any(|p| name_zxid(p) > interesting) && segs.len() >= 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no snapshot past 0x{interesting:x} or too few segments");
        c.create(&format!("/load-{i}"), format!("load {i}").as_bytes(), &zk_persistent()).await.unwrap();
        i += 1;
    }
    // At least three txns in the newest segment (for the torn tail below).
    for k in 0.. {
        c.create(&format!("/tail-{k}"), b"tail", &zk_persistent()).await.unwrap();
        if records(v2_files(&data, "log.").last().unwrap()).len() >= 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "too few txns in the newest segment");
    }
    srv.stop().await;
    drop(c);
    // The snapshot, log-writer and preallocation threads outlive the node loop a moment
    // (a snapshot due at the end is still written): wait until they are gone, so the
    // directory no longer changes.
    wait_until(120, "the server's storage threads to finish", || async {
        !std::fs::read_dir("/proc/self/task").unwrap().any(|t| {
            let comm = std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap_or_default();
            matches!(comm.trim(), "snapshot" | "zk-log-writer" | "zk-log-prealloc")
        })
    })
    .await;
    let dir = std::mem::replace(&mut srv.dir, tempfile::tempdir().unwrap());
    (dir, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_tools_read_and_verify_a_real_data_directory() {
    let (_keep, data) = build_data_dir().await;
    let before = contents(&data);

    // txnlog: every kind of txn, with its path.
    let o = run(&["txnlog", s(&data)]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}\n{}", stderr(&o));
    for want in [
        " createSession timeout=",
        " create2 path=\"/app\" data=\"hello-app\" acl=world:anyone:cdrwa parent_cversion=",
        " create2 path=\"/app/eph\" data=\"ephemeral-data\" acl=world:anyone:cdrwa ephemeral parent_cversion=",
        " create2 path=\"/app/seq-0000000001\" data=\"seq-data\" acl=world:anyone:cdrwa sequential parent_cversion=",
        " createContainer path=\"/app/ctr\"",
        " createTTL path=\"/app/ttl\" data=\"ttl-data\" acl=world:anyone:cdrwa ttl=3600000 ",
        "acl=digest:bob:G4UEz1hSJKrHsY0hINlWaqPOd2I=:r,world:anyone:ra ",
        " create2 path=\"/app/bin\" data=0x000102ff",
        " setData path=\"/app\" data=\"hello-v2\" version=1\n",
        " setACL path=\"/app/acl\" acl=world:anyone:r version=1\n",
        " multi (3 ops)\n    create path=\"/app/m1\" data=\"multi-1\"",
        "\n    setData path=\"/app/m1\" data=\"multi-2\" version=1\n    delete path=\"/app/todelete\"\n",
        " delete path=\"/app/gone\"",
        " closeSession deletes=[\"/app/eph2\"]",
    ] {
        assert!(text.contains(want), "txnlog lacks {want:?}:\n{text}");
    }
    let first = text.lines().next().unwrap();
    assert!(
        first.len() > 24 && first.as_bytes()[4] == b'-' && first[10..].starts_with('T') && first.contains(" zxid 0x1 "),
        "{first}"
    );
    let summary = text.lines().last().unwrap();
    let count: usize = summary.split(' ').next().unwrap().parse().unwrap();
    let segs = v2_files(&data, "log.");
    let all: Vec<(usize, usize, i64)> = segs.iter().flat_map(|p| records(p)).collect();
    assert_eq!(count, all.len(), "{summary}");
    let last_zxid = all.last().unwrap().2;
    assert!(summary.ends_with(&format!("from {} log file(s), zxid 0x1 to 0x{last_zxid:x}", segs.len())), "{summary}");
    let txn_lines = text.lines().filter(|l| l.starts_with("20") && l.get(10..11) == Some("T")).count();
    assert_eq!(txn_lines, count);

    // --json: one object per txn, as many as the text dump.
    let o = run(&["txnlog", s(&data), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let objs: Vec<serde_json::Value> =
        stdout(&o).lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    assert_eq!(objs.len(), count);
    let multi = objs.iter().find(|v| v["op"] == "multi").unwrap();
    assert_eq!(multi["ops"][0]["path"], "/app/m1");
    assert!(objs.iter().any(|v| v["op"] == "createTTL" && v["ttl"] == 3_600_000));
    assert!(objs.iter().any(|v| v["path"] == "/app/bin" && v["data_hex"] == "000102ff"));
    // A range, and one segment file alone.
    let o = run(&["txnlog", s(&data), "--json", "--from", "0x2", "--to", "3"]);
    let zxids: Vec<i64> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["zxid"].as_i64().unwrap())
        .collect();
    assert_eq!(zxids, vec![2, 3]);
    let o = run(&["txnlog", s(&segs[1])]);
    assert!(o.status.success());
    assert!(stdout(&o)
        .lines()
        .last()
        .unwrap()
        .starts_with(&format!("{} txns from 1 log file(s)", records(&segs[1]).len())));

    // snapshot: the newest, every znode with its data and ACL.
    let snaps = v2_files(&data, "snapshot.");
    let newest = snaps.last().unwrap();
    let o = run(&["snapshot", s(&data)]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}\n{}", stderr(&o));
    assert!(text.starts_with(&format!(
        "snapshot 0x{:x} (zabkeeper format) from {}",
        name_zxid(newest),
        newest.display()
    )));
    for (path, data_line, acl) in [
        ("/app", "data=\"hello-v2\"", "acl=world:anyone:cdrwa"),
        ("/app/eph", "data=\"ephemeral-data\"", "acl=world:anyone:cdrwa"),
        ("/app/seq-0000000001", "data=\"seq-data\"", "acl=world:anyone:cdrwa"),
        ("/app/ctr/child", "data=\"in-container\"", "acl=world:anyone:cdrwa"),
        ("/app/ttl", "data=\"ttl-data\"", "acl=world:anyone:cdrwa"),
        ("/app/secret", "data=\"top-secret\"", "acl=digest:bob:G4UEz1hSJKrHsY0hINlWaqPOd2I=:r,world:anyone:ra"),
        ("/app/bin", "data=0x000102ff", "acl=world:anyone:cdrwa"),
        ("/app/acl", "data=\"\"", "acl=world:anyone:r"),
        ("/app/m1", "data=\"multi-2\"", "acl=world:anyone:cdrwa"),
    ] {
        let block = text.split(&format!("\n{path}\n")).nth(1).unwrap_or_else(|| panic!("no {path} in:\n{text}"));
        let block: Vec<&str> = block.lines().take(4).collect();
        assert!(block[0].starts_with("  czxid=0x") && block[1].starts_with("  version="), "{path}: {block:?}");
        assert_eq!((block[2], block[3]), (&*format!("  {acl}"), &*format!("  {data_line}")), "{path}");
    }
    assert!(!text.contains("\n/app/gone\n") && !text.contains("\n/app/todelete\n"));
    assert!(text.contains("sessions (1):\n  0x") && text.contains(" timeout=30000 ephemerals=1"), "{text}");
    assert!(text.ends_with(&format!("last zxid 0x{:x}\n", name_zxid(newest))));
    let o = run(&["snapshot", s(newest), "--json", "--hex"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let paths: Vec<&str> = v["znodes"].as_array().unwrap().iter().map(|n| n["path"].as_str().unwrap()).collect();
    for p in ["/", "/app", "/app/eph", "/app/ttl", "/app/ctr", "/app/secret", "/app/m1", "/zookeeper"] {
        assert!(paths.contains(&p), "{p} not in {paths:?}");
    }
    let app = v["znodes"].as_array().unwrap().iter().find(|n| n["path"] == "/app").unwrap();
    assert_eq!(app["data_hex"], "68656c6c6f2d7632");
    assert_eq!(app["acl"][0]["perms"], "cdrwa");
    assert_eq!(v["zxid"], name_zxid(newest));

    // verify: healthy.
    let o = run(&["verify", s(&data)]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.contains(&format!(
            "ok: {} log file(s), {} snapshot file(s), {count} txns, zxid 0x1 to 0x{last_zxid:x}, snapshot 0x{:x}",
            segs.len(),
            snaps.len(),
            name_zxid(newest)
        )),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");

    // Readable errors for missing paths.
    for cmd in ["txnlog", "snapshot", "verify"] {
        let o = run(&[cmd, "/nonexistent/zabkeeper-data"]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert!(
            stderr(&o).contains("/nonexistent/zabkeeper-data") && stderr(&o).contains("No such file"),
            "{}",
            stderr(&o)
        );
    }
    // None of it changed the directory.
    assert!(contents(&data) == before, "a tool changed the data directory");

    let scratch = tempfile::tempdir().unwrap();
    let copy = |name: &str| {
        let d = scratch.path().join(name);
        copy_dir(&data, &d);
        d
    };
    let rel = |d: &Path, p: &Path| d.join("version-2").join(p.file_name().unwrap());

    // A flipped byte in the middle of a record of the first segment.
    let d = copy("flipped");
    let seg0 = rel(&d, &segs[0]);
    let (off, len, zxid) = records(&seg0)[1];
    let mut b = std::fs::read(&seg0).unwrap();
    b[off + 16 + len / 2] ^= 0x10;
    std::fs::write(&seg0, &b).unwrap();
    let o = run(&["verify", s(&d)]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let line = out.lines().find(|l| l.starts_with("damaged:")).unwrap();
    assert!(line.contains(s(&seg0)) && line.contains(&format!("offset {off}")) && line.contains("checksum"), "{line}");
    assert!(line.contains(&format!("0x{zxid:x}")), "{line}");
    let o = run(&["txnlog", s(&d)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&format!("offset {off}")), "{}", stderr(&o));

    // The last record cut half-way (the rest zeros, as a preallocated file leaves it): a torn
    // tail, which the server truncates at startup, so verify warns and passes.
    let d = copy("torn");
    let last_seg = rel(&d, segs.last().unwrap());
    let recs = records(&last_seg);
    assert!(recs.len() >= 2, "{recs:?}");
    let (off, len, _) = *recs.last().unwrap();
    let before_torn = recs[recs.len() - 2].2;
    let mut b = std::fs::read(&last_seg).unwrap();
    b[off + (16 + len) / 2..off + 16 + len].fill(0);
    std::fs::write(&last_seg, &b).unwrap();
    let o = run(&["verify", s(&d)]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("warning: {}: torn tail at offset {off}", last_seg.display()))
            && out.contains("recovery truncates the log there"),
        "{out}"
    );
    assert!(out.contains(&format!("{} txns, zxid 0x1 to 0x{before_torn:x}", count - 1)), "{out}");
    // What the server does with it: starts, with the log ending at the record before.
    let d2 = copy("torn-recovered");
    std::fs::write(rel(&d2, segs.last().unwrap()), &b).unwrap();
    let rec = zabkeeper::server::recovery::recover(
        &d2,
        &d2,
        zabkeeper::storage::LogOptions { pre_alloc_size: 1 << 20, ..Default::default() },
    )
    .expect("the server recovers from a torn tail");
    assert_eq!(rec.log.last_zxid(), before_torn);
    drop(rec);
    let o = run(&["verify", s(&d2)]);
    assert!(o.status.success() && !stdout(&o).contains("warning"), "{}", stdout(&o));

    // A middle segment gone: a zxid gap, with both zxids.
    let d = copy("gap");
    std::fs::remove_file(rel(&d, &segs[1])).unwrap();
    let (missing_from, resumes) = (name_zxid(&segs[1]), name_zxid(&segs[2]));
    let o = run(&["verify", s(&d)]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("damaged:")
            && l.contains(s(&rel(&d, &segs[2])))
            && l.contains(&format!("zxid gap: 0x{resumes:x} follows 0x{:x}", missing_from - 1))),
        "{out}"
    );

    // The newest snapshot's body damaged: named, with the older one recovery falls back to.
    let d = copy("snapshot");
    let snap = rel(&d, newest);
    let mut b = std::fs::read(&snap).unwrap();
    let mid = 32 + (b.len() - 32) / 2;
    b[mid] ^= 0x01;
    std::fs::write(&snap, &b).unwrap();
    let o = run(&["verify", s(&d)]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.lines().any(|l| l.starts_with("damaged:") && l.contains(s(&snap)) && l.contains("checksum")), "{out}");
    // `snapshot` on the directory falls back to the older one and says so.
    let o = run(&["snapshot", s(&d)]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("skipped") && stderr(&o).contains(s(&snap)), "{}", stderr(&o));

    // currentEpoch above acceptedEpoch.
    let d = copy("epochs");
    std::fs::write(d.join("version-2").join("currentEpoch"), "5").unwrap();
    std::fs::write(d.join("version-2").join("acceptedEpoch"), "3").unwrap();
    let o = run(&["verify", s(&d)]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("currentEpoch 5 is above acceptedEpoch 3")
            && out.contains("acceptedEpoch >= currentEpoch is violated"),
        "{out}"
    );
}
