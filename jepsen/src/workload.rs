//! The workloads: what each client process does, how an operation maps onto ZooKeeper calls,
//! and how an error maps onto Jepsen's outcomes. A server's definite refusal (BadVersion,
//! NoNode, NodeExists) is `fail`; a lost connection, an expired session or a timeout is
//! `info` for anything that may have changed state, and `fail` for a read (a read changes
//! nothing, so not knowing its answer constrains nothing).
//!
//! - `register`: `--keys` znodes `/jepsen/r<k>` holding a JSON value (empty = null); read
//!   (after `sync`, or in the linearizable read mode, or plain), write (setData of a value
//!   never written before), and cas [expected, new] (getData, then setData at the version
//!   read: BadVersion or a different value is `fail`).
//! - `set`: unique adds (`create /jepsen/set/e<n>`), then one final read of every child.
//! - `ids`: sequential znodes under `/jepsen/ids`; the number is the id.
//! - `lock`: Curator's lock recipe, each holder writing the next fencing token (`hold_lock`).
//! - `sessions`: an abandoned session's ephemeral must vanish on every member; a session moved
//!   to another member must keep its ephemeral (`sessions.rs`).
//! - `watches`: a persistent recursive watch sees every child creation in zxid order
//!   (`watches.rs`).
//! - `checkpoints`: JobManagers committing checkpoints to the registry, and zombies that lost
//!   their session trying with their old epoch (`checkpoints.rs`).
//!
//! Must never: record an outcome it does not know as `ok` or `fail`.

use crate::history::Kind;
use serde_json::{json, Value};
use std::collections::HashMap;
use zabkeeper::client::{Client, ClientError};
use zabkeeper::proto::request::{MultiOp, MultiResult};
use zabkeeper::proto::{ErrorCode, PathVersionRequest, SetDataRequest};

/// How reads go in the register workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// `sync` then `getData`.
    Sync,
    /// The connection asks for linearizable reads (`addauth linearizable on`, zabkeeper only).
    Linearizable,
    /// `getData` alone: may be stale under ZooKeeper's guarantees.
    Plain,
}

