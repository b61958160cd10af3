//! The AdminServer's commands, as ZooKeeper 3.8's `org.apache.zookeeper.server.admin.Commands`
//! registers them: primary names and aliases, which ones need a serving server, and each one's
//! JSON body with ZooKeeper's field names, rendered from the plain views.
//! Owns: the command table ([`COMMANDS`]), name → command lookup, the response envelope
//! (`command`, `error`; a body's own `error` wins, as in ZooKeeper's `CommandResponse`), the
//! `/commands` link listing and every command's body.
//! Must never: do I/O, read server internals or change state: `crst`, `srst` and `stmk` only
//! name the [`Effect`] the caller must carry out.

use super::fourlw::{by_path, by_session};
use super::server_metrics::{flat_rows, Flat};
use super::{round4, ConnectionView, EnvView, ServerView};
use crate::config::{Config, PeerRole, ServerSpec};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// One command: its primary name (the `command` field of every answer), its other names, and
/// whether it answers only while the server serves (ZooKeeper's `isServerRequired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub server_required: bool,
}

const fn cmd(name: &'static str, aliases: &'static [&'static str], server_required: bool) -> Command {
    Command { name, aliases, server_required }
}

/// Every command, in ZooKeeper 3.8's registration order, then ours. The one place to add a
/// command (give it a body in [`respond`]).
pub const COMMANDS: &[Command] = &[
    cmd("connection_stat_reset", &["crst"], true),
    cmd("configuration", &["conf", "config"], true),
    cmd("connections", &["cons"], true),
    cmd("hash", &[], true),
    cmd("dirs", &[], true),
    cmd("dump", &[], true),
    cmd("environment", &["env", "envi"], false),
    cmd("get_trace_mask", &["gtmk"], false),
    cmd("initial_configuration", &["icfg"], true),
    cmd("is_read_only", &["isro"], true),
    cmd("last_snapshot", &["lsnp"], true),
    cmd("leader", &["lead"], true),
    cmd("monitor", &["mntr"], false),
    cmd("observer_connection_stat_reset", &["orst"], true),
    cmd("ruok", &[], true),
    cmd("set_trace_mask", &["stmk"], false),
    cmd("server_stats", &["srvr"], true),
    cmd("stats", &["stat"], true),
    cmd("stat_reset", &["srst"], true),
    cmd("observers", &["obsr"], true),
    cmd("system_properties", &["sysp"], false),
    cmd("voting_view", &[], true),
    cmd("watches", &["wchc"], true),
    cmd("watches_by_path", &["wchp"], true),
    cmd("watch_summary", &["wchs"], true),
    cmd("zabstate", &[], false),
    // Ours: stream jobs' checkpoints, both layouts (`?path=<root>` for one root only).
    cmd("checkpoints", &[], true),
];

/// ZooKeeper's answer to a server-required command while it does not serve.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// The command a name or alias stands for (names are case-sensitive, as in ZooKeeper).
pub fn lookup(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name || c.aliases.contains(&name))
}

/// Whether the command prints what the caller reads from disk (a [`super::DiskView`]).
pub fn reads_disk(c: &Command) -> bool {
    matches!(c.name, "dirs" | "server_stats" | "stats" | "last_snapshot")
}

/// The body of `GET /commands`: a link per primary name, sorted, each followed by `<br/>`.
pub fn links(command_url: &str) -> String {
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.iter().map(|n| format!("<a href=\"{command_url}/{n}\">{n}</a>\n<br/>\n")).collect()
}

/// What the caller must do once the answer is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `crst`: every connection's counters.
    ResetConnections,
    /// `srst`: the server's latency, packet and response-size counters.
    ResetServer,
    /// `stmk` with a valid `traceMask`.
    SetTraceMask(i64),
}

/// A rendered answer: the JSON object and the effect to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub json: Value,
    pub effect: Option<Effect>,
}

/// What a command reads besides the `ServerView`.
pub struct Inputs<'a> {
    pub view: &'a ServerView,
    pub cfg: &'a Config,
    pub env: &'a EnvView,
}

