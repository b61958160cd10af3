//! The shell's session and administration commands: addauth, the quota commands (setquota,
//! listquota, delquota, which keep ZooKeeper's /zookeeper/quota layout from the client side
//! exactly as zkCli does), config and reconfig.
//! Must never: change the quota layout; the server reads these znodes as ZooKeeper does.

use super::commands::{flags, flags_and_args, zk_err, NONE};
use super::format::{data_text, stat_block, validate_path, StatsTrack};
use super::parse::{flag, valued, OptTable};
use super::watches::Kind;
use super::{err, out, usage_str, CliError, CmdResult, Shell};
use crate::client::{Client, ClientError};
use crate::proto::codes::{op, ErrorCode};
use crate::proto::records::{GetDataResponse, ReconfigRequest};

const QUOTA_ROOT: &str = "/zookeeper/quota";
const LIMITS: &str = "zookeeper_limits";
const STATS: &str = "zookeeper_stats";

const SETQUOTA: OptTable = OptTable {
    opts: &[
        valued("n", "num soft quota"),
        valued("b", "bytes soft quota"),
        valued("N", "num hard quota"),
        valued("B", "bytes hard quota"),
    ],
    group: &["n", "b", "N", "B"],
    group_required: true,
};
const DELQUOTA: OptTable = OptTable {
    opts: &[
        flag("n", "num soft quota"),
        flag("b", "bytes soft quota"),
        flag("N", "num hard quota"),
        flag("B", "bytes hard quota"),
    ],
    group: &["n", "b", "N", "B"],
    group_required: false,
};
const CONFIG: OptTable =
    OptTable::new(&[flag("s", "stats"), flag("w", "watch"), flag("c", "client connection string")]);
const RECONFIG: OptTable = OptTable::new(&[
    flag("s", "stats"),
    valued("v", "required current config version"),
    valued("file", "path of config file to parse for membership"),
    valued("members", "comma-separated list of config strings for non-incremental reconfig"),
    valued("add", "comma-separated list of config strings for new servers"),
    valued("remove", "comma-separated list of server IDs to remove"),
]);

/// Why a quota operation stopped: a ZooKeeper error on a path, or zkCli's own message.
enum QuotaError {
    Zk(ClientError, String),
    Msg(String),
}

impl From<(ClientError, &str)> for QuotaError {
    fn from((e, p): (ClientError, &str)) -> Self {
        QuotaError::Zk(e, p.to_owned())
    }
}

fn quota_path(path: &str) -> String {
    format!("{QUOTA_ROOT}{path}")
}

fn java_split_slash(path: &str) -> Vec<&str> {
    super::format::java_split(path, '/')
}

impl Shell {
    pub(super) async fn run_admin(&mut self, cmd: &str, words: &[String]) -> CmdResult {
        match cmd {
            "addauth" => self.add_auth(words).await,
            "setquota" => self.set_quota(words).await,
            "listquota" => self.list_quota(words).await,
            "delquota" => self.del_quota(words).await,
            "config" => self.config(words).await,
            _ => self.reconfig(words).await,
        }
    }

