//! The watches workload: writers create sequential children of `/jepsen/watch` (`create`, ok
//! value = the sequence number, which follows zxid order), and observers open a fresh session
//! with a persistent recursive watch on `/jepsen/watch` and record every child creation it
//! reports for a while (`observe`, ok value = the numbers in the order they arrived). While a
//! watch's connection lasts, it must see every creation committed after it was set, in zxid
//! order: numbers strictly one apart, none skipped, none that no writer could have created.
//! Must never: let a dropped connection's missed events count as skipped (the list ends
//! there).

use crate::history::Kind;
use crate::workload::Ctx;
use serde_json::{json, Value};
use std::time::Duration;
use zabkeeper::client::{Client, ConnectOptions};

const SEQUENTIAL: i32 = 2;
/// `addWatch` mode PERSISTENT_RECURSIVE.
const PERSISTENT_RECURSIVE: i32 = 1;
const NODE_CREATED: i32 = 1;
/// How long an observer listens.
const OBSERVE_FOR: Duration = Duration::from_millis(2_000);

pub async fn create(c: &Client) -> (Kind, Value) {
    match c.create("/jepsen/watch/c-", None, None, SEQUENTIAL, 0).await {
        Ok((path, _)) => match seq_of(&path) {
            Some(n) => (Kind::Ok, json!(n)),
            None => (Kind::Ok, json!(path)),
        },
        Err(e) => crate::workload::outcome(Err(e)),
    }
}

fn seq_of(path: &str) -> Option<u64> {
    path.rsplit('-').next()?.parse().ok()
}

pub async fn observe(ctx: &Ctx) -> (Kind, Value) {
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let opts = ConnectOptions {
        timeout_ms: ctx.session_timeout_ms,
        connect_timeout: Duration::from_secs(2),
        events: Some(tx),
        ..ConnectOptions::default()
    };
    let o = match Client::connect(&ctx.addrs[ctx.home], opts).await {
        Ok((o, _)) => o,
        Err(e) => return (Kind::Fail, json!(e.to_string())),
    };
    if let Err(e) = o.add_watch("/jepsen/watch", PERSISTENT_RECURSIVE).await {
        return (Kind::Fail, json!(format!("addWatch: {e}")));
    }
    let mut seen = Vec::new();
    let until = tokio::time::Instant::now() + OBSERVE_FOR;
    let mut dropped = false;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) if ev.event_type == NODE_CREATED => {
                    if let Some(n) = ev.path.as_deref().and_then(seq_of) {
                        seen.push(n);
                    }
                }
                // A state change (the connection went): the list ends here.
                Some(ev) if ev.event_type == -1 && ev.state != 3 => { dropped = true; break; }
                Some(_) => {}
                None => { dropped = true; break; }
            },
            _ = tokio::time::sleep_until(until) => break,
        }
        if o.is_closed() {
            dropped = true;
            break;
        }
    }
    let _ = o.close().await;
    (Kind::Ok, json!({"seen": seen, "dropped": dropped}))
}
