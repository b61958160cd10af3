//! Text the shell prints, byte for byte as zkCli.sh 3.8 prints it: the Stat block, ACL lines,
//! watch events, ZooKeeper error messages, the client-side path check with its reasons, and
//! the quota `StatsTrack` text.
//! Must never: talk to a server or print; everything here is a pure function of its input.

use crate::client::ClientError;
use crate::proto::codes::{event, perms, state, ErrorCode};
use crate::proto::records::{Acl, Id, Stat};
use std::fmt::Write;

/// Znode data as zkCli prints it: the bytes as (lossy) UTF-8, or `null` for null data.
pub fn data_text(data: Option<&[u8]>) -> String {
    data.map_or_else(|| "null".to_owned(), |d| String::from_utf8_lossy(d).into_owned())
}

/// The Stat block (`get -s`, `stat`, `ls -s` …), eleven lines each ending in '\n'.
pub fn stat_block(s: &Stat) -> String {
    let mut o = String::with_capacity(400);
    let _ = writeln!(o, "cZxid = 0x{:x}", s.czxid);
    let _ = writeln!(o, "ctime = {}", java_date(s.ctime));
    let _ = writeln!(o, "mZxid = 0x{:x}", s.mzxid);
    let _ = writeln!(o, "mtime = {}", java_date(s.mtime));
    let _ = writeln!(o, "pZxid = 0x{:x}", s.pzxid);
    let _ = writeln!(o, "cversion = {}", s.cversion);
    let _ = writeln!(o, "dataVersion = {}", s.version);
    let _ = writeln!(o, "aclVersion = {}", s.aversion);
    let _ = writeln!(o, "ephemeralOwner = 0x{:x}", s.ephemeral_owner);
    let _ = writeln!(o, "dataLength = {}", s.data_length);
    let _ = writeln!(o, "numChildren = {}", s.num_children);
    o
}

/// Java's `Date.toString()` in UTC: "Sat Nov 21 10:03:05 UTC 2026".
pub fn java_date(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        tod / 3600,
        tod % 3600 / 60,
        tod % 60,
        y
    )
}

/// When this binary was built, as "YYYY-MM-DD HH:MM" (UTC) from the executable's
/// modification time, for zkCli's version line; "unknown" if that cannot be read.
pub fn build_time() -> String {
    let secs = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    match secs {
        Some(s) => {
            let (y, m, d) = civil_from_days(s.div_euclid(86_400));
            let tod = s.rem_euclid(86_400);
            format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", tod / 3600, tod % 3600 / 60)
        }
        None => "unknown".into(),
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// "cdrwa"-style permission letters in zkCli's order.
pub fn perm_string(p: i32) -> String {
    [(perms::CREATE, 'c'), (perms::DELETE, 'd'), (perms::READ, 'r'), (perms::WRITE, 'w'), (perms::ADMIN, 'a')]
        .iter()
        .filter(|(bit, _)| p & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// The jute CSV form of an `Id` that zkCli prints: `'world,'anyone` and a newline.
pub fn id_csv(id: &Id) -> String {
    format!("'{},'{}\n", csv_escape(&id.scheme), csv_escape(&id.id))
}

fn csv_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => o.push_str("%00"),
            '\n' => o.push_str("%0A"),
            '\r' => o.push_str("%0D"),
            ',' => o.push_str("%2C"),
            '}' => o.push_str("%7D"),
            '%' => o.push_str("%25"),
            c => o.push(c),
        }
    }
    o
}

/// `getAcl` output: one "<id csv>: perms" entry per ACL.
pub fn acl_lines(acl: &[Acl]) -> String {
    acl.iter().map(|a| format!("{}: {}\n", id_csv(&a.id), perm_string(a.perms))).collect()
}

/// Parses zkCli's ACL syntax "scheme:id:perms[,…]"; malformed entries and unknown permission
/// letters are reported in `warnings` (zkCli prints them to stderr) and skipped.
pub fn parse_acl(s: &str) -> (Vec<Acl>, Vec<String>) {
    let mut acl = Vec::new();
    let mut warnings = Vec::new();
    for a in java_split(s, ',') {
        let (Some(first), Some(last)) = (a.find(':'), a.rfind(':')) else {
            warnings.push(format!("{a} does not have the form scheme:id:perm"));
            continue;
        };
        if first == last {
            warnings.push(format!("{a} does not have the form scheme:id:perm"));
            continue;
        }
        let mut p = 0;
        for c in a[last + 1..].chars() {
            match c {
                'r' => p |= perms::READ,
                'w' => p |= perms::WRITE,
                'c' => p |= perms::CREATE,
                'd' => p |= perms::DELETE,
                'a' => p |= perms::ADMIN,
                other => warnings.push(format!("Unknown perm type: {other}")),
            }
        }
        acl.push(Acl::new(p, &a[..first], &a[first + 1..last]));
    }
    (acl, warnings)
}

/// Java's `String.split(sep)`: trailing empty strings are dropped.
pub fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut v: Vec<&str> = s.split(sep).collect();
    while v.len() > 1 && v.last() == Some(&"") {
        v.pop();
    }
    if v == [""] && !s.is_empty() {
        v.clear();
    }
    v
}

