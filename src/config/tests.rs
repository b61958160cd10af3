//! Unit tests for `config`: defaults, every key, system-property spellings, warnings and errors.

use super::*;

fn parse(text: &str) -> (Config, Vec<String>) {
    Config::from_str(text, None).expect("config should parse")
}

fn err(text: &str) -> ConfigError {
    Config::from_str(text, None).expect_err("config should be rejected")
}

fn assert_invalid(text: &str, want_key: &str, want_line: usize) {
    match err(text) {
        ConfigError::Invalid { line, key, .. } => {
            assert_eq!((key.as_str(), line), (want_key, want_line), "for {text:?}")
        }
        other => panic!("expected Invalid for {text:?}, got {other:?}"),
    }
}

#[test]
fn standalone_defaults() {
    let c = Config::standalone_default();
    assert_eq!(c.client_addr(), "127.0.0.1:2181".parse().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.data_log_dir, c.data_dir);
    assert_eq!(c.tick_time, 2000);
    assert_eq!((c.init_limit, c.sync_limit), (10, 5));
    assert_eq!(c.min_session_timeout_ms(), 4000);
    assert_eq!(c.max_session_timeout_ms(), 40000);
    assert_eq!(c.max_client_cnxns, 60);
    assert_eq!(c.snap_count, 100_000);
    assert_eq!(c.pre_alloc_size_bytes(), 64 * 1024 * 1024);
    assert_eq!(c.global_outstanding_limit, 1000);
    assert_eq!(c.autopurge_snap_retain_count, 3);
    assert_eq!(c.purge_interval(), Some(std::time::Duration::from_secs(3600)));
    assert_eq!(c.jute_max_buffer, 0xfffff);
    for w in ["ruok", "srvr", "stat", "envi", "conf", "mntr", "isro"] {
        assert!(c.four_letter_word_enabled(w), "{w}");
    }
    assert!(!c.four_letter_word_enabled("dump"));
    assert!(!c.skip_acl && !c.extended_types_enabled && !c.read_only_mode_enabled);
    assert_eq!((c.container_check_interval_ms, c.container_max_per_minute), (60_000, 10_000));
    assert!(c.standalone_enabled && !c.reconfig_enabled);
    assert_eq!((c.admin_server_port, c.metrics_provider_http_port), (8080, 7000));
    assert_eq!(c.election_alg, 3);
    assert!(c.is_standalone());
    assert_eq!(c.server_id(), 0);
    assert_eq!(Config::default(), c);
}

#[test]
fn file_defaults_differ_only_where_zookeeper_does() {
    let (c, w) = parse("dataDir=/tmp/zk\n");
    assert!(w.is_empty());
    assert_eq!(c.client_addr(), "[::]:2181".parse().unwrap());
    assert_eq!(c.data_log_dir, PathBuf::from("/tmp/zk"));
    assert_eq!(c.snap_dir(), PathBuf::from("/tmp/zk/version-2"));
}