/// Answers `name` (a primary name or an alias) with the query arguments `args`: ZooKeeper's
/// `Commands.runCommand`. Unknown names and server-required commands while not serving are
/// answered with `error` set and `command` as asked, as ZooKeeper does.
pub fn respond(name: &str, args: &BTreeMap<String, String>, input: &Inputs) -> Answer {
    let Some(command) = lookup(name) else {
        return Answer { json: envelope(name, Some(format!("Unknown command: {name}")), Map::new()), effect: None };
    };
    let view = input.view;
    if command.server_required && !view.serving {
        return Answer { json: envelope(name, Some(NOT_SERVING.into()), Map::new()), effect: None };
    }
    let mut effect = None;
    let mut body = Map::new();
    match command.name {
        "connection_stat_reset" => effect = Some(Effect::ResetConnections),
        "stat_reset" => effect = Some(Effect::ResetServer),
        // We keep no per-observer connection statistics: nothing to reset.
        "observer_connection_stat_reset" | "ruok" => {}
        "configuration" => configuration(&mut body, input),
        "connections" => {
            body.insert("connections".into(), connections(view, false));
            body.insert("secure_connections".into(), json!([]));
        }
        "hash" => {
            // ZooKeeper's digest log; we keep no txn digests (as ZooKeeper with digests off).
            body.insert("digests".into(), json!([]));
        }
        "dirs" => {
            body.insert("datadir_size".into(), json!(view.data_dir_size));
            body.insert("logdir_size".into(), json!(view.data_log_size));
        }
        "dump" => dump(&mut body, view),
        "environment" => environment(&mut body, view, input.env),
        "get_trace_mask" => {
            body.insert("tracemask".into(), json!(view.trace_mask));
        }
        "initial_configuration" => {
            body.insert("initial_configuration".into(), json!(input.cfg.initial_config));
        }
        "is_read_only" => {
            body.insert("read_only".into(), json!(view.read_only));
        }
        "last_snapshot" => {
            let (zxid, timestamp) = view.last_snapshot.unwrap_or((-1, -1));
            body.insert("zxid".into(), json!(format!("{:x}", zxid as u64)));
            body.insert("timestamp".into(), json!(timestamp));
        }
        "leader" => leader(&mut body, input),
        "monitor" => monitor(&mut body, view),
        "set_trace_mask" => match args.get("traceMask") {
            None => {
                body.insert("error".into(), json!("setTraceMask requires long traceMask argument"));
            }
            Some(v) => match java_long(v) {
                Some(mask) => {
                    effect = Some(Effect::SetTraceMask(mask));
                    body.insert("tracemask".into(), json!(mask));
                }
                None => {
                    body.insert(
                        "error".into(),
                        json!(format!("setTraceMask requires long traceMask argument, got {v}")),
                    );
                }
            },
        },
        "server_stats" => server_stats(&mut body, input),
        "stats" => {
            server_stats(&mut body, input);
            body.insert("connections".into(), connections(view, true));
            body.insert("secure_connections".into(), json!([]));
        }
        "observers" => {
            let observers: Vec<i64> =
                view.quorum.as_ref().filter(|q| q.leader).map(|q| q.observers.clone()).unwrap_or_default();
            body.insert("synced_observers".into(), json!(observers.len()));
            body.insert("observers".into(), observers.iter().map(|sid| json!({ "sid": sid })).collect());
        }
        "system_properties" => system_properties(&mut body, input.env),
        "voting_view" => voting_view(&mut body, input),
        "watches" => {
            let m: Map<String, Value> =
                by_session(view).into_iter().map(|(sid, p)| (sid.to_string(), json!(p))).collect();
            body.insert("session_id_to_watched_paths".into(), Value::Object(m));
        }
        "watches_by_path" => {
            let m: Map<String, Value> = by_path(view).into_iter().map(|(p, s)| (p.to_string(), json!(s))).collect();
            body.insert("path_to_session_ids".into(), Value::Object(m));
        }
        "watch_summary" => {
            let sessions = by_session(view);
            body.insert("num_connections".into(), json!(sessions.len()));
            body.insert("num_paths".into(), json!(by_path(view).len()));
            body.insert("num_total_watches".into(), json!(sessions.values().map(Vec::len).sum::<usize>()));
        }
        "zabstate" => zabstate(&mut body, input),
        "checkpoints" => {
            body.insert("jobs".into(), super::jobs::to_json(&view.checkpoint_jobs, view.now_ms));
        }
        other => unreachable!("command {other} in the table has no body"),
    }
    Answer { json: envelope(command.name, None, body), effect }
}

/// `command` and `error` beside the body; an `error` the body set stays.
fn envelope(command: &str, error: Option<String>, mut body: Map<String, Value>) -> Value {
    body.insert("command".into(), json!(command));
    body.entry("error").or_insert(json!(error));
    Value::Object(body)
}

