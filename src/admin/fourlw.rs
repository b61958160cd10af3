//! Four-letter words: detection, whitelist and rendering in ZooKeeper 3.8's exact text formats
//! (captured from a real 3.8 server).
//! Owns: the known-word table, the enablement rule (configured list, plus `srvr` always and `isro`
//! in read-only mode, as ZooKeeper does) and every word's output.
//! Must never: do I/O or change state; `crst`/`srst` only report what the caller must reset.

use super::server_metrics::{flat_rows, Flat};
use super::{round4, ConnectionView, EnvView, ServerView};
use crate::config::Config;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;

/// Every word ZooKeeper 3.8 recognises (including telnet's close sequence `ff f4 ff fd`).
pub const KNOWN_WORDS: &[&str] = &[
    "conf",
    "cons",
    "crst",
    "dirs",
    "dump",
    "envi",
    "gtmk",
    "ruok",
    "stmk",
    "srst",
    "srvr",
    "stat",
    "wchc",
    "wchp",
    "wchs",
    "mntr",
    "isro",
    "hash",
    "telnet close",
];

const TELNET_CLOSE: [u8; 4] = [0xff, 0xf4, 0xff, 0xfd];
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// What to send back for a four-letter word; the connection is closed afterwards in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FourLetterReply {
    Text(String),
    /// Known word not enabled; carries ZooKeeper's message.
    NotWhitelisted(String),
    /// Not a word we answer: close without output.
    Unknown,
}

/// Which statistics a `crst`/`srst` asks the caller to reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatReset {
    /// `crst`: per-connection stats.
    Connections,
    /// `srst`: server latency/packet stats.
    Server,
}

/// True if the first 4 bytes of a new connection are a known word (checked before a handshake;
/// a real ConnectRequest starts with a length prefix that never matches).
pub fn is_four_letter_word(first4: &[u8; 4]) -> bool {
    word_name(first4).is_some()
}

/// The word for the first 4 bytes of a connection (`"telnet close"` for `ff f4 ff fd`).
pub fn word_name(first4: &[u8; 4]) -> Option<&'static str> {
    if *first4 == TELNET_CLOSE {
        return Some("telnet close");
    }
    KNOWN_WORDS.iter().copied().find(|w| w.as_bytes() == first4)
}

/// ZooKeeper's rule: the configured list (or `*`), plus `srvr` always and `isro` when
/// `readonlymode.enabled`.
pub fn is_enabled(cmd: &str, cfg: &Config) -> bool {
    cfg.four_letter_words.allows(cmd) || cmd == "srvr" || (cmd == "isro" && cfg.read_only_mode_enabled)
}

/// `crst`/`srst` need the caller to reset stats after sending the reply.
pub fn stat_reset(cmd: &str) -> Option<StatReset> {
    match cmd {
        "crst" => Some(StatReset::Connections),
        "srst" => Some(StatReset::Server),
        _ => None,
    }
}

/// Renders `cmd` (a word such as `"srvr"`, or the 4 raw bytes as text) from the views.
pub fn four_letter(cmd: &str, view: &ServerView, cfg: &Config, env: &EnvView) -> FourLetterReply {
    let cmd = match cmd.as_bytes().try_into().ok().and_then(word_name) {
        Some(w) => w,
        None if cmd == "telnet close" => cmd,
        None => return FourLetterReply::Unknown,
    };
    if !is_enabled(cmd, cfg) {
        return FourLetterReply::NotWhitelisted(format!("{cmd} is not executed because it is not in the whitelist.\n"));
    }
    let needs_server = !matches!(cmd, "ruok" | "envi" | "gtmk" | "stmk" | "isro" | "telnet close");
    if needs_server && !view.serving {
        return FourLetterReply::Text(NOT_SERVING.into());
    }
    let text = match cmd {
        "ruok" => "imok".to_string(),
        "srvr" => stat(view, false),
        "stat" => stat(view, true),
        "envi" => envi(view, env),
        "conf" => conf(view, cfg),
        "mntr" => mntr(view),
        "isro" => match (view.serving, view.read_only) {
            (false, _) => "null".into(),
            (true, true) => "ro".into(),
            (true, false) => "rw".into(),
        },
        "cons" => {
            let mut s = String::new();
            for c in &view.connections {
                connection_line(&mut s, c, false);
                s.push('\n');
            }
            s.push('\n');
            s
        }
        "crst" => "Connection stats reset.\n".into(),
        "srst" => "Server stats reset.\n".into(),
        "dirs" => format!("datadir_size: {}\nlogdir_size: {}\n", view.data_dir_size, view.data_log_size),
        "gtmk" => view.trace_mask.to_string(),
        // The caller put the mask the word carried into the view (and keeps it for gtmk).
        "stmk" => view.trace_mask.to_string(),
        // ZooKeeper's digest log, one `zxid: digest` line per entry; we keep none, what
        // ZooKeeper prints with digests off (the AdminServer's `hash` answers `[]` alike).
        "hash" => String::new(),
        "dump" => dump(view, cfg),
        "wchs" => wchs(view),
        "wchc" => wchc(view),
        "wchp" => wchp(view),
        "telnet close" => String::new(),
        _ => return FourLetterReply::Unknown,
    };
    FourLetterReply::Text(text)
}

