//! Unit tests for the four-letter words: exact formats (from a real ZooKeeper 3.8) and whitelist.

use super::*;
use crate::config::{Config, WordList};

const V: &str = "3.8.4-zabkeeper-0.1.0, built on 2024-01-01 00:00 UTC";

fn view() -> ServerView {
    ServerView {
        version: V.into(),
        zxid: 1,
        node_count: 5,
        min_latency_ms: 4,
        avg_latency_ms: 7.5,
        max_latency_ms: 11,
        packets_received: 15,
        packets_sent: 15,
        num_alive_connections: 2,
        ..ServerView::default()
    }
}

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

fn all_words() -> Config {
    Config { four_letter_words: WordList::All, ..Config::standalone_default() }
}

fn text(cmd: &str, v: &ServerView, cfg: &Config) -> String {
    match four_letter(cmd, v, cfg, &env()) {
        FourLetterReply::Text(t) => t,
        other => panic!("{cmd}: {other:?}"),
    }
}

fn conns() -> Vec<ConnectionView> {
    let mut a = ConnectionView::new("127.0.0.1:53968".parse().unwrap());
    a.recved = 2;
    a.sent = 2;
    a.session_id = 0x1000003a1d60000;
    a.last_op = "GETD".into();
    a.established_ms = 1795270865831;
    a.timeout_ms = 30000;
    a.last_cxid = 1;
    a.last_zxid = 1;
    a.last_response_ms = 244913;
    a.last_latency_ms = 4;
    a.avg_latency_ms = 7;
    a.max_latency_ms = 11;
    let mut b = ConnectionView::new("127.0.0.1:53990".parse().unwrap());
    b.interest_ops = 0;
    b.recved = 1;
    vec![a, b]
}

#[test]
fn ruok_has_no_newline() {
    assert_eq!(text("ruok", &view(), &Config::default()), "imok");
}

#[test]
fn srvr_matches_zookeeper() {
    let want = format!(
        "Zookeeper version: {V}\nLatency min/avg/max: 4/7.5/11\nReceived: 15\nSent: 15\nConnections: 2\n\
         Outstanding: 0\nZxid: 0x1\nMode: standalone\nNode count: 5\n"
    );
    assert_eq!(text("srvr", &view(), &Config::default()), want);
    let v = ServerView { avg_latency_ms: 0.0, zxid: 0x1_0000_002a, ..view() };
    let t = text("srvr", &v, &Config::default());
    assert!(t.contains("Latency min/avg/max: 4/0.0/11\n") && t.contains("Zxid: 0x10000002a\n"), "{t}");
    let v = ServerView { avg_latency_ms: 2.0 / 3.0, ..view() };
    assert!(text("srvr", &v, &Config::default()).contains("/0.6667/"));
}

#[test]
fn stat_lists_clients_briefly() {
    let v = ServerView { connections: conns(), ..view() };
    let want = format!(
        "Zookeeper version: {V}\nClients:\n /127.0.0.1:53968[1](queued=0,recved=2,sent=2)\n \
         /127.0.0.1:53990[0](queued=0,recved=1,sent=0)\n\nLatency min/avg/max: 4/7.5/11\nReceived: 15\n\
         Sent: 15\nConnections: 2\nOutstanding: 0\nZxid: 0x1\nMode: standalone\nNode count: 5\n"
    );
    assert_eq!(text("stat", &v, &Config::default()), want);
    let ro = ServerView { read_only: true, mode: "read-only".into(), ..view() };
    assert!(text("stat", &ro, &Config::default())
        .starts_with(&format!("Zookeeper version: {V}\nREAD-ONLY mode; serving only read-only clients\nClients:\n")));
}

#[test]
fn cons_has_session_details() {
    let v = ServerView { connections: conns(), ..view() };
    assert_eq!(
        text("cons", &v, &all_words()),
        " /127.0.0.1:53968[1](queued=0,recved=2,sent=2,sid=0x1000003a1d60000,lop=GETD,est=1795270865831,\
         to=30000,lcxid=0x1,lzxid=0x1,lresp=244913,llat=4,minlat=0,avglat=7,maxlat=11)\n \
         /127.0.0.1:53990[0](queued=0,recved=1,sent=0)\n\n"
    );
    let mut c = ConnectionView::new("[::1]:7".parse().unwrap());
    c.session_id = 1;
    let v = ServerView { connections: vec![c], ..view() };
    let t = text("cons", &v, &all_words());
    assert!(
        t.starts_with(" /[0:0:0:0:0:0:0:1]:7[1](") && t.contains("lcxid=0xffffffff,lzxid=0xffffffffffffffff"),
        "{t}"
    );
}