/// Java's `KeeperState` name for a wire state.
pub fn state_name(s: i32) -> &'static str {
    match s {
        state::DISCONNECTED => "Disconnected",
        state::SYNC_CONNECTED => "SyncConnected",
        state::AUTH_FAILED => "AuthFailed",
        state::CONNECTED_READ_ONLY => "ConnectedReadOnly",
        state::SASL_AUTHENTICATED => "SaslAuthenticated",
        state::EXPIRED => "Expired",
        state::CLOSED => "Closed",
        _ => "Unknown",
    }
}

/// Java's `EventType` name for a wire event type.
pub fn event_name(t: i32) -> &'static str {
    match t {
        event::NONE => "None",
        event::NODE_CREATED => "NodeCreated",
        event::NODE_DELETED => "NodeDeleted",
        event::NODE_DATA_CHANGED => "NodeDataChanged",
        event::NODE_CHILDREN_CHANGED => "NodeChildrenChanged",
        event::DATA_WATCH_REMOVED => "DataWatchRemoved",
        event::CHILD_WATCH_REMOVED => "ChildWatchRemoved",
        event::PERSISTENT_WATCH_REMOVED => "PersistentWatchRemoved",
        _ => "Unknown",
    }
}

/// `WatchedEvent.toString()` of ZooKeeper 3.8.
pub fn watched_event(state_: i32, event_type: i32, path: Option<&str>) -> String {
    format!("WatchedEvent state:{} type:{} path:{}", state_name(state_), event_name(event_type), path.unwrap_or("null"))
}

/// `KeeperException.getCodeMessage`.
pub fn code_message(code: ErrorCode) -> &'static str {
    use ErrorCode::*;
    match code {
        SystemError => "SystemError",
        RuntimeInconsistency => "RuntimeInconsistency",
        DataInconsistency => "DataInconsistency",
        ConnectionLoss => "ConnectionLoss",
        MarshallingError => "MarshallingError",
        NewConfigNoQuorum => "NewConfigNoQuorum",
        ReconfigInProgress => "ReconfigInProgress",
        Unimplemented => "Unimplemented",
        OperationTimeout => "OperationTimeout",
        BadArguments => "BadArguments",
        ApiError => "APIError",
        NoNode => "NoNode",
        NoAuth => "NoAuth",
        BadVersion => "BadVersion",
        NoChildrenForEphemerals => "NoChildrenForEphemerals",
        NodeExists => "NodeExists",
        InvalidAcl => "InvalidACL",
        AuthFailed => "AuthFailed",
        NotEmpty => "Directory not empty",
        SessionExpired => "Session expired",
        InvalidCallback => "Invalid callback",
        SessionMoved => "Session moved",
        NotReadOnly => "Not a read-only call",
        EphemeralOnLocalSession => "Ephemeral node on local session",
        NoWatcher => "No such watcher",
        ReconfigDisabled => "Reconfig is disabled",
        SessionClosedRequireSaslAuth => "Session closed because client failed to authenticate",
        QuotaExceeded => "Quota has exceeded",
        _ => "Unknown error",
    }
}