/// Java's `Double.toString` for the values we print (plain notation, at least one decimal).
pub(crate) fn java_double(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Java's `Long.toHexString`: two's complement for negatives.
fn hex(v: i64) -> String {
    format!("{:x}", v as u64)
}

/// Java's `InetSocketAddress.toString()` for a resolved address without a hostname.
fn java_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(a) => format!("/{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => {
            let segs: Vec<String> = a.ip().segments().iter().map(|s| format!("{s:x}")).collect();
            format!("/[{}]:{}", segs.join(":"), a.port())
        }
    }
}

fn connection_line(s: &mut String, c: &ConnectionView, brief: bool) {
    let ops = if c.interest_ops == 0 { "0".to_string() } else { format!("{:x}", c.interest_ops) };
    let _ = write!(s, " {}[{}](queued={},recved={},sent={}", java_addr(&c.remote), ops, c.queued, c.recved, c.sent);
    if !brief && c.session_id != 0 {
        let _ = write!(
            s,
            ",sid=0x{},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{},lresp={},llat={},minlat={},avglat={},maxlat={}",
            hex(c.session_id),
            c.last_op,
            c.established_ms,
            c.timeout_ms,
            c.last_cxid as u32,
            hex(c.last_zxid),
            c.last_response_ms,
            c.last_latency_ms,
            c.min_latency_ms,
            c.avg_latency_ms,
            c.max_latency_ms
        );
    }
    s.push(')');
}