    async fn add_auth(&mut self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&NONE, words, 2)?;
        // No credential is sent as null, as the Java client does (ZooKeeper refuses it).
        let auth = p.args.get(2).map(|a| a.as_bytes().to_vec());
        let client = self.client("/").await?;
        // zkCli does not wait for the answer: a refusal shows as the AuthFailed state change
        // (printed by the handle), and the handle is dead from then on.
        let _ = client.add_auth(&p.args[1], auth.as_deref()).await;
        if client.auth_failed() {
            self.handle().wait_settled_after_auth_failure().await;
        }
        Ok(())
    }

    async fn set_quota(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&SETQUOTA, words, 2)?;
        let path = &p.args[1];
        if path.starts_with(QUOTA_ROOT) {
            err(&format!("cannot set a quota under the path: {QUOTA_ROOT}"));
            return Ok(());
        }
        let mut quota = StatsTrack::default();
        for k in ["count", "bytes", "countHardLimit", "byteHardLimit"] {
            quota.set(k, -1);
        }
        for (f, key, count) in
            [("n", "count", true), ("b", "bytes", false), ("N", "countHardLimit", true), ("B", "byteHardLimit", false)]
        {
            let Some(v) = p.value(f) else { continue };
            let parsed = if count { v.parse::<i32>().map(i64::from) } else { v.parse::<i64>() };
            match parsed {
                Ok(n) if count && n <= 0 => {
                    err("the num quota must be greater than zero");
                    return Ok(());
                }
                Ok(n) if !count && n < 0 => {
                    err("the bytes quota must be greater than or equal to zero");
                    return Ok(());
                }
                Ok(n) => quota.set(key, n),
                Err(_) => {
                    err("NumberFormatException happens when parsing the option value");
                    return Ok(());
                }
            }
        }
        validate_path(path, false)?;
        let client = self.client(path).await?;
        match create_quota(&client, path, &quota).await {
            Ok(()) => Ok(()),
            Err(QuotaError::Msg(m)) => Err(CliError::new(m)),
            Err(QuotaError::Zk(e, p)) => Err(zk_err(e, &p)),
        }
    }

    async fn list_quota(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&NONE, words, 2)?;
        let path = &p.args[1];
        let limit = format!("{}/{LIMITS}", quota_path(path));
        let stats = format!("{}/{STATS}", quota_path(path));
        err(&format!("absolute path is {limit}"));
        validate_path(&limit, false)?;
        let client = self.client(&limit).await?;
        let mut tracks = Vec::new();
        for node in [&limit, &stats] {
            match client.get_data(node, false).await {
                Ok((d, _)) => tracks.push(parse_track(d.as_deref())?),
                Err(ClientError::Server(ErrorCode::NoNode)) => {
                    err(&format!("quota for {path} does not exist."));
                    return Ok(());
                }
                Err(e) => return Err(zk_err(e, node)),
            }
        }
        out(&format!("Output quota for {path} {}\nOutput stat for {path} {}\n", tracks[0], tracks[1]));
        Ok(())
    }

    async fn del_quota(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&DELQUOTA, words, 2)?;
        let path = &p.args[1];
        let parent = quota_path(path);
        let limit = format!("{parent}/{LIMITS}");
        validate_path(&limit, false)?;
        let client = self.client(&limit).await?;
        let r: Result<(), QuotaError> = async {
            if client.exists(&limit, false).await.map_err(|e| (e, limit.as_str()))?.is_none() {
                out(&format!("Quota does not exist for {path}\n"));
                return Ok(());
            }
            let (data, _) = client.get_data(&limit, false).await.map_err(|e| (e, limit.as_str()))?;
            let mut track = parse_track(data.as_deref()).map_err(|e| QuotaError::Msg(e.msg))?;
            let fields = [("n", "count"), ("b", "bytes"), ("N", "countHardLimit"), ("B", "byteHardLimit")];
            if !fields.iter().any(|(f, _)| p.has(f)) {
                let (children, _) = client.get_children(&parent, false).await.map_err(|e| (e, parent.as_str()))?;
                for c in children {
                    let cp = format!("{parent}/{c}");
                    client.delete(&cp, -1).await.map_err(|e| (e, cp.as_str()))?;
                }
                // Trim now-empty quota parents up to /zookeeper/quota.
                let mut node = parent.clone();
                while node != QUOTA_ROOT {
                    let (children, _) = client.get_children(&node, false).await.map_err(|e| (e, node.as_str()))?;
                    if !children.is_empty() {
                        break;
                    }
                    client.delete(&node, -1).await.map_err(|e| (e, node.as_str()))?;
                    node.truncate(node.rfind('/').unwrap_or(0));
                }
                return Ok(());
            }
            for (f, key) in fields {
                if p.has(f) {
                    track.set(key, -1);
                }
            }
            let text = track.to_string();
            client.set_data(&limit, Some(text.as_bytes()), -1).await.map_err(|e| (e, limit.as_str()))?;
            Ok(())
        }
        .await;
        match r {
            Ok(()) => Ok(()),
            Err(QuotaError::Zk(ClientError::Server(ErrorCode::NoNode), _)) => {
                err(&format!("quota for {path} does not exist."));
                Ok(())
            }
            Err(QuotaError::Zk(e, p)) => Err(zk_err(e, &p)),
            Err(QuotaError::Msg(m)) => Err(CliError::new(m)),
        }
    }

    async fn config(&self, words: &[String]) -> CmdResult {
        let p = flags(&CONFIG, words)?;
        let watch = p.has("w");
        let client = self.client("/zookeeper/config").await?;
        let (data, stat) =
            client.get_config(watch).await.map_err(|e| CliError::new(super::format::cli_error(&e, None)))?;
        if watch {
            self.handle().watches.lock().expect("watch tracker").add(Kind::Data, "/zookeeper/config");
        }
        let text = data_text(data.as_deref());
        if p.has("c") {
            out(&format!("{}\n", client_config_string(&text)));
        } else {
            out(&format!("{text}\n"));
        }
        if p.has("s") {
            out(&stat_block(&stat));
        }
        Ok(())
    }

    async fn reconfig(&self, words: &[String]) -> CmdResult {
        let p = flags(&RECONFIG, words)?;
        let (file, members, add, remove) = (p.has("file"), p.has("members"), p.has("add"), p.has("remove"));
        if !(file || members || add || remove) {
            return Err(CliError::new(usage_str("reconfig")));
        }
        let version = match p.value("v") {
            Some(v) => i64::from_str_radix(v, 16)
                .map_err(|_| CliError::new("-v must be followed by a long (configuration version)"))?,
            None => -1,
        };
        if (file || members) && (add || remove) {
            return Err(CliError::new(
                "Can't use -file or -members together with -add or -remove (mixing incremental and \
                 non-incremental modes is not allowed)",
            ));
        }
        if file && members {
            return Err(CliError::new("Can't use -file and -members together (conflicting non-incremental modes)"));
        }
        // zkCli.sh sends null for a list it was not given.
        let lower = |f: &str| p.value(f).map(str::to_lowercase);
        let mut new_members = lower("members");
        if let Some(f) = p.value("file") {
            let text = std::fs::read_to_string(f).map_err(|e| CliError::new(format!("Error processing {f}{e}")))?;
            new_members = Some(
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("server.") || l.starts_with("version="))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        let req = ReconfigRequest {
            joining_servers: lower("add"),
            leaving_servers: lower("remove"),
            new_members,
            cur_config_id: version,
        };
        let client = self.client("/zookeeper/config").await?;
        let r: GetDataResponse =
            client.call(op::RECONFIG, &req).await.map_err(|e| CliError::new(super::format::cli_error(&e, None)))?;
        let text = r.data.map(|d| String::from_utf8_lossy(&d).into_owned()).unwrap_or_default();
        out(&format!("Committed new configuration:\n{text}\n"));
        if p.has("s") {
            out(&stat_block(&r.stat));
        }
        Ok(())
    }
}

