//! The checkpoint-registry workload: processes act as JobManagers of one job
//! (`/checkpoints/jepsen`). A process whose session holds the writer's lease
//! (`/checkpoints/jepsen/leader`, ephemeral) commits the next checkpoint id with the lease's
//! czxid as epoch (a multi: check the lease, create `completed/<id>`). A process that lost its
//! session (a timeout, a lost connection: its old session is abandoned) still remembers its
//! old epoch and — a zombie JobManager — tries one commit with it on its new session before
//! it competes for the lease again; that commit must be refused, whatever the faults.
//! `commit`'s key is 0 and its value what the process believes: `{"epoch": E}` or null; its
//! result says what it did: `{"id", "epoch"}`, with `"zombie": true` for a zombie attempt.
//! The final `read` lists the completed ids and `latest`'s.
//! Must never: call a zombie attempt anything but what the server answered.

use crate::history::Kind;
use crate::workload::outcome;
use serde_json::{json, Value};
use zabkeeper::client::{Client, ClientError};
use zabkeeper::prep::parse_name;
use zabkeeper::proto::records::CreateTtlRequest;
use zabkeeper::proto::request::MultiOp;
use zabkeeper::proto::{ErrorCode, PathVersionRequest};

pub const JOB: &str = "/checkpoints/jepsen";
const EPHEMERAL: i32 = 1;

fn lease() -> String {
    format!("{JOB}/leader")
}

fn completed() -> String {
    format!("{JOB}/completed")
}

/// The registry root and the job (`retain` 5); the job's `completed` too, which our server
/// creates with the job and Apache ZooKeeper (no registry) does not.
pub async fn setup(c: &Client) -> Result<(), ClientError> {
    for (p, data) in
        [("/checkpoints", None), (JOB, Some(&br#"{"retain": 5, "name": "zkjepsen"}"#[..])), (&completed(), None)]
    {
        match c.create(p, data, None, 0, 0).await {
            Ok(_) | Err(ClientError::Server(ErrorCode::NodeExists)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The newest completed id (0: none), from the children (also right where `latest` is not
/// kept, on Apache ZooKeeper).
async fn newest(c: &Client) -> Result<u64, ClientError> {
    let (names, _) = c.get_children(&completed(), false).await?;
    Ok(names.iter().filter_map(|n| parse_name(n)).max().unwrap_or(0))
}

/// One JobManager step (see the module doc).
pub async fn commit(c: &Client, believed: &Value) -> (Kind, Value) {
    let old_epoch = believed.get("epoch").and_then(Value::as_i64);
    // A step that fails before it commits leaves the process's belief as it was.
    let unchanged = |e: ClientError| (Kind::Fail, json!({"epoch": old_epoch, "error": e.to_string()}));
    let held = match c.exists(&lease(), false).await {
        Ok(s) => s,
        Err(e) => return unchanged(e),
    };
    let (epoch, zombie) = match (held.as_ref().filter(|s| s.ephemeral_owner == c.session_id), old_epoch) {
        (Some(s), _) => (s.czxid, false),
        (None, Some(old)) => (old, true),
        (None, None) if held.is_some() => return (Kind::Fail, json!({"epoch": null, "lease": "held by another"})),
        (None, None) => match c.create(&lease(), Some(b"zkjepsen"), None, EPHEMERAL, 0).await {
            Ok((_, s)) => (s.czxid, false),
            Err(ClientError::Server(ErrorCode::NodeExists)) => return (Kind::Fail, json!({"epoch": null})),
            Err(e) => {
                // Whether the lease was taken is unknown; this process starts over as a new one.
                let (kind, v) = outcome(Err(e));
                return (kind, json!({"epoch": null, "error": v}));
            }
        },
    };
    let id = match newest(c).await {
        Ok(n) => n + 1,
        Err(e) if zombie => return unchanged(e),
        Err(e) => return (Kind::Fail, json!({"epoch": epoch, "error": e.to_string()})),
    };
    let data = json!({"id": id, "location": format!("file:///zkjepsen/chk-{id}"), "size": id * 10, "epoch": epoch});
    let ops = [
        MultiOp::Check(PathVersionRequest { path: lease(), version: -1 }),
        MultiOp::Create {
            op: zabkeeper::proto::codes::op::CREATE,
            req: CreateTtlRequest {
                path: format!("{}/{}", completed(), zabkeeper::prep::checkpoint_name(id)),
                data: Some(data.to_string().into_bytes().into()),
                acl: vec![zabkeeper::proto::records::Acl::new(31, "world", "anyone")],
                flags: 0,
                ttl: 0,
            },
        },
    ];
    match c.multi(&ops).await {
        Ok(_) if zombie => (Kind::Ok, json!({"id": id, "epoch": epoch, "zombie": true})),
        Ok(_) => (Kind::Ok, json!({"id": id, "epoch": epoch})),
        // Refused: a zombie gives up its belief; a holder keeps its lease (another id next).
        Err((ClientError::Server(code), _)) => {
            let believes = if zombie { Value::Null } else { json!(epoch) };
            (Kind::Fail, json!({"epoch": believes, "refused": code.code(), "zombie": zombie, "id": id}))
        }
        Err((e, _)) => {
            let believes = if zombie { Value::Null } else { json!(epoch) };
            (Kind::Info, json!({"epoch": believes, "id": id, "zombie": zombie, "error": e.to_string()}))
        }
    }
}

/// The final read: every completed id and `latest`'s.
pub async fn read(c: &Client) -> (Kind, Value) {
    if let Err(e) = c.sync(JOB).await {
        return (Kind::Fail, json!(e.to_string()));
    }
    let (names, _) = match c.get_children(&completed(), false).await {
        Ok(r) => r,
        Err(e) => return (Kind::Fail, json!(e.to_string())),
    };
    let mut ids: Vec<u64> = names.iter().filter_map(|n| parse_name(n)).collect();
    ids.sort_unstable();
    let latest = match c.get_data(&format!("{JOB}/latest"), false).await {
        Ok((d, _)) => d.and_then(|d| serde_json::from_slice::<Value>(&d).ok()).and_then(|v| v.get("id").cloned()),
        Err(ClientError::Server(ErrorCode::NoNode)) => None,
        Err(e) => return (Kind::Fail, json!(e.to_string())),
    };
    (Kind::Ok, json!({"completed": ids, "latest": latest}))
}
