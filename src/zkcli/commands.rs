//! The znode commands of the shell (create, delete, deleteall, set, get, ls, stat, getAcl,
//! setAcl, sync, getEphemerals, getAllChildrenNumber, addWatch, removewatches, whoami,
//! version, close): argument rules, the calls, and their output, as zkCli.sh 3.8 has them.
//! Must never: print an error itself when it can return it; `Shell::process` prints it.

use super::format::{acl_lines, cli_error, data_text, keeper_message, parse_acl, stat_block, validate_path};
use super::parse::{flag, parse_flags, valued, OptTable, Parsed};
use super::watches::Kind;
use super::{err, out, usage_str, CliError, CmdResult, Shell};
use crate::client::{Client, ClientError, WatchedEvent};
use crate::proto::codes::{add_watch_mode, op, state, watcher_type, ErrorCode, MAX_TTL};
use crate::proto::records::{Acl, GetEphemeralsResponse, PathRequest, PathVersionRequest};
use crate::proto::request::MultiOp;
use std::collections::VecDeque;
use std::sync::Arc;

const CREATE: OptTable =
    OptTable::new(&[flag("e", "ephemeral"), flag("s", "sequential"), flag("c", "container"), valued("t", "ttl")]);
const DELETE: OptTable = OptTable::new(&[valued("v", "version")]);
const DELETEALL: OptTable = OptTable::new(&[valued("b", "batch size")]);
const SET: OptTable = OptTable::new(&[flag("s", "stats"), valued("v", "version")]);
const GET: OptTable = OptTable::new(&[flag("s", "stats"), flag("w", "watch")]);
const LS: OptTable = OptTable::new(&[flag("?", "help"), flag("s", "stat"), flag("w", "watch"), flag("R", "recurse")]);
const STAT: OptTable = OptTable::new(&[flag("w", "watch")]);
const GETACL: OptTable = OptTable::new(&[flag("s", "stats")]);
const SETACL: OptTable = OptTable::new(&[flag("s", "stats"), valued("v", "version"), flag("R", "recursive")]);
/// Commands without flags.
pub(super) const NONE: OptTable = OptTable::new(&[]);
const ADDWATCH: OptTable = OptTable::new(&[valued("m", "")]);
const REMOVEWATCHES: OptTable = OptTable::new(&[
    flag("c", "child watcher type"),
    flag("d", "data watcher type"),
    flag("p", "persistent watcher type"),
    flag("r", "persistent recursive watcher type"),
    flag("a", "any watcher type"),
    flag("l", "remove locally when there is no server connection"),
]);

/// Java's `Integer.parseInt` failure, as zkCli would report it.
pub(super) fn parse_i32(s: &str) -> Result<i32, CliError> {
    s.parse().map_err(|_| CliError::crash(format!("java.lang.NumberFormatException: For input string: \"{s}\"")))
}

pub(super) fn flags(table: &OptTable, words: &[String]) -> Result<Parsed, CliError> {
    parse_flags(table, words).map_err(CliError::new)
}

/// A command's flags and words, with at least `min` words (the command name counts);
/// fewer prints the command's usage line, as zkCli does.
pub(super) fn flags_and_args(table: &OptTable, words: &[String], min: usize) -> Result<Parsed, CliError> {
    let p = flags(table, words)?;
    if p.args.len() < min {
        return Err(CliError::new(usage_str(&words[0])));
    }
    Ok(p)
}

/// A ZooKeeper error on `path` as zkCli words it.
pub(super) fn zk_err(e: ClientError, path: &str) -> CliError {
    CliError::new(cli_error(&e, Some(path)))
}

fn version_flag(p: &Parsed) -> Result<i32, CliError> {
    p.value("v").map_or(Ok(-1), parse_i32)
}

/// A deprecated trailing "watch" argument: zkCli turns the third word into `-w`.
fn retain_compat(table: &OptTable, words: &[String], p: Parsed, form: &str, use_: &str) -> Result<Parsed, CliError> {
    if p.args.len() <= 2 {
        return Ok(p);
    }
    err(&format!("'{form}' has been deprecated. Please use '{use_}' instead."));
    let mut w = words.to_vec();
    w[2] = "-w".into();
    flags(table, &w)
}