/// Java's `Long.parseLong`: an optional sign and decimal digits.
fn java_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Jackson's rendering of an `InetSocketAddress`: `ip:port`, `[ip]:port` for IPv6.
fn addr_string(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", a.port()),
            None => format!("[{}]:{}", a.ip(), a.port()),
        },
    }
}

/// ZooKeeper's `delimitedHostString:port`.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn configuration(body: &mut Map<String, Value>, input: &Inputs) {
    let (cfg, view) = (input.cfg, input.view);
    body.insert("client_port".into(), json!(view.client_port_bound.unwrap_or(cfg.client_addr().port())));
    body.insert("data_dir".into(), json!(cfg.snap_dir().display().to_string()));
    body.insert("data_log_dir".into(), json!(cfg.txn_log_dir().display().to_string()));
    body.insert("tick_time".into(), json!(cfg.tick_time));
    body.insert("max_client_cnxns".into(), json!(cfg.max_client_cnxns));
    body.insert("min_session_timeout".into(), json!(cfg.min_session_timeout_ms()));
    body.insert("max_session_timeout".into(), json!(cfg.max_session_timeout_ms()));
    body.insert("server_id".into(), json!(cfg.server_id()));
    body.insert("client_port_listen_backlog".into(), json!(cfg.client_port_listen_backlog));
}

/// ZooKeeper's `ServerCnxn.getConnectionInfo(brief)`.
fn connection(c: &ConnectionView, brief: bool) -> Value {
    let mut m = Map::new();
    m.insert("remote_socket_address".into(), json!(addr_string(&c.remote)));
    m.insert("interest_ops".into(), json!(c.interest_ops));
    m.insert("outstanding_requests".into(), json!(c.queued));
    m.insert("packets_received".into(), json!(c.recved));
    m.insert("packets_sent".into(), json!(c.sent));
    if !brief {
        m.insert("session_id".into(), json!(c.session_id));
        m.insert("last_operation".into(), json!(c.last_op));
        m.insert("established".into(), json!(c.established_ms));
        m.insert("session_timeout".into(), json!(c.timeout_ms));
        m.insert("last_cxid".into(), json!(c.last_cxid));
        m.insert("last_zxid".into(), json!(c.last_zxid));
        m.insert("last_response_time".into(), json!(c.last_response_ms));
        m.insert("last_latency".into(), json!(c.last_latency_ms));
        m.insert("min_latency".into(), json!(c.min_latency_ms));
        m.insert("avg_latency".into(), json!(c.avg_latency_ms));
        m.insert("max_latency".into(), json!(c.max_latency_ms));
    }
    Value::Object(m)
}

fn connections(view: &ServerView, brief: bool) -> Value {
    view.connections.iter().map(|c| connection(c, brief)).collect()
}

fn dump(body: &mut Map<String, Value>, view: &ServerView) {
    let mut expiry: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (t, ids) in &view.session_expiry {
        expiry.entry(*t).or_default().extend(ids);
    }
    let expiry: Map<String, Value> = expiry
        .into_iter()
        .map(|(t, mut ids)| {
            ids.sort_unstable();
            (t.to_string(), json!(ids))
        })
        .collect();
    let ephemerals: BTreeMap<i64, &Vec<String>> = view.ephemerals.iter().map(|(s, p)| (*s, p)).collect();
    let ephemerals: Map<String, Value> = ephemerals.into_iter().map(|(s, p)| (s.to_string(), json!(p))).collect();
    body.insert("expiry_time_to_session_ids".into(), Value::Object(expiry));
    body.insert("session_id_to_ephemeral_paths".into(), Value::Object(ephemerals));
}

fn environment(body: &mut Map<String, Value>, view: &ServerView, env: &EnvView) {
    let rows = env.rows(&view.version);
    for (k, v) in rows {
        body.insert(k.into(), json!(v));
    }
    body.insert("os.memory.free".into(), json!(format!("{}MB", env.os_memory_free_mb)));
    body.insert("os.memory.max".into(), json!(format!("{}MB", env.os_memory_max_mb)));
    body.insert("os.memory.total".into(), json!(format!("{}MB", env.os_memory_total_mb)));
}