#[test]
fn envi_lists_properties() {
    let want = format!(
        "Environment:\nzookeeper.version={V}\nhost.name=localhost\njava.version=rust\njava.vendor=zabkeeper\n\
         java.home=/opt/zk\njava.class.path=/opt/zk/zabkeeper\njava.library.path=\njava.io.tmpdir=/tmp\n\
         java.compiler=<NA>\nos.name=Linux\nos.arch=amd64\nos.version=6.1.0\nuser.name=root\nuser.home=/root\n\
         user.dir=/srv\nos.memory.free=369MB\nos.memory.max=6028MB\nos.memory.total=388MB\n"
    );
    assert_eq!(text("envi", &view(), &Config::default()), want);
}

#[test]
fn envi_collect_reads_the_process() {
    let e = EnvView::collect();
    assert_eq!(e.java_version, "rust");
    assert!(!e.user_dir.is_empty());
    if cfg!(target_os = "linux") {
        assert_eq!(e.os_name, "Linux");
        assert!(e.os_memory_max_mb > 0);
        let (open, max) = process_fd_counts();
        assert!(open > 0 && max > 0);
    }
}

#[test]
fn conf_matches_zookeeper() {
    let (cfg, _) = Config::from_str("dataDir=/tmp/zkcap/data\nclientPort=21891\n", None).unwrap();
    let v = ServerView { data_dir_size: 457, data_log_size: 457, ..view() };
    assert_eq!(
        text("conf", &v, &cfg),
        "clientPort=21891\nsecureClientPort=-1\ndataDir=/tmp/zkcap/data/version-2\ndataDirSize=457\n\
         dataLogDir=/tmp/zkcap/data/version-2\ndataLogSize=457\ntickTime=2000\nmaxClientCnxns=60\n\
         minSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=-1\nserverId=0\n"
    );
    let bound = ServerView { client_port_bound: Some(40000), ..view() };
    assert!(text("conf", &bound, &cfg).starts_with("clientPort=40000\n"));
}

#[test]
fn conf_in_an_ensemble_adds_quorum_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("myid"), "2").unwrap();
    let text_cfg = format!(
        "dataDir={}\nserver.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889;2182\n",
        dir.path().display()
    );
    let (cfg, _) = Config::from_str(&text_cfg, None).unwrap();
    let t = text("conf", &view(), &cfg);
    assert!(t.starts_with("clientPort=2182\n"), "{t}");
    assert!(t.contains("serverId=2\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\nelectionPort=3889\nquorumPort=2889\npeerType=0\nmembership: \n"), "{t}");
    assert!(t.ends_with("server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\nversion=0"), "{t}");
}

#[test]
fn mntr_is_tab_separated() {
    let mut v = view();
    v.watch_count = 4;
    v.open_file_descriptor_count = 40;
    v.max_file_descriptor_count = 20000;
    v.fsync_ms = timing(&[3, 4]);
    v.metrics.update_latency = timing(&[1, 2, 3, 4, 100]);
    v.metrics.proposal_count = 9;
    let t = text("mntr", &v, &Config::default());
    for line in t.lines() {
        assert_eq!(line.split('\t').count(), 2, "{line}");
        assert!(line.starts_with("zk_"));
    }
    for want in [
        format!("zk_version\t{V}\n"),
        "zk_server_state\tstandalone\n".into(),
        "zk_avg_latency\t7.5\n".into(),
        "zk_max_latency\t11\n".into(),
        "zk_min_latency\t4\n".into(),
        "zk_packets_received\t15\n".into(),
        "zk_packets_sent\t15\n".into(),
        "zk_num_alive_connections\t2\n".into(),
        "zk_outstanding_requests\t0\n".into(),
        "zk_znode_count\t5\n".into(),
        "zk_watch_count\t4\n".into(),
        "zk_ephemerals_count\t0\n".into(),
        "zk_approximate_data_size\t0\n".into(),
        "zk_open_file_descriptor_count\t40\n".into(),
        "zk_max_file_descriptor_count\t20000\n".into(),
        "zk_avg_fsynctime\t3.5\n".into(),
        "zk_min_fsynctime\t3\n".into(),
        "zk_max_fsynctime\t4\n".into(),
        "zk_cnt_fsynctime\t2\n".into(),
        "zk_sum_fsynctime\t7\n".into(),
        "zk_avg_updatelatency\t22.0\n".into(),
        "zk_cnt_updatelatency\t5\n".into(),
        "zk_p50_updatelatency\t3\n".into(),
        "zk_p99_updatelatency\t100\n".into(),
        "zk_p999_updatelatency\t100\n".into(),
        "zk_cnt_readlatency\t0\n".into(),
        "zk_avg_election_time\t0.0\n".into(),
        "zk_proposal_count\t9\n".into(),
        "zk_learner_commit_received_count\t0\n".into(),
    ] {
        assert!(t.contains(&want), "missing {want:?} in {t}");
    }
    assert!(t.starts_with("zk_version\t"));
}