impl Shell {
    pub(super) async fn client(&self, path: &str) -> Result<Arc<Client>, CliError> {
        self.handle().arm();
        self.handle().client().await.map_err(|e| zk_err(e, path))
    }

    fn watch(&self, kind: Kind, path: &str) {
        self.handle().watches.lock().expect("watch tracker").add(kind, path);
    }

    pub(super) async fn run_command(&mut self, cmd: &str, words: Vec<String>) -> CmdResult {
        match cmd {
            "create" => self.create(&words).await,
            "delete" => self.delete(&words).await,
            "deleteall" => self.delete_all(&words).await,
            "set" => self.set(&words).await,
            "get" => self.get(&words).await,
            "ls" => self.ls(&words).await,
            "stat" => self.stat(&words).await,
            "getAcl" => self.get_acl(&words).await,
            "setAcl" => self.set_acl(&words).await,
            "sync" => self.sync(&words).await,
            "getEphemerals" => self.get_ephemerals(&words).await,
            "getAllChildrenNumber" => self.get_all_children_number(&words).await,
            "addWatch" => self.add_watch(&words).await,
            "removewatches" => self.remove_watches(&words).await,
            "whoami" => self.who_am_i().await,
            "checkpoints" => self.checkpoints(&words).await,
            "version" => {
                if flags(&NONE, &words)?.args.len() > 1 {
                    return Err(CliError::new(usage_str("version")));
                }
                let built = super::format::build_time();
                let v = env!("CARGO_PKG_VERSION");
                out(&format!("ZooKeeper CLI version: 3.8.0-zabkeeper-{v}, built on {built} UTC\n"));
                Ok(())
            }
            "close" => {
                if let Some(h) = self.handle.as_mut() {
                    h.close().await;
                }
                Ok(())
            }
            "addauth" | "setquota" | "listquota" | "delquota" | "config" | "reconfig" => {
                self.run_admin(cmd, &words).await
            }
            // history, redo, printwatches, connect ran in dispatch.
            _ => Ok(()),
        }
    }