fn stat(view: &ServerView, with_clients: bool) -> String {
    let mut s = format!("Zookeeper version: {}\n", view.version);
    if view.read_only {
        s.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if with_clients {
        s.push_str("Clients:\n");
        for c in &view.connections {
            connection_line(&mut s, c, true);
            s.push('\n');
        }
        s.push('\n');
    }
    let _ = write!(
        s,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\n\
         Zxid: 0x{}\nMode: {}\nNode count: {}\n",
        view.min_latency_ms,
        java_double(round4(view.avg_latency_ms)),
        view.max_latency_ms,
        view.packets_received,
        view.packets_sent,
        view.num_alive_connections,
        view.outstanding_requests,
        hex(view.zxid),
        view.mode,
        view.node_count
    );
    if let Some(q) = view.quorum.as_ref().filter(|q| q.leader) {
        // ZooKeeper's leader adds its proposal sizes (-1 before the first).
        let size = |v: u64| if q.last_proposal_size == 0 { -1 } else { v as i64 };
        let _ = writeln!(
            s,
            "Proposal sizes last/min/max: {}/{}/{}",
            size(q.last_proposal_size),
            size(q.min_proposal_size),
            size(q.max_proposal_size)
        );
    }
    s
}

fn envi(view: &ServerView, env: &EnvView) -> String {
    let rows = env.rows(&view.version);
    let mut s = String::from("Environment:\n");
    for (k, v) in rows {
        let _ = writeln!(s, "{k}={v}");
    }
    let _ = write!(
        s,
        "os.memory.free={}MB\nos.memory.max={}MB\nos.memory.total={}MB\n",
        env.os_memory_free_mb, env.os_memory_max_mb, env.os_memory_total_mb
    );
    s
}

fn conf(view: &ServerView, cfg: &Config) -> String {
    let mut s = String::new();
    let secure = cfg.secure_client_port.map_or(-1, i32::from);
    let _ = write!(
        s,
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\n\
         tickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\n\
         clientPortListenBacklog={}\nserverId={}\n",
        view.client_port_bound.unwrap_or(cfg.client_addr().port()),
        secure,
        cfg.snap_dir().display(),
        view.data_dir_size,
        cfg.txn_log_dir().display(),
        view.data_log_size,
        cfg.tick_time,
        cfg.max_client_cnxns,
        cfg.min_session_timeout_ms(),
        cfg.max_session_timeout_ms(),
        cfg.client_port_listen_backlog,
        cfg.server_id()
    );
    if !cfg.is_standalone() {
        let me = cfg.my_server();
        let _ = write!(
            s,
            "initLimit={}\nsyncLimit={}\nelectionAlg={}\nelectionPort={}\nquorumPort={}\npeerType={}\nmembership: \n",
            cfg.init_limit,
            cfg.sync_limit,
            cfg.election_alg,
            me.map_or(-1, |m| i32::from(m.election_port)),
            me.map_or(-1, |m| i32::from(m.quorum_port)),
            cfg.peer_type.ordinal()
        );
        for srv in &cfg.servers {
            let _ = writeln!(s, "server.{}={}", srv.id, srv);
        }
        s.push_str("version=0");
    }
    s
}

fn mntr(view: &ServerView) -> String {
    let rows: Vec<(&str, String)> = vec![
        ("zk_version", view.version.clone()),
        ("zk_server_state", view.mode.clone()),
        ("zk_avg_latency", java_double(round4(view.avg_latency_ms))),
        ("zk_max_latency", view.max_latency_ms.to_string()),
        ("zk_min_latency", view.min_latency_ms.to_string()),
        ("zk_packets_received", view.packets_received.to_string()),
        ("zk_packets_sent", view.packets_sent.to_string()),
        ("zk_num_alive_connections", view.num_alive_connections.to_string()),
        ("zk_outstanding_requests", view.outstanding_requests.to_string()),
        ("zk_znode_count", view.node_count.to_string()),
        ("zk_watch_count", view.watch_count.to_string()),
        ("zk_ephemerals_count", view.ephemerals_count.to_string()),
        ("zk_approximate_data_size", view.approximate_data_size.to_string()),
        ("zk_open_file_descriptor_count", view.open_file_descriptor_count.to_string()),
        ("zk_max_file_descriptor_count", view.max_file_descriptor_count.to_string()),
        ("zk_uptime", view.uptime_ms.to_string()),
        ("zk_global_sessions", view.global_sessions.to_string()),
        ("zk_local_sessions", view.local_sessions.to_string()),
        ("zk_auth_failed_count", view.auth_failed_count.to_string()),
        ("zk_last_client_response_size", view.client_response.last.to_string()),
        ("zk_min_client_response_size", view.client_response.min.to_string()),
        ("zk_max_client_response_size", view.client_response.max.to_string()),
    ];
    let mut rows = rows;
    if let Some(q) = &view.quorum {
        rows.push(("zk_peer_state", q.peer_state.clone()));
        rows.push(("zk_quorum_size", q.quorum_size.to_string()));
        if q.leader {
            rows.push(("zk_learners", q.learners.to_string()));
            rows.push(("zk_synced_followers", q.synced_followers.to_string()));
            rows.push(("zk_synced_non_voting_followers", "0".into()));
            rows.push(("zk_synced_observers", q.synced_observers.to_string()));
            rows.push(("zk_pending_syncs", q.pending_syncs.to_string()));
            rows.push(("zk_leader_uptime", q.leader_uptime_ms.to_string()));
            rows.push(("zk_last_proposal_size", q.last_proposal_size.to_string()));
            rows.push(("zk_max_proposal_size", q.max_proposal_size.to_string()));
            rows.push(("zk_min_proposal_size", q.min_proposal_size.to_string()));
        }
    }
    let mut s = String::new();
    for (k, v) in rows {
        let _ = writeln!(s, "{k}\t{v}");
    }
    for (k, v) in flat_rows(&view.metrics.rows(&view.fsync_ms)) {
        let v = match v {
            Flat::Int(n) => n.to_string(),
            Flat::Double(d) => java_double(d),
        };
        let _ = writeln!(s, "zk_{k}\t{v}");
    }
    s
}

/// ZooKeeper 3.8's `dump`: the session tracker's expiry buckets, the ephemerals by session,
/// and the connections' expiry buckets (NIO's `cnxnExpiryQueue`: a connection expires its
/// session timeout after its last reply, before its handshake `sessionlessCnxnTimeout` after
/// it was accepted, in buckets that long). Times in Java's `Date` form.
fn dump(view: &ServerView, cfg: &Config) -> String {
    let java_date = crate::zkcli::format::java_date;
    let mut s = String::from("SessionTracker dump:\n");
    if let Some(learner) = &view.learner_sessions {
        // A learner's tracker (ZooKeeper's LearnerSessionTracker, local sessions off).
        let _ = writeln!(s, "Global Sessions({}):", learner.len());
        for (id, timeout) in learner {
            let _ = writeln!(s, "0x{}\t{timeout}ms", hex(*id));
        }
    }
    let sessions: usize = view.session_expiry.iter().map(|(_, ids)| ids.len()).sum();
    if view.learner_sessions.is_none() {
        let _ = writeln!(s, "Session Sets ({})/({sessions}):", view.session_expiry.len());
    }
    let to_wall = view.now_ms - view.session_clock_ms;
    for (at, ids) in &view.session_expiry {
        let _ = writeln!(s, "{} expire at {}:", ids.len(), java_date(at + to_wall));
        for id in ids {
            let _ = writeln!(s, "\t0x{}", hex(*id));
        }
    }
    s.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(s, "Sessions with Ephemerals ({}):", view.ephemerals.len());
    for (id, paths) in &view.ephemerals {
        let _ = writeln!(s, "0x{}:", hex(*id));
        for p in paths {
            let _ = writeln!(s, "\t{p}");
        }
    }
    s.push_str("Connections dump:\n");
    let interval = (cfg.sessionless_cnxn_timeout_ms as i64).max(1);
    let mut buckets: BTreeMap<i64, Vec<&ConnectionView>> = BTreeMap::new();
    for c in &view.connections {
        let timeout = match c.session_id {
            0 => interval,
            _ => i64::from(c.timeout_ms),
        };
        let from = c.established_ms.max(c.last_active_ms);
        let at = crate::session::round_to_next_interval(from + timeout, interval);
        buckets.entry(at).or_default().push(c);
    }
    let _ = writeln!(s, "Connections Sets ({})/({}):", buckets.len(), view.connections.len());
    for (at, conns) in buckets {
        let _ = writeln!(s, "{} expire at {}:", conns.len(), java_date(at));
        for c in conns {
            let _ = writeln!(s, "\tip: /{} sessionId: 0x{}", c.remote, hex(c.session_id));
        }
    }
    s
}

/// Session → sorted, de-duplicated data-watch paths (what `wchc` lists; the AdminServer's
/// `watches` too).
pub(super) fn by_session(view: &ServerView) -> BTreeMap<i64, Vec<&str>> {
    let mut m: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (sid, paths) in &view.data_watches {
        m.entry(*sid).or_default().extend(paths.iter().map(String::as_str));
    }
    m.retain(|_, p| {
        p.sort_unstable();
        p.dedup();
        !p.is_empty()
    });
    m
}

/// Path → the sessions watching it (`wchp`, and the AdminServer's `watches_by_path`).
pub(super) fn by_path(view: &ServerView) -> BTreeMap<&str, Vec<i64>> {
    let mut m: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (sid, paths) in by_session(view) {
        for p in paths {
            m.entry(p).or_default().push(sid);
        }
    }
    m
}

fn wchs(view: &ServerView) -> String {
    let sessions = by_session(view);
    let total: usize = sessions.values().map(Vec::len).sum();
    format!("{} connections watching {} paths\nTotal watches:{}\n", sessions.len(), by_path(view).len(), total)
}

fn wchc(view: &ServerView) -> String {
    let mut s = String::new();
    for (sid, paths) in by_session(view) {
        let _ = writeln!(s, "0x{}", hex(sid));
        for p in paths {
            let _ = writeln!(s, "\t{p}");
        }
    }
    s.push('\n');
    s
}

fn wchp(view: &ServerView) -> String {
    let mut s = String::new();
    for (path, sids) in by_path(view) {
        let _ = writeln!(s, "{path}");
        for sid in sids {
            let _ = writeln!(s, "\t0x{}", hex(sid));
        }
    }
    s.push('\n');
    s
}