/// `KeeperException.getMessage()`: "KeeperErrorCode = NoNode for /x".
pub fn keeper_message(err: &ClientError, path: Option<&str>) -> String {
    let code = match err {
        ClientError::UnknownCode(c) => return format!("KeeperErrorCode = Unknown error {c}"),
        ClientError::Malformed(m) => return format!("KeeperErrorCode = MarshallingError ({m})"),
        e => e.code().unwrap_or(ErrorCode::SystemError),
    };
    match path {
        Some(p) if !p.is_empty() => format!("KeeperErrorCode = {} for {p}", code_message(code)),
        _ => format!("KeeperErrorCode = {}", code_message(code)),
    }
}

/// zkCli's `CliWrapperException` text for a failed call on `path`.
pub fn cli_error(err: &ClientError, path: Option<&str>) -> String {
    let p = path.unwrap_or("null");
    match err.code() {
        Some(ErrorCode::NoNode) => format!("Node does not exist: {p}"),
        Some(ErrorCode::NoChildrenForEphemerals) => format!("Ephemerals cannot have children: {p}"),
        Some(ErrorCode::NodeExists) => format!("Node already exists: {p}"),
        Some(ErrorCode::NotEmpty) => format!("Node not empty: {p}"),
        Some(ErrorCode::NotReadOnly) => format!("Not a read-only call: {p}"),
        Some(ErrorCode::InvalidAcl) => format!("Acl is not valid : {p}"),
        Some(ErrorCode::NoAuth) => format!("Insufficient permission : {p}"),
        Some(ErrorCode::BadArguments) => format!("Arguments are not valid : {p}"),
        Some(ErrorCode::BadVersion) => format!("version No is not valid : {p}"),
        Some(ErrorCode::ReconfigInProgress) => {
            "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)".into()
        }
        Some(ErrorCode::NewConfigNoQuorum) => "No quorum of new config is connected and up-to-date with the leader of \
             last commmitted config - try invoking reconfiguration after new servers are connected and synced"
            .into(),
        Some(ErrorCode::QuotaExceeded) => format!("Quota has exceeded : {p}"),
        _ => keeper_message(err, path),
    }
}

/// The Java client's path check (`PathUtils.validatePath`), with its exact messages.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    crate::proto::path::validate(path, sequential).map_err(|e| e.to_string())
}

/// A quota record as ZooKeeper's `StatsTrack` reads and writes it
/// ("count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=-1").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    /// (key, value) in insertion order; keys beyond count/bytes print sorted.
    pairs: Vec<(String, i64)>,
}

impl StatsTrack {
    pub fn parse(s: &str) -> Result<StatsTrack, String> {
        let mut t = StatsTrack::default();
        for kv in s.split([',', ';']).filter(|x| !x.is_empty()) {
            let mut it = kv.split('=');
            let k = it.next().unwrap_or_default();
            let v = it.next().ok_or_else(|| format!("malformed quota entry {kv:?}"))?;
            let v = if v.is_empty() { -1 } else { v.parse().map_err(|_| format!("For input string: \"{v}\""))? };
            t.set(k, v);
        }
        Ok(t)
    }
    pub fn get(&self, k: &str) -> i64 {
        self.pairs.iter().find(|(key, _)| key == k).map_or(-1, |(_, v)| *v)
    }
    pub fn set(&mut self, k: &str, v: i64) {
        match self.pairs.iter_mut().find(|(key, _)| key == k) {
            Some(e) => e.1 = v,
            None => self.pairs.push((k.to_owned(), v)),
        }
    }
}

