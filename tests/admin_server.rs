//! The AdminServer over real HTTP: every command and alias of ZooKeeper 3.8 answers JSON with
//! ZooKeeper's keys on a standalone server and on ensemble members, unknown commands get
//! ZooKeeper's answer, `admin.enableServer=false` and a taken port leave clients served, and
//! the top-level keys of every command equal those of a real ZooKeeper 3.8 (Debian's, with
//! Jetty) fetched in the same test. Ports are free ports or 0; waits are condition waits.

mod common;
mod ensemble_support;
mod zk_support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zabkeeper::admin::commands::COMMANDS;
use zookeeper_client::{Acls, CreateMode};

/// `GET path` as HTTP/1.0: (status, body), or None if nothing listens.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || http_get(addr, &path)).await.unwrap()
}

async fn command(addr: SocketAddr, name: &str) -> Value {
    let (status, body) = get(addr, &format!("/commands/{name}")).await.expect("the AdminServer answers");
    assert_eq!(status, 200, "{name}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {body}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

fn set(ks: &[&str]) -> BTreeSet<String> {
    ks.iter().map(|k| k.to_string()).chain(["command".to_string(), "error".to_string()]).collect()
}

/// A standalone server with the AdminServer on 127.0.0.1:0.
async fn admin_server() -> (common::TestServer, SocketAddr) {
    let srv = common::start_server_with(|c| {
        c.admin_enable_server = true;
        c.admin_server_address = "127.0.0.1".parse().unwrap();
        c.admin_server_port = 0;
    })
    .await;
    let admin = srv.handle.as_ref().unwrap().admin_addr.expect("the AdminServer bound port 0");
    (srv, admin)
}

/// A session holding an ephemeral and a data watch, so that lists are not empty.
async fn busy_session(connect: &str) -> (zookeeper_client::Client, zookeeper_client::OneshotWatcher) {
    let c = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(connect)
        .await
        .expect("connect");
    c.create("/eph", b"x", &CreateMode::Ephemeral.with_acls(Acls::anyone_all())).await.unwrap();
    let (_, _, w) = c.get_and_watch_data("/eph").await.unwrap();
    (c, w)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_and_alias_over_http() {
    let (srv, admin) = admin_server().await;
    let (client, _watch) = busy_session(&srv.connect_string()).await;
    for c in COMMANDS {
        let primary = command(admin, c.name).await;
        assert_eq!(primary["command"], Value::from(c.name));
        for alias in c.aliases {
            let v = command(admin, alias).await;
            assert_eq!(v["command"], Value::from(c.name), "{alias}");
            assert_eq!(keys(&v), keys(&primary), "{alias} answers as {}", c.name);
        }
        if !matches!(c.name, "leader" | "set_trace_mask") {
            assert_eq!(primary["error"], Value::Null, "{}: {primary}", c.name);
        }
    }
    let cons = command(admin, "cons").await;
    assert_eq!(cons["connections"].as_array().map(Vec::len), Some(1), "{cons}");
    assert_eq!(command(admin, "wchs").await["num_total_watches"], Value::from(1));
    let dump = command(admin, "dump").await;
    let eph: Vec<&Value> = dump["session_id_to_ephemeral_paths"].as_object().unwrap().values().collect();
    assert_eq!(eph, vec![&serde_json::json!(["/eph"])]);
    assert_eq!(keys(&command(admin, "dirs").await), set(&["datadir_size", "logdir_size"]));
    assert!(command(admin, "dirs").await["datadir_size"].as_u64().unwrap() > 0, "a snapshot and a log are there");
    assert_eq!(command(admin, "lsnp").await["zxid"], Value::from("0"), "the empty tree's snapshot 0");
    // Unknown command: ZooKeeper 3.8 answers 200 with the error in the JSON.
    let (status, body) = get(admin, "/commands/nope").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"command": "nope", "error": "Unknown command: nope"})
    );
    // Outside the command URL: 404.
    assert_eq!(get(admin, "/foo").await.unwrap().0, 404);
    let (status, links) = get(admin, "/commands").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(links.matches("<a href=\"/commands/").count(), COMMANDS.len());
    // stmk / gtmk and srst.
    let v = command(admin, "set_trace_mask?traceMask=12").await;
    assert_eq!((v["tracemask"].clone(), v["error"].clone()), (Value::from(12), Value::Null));
    assert_eq!(command(admin, "gtmk").await["tracemask"], Value::from(12));
    // (The loop above ran srst too.)
    client.get_data("/eph").await.unwrap();
    assert!(command(admin, "srvr").await["server_stats"]["packets_received"].as_u64().unwrap() > 0);
    assert!(command(admin, "srvr").await["client_response"]["last_buffer_size"].as_i64().unwrap() > 0);
    command(admin, "srst").await;
    assert_eq!(command(admin, "srvr").await["server_stats"]["packets_received"], Value::from(0));
    // The four-letter words still answer on the client port.
    assert!(common::four_letter(srv.addr, "ruok").await.starts_with("imok"));
}

