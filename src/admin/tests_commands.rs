//! Unit tests for the AdminServer's commands: names and aliases, the envelope, and every
//! command's field names as a real ZooKeeper 3.8 answers them (captured from Debian's 3.8.0
//! with Jetty, standalone and as a 3-member ensemble).

use super::commands::{links, lookup, respond, Effect, Inputs, COMMANDS, NOT_SERVING};
use super::*;
use crate::config::Config;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn env() -> EnvView {
    EnvView {
        host_name: "localhost".into(),
        java_version: "rust".into(),
        java_vendor: "zabkeeper".into(),
        java_home: "/opt/zk".into(),
        java_class_path: "/opt/zk/zabkeeper".into(),
        java_library_path: "".into(),
        java_io_tmpdir: "/tmp".into(),
        java_compiler: "<NA>".into(),
        os_name: "Linux".into(),
        os_arch: "amd64".into(),
        os_version: "6.1.0".into(),
        user_name: "root".into(),
        user_home: "/root".into(),
        user_dir: "/srv".into(),
        os_memory_free_mb: 369,
        os_memory_max_mb: 6028,
        os_memory_total_mb: 388,
    }
}

fn standalone_view() -> ServerView {
    let mut c = ConnectionView::new("127.0.0.1:53968".parse().unwrap());
    c.session_id = 0x1000003a1d60000;
    ServerView {
        connections: vec![c],
        data_watches: vec![(0x1000003a1d60000, vec!["/w".into(), "/a".into()]), (7, vec!["/w".into()])],
        session_expiry: vec![(52816000, vec![0x1000003a1d60000])],
        ephemerals: vec![(0x1000003a1d60000, vec!["/eph".into()])],
        ..ServerView::default()
    }
}

fn ensemble_config() -> Config {
    let text = "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/zk\nclientPort=2181\n\
                server.1=127.0.0.1:2888:3888;127.0.0.1:2181\nserver.2=127.0.0.1:2889:3889;127.0.0.1:2182\n\
                server.3=127.0.0.1:2890:3890:observer;127.0.0.1:2183\n";
    let (mut cfg, _) = Config::from_str(text, None).unwrap();
    cfg.myid = Some(1);
    cfg
}

fn leader_view() -> ServerView {
    ServerView {
        mode: "leader".into(),
        zxid: 0x1_0000_0002,
        quorum: Some(QuorumView {
            peer_state: "leading - broadcast".into(),
            quorum_size: 2,
            leader: true,
            my_id: 1,
            leader_id: 1,
            zab_state: "broadcast".into(),
            observers: vec![3],
            ..QuorumView::default()
        }),
        ..ServerView::default()
    }
}

fn run_with(name: &str, args: &[(&str, &str)], view: &ServerView, cfg: &Config) -> (Value, Option<Effect>) {
    let args: BTreeMap<String, String> = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let a = respond(name, &args, &Inputs { view, cfg, env: &env() });
    (a.json, a.effect)
}