#[test]
fn watch_words() {
    let v = ServerView {
        data_watches: vec![
            (0x1000003a1d60002, vec!["/zookeeper".into(), "/nonexist".into()]),
            (0x1000003a1d60001, vec!["/zookeeper".into()]),
        ],
        ..view()
    };
    let cfg = all_words();
    assert_eq!(text("wchs", &v, &cfg), "2 connections watching 2 paths\nTotal watches:3\n");
    assert_eq!(
        text("wchc", &v, &cfg),
        "0x1000003a1d60001\n\t/zookeeper\n0x1000003a1d60002\n\t/nonexist\n\t/zookeeper\n\n"
    );
    assert_eq!(
        text("wchp", &v, &cfg),
        "/nonexist\n\t0x1000003a1d60002\n/zookeeper\n\t0x1000003a1d60001\n\t0x1000003a1d60002\n\n"
    );
    assert_eq!(text("wchs", &view(), &cfg), "0 connections watching 0 paths\nTotal watches:0\n");
}

#[test]
fn small_words() {
    let cfg = all_words();
    let v = view();
    assert_eq!(text("isro", &v, &cfg), "rw");
    let ro = ServerView { read_only: true, ..view() };
    assert_eq!(text("isro", &ro, &cfg), "ro");
    assert_eq!(text("dirs", &v, &cfg), "datadir_size: 0\nlogdir_size: 0\n");
    assert_eq!(text("gtmk", &v, &cfg), "306");
    assert_eq!(text("crst", &v, &cfg), "Connection stats reset.\n");
    assert_eq!(text("srst", &v, &cfg), "Server stats reset.\n");
    assert_eq!(stat_reset("crst"), Some(StatReset::Connections));
    assert_eq!(stat_reset("srst"), Some(StatReset::Server));
    assert_eq!(stat_reset("srvr"), None);
    // stmk answers the mask the caller put in the view; hash lists no digests.
    let masked = ServerView { trace_mask: 498, ..v.clone() };
    assert_eq!(four_letter("stmk", &masked, &cfg, &env()), FourLetterReply::Text("498".into()));
    assert_eq!(four_letter("hash", &v, &cfg, &env()), FourLetterReply::Text(String::new()));
    for unsupported in ["xxxx", "", "ruokk"] {
        assert_eq!(four_letter(unsupported, &v, &cfg, &env()), FourLetterReply::Unknown, "{unsupported}");
    }
}

#[test]
fn dump_prints_zookeepers_three_sections() {
    let cfg = all_words();
    let mut c1 = ConnectionView::new("127.0.0.1:41432".parse().unwrap());
    c1.session_id = 0x1000002bf160001;
    c1.timeout_ms = 30_000;
    c1.established_ms = 1_764_584_650_000; // 2025-12-01 10:24:10 UTC
    c1.last_active_ms = 1_764_584_655_000;
    let mut c2 = ConnectionView::new("127.0.0.1:41448".parse().unwrap());
    c2.established_ms = 1_764_584_655_500;
    let v = ServerView {
        // the session clock reads 5,000 at wall time 2025-12-01 10:24:15 UTC
        now_ms: 1_764_584_655_000,
        session_clock_ms: 5_000,
        session_expiry: vec![(34_000, vec![0x1000002bf160001, 0x1000002bf160002])],
        ephemerals: vec![
            (0x1000002bf160001, vec!["/e1".into(), "/e2".into()]),
            (0x1000002bf160002, vec!["/e3".into()]),
        ],
        connections: vec![c1, c2],
        ..view()
    };
    assert_eq!(
        text("dump", &v, &cfg),
        "SessionTracker dump:\nSession Sets (1)/(2):\n2 expire at Mon Dec 01 10:24:44 UTC 2025:\n\
         \t0x1000002bf160001\n\t0x1000002bf160002\n\
         ephemeral nodes dump:\nSessions with Ephemerals (2):\n0x1000002bf160001:\n\t/e1\n\t/e2\n\
         0x1000002bf160002:\n\t/e3\n\
         Connections dump:\nConnections Sets (2)/(2):\n\
         1 expire at Mon Dec 01 10:24:30 UTC 2025:\n\tip: /127.0.0.1:41448 sessionId: 0x0\n\
         1 expire at Mon Dec 01 10:24:50 UTC 2025:\n\tip: /127.0.0.1:41432 sessionId: 0x1000002bf160001\n"
    );
    // A learner lists its global sessions with their timeouts instead of expiry buckets.
    let learner = ServerView { learner_sessions: Some(vec![(0x1000002bf160001, 30_000)]), session_expiry: vec![], ..v };
    assert!(
        text("dump", &learner, &cfg).starts_with(
            "SessionTracker dump:\nGlobal Sessions(1):\n0x1000002bf160001\t30000ms\nephemeral nodes dump:\n"
        ),
        "{}",
        text("dump", &learner, &cfg)
    );
}