    async fn create(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&CREATE, words, 2)?;
        let (e, s, c, t) = (p.has("e"), p.has("s"), p.has("c"), p.has("t"));
        if c && (e || s) {
            return Err(CliError::new(
                "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
            ));
        }
        let ttl: i64 = match p.value("t") {
            Some(v) => v.parse().map_err(|_| CliError::new("-t argument must be a long value"))?,
            None => 0,
        };
        if t && e {
            return Err(CliError::new("TTLs cannot be used with Ephemeral znodes"));
        }
        if t && c {
            return Err(CliError::new("TTLs cannot be used with Container znodes"));
        }
        let mode = match (e, s, c, t) {
            (true, true, _, _) => 3,
            (true, false, _, _) => 1,
            (false, true, _, true) => 6,
            (false, true, _, false) => 2,
            (false, false, true, _) => 4,
            (false, false, false, true) => 5,
            _ => 0,
        };
        if t && (ttl > MAX_TTL || ttl <= 0) {
            return Err(CliError::new(format!("ttl must be positive and cannot be larger than: {MAX_TTL}")));
        }
        let path = &p.args[1];
        let data = p.args.get(2).map(|d| d.as_bytes().to_vec());
        let acl = match p.args.get(3) {
            Some(a) => parsed_acl(a),
            None => vec![Acl::new(crate::proto::codes::perms::ALL, "world", "anyone")],
        };
        validate_path(path, s)?;
        if acl.is_empty() {
            err("KeeperErrorCode = InvalidACL");
            return Err(CliError::new("Acl is not valid : null"));
        }
        let client = self.client(path).await?;
        match client.create(path, data.as_deref(), Some(acl), mode, if t { ttl } else { -1 }).await {
            Ok((created, _)) => {
                err(&format!("Created {created}"));
                Ok(())
            }
            Err(e) => {
                match e.code() {
                    Some(ErrorCode::EphemeralOnLocalSession) => {
                        err("Unable to create ephemeral node on a local session")
                    }
                    Some(ErrorCode::InvalidAcl) => err(&keeper_message(&e, Some(path))),
                    _ => {}
                }
                Err(zk_err(e, path))
            }
        }
    }

    async fn delete(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&DELETE, words, 2)?;
        if p.args.len() > 2 {
            err("'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead.");
        }
        let path = &p.args[1];
        let version = version_flag(&p)?;
        validate_path(path, false)?;
        self.client(path).await?.delete(path, version).await.map_err(|e| zk_err(e, path))
    }

    async fn delete_all(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&DELETEALL, words, 2)?;
        let batch: i32 = match p.value("b") {
            Some(v) => v.parse().map_err(|_| CliError::new("-b argument must be an int value"))?,
            None => 1000,
        };
        let root = &p.args[1];
        validate_path(root, false)?;
        let client = self.client(root).await?;
        // Breadth-first listing, then deletes from the deepest end in multis of `batch`.
        let mut tree = vec![root.clone()];
        let mut queue = VecDeque::from([root.clone()]);
        while let Some(node) = queue.pop_front() {
            let (children, _) = client.get_children(&node, false).await.map_err(|e| zk_err(e, &node))?;
            for c in children {
                let child = if node == "/" { format!("/{c}") } else { format!("{node}/{c}") };
                queue.push_back(child.clone());
                tree.push(child);
            }
        }
        let mut ok = true;
        let mut ops = Vec::new();
        for (i, path) in tree.iter().enumerate().rev() {
            ops.push(MultiOp::Delete(PathVersionRequest { path: path.clone(), version: -1 }));
            let full = ops.len() as i64 == i64::from(batch) || i == 0;
            if full && client.multi(&std::mem::take(&mut ops)).await.is_err() {
                ok = false;
                break;
            }
        }
        if !ok {
            err("Failed to delete some node(s) in the subtree!");
        }
        Ok(())
    }

    async fn set(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&SET, words, 3)?;
        let (path, data) = (&p.args[1], p.args[2].as_bytes());
        let version = version_flag(&p)?;
        validate_path(path, false)?;
        let stat = self.client(path).await?.set_data(path, Some(data), version).await.map_err(|e| zk_err(e, path))?;
        if p.has("s") {
            out(&stat_block(&stat));
        }
        Ok(())
    }

    async fn get(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&GET, words, 2)?;
        let p = retain_compat(&GET, words, p, "get path [watch]", "get [-s] [-w] path")?;
        let (path, watch) = (&p.args[1], p.has("w"));
        validate_path(path, false)?;
        let (data, stat) = self.client(path).await?.get_data(path, watch).await.map_err(|e| zk_err(e, path))?;
        if watch {
            self.watch(Kind::Data, path);
        }
        let text = data_text(data.as_deref());
        out(&format!("{text}\n"));
        if p.has("s") {
            out(&stat_block(&stat));
        }
        Ok(())
    }

    async fn ls(&self, words: &[String]) -> CmdResult {
        let p = flags(&LS, words)?;
        if p.has("?") {
            out("usage: ls [options] path\n -?   help\n -R   recurse\n -s   stat\n -w   watch\n");
        }
        let p = retain_compat(&LS, words, p, "ls path [watch]", "ls [-w] path")?;
        if p.args.len() < 2 {
            return Err(CliError::new(usage_str("ls")));
        }
        let (path, watch) = (&p.args[1], p.has("w"));
        validate_path(path, false)?;
        let client = self.client(path).await?;
        if p.has("R") {
            return self.visit_tree(&client, path, watch, &mut |p| out(&format!("{p}\n"))).await;
        }
        let (mut children, stat) = client.get_children(path, watch).await.map_err(|e| zk_err(e, path))?;
        if watch {
            self.watch(Kind::Child, path);
        }
        children.sort();
        out(&format!("[{}]\n", children.join(", ")));
        if p.has("s") {
            out(&stat_block(&stat));
        }
        Ok(())
    }

    /// ZKUtil.visitSubTreeDFS: the root (read with getData), then each node's children in
    /// sorted order before descending into them.
    pub(super) async fn visit_tree(
        &self,
        client: &Client,
        root: &str,
        watch: bool,
        f: &mut (dyn FnMut(&str) + Send),
    ) -> CmdResult {
        client.get_data(root, watch).await.map_err(|e| zk_err(e, root))?;
        if watch {
            self.watch(Kind::Data, root);
        }
        f(root);
        let mut stack = vec![root.to_owned()];
        while let Some(node) = stack.pop() {
            let mut children = match client.get_children(&node, watch).await {
                Ok((c, _)) => c,
                Err(ClientError::Server(ErrorCode::NoNode)) => continue,
                Err(e) => return Err(zk_err(e, &node)),
            };
            if watch {
                self.watch(Kind::Child, &node);
            }
            children.sort();
            let paths: Vec<String> =
                children.iter().map(|c| if node == "/" { format!("/{c}") } else { format!("{node}/{c}") }).collect();
            for cp in &paths {
                f(cp);
            }
            stack.extend(paths.into_iter().rev());
        }
        Ok(())
    }

    async fn stat(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&STAT, words, 2)?;
        let p = retain_compat(&STAT, words, p, "stat path [watch]", "stat [-w] path")?;
        let (path, watch) = (&p.args[1], p.has("w"));
        validate_path(path, false)?;
        let stat = self.client(path).await?.exists(path, watch).await.map_err(|e| zk_err(e, path))?;
        if watch {
            self.watch(if stat.is_some() { Kind::Data } else { Kind::Exist }, path);
        }
        let stat = stat.ok_or_else(|| CliError::new(format!("Node does not exist: {path}")))?;
        out(&stat_block(&stat));
        Ok(())
    }

    async fn get_acl(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&GETACL, words, 2)?;
        let path = &p.args[1];
        validate_path(path, false)?;
        let (acl, stat) = self.client(path).await?.get_acl(path).await.map_err(|e| zk_err(e, path))?;
        out(&acl_lines(&acl));
        if p.has("s") {
            out(&stat_block(&stat));
        }
        Ok(())
    }

    async fn set_acl(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&SETACL, words, 3)?;
        let path = &p.args[1];
        let acl = parsed_acl(&p.args[2]);
        let version = version_flag(&p)?;
        validate_path(path, false)?;
        let client = self.client(path).await?;
        if p.has("R") {
            let mut nodes = Vec::new();
            self.visit_tree(&client, path, false, &mut |n| nodes.push(n.to_owned())).await?;
            for n in nodes {
                if acl.is_empty() {
                    out("KeeperErrorCode = InvalidACL");
                } else if let Err(e) = client.set_acl(&n, acl.clone(), version).await {
                    out(&keeper_message(&e, Some(&n)));
                }
            }
            return Ok(());
        }
        if acl.is_empty() {
            return Err(CliError::new("Acl is not valid : null"));
        }
        let stat = client.set_acl(path, acl, version).await.map_err(|e| zk_err(e, path))?;
        if p.has("s") {
            out(&stat_block(&stat));
        }
        Ok(())
    }

    async fn sync(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&NONE, words, 2)?;
        let path = &p.args[1];
        validate_path(path, false)?;
        let client = self.client(path).await?;
        match tokio::time::timeout(std::time::Duration::from_secs(30), client.sync(path)).await {
            Ok(Ok(_)) => out("Sync is OK\n"),
            Ok(Err(e)) => out(&format!("Sync has failed. rc={}\n", e.code().map_or(-1, |c| c as i32))),
            Err(_) => return Err(CliError::new("java.util.concurrent.TimeoutException")),
        }
        Ok(())
    }

    async fn get_ephemerals(&self, words: &[String]) -> CmdResult {
        let p = flags(&NONE, words)?;
        let path = p.args.get(1).map_or("/", String::as_str);
        validate_path(path, false)?;
        // Like the Java client, the prefix and the answer are not chroot-adjusted.
        let client = self.client(path).await?;
        let list: GetEphemeralsResponse = client
            .call(op::GET_EPHEMERALS, &PathRequest { path: path.to_owned() })
            .await
            .map_err(|e| zk_err(e, path))?;
        out(&format!("[{}]\n", list.ephemerals.join(", ")));
        Ok(())
    }

    async fn get_all_children_number(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&NONE, words, 2)?;
        let path = &p.args[1];
        validate_path(path, false)?;
        let n = self.client(path).await?.get_all_children_number(path).await.map_err(|e| zk_err(e, path))?;
        out(&format!("{n}\n"));
        Ok(())
    }

    async fn add_watch(&self, words: &[String]) -> CmdResult {
        let p = flags(&ADDWATCH, words)?;
        if p.args.len() != 2 {
            return Err(CliError::new(usage_str("addWatch")));
        }
        let mode = match p.value("m").map(str::to_uppercase).as_deref() {
            None | Some("PERSISTENT_RECURSIVE") => add_watch_mode::PERSISTENT_RECURSIVE,
            Some("PERSISTENT") => add_watch_mode::PERSISTENT,
            Some(_) => return Err(CliError::new(usage_str("addWatch"))),
        };
        let path = &p.args[1];
        validate_path(path, false).map_err(|m| CliError::crash(format!("java.lang.IllegalArgumentException: {m}")))?;
        self.client(path).await?.add_watch(path, mode).await.map_err(|e| zk_err(e, path))?;
        let kind = if mode == add_watch_mode::PERSISTENT { Kind::Persistent } else { Kind::PersistentRecursive };
        self.watch(kind, path);
        Ok(())
    }

    async fn remove_watches(&self, words: &[String]) -> CmdResult {
        let p = flags_and_args(&REMOVEWATCHES, words, 2)?;
        let wtype = [
            ("c", watcher_type::CHILDREN),
            ("d", watcher_type::DATA),
            ("p", watcher_type::PERSISTENT),
            ("r", watcher_type::PERSISTENT_RECURSIVE),
        ]
        .iter()
        .find(|(f, _)| p.has(f))
        .map_or(watcher_type::ANY, |(_, t)| *t);
        let (path, local) = (&p.args[1], p.has("l"));
        validate_path(path, false)?;
        let rc = match self.client(path).await {
            Ok(c) => c.remove_watches(path, wtype).await.err(),
            Err(_) if local => Some(ClientError::ConnectionLoss("not connected".into())),
            Err(e) => return Err(e),
        };
        let handle = self.handle();
        let mut watches = handle.watches.lock().expect("watch tracker");
        if !watches.contains(path, wtype) {
            return Err(CliError::new(keeper_message(&ClientError::Server(ErrorCode::NoWatcher), Some(path))));
        }
        if let (Some(e), false) = (&rc, local) {
            return Err(CliError::new(keeper_message(e, Some(path))));
        }
        let lost = matches!(
            rc.as_ref().and_then(ClientError::code),
            Some(ErrorCode::ConnectionLoss | ErrorCode::SessionExpired)
        );
        let st = if lost { state::DISCONNECTED } else { state::SYNC_CONNECTED };
        for ev in watches.remove(path, wtype).unwrap_or_default() {
            handle.emit(WatchedEvent { event_type: ev, state: st, path: Some(path.clone()), zxid: -1 });
        }
        Ok(())
    }

    async fn who_am_i(&self) -> CmdResult {
        let infos = self.client("/").await?.who_am_i().await.map_err(|e| CliError::new(keeper_message(&e, None)))?;
        let mut o = String::from("Auth scheme: User\n");
        for i in infos {
            o.push_str(&format!("{}: {}\n", i.auth_scheme, i.user));
        }
        out(&o);
        Ok(())
    }
}

/// zkCli's ACL argument: malformed parts are reported on stderr and skipped.
pub(super) fn parsed_acl(text: &str) -> Vec<Acl> {
    let (acl, warnings) = parse_acl(text);
    for w in warnings {
        err(&w);
    }
    acl
}