impl std::str::FromStr for ReadMode {
    type Err = String;
    fn from_str(s: &str) -> Result<ReadMode, String> {
        match s {
            "sync" => Ok(ReadMode::Sync),
            "linearizable" => Ok(ReadMode::Linearizable),
            "plain" => Ok(ReadMode::Plain),
            _ => Err(format!("unknown read mode {s:?} (sync, linearizable, plain)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Register { keys: u32, reads: ReadMode },
    Set,
    Ids,
    Lock,
    Sessions,
    Watches,
    Checkpoints,
}

/// Where a process runs: every member's address, its own, and the session timeout.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub addrs: Vec<String>,
    pub home: usize,
    pub session_timeout_ms: i32,
}

impl Ctx {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.session_timeout_ms.max(1) as u64)
    }
}

/// How long a process waits for the lock before giving up (and removing its request).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(2_000);

impl Workload {
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Register { .. } => "register",
            Workload::Set => "set",
            Workload::Ids => "ids",
            Workload::Lock => "lock",
            Workload::Sessions => "sessions",
            Workload::Watches => "watches",
            Workload::Checkpoints => "checkpoints",
        }
    }

    /// Creates the znodes the workload uses (idempotent).
    pub async fn setup(&self, c: &Client) -> Result<(), ClientError> {
        ensure(c, "/jepsen").await?;
        match self {
            Workload::Register { keys, .. } => {
                for k in 0..*keys {
                    ensure(c, &format!("/jepsen/r{k}")).await?;
                }
            }
            Workload::Set => ensure(c, "/jepsen/set").await?,
            Workload::Ids => ensure(c, "/jepsen/ids").await?,
            Workload::Lock => {
                ensure(c, "/jepsen/lock").await?;
                ensure(c, "/jepsen/fence").await?;
            }
            Workload::Sessions => ensure(c, "/jepsen/sessions").await?,
            Workload::Watches => ensure(c, "/jepsen/watch").await?,
            Workload::Checkpoints => crate::checkpoints::setup(c).await?,
        }
        Ok(())
    }

    /// Prepares a fresh connection (the linearizable read mode is asked for per connection).
    pub async fn on_connect(&self, c: &Client) -> Result<(), ClientError> {
        if let Workload::Register { reads: ReadMode::Linearizable, .. } = self {
            c.add_auth("linearizable", Some(b"on")).await?;
        }
        Ok(())
    }

    /// The next operation: (f, key, invoke value). `n` is unique per run: every write and
    /// cas writes a value never written before, so a stale read cannot pass for a later write
    /// of the same value; a cas expects the value this process last saw for that key.
    pub fn generate(
        &self,
        rng: &mut impl rand::RngExt,
        n: u64,
        seen: &HashMap<u64, Value>,
    ) -> (&'static str, Option<Value>, Value) {
        match self {
            Workload::Register { keys, .. } => {
                let k = rng.random_range(0..u64::from(*keys));
                match rng.random_range(0..4) {
                    0 | 1 => ("read", Some(json!(k)), Value::Null),
                    2 => ("write", Some(json!(k)), json!(n)),
                    _ => {
                        let expected = seen.get(&k).cloned().unwrap_or(Value::Null);
                        ("cas", Some(json!(k)), json!([expected, n]))
                    }
                }
            }
            Workload::Set => ("add", None, json!(n)),
            Workload::Checkpoints => ("commit", Some(json!(0)), seen.get(&0).cloned().unwrap_or(Value::Null)),
            Workload::Ids => ("generate", None, Value::Null),
            Workload::Lock => ("hold", None, Value::Null),
            Workload::Watches => {
                if rng.random_range(0..4) == 0 {
                    ("observe", None, Value::Null)
                } else {
                    ("create", None, Value::Null)
                }
            }
            Workload::Sessions => {
                if rng.random_range(0..2) == 0 {
                    ("expire", None, json!(n))
                } else {
                    ("move", None, json!(n))
                }
            }
        }
    }

    /// A read of a random register (for the processes that only read).
    pub fn generate_read(&self, rng: &mut impl rand::RngExt) -> (&'static str, Option<Value>, Value) {
        let keys = match self {
            Workload::Register { keys, .. } => *keys,
            _ => 1,
        };
        ("read", Some(json!(rng.random_range(0..u64::from(keys)))), Value::Null)
    }

    /// How long one operation may take before it counts as unknown.
    pub fn op_timeout(&self, ctx: &Ctx) -> std::time::Duration {
        match self {
            Workload::Sessions => ctx.timeout() * 4 + std::time::Duration::from_secs(10),
            Workload::Watches => std::time::Duration::from_secs(8),
            _ => std::time::Duration::from_secs(3),
        }
    }

    /// Carries out one operation: its outcome and the completion's value.
    pub async fn invoke(&self, c: &Client, f: &str, key: &Option<Value>, v: &Value, ctx: &Ctx) -> (Kind, Value) {
        let reg = |k: &Option<Value>| format!("/jepsen/r{}", k.as_ref().and_then(Value::as_u64).unwrap_or(0));
        match (self, f) {
            (Workload::Register { reads, .. }, "read") => {
                let path = reg(key);
                if *reads == ReadMode::Sync {
                    if let Err(e) = c.sync(&path).await {
                        return (Kind::Fail, json!(e.to_string()));
                    }
                }
                match c.get_data(&path, false).await {
                    Ok((data, _)) => (Kind::Ok, decode(data.as_deref())),
                    Err(e) => (Kind::Fail, json!(e.to_string())),
                }
            }
            (Workload::Register { .. }, "write") => {
                let data = v.to_string();
                outcome(c.set_data(&reg(key), Some(data.as_bytes()), -1).await.map(|_| v.clone()))
            }
            (Workload::Register { .. }, "cas") => {
                let path = reg(key);
                let [expected, new] = v.as_array().map(|a| [a[0].clone(), a[1].clone()]).unwrap_or_default();
                let (data, stat) = match c.get_data(&path, false).await {
                    Ok(r) => r,
                    // Nothing was written yet: a failed read is a failed cas.
                    Err(e) => return (Kind::Fail, json!(e.to_string())),
                };
                if decode(data.as_deref()) != expected {
                    return (Kind::Fail, v.clone());
                }
                let data = new.to_string();
                outcome(c.set_data(&path, Some(data.as_bytes()), stat.version).await.map(|_| v.clone()))
            }
            (Workload::Set, "add") => {
                let path = format!("/jepsen/set/e{v}");
                outcome(c.create(&path, None, None, 0, 0).await.map(|_| v.clone()))
            }
            (Workload::Set, "read") => {
                if let Err(e) = c.sync("/jepsen/set").await {
                    return (Kind::Fail, json!(e.to_string()));
                }
                match c.get_children("/jepsen/set", false).await {
                    Ok((names, _)) => {
                        let mut xs: Vec<u64> = names.iter().filter_map(|n| n.strip_prefix('e')?.parse().ok()).collect();
                        xs.sort_unstable();
                        (Kind::Ok, json!(xs))
                    }
                    Err(e) => (Kind::Fail, json!(e.to_string())),
                }
            }
            (Workload::Ids, "generate") => match c.create("/jepsen/ids/id-", None, None, SEQUENTIAL, 0).await {
                Ok((path, _)) => match path.rsplit('-').next().and_then(|n| n.parse::<u64>().ok()) {
                    Some(n) => (Kind::Ok, json!(n)),
                    None => (Kind::Ok, json!(path)),
                },
                Err(e) => outcome(Err(e)),
            },
            (Workload::Lock, "hold") => hold_lock(c).await,
            (Workload::Sessions, "expire") => crate::sessions::expire(c, v, ctx).await,
            (Workload::Sessions, "move") => crate::sessions::moved(v, ctx).await,
            (Workload::Watches, "create") => crate::watches::create(c).await,
            (Workload::Watches, "observe") => crate::watches::observe(ctx).await,
            (Workload::Checkpoints, "commit") => crate::checkpoints::commit(c, v).await,
            (Workload::Checkpoints, "read") => crate::checkpoints::read(c).await,
            _ => (Kind::Fail, json!(format!("{f} is not an operation of {}", self.name()))),
        }
    }

    /// The operations run once the faults are healed (the set's final read).
    pub fn final_ops(&self) -> Vec<(&'static str, Option<Value>, Value)> {
        match self {
            Workload::Set | Workload::Checkpoints => vec![("read", None, Value::Null)],
            Workload::Register { .. } | Workload::Ids | Workload::Lock | Workload::Sessions | Workload::Watches => {
                Vec::new()
            }
        }
    }
}

