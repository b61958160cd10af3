//! The sessions workload's two operations.
//!
//! `expire`: a fresh session on the process's member creates an ephemeral znode, then its
//! client vanishes without closing the session (the connection just drops). The process waits
//! until the ephemeral is gone (sync + exists through its own connection), then asks every
//! member (a fresh connection each, sync, exists): a member that still shows it after the
//! deletion was seen committed breaks "an expired session's ephemerals vanish everywhere".
//! ok value: `{"gone_after_ms": t, "still_on": [members], "unreachable": [members]}`.
//!
//! `move`: a fresh session creates an ephemeral, its connection drops, and the session is
//! resumed on another member with its id and password; that member must still show the
//! ephemeral, owned by the session, now and again after more than a session timeout (the new
//! member keeps the session alive). ok value: `{"kept": bool, "owner_ok": bool}`; a failure to
//! move (the session expired meanwhile, no quorum) is `fail`, an unknown one `info`.
//! Must never: call a lost ephemeral a violation unless the session was certainly alive.

use crate::history::Kind;
use crate::workload::{outcome, Ctx};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use zabkeeper::client::{Client, ClientError, ConnectOptions};

const EPHEMERAL: i32 = 1;

fn opts(ctx: &Ctx) -> ConnectOptions {
    ConnectOptions {
        timeout_ms: ctx.session_timeout_ms,
        connect_timeout: Duration::from_secs(2),
        ..ConnectOptions::default()
    }
}

/// A new session on member `i` with an ephemeral at `path`.
async fn owner(ctx: &Ctx, i: usize, path: &str) -> Result<Client, (Kind, Value)> {
    let (s, _) = Client::connect(&ctx.addrs[i], opts(ctx)).await.map_err(|e| (Kind::Fail, json!(e.to_string())))?;
    match s.create(path, None, None, EPHEMERAL, 0).await {
        Ok(_) => Ok(s),
        // Maybe created: it goes when the session expires, and nothing is claimed of it.
        Err(e) => Err((Kind::Fail, json!(format!("creating the ephemeral: {e}")))),
    }
}

pub async fn expire(c: &Client, v: &Value, ctx: &Ctx) -> (Kind, Value) {
    let path = format!("/jepsen/sessions/x{v}");
    let s = match owner(ctx, ctx.home, &path).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    drop(s);
    let t0 = Instant::now();
    let deadline = t0 + ctx.timeout() * 3 + Duration::from_secs(5);
    loop {
        let gone = async {
            c.sync(&path).await?;
            Ok::<bool, ClientError>(c.exists(&path, false).await?.is_none())
        }
        .await;
        match gone {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return (Kind::Fail, json!(format!("watching for the expiry: {e}"))),
        }
        if Instant::now() >= deadline {
            // Not expired in time (a fault may have stalled the leader): nothing is claimed.
            return (Kind::Fail, json!("the ephemeral did not vanish in time"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone_after = t0.elapsed();
    let (mut still_on, mut unreachable) = (Vec::new(), Vec::new());
    for (i, addr) in ctx.addrs.iter().enumerate() {
        let seen = async {
            let (o, _) = Client::connect(addr, opts(ctx)).await?;
            o.sync(&path).await?;
            let r = o.exists(&path, false).await?;
            let _ = o.close().await;
            Ok::<bool, ClientError>(r.is_some())
        };
        match tokio::time::timeout(Duration::from_secs(5), seen).await {
            Ok(Ok(true)) => still_on.push(i + 1),
            Ok(Ok(false)) => {}
            _ => unreachable.push(i + 1),
        }
    }
    (
        Kind::Ok,
        json!({"gone_after_ms": gone_after.as_millis() as u64, "still_on": still_on, "unreachable": unreachable}),
    )
}

/// The znode at `path` as member `t` is connected to sees it after a sync.
async fn look(t: &Client, path: &str) -> Result<Option<zabkeeper::proto::Stat>, ClientError> {
    t.sync(path).await?;
    t.exists(path, false).await
}

pub async fn moved(v: &Value, ctx: &Ctx) -> (Kind, Value) {
    let path = format!("/jepsen/sessions/m{v}");
    let s = match owner(ctx, ctx.home, &path).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // As every real client does, it tells the new member the last zxid it has seen (a
    // member behind it refuses the connection instead of judging a session it may not
    // know yet).
    let (id, password, seen) = (s.session_id, s.password.clone(), s.last_zxid_seen());
    drop(s);
    let other = (ctx.home + 1) % ctx.addrs.len();
    let resumed = ConnectOptions { session_id: id, password, last_zxid_seen: seen, ..opts(ctx) };
    let t = match Client::connect(&ctx.addrs[other], resumed).await {
        Ok((t, _)) => t,
        Err(ClientError::SessionExpired) => return (Kind::Fail, json!("the session expired before it moved")),
        Err(e) => return (Kind::Fail, json!(format!("moving: {e}"))),
    };
    let first = look(&t, &path).await;
    tokio::time::sleep(ctx.timeout() * 3 / 2).await;
    let later = look(&t, &path).await;
    let r = match (first, later) {
        (Ok(a), Ok(b)) => {
            let owner_ok = [&a, &b].iter().all(|s| s.as_ref().is_none_or(|s| s.ephemeral_owner == id));
            (Kind::Ok, json!({"kept": a.is_some() && b.is_some(), "owner_ok": owner_ok}))
        }
        // The moved session could not be asked (a fault): nothing is claimed.
        (Err(e), _) | (_, Err(e)) => {
            let (_, why) = outcome(Err(e));
            (Kind::Fail, why)
        }
    };
    let _ = t.delete(&path, -1).await;
    let _ = t.close().await;
    r
}