/// The process's properties under Java's system property names (as `environment` gives them;
/// JVM-only properties such as `java.vm.*` have no counterpart and are left out).
fn system_properties(body: &mut Map<String, Value>, env: &EnvView) {
    let rows: [(&str, &str); 15] = [
        ("file.separator", "/"),
        ("java.class.path", &env.java_class_path),
        ("java.home", &env.java_home),
        ("java.io.tmpdir", &env.java_io_tmpdir),
        ("java.library.path", &env.java_library_path),
        ("java.vendor", &env.java_vendor),
        ("java.version", &env.java_version),
        ("line.separator", "\n"),
        ("os.arch", &env.os_arch),
        ("os.name", &env.os_name),
        ("os.version", &env.os_version),
        ("path.separator", ":"),
        ("user.dir", &env.user_dir),
        ("user.home", &env.user_home),
        ("user.name", &env.user_name),
    ];
    for (k, v) in rows {
        body.insert(k.into(), json!(v));
    }
}

fn my_spec(cfg: &Config) -> Option<&ServerSpec> {
    cfg.my_server()
}

fn leader(body: &mut Map<String, Value>, input: &Inputs) {
    let Some(q) = &input.view.quorum else {
        body.insert("error".into(), json!("server is not initialized"));
        return;
    };
    body.insert("is_leader".into(), json!(q.leader));
    body.insert("leader_id".into(), json!(q.leader_id));
    let ip = input.cfg.servers.iter().find(|s| s.id as i64 == q.leader_id).map_or(String::new(), |s| s.host.clone());
    body.insert("leader_ip".into(), json!(ip));
}

fn monitor(body: &mut Map<String, Value>, view: &ServerView) {
    let r = &view.client_response;
    let rows: Vec<(&str, Value)> = vec![
        ("version", json!(view.version)),
        ("avg_latency", json!(round4(view.avg_latency_ms))),
        ("max_latency", json!(view.max_latency_ms)),
        ("min_latency", json!(view.min_latency_ms)),
        ("packets_received", json!(view.packets_received)),
        ("packets_sent", json!(view.packets_sent)),
        ("num_alive_connections", json!(view.num_alive_connections)),
        ("outstanding_requests", json!(view.outstanding_requests)),
        ("server_state", json!(view.mode)),
        ("znode_count", json!(view.node_count)),
        ("watch_count", json!(view.watch_count)),
        ("ephemerals_count", json!(view.ephemerals_count)),
        ("approximate_data_size", json!(view.approximate_data_size)),
        ("open_file_descriptor_count", json!(view.open_file_descriptor_count)),
        ("max_file_descriptor_count", json!(view.max_file_descriptor_count)),
        ("last_client_response_size", json!(r.last)),
        ("max_client_response_size", json!(r.max)),
        ("min_client_response_size", json!(r.min)),
        ("uptime", json!(view.uptime_ms)),
        ("global_sessions", json!(view.global_sessions)),
        ("local_sessions", json!(view.local_sessions)),
        ("auth_failed_count", json!(view.auth_failed_count)),
    ];
    for (k, v) in rows {
        body.insert(k.into(), v);
    }
    for (k, v) in flat_rows(&view.metrics.rows(&view.fsync_ms)) {
        body.insert(
            k,
            match v {
                Flat::Int(n) => json!(n),
                Flat::Double(d) => json!(d),
            },
        );
    }
    if let Some(q) = &view.quorum {
        body.insert("peer_state".into(), json!(q.peer_state));
        body.insert("quorum_size".into(), json!(q.quorum_size));
        if q.leader {
            body.insert("learners".into(), json!(q.learners));
            body.insert("synced_followers".into(), json!(q.synced_followers));
            body.insert("synced_non_voting_followers".into(), json!(0));
            body.insert("synced_observers".into(), json!(q.synced_observers));
            body.insert("pending_syncs".into(), json!(q.pending_syncs));
            body.insert("leader_uptime".into(), json!(q.leader_uptime_ms));
            body.insert("last_proposal_size".into(), json!(q.last_proposal_size));
            body.insert("max_proposal_size".into(), json!(q.max_proposal_size));
            body.insert("min_proposal_size".into(), json!(q.min_proposal_size));
        }
    }
}

fn buffer_stats(last: i64, min: i64, max: i64) -> Value {
    json!({ "last_buffer_size": last, "min_buffer_size": min, "max_buffer_size": max })
}