const SEQUENTIAL: i32 = 2;
const EPHEMERAL_SEQUENTIAL: i32 = 3;

/// Curator's lock recipe, then the fencing token: an ephemeral-sequential request under
/// `/jepsen/lock`; the lowest request holds the lock, every other waits for the one just
/// below it to go. Holding it, the process reads `/jepsen/fence` and writes the next token in
/// one multi with a check that its request still exists: ok is the token; the check failing
/// is a lost lock (`fail`); the token write failing while the request still exists means
/// another holder wrote in between (an overlap, recorded for the checker). The request is
/// deleted at the end either way.
async fn hold_lock(c: &Client) -> (Kind, Value) {
    let mine = match c.create("/jepsen/lock/lock-", None, None, EPHEMERAL_SEQUENTIAL, 0).await {
        Ok((p, _)) => p,
        Err(e) => return outcome(Err(e)),
    };
    let name = mine.rsplit('/').next().unwrap_or_default().to_string();
    let result = async {
        let until = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            let (mut children, _) = c.get_children("/jepsen/lock", false).await.map_err(|e| outcome(Err(e)))?;
            children.sort_by_key(|n| n.rsplit('-').next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(u64::MAX));
            let Some(pos) = children.iter().position(|n| *n == name) else {
                // The request is gone: the session lost it.
                return Err((Kind::Fail, json!("the lock request vanished")));
            };
            if pos == 0 {
                break;
            }
            let below = format!("/jepsen/lock/{}", children[pos - 1]);
            // Wait for it to go (polled: the generic client's watch events go to one channel).
            if c.exists(&below, false).await.map_err(|e| outcome(Err(e)))?.is_some() {
                if tokio::time::Instant::now() >= until {
                    return Err((Kind::Fail, json!("timed out waiting for the lock")));
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        let (data, stat) = c.get_data("/jepsen/fence", false).await.map_err(|e| outcome(Err(e)))?;
        let token = decode(data.as_deref()).as_u64().unwrap_or(0) + 1;
        let ops = [
            MultiOp::Check(PathVersionRequest { path: mine.clone(), version: -1 }),
            MultiOp::SetData(SetDataRequest {
                path: "/jepsen/fence".into(),
                data: Some(token.to_string().into_bytes().into()),
                version: stat.version,
            }),
        ];
        match c.multi(&ops).await {
            Ok(_) => Ok((Kind::Ok, json!(token))),
            Err((ClientError::Server(_), results)) => match results.as_slice() {
                [MultiResult::Check | MultiResult::Error(0), MultiResult::Error(code)]
                    if *code == ErrorCode::BadVersion as i32 =>
                {
                    Ok((Kind::Ok, json!({"overlap": true, "token": token})))
                }
                _ => Err((Kind::Fail, json!("the lock was lost before the token was written"))),
            },
            Err((e, _)) => Err(outcome(Err(e))),
        }
    }
    .await;
    let _ = c.delete(&mine, -1).await;
    match result {
        Ok(r) | Err(r) => r,
    }
}

/// A register's value from its data (empty or absent = null).
fn decode(data: Option<&[u8]>) -> Value {
    match data {
        Some(d) if !d.is_empty() => serde_json::from_slice(d).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// A state-changing call's outcome: a definite server refusal fails; the rest is unknown.
pub fn outcome(r: Result<Value, ClientError>) -> (Kind, Value) {
    match r {
        Ok(v) => (Kind::Ok, v),
        Err(ClientError::Server(
            ErrorCode::BadVersion | ErrorCode::NoNode | ErrorCode::NodeExists | ErrorCode::NotEmpty,
        )) => (Kind::Fail, Value::Null),
        Err(e) => (Kind::Info, json!(e.to_string())),
    }
}

async fn ensure(c: &Client, path: &str) -> Result<(), ClientError> {
    match c.create(path, None, None, 0, 0).await {
        Ok(_) | Err(ClientError::Server(ErrorCode::NodeExists)) => Ok(()),
        Err(e) => Err(e),
    }
}