#[tokio::test(flavor = "multi_thread")]
async fn disabled_or_port_taken_still_serves_clients() {
    let off = common::start_server().await;
    assert_eq!(off.handle.as_ref().unwrap().admin_addr, None, "admin.enableServer=false: no listener");
    // Another process holds the port: a warning, and clients are served.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let taken = common::start_server_with(|c| {
        c.admin_enable_server = true;
        c.admin_server_address = "127.0.0.1".parse().unwrap();
        c.admin_server_port = port;
    })
    .await;
    assert_eq!(taken.handle.as_ref().unwrap().admin_addr, None);
    assert!(common::four_letter(taken.addr, "ruok").await.starts_with("imok"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ensemble_members_answer_quorum_commands() {
    let mut ens = ensemble_support::Ensemble::new(3, 0);
    let ports = ens.enable_admin();
    ens.start_all();
    let leader = tokio::task::block_in_place(|| ens.wait_for_roles());
    let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i]));
    for i in 0..3 {
        // The AdminServer binds right after the client port: wait for it, not for a time.
        let until = Instant::now() + ensemble_support::DEADLINE;
        while get(addr(i), "/commands/ruok").await.is_none() {
            assert!(Instant::now() < until, "member {i}'s AdminServer never listened\n{}", ens.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let l = command(addr(i), "lead").await;
        assert_eq!(keys(&l), set(&["is_leader", "leader_id", "leader_ip"]), "{l}");
        assert_eq!(l["is_leader"], Value::from(i == leader));
        assert_eq!(l["leader_id"], Value::from(ens.members[leader].spec.id));
        assert_eq!(l["leader_ip"], Value::from("127.0.0.1"));
        let z = command(addr(i), "zabstate").await;
        assert_eq!(
            keys(&z),
            set(&[
                "myid",
                "is_leader",
                "quorum_address",
                "election_address",
                "client_address",
                "voting",
                "last_zxid",
                "zab_epoch",
                "zab_counter",
                "zabstate"
            ]),
            "{z}"
        );
        assert_eq!(z["myid"], Value::from(ens.members[i].spec.id));
        assert_eq!(z["zabstate"], Value::from("broadcast"));
        assert_eq!(z["client_address"], Value::from(ens.members[i].hostport()));
        let vv = command(addr(i), "voting_view").await;
        assert_eq!(vv["current_config"].as_object().map(|m| m.len()), Some(3), "{vv}");
        let srvr = command(addr(i), "srvr").await;
        assert_eq!(srvr.get("proposal_stats").is_some(), i == leader, "{srvr}");
        let state = if i == leader { "leader" } else { "follower" };
        assert_eq!(srvr["server_stats"]["server_state"], Value::from(state));
        let m = command(addr(i), "mntr").await;
        assert_eq!(m["server_state"], Value::from(state));
        assert_eq!(m.get("synced_followers").is_some(), i == leader, "{m}");
        for c in COMMANDS {
            assert!(command(addr(i), c.name).await.is_object());
        }
    }
}

/// Debian's ZooKeeper 3.8, standalone, with its AdminServer on `admin_port`; killed on drop.
struct RealZk(Child);

impl Drop for RealZk {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_equal_zookeepers() {
    let dir = tempfile::tempdir().unwrap();
    let (client_port, admin_port) = (free_port(), free_port());
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!("tickTime=2000\ndataDir={}\nclientPort={client_port}\n", dir.path().join("data").display()),
    )
    .unwrap();
    // Jetty needs the servlet API, which Debian ships apart from ZooKeeper's class path.
    let classpath = format!("{}:/usr/share/java/servlet-api.jar", zk_support::classpath());
    let log = std::fs::File::create(dir.path().join("zookeeper.log")).unwrap();
    let zk = RealZk(
        Command::new(zk_support::java())
            .args([
                "-Xmx256m",
                "-Dzookeeper.admin.enableServer=true",
                "-Dzookeeper.admin.serverAddress=127.0.0.1",
                &format!("-Dzookeeper.admin.serverPort={admin_port}"),
                "-Dzookeeper.4lw.commands.whitelist=*",
                "-Djava.net.preferIPv4Stack=true",
                "-cp",
                &classpath,
                "org.apache.zookeeper.server.ZooKeeperServerMain",
            ])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start Apache ZooKeeper"),
    );
    let zk_admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
    let until = Instant::now() + Duration::from_secs(90);
    while get(zk_admin, "/commands/ruok").await.is_none_or(|(s, b)| s != 200 || !b.contains("\"error\" : null")) {
        let text = std::fs::read_to_string(dir.path().join("zookeeper.log")).unwrap_or_default();
        assert!(Instant::now() < until, "ZooKeeper's AdminServer never answered:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ours, our_admin) = admin_server().await;
    let (_c1, _w1) = busy_session(&ours.connect_string()).await;
    let (_c2, _w2) = busy_session(&format!("127.0.0.1:{client_port}")).await;
    let mut compared = 0;
    for c in COMMANDS {
        let theirs = command(zk_admin, c.name).await;
        let mine = command(our_admin, c.name).await;
        match c.name {
            // Ours only: ZooKeeper does not know it.
            "checkpoints" => {
                assert_eq!(theirs["error"], Value::from("Unknown command: checkpoints"), "{theirs}");
                assert_eq!(mine["error"], Value::Null, "{mine}");
            }
            // ZooKeeper adds every metric of its metrics provider (hundreds, JVM and
            // pipeline internals); ours are a subset with the same names.
            "monitor" => {
                let missing: Vec<_> = keys(&mine).difference(&keys(&theirs)).cloned().collect();
                assert!(missing.is_empty(), "monitor keys ZooKeeper lacks: {missing:?}");
            }
            // JVM properties (java.vm.*, sun.*, ...) have no counterpart in a Rust process;
            // the ones that do are named as Java names them.
            "system_properties" => {
                let missing: Vec<_> = keys(&mine).difference(&keys(&theirs)).cloned().collect();
                assert!(missing.is_empty(), "system properties ZooKeeper lacks: {missing:?}");
            }
            _ => {
                assert_eq!(keys(&mine), keys(&theirs), "{}: ours {mine}\nZooKeeper's {theirs}", c.name);
                compared += 1;
            }
        }
        // One level down, where ZooKeeper answers objects.
        for nested in ["server_stats", "client_response"] {
            if let (Some(a), Some(b)) = (mine.get(nested), theirs.get(nested)) {
                assert_eq!(keys(a), keys(b), "{}.{nested}", c.name);
            }
        }
        if let (Some(a), Some(b)) = (mine["connections"].get(0), theirs["connections"].get(0)) {
            assert_eq!(keys(a), keys(b), "{}.connections[0]", c.name);
        }
    }
    assert_eq!(compared, COMMANDS.len() - 3);
    // The same answer to an unknown command.
    assert_eq!(get(our_admin, "/commands/nope").await.map(|(s, b)| (s, serde_json::from_str::<Value>(&b).ok())), {
        get(zk_admin, "/commands/nope").await.map(|(s, b)| (s, serde_json::from_str::<Value>(&b).ok()))
    });
    drop(zk);
}

/// `checkpoints`: the registry's jobs and Flink HA's, with the newest checkpoint, its age and
/// the writer, read from the server's own tree; `?path=` narrows it to one root.
#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_lists_registry_and_flink_jobs() {
    let (srv, admin) = admin_server().await;
    let c = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(&srv.connect_string())
        .await
        .expect("connect");
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    c.create("/checkpoints", b"", &persistent).await.unwrap();
    c.create("/checkpoints/etl", br#"{"retain": 2}"#, &persistent).await.unwrap();
    let (lease, _) = c.create("/checkpoints/etl/leader", b"jm", &ephemeral).await.unwrap();
    let name = zabkeeper::prep::checkpoint_name(42);
    let data = format!(r#"{{"id": 42, "location": "s3://b/chk-42", "size": 10, "epoch": {}}}"#, lease.czxid);
    c.create(&format!("/checkpoints/etl/completed/{name}"), data.as_bytes(), &persistent).await.unwrap();
    for p in [
        "/flink",
        "/flink/cluster",
        "/flink/cluster/jobs",
        "/flink/cluster/jobs/0a1b",
        "/flink/cluster/jobs/0a1b/checkpoints",
    ] {
        c.create(p, b"", &persistent).await.unwrap();
    }
    let flink_chk = format!("/flink/cluster/jobs/0a1b/checkpoints/{}", zabkeeper::prep::checkpoint_name(7));
    c.create(&flink_chk, b"pointer", &persistent).await.unwrap();

    let v = command(admin, "checkpoints").await;
    assert_eq!(v["error"], Value::Null, "{v}");
    let jobs = v["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 2, "{v}");
    assert_eq!(jobs[0]["path"], Value::from("/checkpoints/etl"));
    assert_eq!(jobs[0]["layout"], Value::from("registry"));
    assert_eq!(jobs[0]["latest_id"], Value::from(42));
    assert_eq!(jobs[0]["epoch"], Value::from(lease.czxid));
    assert_eq!(jobs[0]["writer_session"], Value::from(format!("0x{:x}", c.session_id().0)));
    let age = jobs[0]["age_seconds"].as_f64().expect("an age");
    assert!((0.0..600.0).contains(&age), "{age}");
    assert_eq!(jobs[1]["path"], Value::from("/flink/cluster/jobs/0a1b"));
    assert_eq!(jobs[1]["layout"], Value::from("flink"));
    assert_eq!(jobs[1]["latest_id"], Value::from(7));

    let only = command(admin, "checkpoints?path=/flink").await;
    assert_eq!(only["jobs"].as_array().map(Vec::len), Some(1), "{only}");
    let none = command(admin, "checkpoints?path=/nothing").await;
    assert_eq!(none["jobs"], Value::Array(Vec::new()), "{none}");
}