fn parse_track(data: Option<&[u8]>) -> Result<StatsTrack, CliError> {
    StatsTrack::parse(&String::from_utf8_lossy(data.unwrap_or_default())).map_err(CliError::new)
}

/// ZooKeeper's `createQuota`, step for step: the node must exist, no ancestor or descendant
/// may hold a quota, then the /zookeeper/quota path, limits and stats nodes are created (or
/// the limits updated).
async fn create_quota(client: &Client, path: &str, quota: &StatsTrack) -> Result<(), QuotaError> {
    if client.exists(path, false).await.map_err(|e| (e, path))?.is_none() {
        return Err(QuotaError::Msg(format!("{path} does not exist.")));
    }
    check_child_quota(client, path).await?;
    check_parent_quota(client, path).await?;
    if client.exists(QUOTA_ROOT, false).await.map_err(|e| (e, QUOTA_ROOT))?.is_none() {
        for p in ["/zookeeper", QUOTA_ROOT] {
            match client.create(p, None, None, 0, -1).await {
                Ok(_) | Err(ClientError::Server(ErrorCode::NodeExists)) => {}
                Err(e) => return Err((e, p).into()),
            }
        }
    }
    let mut qp = QUOTA_ROOT.to_owned();
    for part in java_split_slash(path).into_iter().skip(1) {
        qp.push('/');
        qp.push_str(part);
        if client.exists(&qp, false).await.map_err(|e| (e, qp.as_str()))?.is_none() {
            match client.create(&qp, None, None, 0, -1).await {
                Ok(_) | Err(ClientError::Server(ErrorCode::NodeExists)) => {}
                Err(e) => return Err((e, qp.as_str()).into()),
            }
        }
    }
    let stat_path = format!("{qp}/{STATS}");
    let limit_path = format!("{qp}/{LIMITS}");
    let read = |p: String| async move {
        let (d, _) = client.get_data(&p, false).await.map_err(|e| QuotaError::Zk(e, p.clone()))?;
        parse_track(d.as_deref()).map_err(|e| QuotaError::Msg(e.msg))
    };
    if client.exists(&limit_path, false).await.map_err(|e| (e, limit_path.as_str()))?.is_none() {
        let text = quota.to_string();
        client.create(&limit_path, Some(text.as_bytes()), None, 0, -1).await.map_err(|e| (e, limit_path.as_str()))?;
        let mut zero = StatsTrack::default();
        zero.set("count", 0);
        zero.set("bytes", 0);
        let text = zero.to_string();
        client.create(&stat_path, Some(text.as_bytes()), None, 0, -1).await.map_err(|e| (e, stat_path.as_str()))?;
        let (q, s) = (read(limit_path).await?, read(stat_path).await?);
        warn_below_usage(&q, &s);
    } else {
        let mut q = read(limit_path.clone()).await?;
        for k in ["count", "bytes", "countHardLimit", "byteHardLimit"] {
            if quota.get(k) > -1 {
                q.set(k, quota.get(k));
            }
        }
        let s = read(stat_path).await?;
        warn_below_usage(&q, &s);
        let text = q.to_string();
        client.set_data(&limit_path, Some(text.as_bytes()), -1).await.map_err(|e| (e, limit_path.as_str()))?;
    }
    Ok(())
}