#[test]
fn not_serving() {
    let v = ServerView { serving: false, ..view() };
    let cfg = all_words();
    let msg = "This ZooKeeper instance is not currently serving requests\n";
    for w in ["srvr", "stat", "conf", "mntr", "cons", "wchs", "dirs"] {
        assert_eq!(text(w, &v, &cfg), msg, "{w}");
    }
    assert_eq!(text("ruok", &v, &cfg), "imok");
    assert_eq!(text("isro", &v, &cfg), "null");
    assert!(text("envi", &v, &cfg).starts_with("Environment:\n"));
}

#[test]
fn whitelist() {
    let default = Config::default();
    for w in ["ruok", "srvr", "stat", "envi", "conf", "mntr", "isro"] {
        assert!(matches!(four_letter(w, &view(), &default, &env()), FourLetterReply::Text(_)), "{w}");
    }
    assert_eq!(
        four_letter("dump", &view(), &default, &env()),
        FourLetterReply::NotWhitelisted("dump is not executed because it is not in the whitelist.\n".into())
    );
    assert!(matches!(four_letter("cons", &view(), &default, &env()), FourLetterReply::NotWhitelisted(_)));

    // ZooKeeper always allows srvr, and isro in read-only mode.
    let only_ruok = Config { four_letter_words: WordList::parse("ruok"), ..Config::default() };
    assert!(is_enabled("ruok", &only_ruok) && is_enabled("srvr", &only_ruok));
    assert!(!is_enabled("isro", &only_ruok) && !is_enabled("stat", &only_ruok));
    let ro = Config { read_only_mode_enabled: true, ..only_ruok };
    assert!(is_enabled("isro", &ro));
    assert!(KNOWN_WORDS.iter().all(|w| is_enabled(w, &all_words())));
}

#[test]
fn detects_words_by_first_four_bytes() {
    for w in KNOWN_WORDS.iter().filter(|w| w.len() == 4) {
        assert!(is_four_letter_word(w.as_bytes().try_into().unwrap()), "{w}");
    }
    assert!(is_four_letter_word(&[0xff, 0xf4, 0xff, 0xfd]));
    assert_eq!(word_name(&[0xff, 0xf4, 0xff, 0xfd]), Some("telnet close"));
    assert!(!is_four_letter_word(b"RUOK"));
    assert!(!is_four_letter_word(&[0, 0, 0, 45])); // a ConnectRequest length prefix
    assert!(!is_four_letter_word(b"abcd"));
}

#[test]
fn version_string_looks_like_zookeeper() {
    let v = version_string();
    assert!(v.starts_with("3.8.4-zabkeeper-") && v.contains(", built on "), "{v}");
}

/// A summary of `values` as the server's timings make one.
fn timing(values: &[u64]) -> Summary {
    let mut t = crate::stats::Timing::new();
    for v in values {
        t.record(*v);
    }
    t.summary()
}

#[test]
fn an_ensemble_leader_reports_its_peer_state_and_proposals() {
    let q = crate::admin::QuorumView {
        peer_state: "leading - broadcast".into(),
        quorum_size: 3,
        leader: true,
        learners: 2,
        synced_followers: 2,
        last_proposal_size: 48,
        min_proposal_size: 36,
        max_proposal_size: 1013,
        ..Default::default()
    };
    let v = ServerView { mode: "leader".into(), quorum: Some(q), ..view() };
    let cfg = Config::standalone_default();
    let FourLetterReply::Text(srvr) = four_letter("srvr", &v, &cfg, &env()) else { panic!() };
    assert!(srvr.ends_with("Mode: leader\nNode count: 5\nProposal sizes last/min/max: 48/36/1013\n"), "{srvr}");
    let FourLetterReply::Text(mntr) = four_letter("mntr", &v, &cfg, &env()) else { panic!() };
    for line in [
        "zk_peer_state\tleading - broadcast\n",
        "zk_learners\t2\n",
        "zk_synced_followers\t2\n",
        "zk_pending_syncs\t0\n",
        "zk_quorum_size\t3\n",
        "zk_leader_uptime\t",
        "zk_last_proposal_size\t48\n",
        "zk_max_proposal_size\t1013\n",
    ] {
        assert!(mntr.contains(line), "{line:?} missing from\n{mntr}");
    }
    let follower = ServerView {
        mode: "follower".into(),
        quorum: Some(crate::admin::QuorumView { peer_state: "following - broadcast".into(), ..Default::default() }),
        ..view()
    };
    let FourLetterReply::Text(mntr) = four_letter("mntr", &follower, &cfg, &env()) else { panic!() };
    assert!(mntr.contains("zk_peer_state\tfollowing - broadcast\n") && !mntr.contains("zk_learners"), "{mntr}");
}