/// `server_stats` (srvr): ZooKeeper's `ServerStats` bean under its snake_case getter names.
fn server_stats(body: &mut Map<String, Value>, input: &Inputs) {
    let view = input.view;
    let r = &view.client_response;
    let client_response = buffer_stats(r.last, r.min, r.max);
    body.insert("version".into(), json!(view.version));
    body.insert("read_only".into(), json!(view.read_only));
    body.insert(
        "server_stats".into(),
        json!({
            "packets_sent": view.packets_sent,
            "packets_received": view.packets_received,
            "fsync_threshold_exceed_count": view.fsync_threshold_exceed_count,
            "client_response_stats": client_response,
            "data_dir_size": view.data_dir_size,
            "log_dir_size": view.data_log_size,
            "provider_null": false,
            "server_state": view.mode,
            "last_processed_zxid": view.zxid,
            "outstanding_requests": view.outstanding_requests,
            "avg_latency": round4(view.avg_latency_ms),
            "max_latency": view.max_latency_ms,
            "min_latency": view.min_latency_ms,
            "num_alive_client_connections": view.num_alive_connections,
            "uptime": view.uptime_ms,
            "auth_failed_count": view.auth_failed_count,
            "non_mtlsremote_conn_count": 0,
            "non_mtlslocal_conn_count": 0,
        }),
    );
    body.insert("client_response".into(), client_response);
    if let Some(q) = view.quorum.as_ref().filter(|q| q.leader) {
        let size = |v: u64| if q.last_proposal_size == 0 { -1 } else { v as i64 };
        body.insert(
            "proposal_stats".into(),
            buffer_stats(size(q.last_proposal_size), size(q.min_proposal_size), size(q.max_proposal_size)),
        );
    }
    body.insert("node_count".into(), json!(view.node_count));
}

fn client_address(spec: &ServerSpec, cfg: &Config, view: &ServerView) -> Option<String> {
    match (spec.client_addr, spec.client_port) {
        (Some(ip), Some(port)) => Some(addr_string(&SocketAddr::new(ip, port))),
        (None, Some(port)) => Some(format!("0.0.0.0:{port}")),
        _ => {
            let port = view.client_port_bound.unwrap_or(cfg.client_addr().port());
            let ip = cfg.client_addr().ip();
            let ip = if ip.is_unspecified() { IpAddr::from([0, 0, 0, 0]) } else { ip };
            Some(addr_string(&SocketAddr::new(ip, port)))
        }
    }
}

fn voting_view(body: &mut Map<String, Value>, input: &Inputs) {
    let mut members = Map::new();
    if input.view.quorum.is_some() {
        for s in input.cfg.servers.iter().filter(|s| s.role == PeerRole::Participant) {
            let client = match (s.client_addr, s.client_port) {
                (Some(ip), Some(port)) => addr_string(&SocketAddr::new(ip, port)),
                (None, Some(port)) => format!("0.0.0.0:{port}"),
                _ => String::new(),
            };
            members.insert(
                s.id.to_string(),
                json!({
                    "server_addresses": [host_port(&s.host, s.quorum_port)],
                    "election_addresses": [host_port(&s.host, s.election_port)],
                    "client_address": client,
                    "learner_type": "participant",
                }),
            );
        }
    }
    body.insert("current_config".into(), Value::Object(members));
}

/// ZooKeeper's `MultipleAddresses` bean for a member's one configured address.
fn multiple_addresses(host: &str, port: u16) -> Value {
    let one = host_port(host, port);
    json!({
        "empty": false,
        "all_addresses": [one],
        "all_reachable_addresses": [one],
        "one": one,
        "reachable_address": one,
        "wildcard_addresses": [format!("0.0.0.0:{port}")],
        "all_ports": [port],
        "all_host_strings": [host],
        "all_reachable_addresses_or_all": [one],
        "reachable_or_one": one,
    })
}

fn zabstate(body: &mut Map<String, Value>, input: &Inputs) {
    let (view, cfg) = (input.view, input.cfg);
    // ZooKeeper answers from its quorum server, which does not exist while it looks.
    let (Some(q), Some(me), true) = (&view.quorum, my_spec(cfg), view.serving) else {
        body.insert("voting".into(), json!(false));
        body.insert("zabstate".into(), json!(""));
        return;
    };
    body.insert("myid".into(), json!(q.my_id));
    body.insert("is_leader".into(), json!(q.leader));
    body.insert("quorum_address".into(), multiple_addresses(&me.host, me.quorum_port));
    body.insert("election_address".into(), multiple_addresses(&me.host, me.election_port));
    body.insert("client_address".into(), json!(client_address(me, cfg, view)));
    body.insert("voting".into(), json!(me.role == PeerRole::Participant));
    body.insert("last_zxid".into(), json!(format!("0x{:x}", view.zxid as u64)));
    body.insert("zab_epoch".into(), json!(view.zxid >> 32));
    body.insert("zab_counter".into(), json!(view.zxid & 0xffff_ffff));
    body.insert("zabstate".into(), json!(q.zab_state));
}