fn warn_below_usage(q: &StatsTrack, s: &StatsTrack) {
    let below = |soft: i64, hard: i64, used: i64| (soft > -1 && soft < used) || (hard > -1 && hard < used);
    if below(q.get("count"), q.get("countHardLimit"), s.get("count")) {
        out(&format!("[Warning]: the count quota you create is less than the existing count:{}\n", s.get("count")));
    }
    if below(q.get("bytes"), q.get("byteHardLimit"), s.get("bytes")) {
        out(&format!("[Warning]: the bytes quota you create is less than the existing bytes:{}\n", s.get("bytes")));
    }
}

async fn check_child_quota(client: &Client, path: &str) -> Result<(), QuotaError> {
    let root = quota_path(path);
    match client.get_data(&root, false).await {
        Ok(_) => {}
        Err(ClientError::Server(ErrorCode::NoNode)) => return Ok(()),
        Err(e) => return Err((e, root.as_str()).into()),
    }
    let mut stack = vec![root.clone()];
    let mut visit = vec![root.clone()];
    // Same visiting order as visitSubTreeDFS: each node's sorted children, then descend.
    while let Some(node) = stack.pop() {
        let mut children = match client.get_children(&node, false).await {
            Ok((c, _)) => c,
            Err(ClientError::Server(ErrorCode::NoNode)) => continue,
            Err(e) => return Err((e, node.as_str()).into()),
        };
        children.sort();
        let paths: Vec<String> = children.iter().map(|c| format!("{node}/{c}")).collect();
        visit.extend(paths.iter().cloned());
        stack.extend(paths.into_iter().rev());
    }
    for qp in visit {
        let children = match client.get_children(&qp, false).await {
            Ok((c, _)) => c,
            Err(_) => continue,
        };
        if qp != root && children.iter().any(|c| c == LIMITS) {
            return Err(QuotaError::Msg(format!("{path} has a child {} which has a quota", &qp[QUOTA_ROOT.len()..])));
        }
    }
    Ok(())
}

async fn check_parent_quota(client: &Client, path: &str) -> Result<(), QuotaError> {
    let parts = java_split_slash(path);
    let mut qp = QUOTA_ROOT.to_owned();
    for part in parts.iter().take(parts.len().saturating_sub(1)).skip(1) {
        qp.push('/');
        qp.push_str(part);
        let children = match client.get_children(&qp, false).await {
            Ok((c, _)) => c,
            Err(ClientError::Server(ErrorCode::NoNode)) => return Ok(()),
            Err(e) => return Err((e, qp.as_str()).into()),
        };
        if children.is_empty() {
            return Ok(());
        }
        if qp != quota_path(path) && children.iter().any(|c| c == LIMITS) {
            return Err(QuotaError::Msg(format!("{path} has a parent {} which has a quota", &qp[QUOTA_ROOT.len()..])));
        }
    }
    Ok(())
}

/// `ConfigUtils.getClientConfigStr`: "version host:port,host:port" from a dynamic config.
fn client_config_string(config: &str) -> String {
    let mut version = "";
    let mut servers = Vec::new();
    for line in config.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        if k == "version" {
            version = v;
        }
        if k.starts_with("server.") {
            if let Some((_, client)) = v.split_once(';') {
                servers.push(if client.contains(':') { client.to_owned() } else { format!("0.0.0.0:{client}") });
            }
        }
    }
    format!("{version} {}", servers.join(","))
}

#[cfg(test)]
mod tests {
    use super::super::format::{keeper_message, watched_event};
    use super::*;
    use crate::proto::codes::{event, state};

    #[test]
    fn client_config_string_lists_client_addresses() {
        let cfg = "server.1=a:2888:3888:participant;0.0.0.0:2181\nserver.2=b:2888:3888;b:2182\nversion=100000000";
        assert_eq!(client_config_string(cfg), "100000000 0.0.0.0:2181,b:2182");
        assert_eq!(client_config_string(""), " ");
    }

    #[test]
    fn quota_parts_follow_java_split() {
        assert_eq!(java_split_slash("/a/b"), vec!["", "a", "b"]);
        assert_eq!(quota_path("/a"), "/zookeeper/quota/a");
        assert_eq!(
            keeper_message(&ClientError::Server(ErrorCode::NoNode), Some("/x")),
            "KeeperErrorCode = NoNode for /x"
        );
        assert_eq!(
            watched_event(state::AUTH_FAILED, event::NONE, None),
            "WatchedEvent state:AuthFailed type:None path:null"
        );
    }
}