fn run(name: &str) -> Value {
    run_with(name, &[], &standalone_view(), &Config::standalone_default()).0
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

fn set(ks: &[&str]) -> BTreeSet<String> {
    ks.iter().map(|k| k.to_string()).collect()
}

/// `command`, `error` and the body's keys.
fn with_envelope(ks: &[&str]) -> BTreeSet<String> {
    let mut s = set(ks);
    s.insert("command".into());
    s.insert("error".into());
    s
}

#[test]
fn every_name_and_alias_of_zookeeper_3_8() {
    let expected: &[(&str, &[&str])] = &[
        ("connection_stat_reset", &["crst"]),
        ("configuration", &["conf", "config"]),
        ("connections", &["cons"]),
        ("hash", &[]),
        ("dirs", &[]),
        ("dump", &[]),
        ("environment", &["env", "envi"]),
        ("get_trace_mask", &["gtmk"]),
        ("initial_configuration", &["icfg"]),
        ("is_read_only", &["isro"]),
        ("last_snapshot", &["lsnp"]),
        ("leader", &["lead"]),
        ("monitor", &["mntr"]),
        ("observer_connection_stat_reset", &["orst"]),
        ("ruok", &[]),
        ("set_trace_mask", &["stmk"]),
        ("server_stats", &["srvr"]),
        ("stats", &["stat"]),
        ("stat_reset", &["srst"]),
        ("observers", &["obsr"]),
        ("system_properties", &["sysp"]),
        ("voting_view", &[]),
        ("watches", &["wchc"]),
        ("watches_by_path", &["wchp"]),
        ("watch_summary", &["wchs"]),
        ("zabstate", &[]),
        // Ours, after ZooKeeper's.
        ("checkpoints", &[]),
    ];
    assert_eq!(COMMANDS.len(), expected.len());
    for (name, aliases) in expected {
        assert_eq!(lookup(name).map(|c| c.name), Some(*name));
        for a in *aliases {
            assert_eq!(lookup(a).map(|c| c.name), Some(*name), "alias {a}");
            // Every alias answers with the primary name.
            assert_eq!(run(a)["command"], json!(name), "alias {a}");
        }
    }
    assert!(lookup("CONF").is_none(), "names are case-sensitive");
}

#[test]
fn links_are_sorted_primary_names() {
    let l = links("/commands");
    assert!(
        l.starts_with("<a href=\"/commands/checkpoints\">checkpoints</a>\n<br/>\n<a href=\"/commands/configuration\">"),
        "{l}"
    );
    assert_eq!(l.matches("<br/>").count(), COMMANDS.len());
    assert!(l.ends_with("<a href=\"/commands/zabstate\">zabstate</a>\n<br/>\n"));
}

#[test]
fn unknown_command_is_named_as_asked() {
    let v = run("nope");
    assert_eq!(v, json!({"command": "nope", "error": "Unknown command: nope"}));
}

#[test]
fn server_required_commands_while_not_serving() {
    let view = ServerView { serving: false, ..standalone_view() };
    let cfg = Config::standalone_default();
    for c in COMMANDS {
        let (v, effect) = run_with(c.aliases.first().unwrap_or(&c.name), &[], &view, &cfg);
        if c.server_required {
            assert_eq!(v["error"], json!(NOT_SERVING), "{}", c.name);
            assert_eq!(effect, None);
            // As asked, like ZooKeeper's runCommand.
            assert_eq!(v["command"], json!(c.aliases.first().unwrap_or(&c.name)));
        } else if c.name != "set_trace_mask" {
            assert_eq!(v["error"], Value::Null, "{}", c.name);
        }
    }
}

#[test]
fn standalone_field_names() {
    let cases: &[(&str, &[&str])] = &[
        ("connection_stat_reset", &[]),
        (
            "configuration",
            &[
                "client_port",
                "data_dir",
                "data_log_dir",
                "tick_time",
                "max_client_cnxns",
                "min_session_timeout",
                "max_session_timeout",
                "server_id",
                "client_port_listen_backlog",
            ],
        ),
        ("connections", &["connections", "secure_connections"]),
        ("hash", &["digests"]),
        ("dirs", &["datadir_size", "logdir_size"]),
        ("dump", &["expiry_time_to_session_ids", "session_id_to_ephemeral_paths"]),
        ("get_trace_mask", &["tracemask"]),
        ("initial_configuration", &["initial_configuration"]),
        ("is_read_only", &["read_only"]),
        ("last_snapshot", &["zxid", "timestamp"]),
        ("leader", &[]),
        ("observer_connection_stat_reset", &[]),
        ("ruok", &[]),
        ("set_trace_mask", &[]),
        ("server_stats", &["version", "read_only", "server_stats", "client_response", "node_count"]),
        (
            "stats",
            &[
                "version",
                "read_only",
                "server_stats",
                "client_response",
                "node_count",
                "connections",
                "secure_connections",
            ],
        ),
        ("stat_reset", &[]),
        ("observers", &["synced_observers", "observers"]),
        ("voting_view", &["current_config"]),
        ("watches", &["session_id_to_watched_paths"]),
        ("watches_by_path", &["path_to_session_ids"]),
        ("watch_summary", &["num_connections", "num_paths", "num_total_watches"]),
        ("zabstate", &["voting", "zabstate"]),
        ("checkpoints", &["jobs"]),
        (
            "environment",
            &[
                "zookeeper.version",
                "host.name",
                "java.version",
                "java.vendor",
                "java.home",
                "java.class.path",
                "java.library.path",
                "java.io.tmpdir",
                "java.compiler",
                "os.name",
                "os.arch",
                "os.version",
                "user.name",
                "user.home",
                "user.dir",
                "os.memory.free",
                "os.memory.max",
                "os.memory.total",
            ],
        ),
    ];
    for (name, ks) in cases {
        assert_eq!(keys(&run(name)), with_envelope(ks), "{name}");
    }
    assert_eq!(run("leader")["error"], json!("server is not initialized"));
    assert_eq!(run("stmk")["error"], json!("setTraceMask requires long traceMask argument"));
    assert_eq!(run("zabstate"), json!({"voting": false, "zabstate": "", "command": "zabstate", "error": null}));
    assert_eq!(run("voting_view")["current_config"], json!({}));
    assert_eq!(run("observers")["observers"], json!([]));
    assert_eq!(run("hash")["digests"], json!([]));
    assert_eq!(run("lsnp")["zxid"], json!("ffffffffffffffff"), "no snapshot: ZooKeeper's -1");
}

#[test]
fn nested_field_names() {
    let stat = run("srvr");
    assert_eq!(
        keys(&stat["server_stats"]),
        set(&[
            "packets_sent",
            "packets_received",
            "fsync_threshold_exceed_count",
            "client_response_stats",
            "data_dir_size",
            "log_dir_size",
            "provider_null",
            "server_state",
            "last_processed_zxid",
            "outstanding_requests",
            "avg_latency",
            "max_latency",
            "min_latency",
            "num_alive_client_connections",
            "uptime",
            "auth_failed_count",
            "non_mtlsremote_conn_count",
            "non_mtlslocal_conn_count",
        ])
    );
    let buffer = set(&["last_buffer_size", "min_buffer_size", "max_buffer_size"]);
    assert_eq!(keys(&stat["client_response"]), buffer);
    assert_eq!(stat["client_response"]["last_buffer_size"], json!(-1), "-1 before any reply");
    let brief =
        set(&["remote_socket_address", "interest_ops", "outstanding_requests", "packets_received", "packets_sent"]);
    assert_eq!(keys(&run("stat")["connections"][0]), brief);
    let mut full = brief.clone();
    full.extend(set(&[
        "session_id",
        "last_operation",
        "established",
        "session_timeout",
        "last_cxid",
        "last_zxid",
        "last_response_time",
        "last_latency",
        "min_latency",
        "avg_latency",
        "max_latency",
    ]));
    let cons = run("cons");
    assert_eq!(keys(&cons["connections"][0]), full);
    assert_eq!(cons["connections"][0]["remote_socket_address"], json!("127.0.0.1:53968"));
    assert_eq!(cons["connections"][0]["session_id"], json!(0x1000003a1d60000_i64));
}

#[test]
fn watches_and_dump_values() {
    let sid = 0x1000003a1d60000_i64.to_string();
    let w = run("wchc");
    assert_eq!(w["session_id_to_watched_paths"][&sid], json!(["/a", "/w"]));
    assert_eq!(w["session_id_to_watched_paths"]["7"], json!(["/w"]));
    let p = run("wchp");
    assert_eq!(p["path_to_session_ids"]["/w"], json!([7, 0x1000003a1d60000_i64]));
    let s = run("wchs");
    assert_eq!(
        (s["num_connections"].clone(), s["num_paths"].clone(), s["num_total_watches"].clone()),
        (json!(2), json!(2), json!(3))
    );
    let d = run("dump");
    assert_eq!(d["expiry_time_to_session_ids"]["52816000"], json!([0x1000003a1d60000_i64]));
    assert_eq!(d["session_id_to_ephemeral_paths"][&sid], json!(["/eph"]));
}

#[test]
fn resets_and_trace_mask_are_effects() {
    let (view, cfg) = (standalone_view(), Config::standalone_default());
    assert_eq!(run_with("crst", &[], &view, &cfg).1, Some(Effect::ResetConnections));
    assert_eq!(run_with("srst", &[], &view, &cfg).1, Some(Effect::ResetServer));
    assert_eq!(run_with("orst", &[], &view, &cfg).1, None);
    let (v, e) = run_with("stmk", &[("traceMask", "12")], &view, &cfg);
    assert_eq!(
        (v["tracemask"].clone(), v["error"].clone(), e),
        (json!(12), Value::Null, Some(Effect::SetTraceMask(12)))
    );
    let (v, e) = run_with("set_trace_mask", &[("traceMask", "0x1")], &view, &cfg);
    assert_eq!(v["error"], json!("setTraceMask requires long traceMask argument, got 0x1"));
    assert_eq!(e, None);
    let mut masked = view.clone();
    masked.trace_mask = 12;
    assert_eq!(run_with("gtmk", &[], &masked, &cfg).0["tracemask"], json!(12));
}

#[test]
fn ensemble_leader_field_names() {
    let (view, cfg) = (leader_view(), ensemble_config());
    let run = |name: &str| run_with(name, &[], &view, &cfg).0;
    assert_eq!(
        run("leader"),
        json!({"is_leader": true, "leader_id": 1, "leader_ip": "127.0.0.1", "command": "leader", "error": null})
    );
    let z = run("zabstate");
    assert_eq!(
        keys(&z),
        with_envelope(&[
            "myid",
            "is_leader",
            "quorum_address",
            "election_address",
            "client_address",
            "voting",
            "last_zxid",
            "zab_epoch",
            "zab_counter",
            "zabstate",
        ])
    );
    assert_eq!(
        keys(&z["quorum_address"]),
        set(&[
            "empty",
            "all_addresses",
            "all_reachable_addresses",
            "one",
            "reachable_address",
            "wildcard_addresses",
            "all_ports",
            "all_host_strings",
            "all_reachable_addresses_or_all",
            "reachable_or_one",
        ])
    );
    assert_eq!(z["quorum_address"]["one"], json!("127.0.0.1:2888"));
    assert_eq!(z["election_address"]["all_ports"], json!([3888]));
    assert_eq!(z["client_address"], json!("127.0.0.1:2181"));
    assert_eq!(
        (z["last_zxid"].clone(), z["zab_epoch"].clone(), z["zab_counter"].clone()),
        (json!("0x100000002"), json!(1), json!(2))
    );
    assert_eq!(
        (z["zabstate"].clone(), z["voting"].clone(), z["myid"].clone()),
        (json!("broadcast"), json!(true), json!(1))
    );
    let vv = run("voting_view");
    let current = vv["current_config"].as_object().unwrap();
    assert_eq!(current.keys().cloned().collect::<Vec<_>>(), vec!["1", "2"], "voters only");
    assert_eq!(
        current["2"],
        json!({
            "server_addresses": ["127.0.0.1:2889"],
            "election_addresses": ["127.0.0.1:3889"],
            "client_address": "127.0.0.1:2182",
            "learner_type": "participant",
        })
    );
    let srvr = run("srvr");
    assert_eq!(keys(&srvr["proposal_stats"]), set(&["last_buffer_size", "min_buffer_size", "max_buffer_size"]));
    assert_eq!(srvr["server_stats"]["server_state"], json!("leader"));
    let obs = run("obsr");
    assert_eq!((obs["synced_observers"].clone(), obs["observers"][0]["sid"].clone()), (json!(1), json!(3)));
    let m = run("mntr");
    for k in [
        "peer_state",
        "quorum_size",
        "learners",
        "synced_followers",
        "synced_observers",
        "pending_syncs",
        "leader_uptime",
    ] {
        assert!(m.get(k).is_some(), "mntr {k}");
    }
}

#[test]
fn monitor_keys_are_zookeepers_without_the_prefix() {
    let m = run("monitor");
    for k in ["version", "avg_latency", "server_state", "znode_count", "uptime", "avg_fsynctime", "sum_fsynctime"] {
        assert!(m.get(k).is_some(), "{k}");
    }
    assert!(m.as_object().unwrap().keys().all(|k| !k.starts_with("zk_")));
    assert_eq!(m["avg_latency"], json!(0.0));
}