impl std::fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "count={},bytes={}", self.get("count"), self.get("bytes"))?;
        let mut rest: Vec<&(String, i64)> = self.pairs.iter().filter(|(k, _)| k != "count" && k != "bytes").collect();
        if !rest.is_empty() {
            rest.sort_by(|a, b| a.0.cmp(&b.0));
            f.write_str("=")?;
            for (k, v) in rest {
                write!(f, ";{k}={v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_prints_as_text_or_null() {
        assert_eq!(data_text(None), "null");
        assert_eq!(data_text(Some(b"")), "");
        assert_eq!(data_text(Some(b"a\xffb")), "a\u{fffd}b");
    }

    #[test]
    fn java_date_matches_date_to_string() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(1_795_262_585_000), "Sat Nov 21 12:03:05 UTC 2026");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
    }

    #[test]
    fn stat_block_prints_hex_zxids_and_twos_complement_owner() {
        let s = Stat { czxid: 26, mzxid: 255, pzxid: 26, ephemeral_owner: -1, version: 3, ..Stat::default() };
        let b = stat_block(&s);
        assert!(b.starts_with("cZxid = 0x1a\nctime = Thu Jan 01 00:00:00 UTC 1970\nmZxid = 0xff\n"));
        assert!(b.contains("ephemeralOwner = 0xffffffffffffffff\n"));
        assert!(b.contains("dataVersion = 3\n"));
        assert!(b.ends_with("numChildren = 0\n"));
        assert_eq!(b.lines().count(), 11);
    }

    #[test]
    fn acl_text_round_trip() {
        let (acl, w) = parse_acl("world:anyone:cdrwa,digest:bob:x=:ra,ip:10.0.0.1:z");
        assert_eq!(w, vec!["Unknown perm type: z".to_string()]);
        assert_eq!(acl.len(), 3);
        assert_eq!(acl_lines(&acl[..2]), "'world,'anyone\n: cdrwa\n'digest,'bob:x=\n: ra\n");
        let (acl, w) = parse_acl("nonsense");
        assert!(acl.is_empty());
        assert_eq!(w, vec!["nonsense does not have the form scheme:id:perm".to_string()]);
        assert_eq!(id_csv(&Id { scheme: "x".into(), id: "a,b%".into() }), "'x,'a%2Cb%25\n");
    }

    #[test]
    fn path_check_messages_match_the_java_client() {
        assert_eq!(validate_path("/", false), Ok(()));
        assert_eq!(validate_path("/a/b", false), Ok(()));
        assert_eq!(validate_path("/a/", true), Ok(()));
        assert_eq!(validate_path("a", false).unwrap_err(), "Path must start with / character");
        assert_eq!(validate_path("", false).unwrap_err(), "Path length must be > 0");
        assert_eq!(validate_path("/a/", false).unwrap_err(), "Path must not end with / character");
        assert_eq!(
            validate_path("/a//b", false).unwrap_err(),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
        assert_eq!(
            validate_path("/a/../b", false).unwrap_err(),
            "Invalid path string \"/a/../b\" caused by relative paths not allowed @4"
        );
        assert_eq!(
            validate_path("/.", false).unwrap_err(),
            "Invalid path string \"/.\" caused by relative paths not allowed @1"
        );
        assert_eq!(validate_path("/a.b/..c", false), Ok(()));
        assert_eq!(
            validate_path("/a\u{1}", false).unwrap_err(),
            "Invalid path string \"/a\u{1}\" caused by invalid character @2"
        );
    }

    #[test]
    fn stats_track_text_matches_zookeeper() {
        let mut t = StatsTrack::default();
        t.set("count", 10);
        t.set("bytes", -1);
        t.set("countHardLimit", -1);
        t.set("byteHardLimit", -1);
        assert_eq!(t.to_string(), "count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=-1");
        let back = StatsTrack::parse(&t.to_string()).unwrap();
        assert_eq!(back.get("count"), 10);
        assert_eq!(back.get("byteHardLimit"), -1);
        assert_eq!(StatsTrack::parse("count=3,bytes=7").unwrap().to_string(), "count=3,bytes=7");
        assert_eq!(StatsTrack::parse("").unwrap().to_string(), "count=-1,bytes=-1");
    }

    #[test]
    fn error_texts() {
        let e = ClientError::Server(ErrorCode::NoNode);
        assert_eq!(cli_error(&e, Some("/x")), "Node does not exist: /x");
        let e = ClientError::Server(ErrorCode::BadVersion);
        assert_eq!(cli_error(&e, Some("/x")), "version No is not valid : /x");
        let e = ClientError::ConnectionLoss("gone".into());
        assert_eq!(cli_error(&e, Some("/x")), "KeeperErrorCode = ConnectionLoss for /x");
        let e = ClientError::Server(ErrorCode::ReconfigDisabled);
        assert_eq!(cli_error(&e, None), "KeeperErrorCode = Reconfig is disabled");
        assert_eq!(
            watched_event(state::SYNC_CONNECTED, event::NONE, None),
            "WatchedEvent state:SyncConnected type:None path:null"
        );
    }
}