#[test]
fn every_key_parsed() {
    let text = "\
tickTime=1000
initLimit=7
syncLimit=3
dataDir=/d
dataLogDir=/l
clientPort=3000
clientPortAddress=127.0.0.2
secureClientPort=3001
clientPortListenBacklog=50
maxClientCnxns=0
minSessionTimeout=1500
maxSessionTimeout=90000
snapCount=5000
preAllocSize=1024
globalOutstandingLimit=10
clientMaxUnsentBytes=65536
zookeeper.nio.sessionlessCnxnTimeout=2500
autopurge.snapRetainCount=5
autopurge.purgeInterval=0
jute.maxbuffer=4096
4lw.commands.whitelist=ruok, dump
superDigest=super:abc=
skipACL=yes
extendedTypesEnabled=true
readonlymode.enabled=true
znode.container.checkIntervalMs=100
znode.container.maxPerMinute=5
forceSync=no
fsync.warningthresholdms=20
standaloneEnabled=false
reconfigEnabled=true
localSessionsEnabled=true
localSessionsUpgradingEnabled=true
admin.enableServer=false
admin.serverAddress=127.0.0.1
admin.serverPort=9090
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
metricsProvider.httpPort=7001
metricsProvider.exportJvmInfo=true
peerType=observer
electionAlg=3
quorumListenOnAllIPs=true
cnxTimeout=7000
syncEnabled=false
";
    let (c, w) = parse(text);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!((c.tick_time, c.init_limit, c.sync_limit), (1000, 7, 3));
    assert_eq!((c.data_dir.clone(), c.data_log_dir.clone()), ("/d".into(), "/l".into()));
    assert_eq!(c.client_addr(), "127.0.0.2:3000".parse().unwrap());
    assert_eq!(c.secure_client_port, Some(3001));
    assert_eq!(c.client_port_listen_backlog, 50);
    assert_eq!(c.max_client_cnxns_per_ip(), None);
    assert_eq!((c.min_session_timeout_ms(), c.max_session_timeout_ms()), (1500, 90000));
    assert_eq!(c.negotiate_session_timeout(100), 1500);
    assert_eq!(c.negotiate_session_timeout(1_000_000), 90000);
    assert_eq!((c.snap_count, c.pre_alloc_size_kb, c.global_outstanding_limit), (5000, 1024, 10));
    assert_eq!((c.autopurge_snap_retain_count, c.purge_interval()), (5, None));
    assert_eq!(c.jute_max_buffer, 4096);
    assert_eq!((c.client_max_unsent_bytes, c.sessionless_cnxn_timeout_ms), (65536, 2500));
    assert!(c.four_letter_word_enabled("dump") && !c.four_letter_word_enabled("srvr"));
    assert_eq!(c.super_digest.as_deref(), Some("super:abc="));
    assert!(c.skip_acl && c.extended_types_enabled && c.read_only_mode_enabled);
    assert_eq!((c.container_check_interval_ms, c.container_max_per_minute), (100, 5));
    assert!(!c.force_sync);
    assert_eq!(c.fsync_warning_threshold_ms, 20);
    assert!(!c.standalone_enabled && c.reconfig_enabled);
    assert!(c.local_sessions_enabled && c.local_sessions_upgrading_enabled);
    assert!(!c.admin_enable_server);
    assert_eq!(c.admin_server_address, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(c.admin_server_port, 9090);
    assert!(c.metrics_provider_class_name.is_some());
    assert_eq!(c.metrics_provider_http_port, 7001);
    assert_eq!(c.peer_type, PeerRole::Observer);
    assert!(c.quorum_listen_on_all_ips);
    assert_eq!(c.cnx_timeout_ms, 7000);
    assert!(!c.sync_enabled);
}

#[test]
fn system_property_spellings() {
    let text = "\
dataDir=/d
zookeeper.DigestAuthenticationProvider.superDigest=super:x
zookeeper.extendedTypesEnabled=true
zookeeper.readonlymode.enabled=true
zookeeper.jute.maxbuffer=0x100000
zookeeper.znode.container.checkIntervalMs=10
zookeeper.skipACL=yes
zookeeper.snapCount=10
zookeeper.preAllocSize=16
zookeeper.globalOutstandingLimit=7
zookeeper.4lw.commands.whitelist=*
";
    let (c, w) = parse(text);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.super_digest.as_deref(), Some("super:x"));
    assert!(c.extended_types_enabled && c.read_only_mode_enabled && c.skip_acl);
    assert_eq!(c.jute_max_buffer, 0x100000);
    assert_eq!(c.container_check_interval_ms, 10);
    assert_eq!((c.snap_count, c.pre_alloc_size_kb, c.global_outstanding_limit), (10, 16, 7));
    assert_eq!(c.four_letter_words, WordList::All);

    let (c, _) = parse("dataDir=/d\nDigestAuthenticationProvider.superDigest=a:b\njute.maxbuffer=#ff\n");
    assert_eq!(c.super_digest.as_deref(), Some("a:b"));
    assert_eq!(c.jute_max_buffer, 255);
}

#[test]
fn unknown_keys_warn() {
    let (c, w) = parse("dataDir=/d\nfoo.bar=1\nzookeeper.tickTime=5\nsnapRetainCount=1\n");
    assert_eq!(c.tick_time, 2000);
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].contains("foo.bar") && w[0].contains("line 2"));
    assert!(w[1].contains("zookeeper.tickTime"));
}

#[test]
fn snap_retain_count_is_clamped_with_warning() {
    let (c, w) = parse("dataDir=/d\nautopurge.snapRetainCount=1\n");
    assert_eq!(c.autopurge_snap_retain_count, 3);
    assert_eq!(w.len(), 1);
}

#[test]
fn invalid_values_name_key_and_line() {
    assert_invalid("dataDir=/d\ntickTime=abc", "tickTime", 2);
    assert_invalid("dataDir=/d\ntickTime=0", "tickTime", 2);
    assert_invalid("dataDir=/d\n\ntickTime=-5", "tickTime", 3);
    assert_invalid("clientPort=70000\ndataDir=/d", "clientPort", 1);
    assert_invalid("dataDir=/d\nclientPort=-1", "clientPort", 2);
    assert_invalid("dataDir=/d\nsnapCount=1", "snapCount", 2);
    assert_invalid("dataDir=/d\nminSessionTimeout=50000", "minSessionTimeout", 2);
    assert_invalid("dataDir=/d\nminSessionTimeout=5000\nmaxSessionTimeout=4000", "minSessionTimeout", 2);
    assert_invalid("dataDir=/d\nmaxSessionTimeout=1000", "maxSessionTimeout", 2);
    assert_invalid("dataDir=/d\nskipACL=maybe", "skipACL", 2);
    assert_invalid("dataDir=/d\njute.maxbuffer=0xzz", "jute.maxbuffer", 2);
    assert_invalid("dataDir=/d\nelectionAlg=1", "electionAlg", 2);
    assert_invalid("dataDir=/d\npeerType=leader", "peerType", 2);
    assert_invalid("dataDir=/d\nstandaloneEnabled=yes", "standaloneEnabled", 2);
    assert_invalid("dataDir=/d\nmaxClientCnxns=x", "maxClientCnxns", 2);
    assert_invalid("dataDir=/d\nserver.1=localhost:2888", "server.1", 2);
    assert_invalid("dataDir=/d\nserver.x=localhost:2888:3888", "server.x", 2);
    assert_invalid("dataDir=/d\nserver.1=h:1:2\nserver.1=h:3:4", "server.1", 3);
    assert_invalid("dataDir=/d\nserver.1=h:1:2:leader", "server.1", 2);
    assert_invalid("dataDir=/d\nserver.1=h:1:99999", "server.1", 2);
    let msg = err("dataDir=/d\ntickTime=abc").to_string();
    assert!(msg.contains("line 2") && msg.contains("tickTime") && msg.contains("abc"), "{msg}");
}

#[test]
fn missing_data_dir() {
    let e = err("clientPort=2181\n");
    assert!(matches!(e, ConfigError::Missing { ref key } if key == "dataDir"));
    assert_eq!(e.to_string(), "dataDir is not set");
}

#[test]
fn relative_data_dir_resolves_against_base() {
    let (c, _) = Config::from_str("dataDir=data/x\ndataLogDir=/abs", Some(Path::new("/base"))).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/base/data/x"));
    assert_eq!(c.data_log_dir, PathBuf::from("/abs"));
    let (c, _) = parse("dataDir=data/x");
    assert_eq!(c.data_dir, PathBuf::from("data/x"));
}

#[test]
fn server_lines_and_myid() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "# ensemble\ndataDir={}\nserver.3=[::1]:2890:3890;2183\nserver.1=127.0.0.1:2888:3888;2181\n\
         server.2=zk2.local:2889:3889:observer;127.0.0.1:2182\n",
        dir.path().display()
    );
    // No myid yet: a warning, not an error.
    let (c, w) = Config::from_str(&text, None).unwrap();
    assert_eq!(c.myid, None);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(c.servers.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(c.servers[1].role, PeerRole::Observer);
    assert_eq!(c.servers[1].host, "zk2.local");
    assert_eq!(c.servers[2].host, "::1");
    assert_eq!(c.servers[0].to_string(), "127.0.0.1:2888:3888:participant;0.0.0.0:2181");
    assert!(!c.is_standalone());

    std::fs::write(dir.path().join("myid"), "2\n").unwrap();
    let (c, w) = Config::from_str(&text, None).unwrap();
    assert!(w.is_empty());
    assert_eq!(c.server_id(), 2);
    assert_eq!(c.client_addr(), "127.0.0.1:2182".parse().unwrap());

    std::fs::write(dir.path().join("myid"), "9").unwrap();
    assert!(matches!(Config::from_str(&text, None), Err(ConfigError::MyId { .. })));
    std::fs::write(dir.path().join("myid"), "two").unwrap();
    assert!(matches!(Config::from_str(&text, None), Err(ConfigError::MyId { .. })));
}

#[test]
fn real_looking_zoo_cfg() {
    let text = "\
# The number of milliseconds of each tick
tickTime=2000
# The number of ticks that the initial
# synchronization phase can take
initLimit=10
syncLimit=5
! bang comment
dataDir=/nonexistent/zookeeper
clientPort = 2181
#maxClientCnxns=60
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
4lw.commands.whitelist=srvr, ruok, \\
    mntr
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
server.1=zoo1:2888:3888
server.2=zoo2:2888:3888
server.3=zoo3:2888:3888
";
    let (c, w) = parse(text);
    assert_eq!(c.servers.len(), 3);
    assert_eq!(w.len(), 1, "only the missing myid: {w:?}");
    assert_eq!(c.client_port, 2181);
    assert!(c.four_letter_word_enabled("mntr") && !c.four_letter_word_enabled("stat"));
    assert_eq!(c.purge_interval(), Some(std::time::Duration::from_secs(3600)));
}

#[test]
fn example_and_ensemble_files_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("zoo.cfg.example")).unwrap();
    let (c, w) = Config::from_str(&text, None).unwrap();
    assert!(w.is_empty(), "{w:?}");
    let mut want = Config::standalone_default();
    want.min_session_timeout = Some(want.min_session_timeout_ms());
    want.max_session_timeout = Some(want.max_session_timeout_ms());
    assert_eq!(c.initial_config.as_deref(), Some(text.as_str()), "kept for initial_configuration");
    assert_eq!(Config { initial_config: None, ..c }, want, "zoo.cfg.example must list the defaults");
    for (n, port) in [(1, 2181), (2, 2182), (3, 2183)] {
        let path = root.join(format!("conf/node{n}/zoo.cfg"));
        let (c, _) = Config::from_str(&std::fs::read_to_string(path).unwrap(), Some(root)).unwrap();
        assert_eq!(c.client_port, port);
        assert_eq!(c.servers.len(), 3);
        assert_eq!(c.data_dir, root.join(format!("data/node{n}")));
    }
}

#[test]
fn from_file_io_error_names_path() {
    let e = Config::from_file(Path::new("/nonexistent/zoo.cfg")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/zoo.cfg"));
}
