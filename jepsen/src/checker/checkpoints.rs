//! The checkpoint-registry workload's checker. Valid when: no zombie commit (an old epoch
//! from a session that lost the lease) was acknowledged; acknowledged checkpoint ids are
//! unique and follow real time (the ids checker); in id order their epochs never go back
//! (nobody committed with an older lease after a newer one); and the final read holds every
//! acknowledged id that retention keeps (those above the oldest kept), nothing that was never
//! attempted, and `latest` (where the server keeps it) names the newest.
//! Must never: treat an `info` commit as certainly applied or certainly not.

use super::{ids, Validity, Verdict};
use crate::history::{Kind, Op};
use serde_json::Value;
use std::collections::BTreeSet;

pub fn check(workload: &str, ops: &[Op]) -> Verdict {
    let mut v = Verdict::new(workload);
    let commits: Vec<&Op> = ops.iter().filter(|o| o.f == "commit").collect();
    let id_of = |o: &Op| o.answer.get("id").and_then(Value::as_u64);
    let ok: Vec<&Op> = commits.iter().copied().filter(|o| o.outcome == Kind::Ok).collect();
    let zombies_tried = commits.iter().filter(|o| o.answer.get("zombie") == Some(&Value::Bool(true))).count();
    for o in ok.iter().filter(|o| o.result.get("zombie") == Some(&Value::Bool(true))) {
        v.anomalies.push(format!(
            "a zombie committed: process {} (a session that lost the lease) committed checkpoint {} with the old epoch 0x{:x} (invoked {:.3} ms)",
            o.process,
            id_of(o).unwrap_or(0),
            o.result.get("epoch").and_then(Value::as_i64).unwrap_or(0),
            o.invoked as f64 / 1e6
        ));
    }
    // Unique ids in real-time order: the ids checker on (id) results.
    let as_ids: Vec<Op> = ok
        .iter()
        .filter_map(|o| Some(Op { f: "commit".into(), result: Value::from(id_of(o)?), ..(*o).clone() }))
        .collect();
    let order = ids::check(workload, &as_ids);
    v.anomalies.extend(order.anomalies);
    // Epochs never go back in id order.
    let mut by_id: Vec<(u64, i64, u64)> =
        ok.iter().filter_map(|o| Some((id_of(o)?, o.result.get("epoch")?.as_i64()?, o.process))).collect();
    by_id.sort_unstable();
    for w in by_id.windows(2) {
        if w[1].1 < w[0].1 {
            v.anomalies.push(format!(
                "checkpoint {} (process {}) was committed with epoch 0x{:x}, older than checkpoint {}'s 0x{:x}",
                w[1].0, w[1].2, w[1].1, w[0].0, w[0].1
            ));
        }
    }
    let ok_ids: BTreeSet<u64> = by_id.iter().map(|x| x.0).collect();
    let maybe_ids: BTreeSet<u64> =
        commits.iter().filter(|o| o.outcome == Kind::Info).filter_map(|o| id_of(o)).collect();
    let Some(read) = ops.iter().rev().find(|o| o.f == "read" && o.outcome == Kind::Ok) else {
        v.validity = if v.anomalies.is_empty() { Validity::Unknown } else { Validity::Invalid };
        v.summary = format!("{} commits acknowledged, no final read", ok_ids.len());
        return v;
    };
    let kept: Vec<u64> = read
        .result
        .get("completed")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if let Some(&oldest) = kept.first() {
        let lost: Vec<u64> = ok_ids.iter().copied().filter(|i| *i >= oldest && !kept.contains(i)).take(10).collect();
        if !lost.is_empty() {
            v.anomalies.push(format!("acknowledged checkpoints missing from the final read: {lost:?}"));
        }
    }
    if let Some(&newest_ok) = ok_ids.iter().next_back() {
        if kept.last().is_none_or(|&n| n < newest_ok) {
            v.anomalies.push(format!("the newest acknowledged checkpoint {newest_ok} is not kept: {kept:?}"));
        }
    }
    let invented: Vec<u64> = kept.iter().copied().filter(|i| !ok_ids.contains(i) && !maybe_ids.contains(i)).collect();
    if !invented.is_empty() {
        v.anomalies.push(format!("checkpoints nobody committed (or was refused) are stored: {invented:?}"));
    }
    if let Some(latest) = read.result.get("latest").and_then(Value::as_u64) {
        if kept.last() != Some(&latest) {
            v.anomalies.push(format!("latest says {latest}, the newest kept is {:?}", kept.last()));
        }
    }
    v.validity = if v.anomalies.is_empty() { Validity::Valid } else { Validity::Invalid };
    v.summary = format!(
        "{} commits acknowledged, {} zombie attempts, {} kept at the end",
        ok_ids.len(),
        zombies_tried,
        kept.len()
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn commit(process: u64, at: u64, outcome: Kind, result: Value) -> Op {
        Op {
            process,
            f: "commit".into(),
            key: Some(json!(0)),
            arg: Value::Null,
            invoked: at,
            completed: (outcome != Kind::Info).then_some(at + 1),
            outcome,
            index: at,
            answer: result.clone(),
            result: if outcome == Kind::Ok { result } else { Value::Null },
        }
    }

    fn read(at: u64, completed: &[u64], latest: Option<u64>) -> Op {
        Op {
            process: 9,
            f: "read".into(),
            key: None,
            arg: Value::Null,
            result: json!({"completed": completed, "latest": latest}),
            invoked: at,
            completed: Some(at + 1),
            outcome: Kind::Ok,
            index: at,
            answer: Value::Null,
        }
    }

    #[test]
    fn a_clean_history_is_valid() {
        let ops = vec![
            commit(1, 10, Kind::Ok, json!({"id": 1, "epoch": 5})),
            commit(1, 20, Kind::Ok, json!({"id": 2, "epoch": 5})),
            commit(2, 30, Kind::Fail, json!({"epoch": null, "zombie": true, "id": 3, "refused": -102})),
            commit(3, 40, Kind::Ok, json!({"id": 3, "epoch": 9})),
            commit(3, 50, Kind::Info, json!({"id": 4, "epoch": 9, "error": "timed out"})),
            read(100, &[2, 3, 4], Some(4)),
        ];
        let v = check("checkpoints", &ops);
        assert_eq!(v.validity, Validity::Valid, "{}", v.report());
    }

    #[test]
    fn zombies_old_epochs_losses_and_inventions_are_flagged() {
        let zombie = vec![
            commit(1, 10, Kind::Ok, json!({"id": 1, "epoch": 9})),
            commit(2, 20, Kind::Ok, json!({"id": 2, "epoch": 5, "zombie": true})),
            read(100, &[1, 2], Some(2)),
        ];
        let v = check("checkpoints", &zombie);
        assert_eq!(v.validity, Validity::Invalid);
        assert!(v.report().contains("a zombie committed"), "{}", v.report());
        assert!(v.report().contains("older than checkpoint 1"), "{}", v.report());
        let lost = vec![
            commit(1, 10, Kind::Ok, json!({"id": 1, "epoch": 5})),
            commit(1, 20, Kind::Ok, json!({"id": 2, "epoch": 5})),
            commit(1, 30, Kind::Fail, json!({"id": 3, "epoch": 5, "refused": -101})),
            read(100, &[1, 3], Some(3)),
        ];
        let report = check("checkpoints", &lost).report();
        assert!(report.contains("missing from the final read: [2]"), "{report}");
        assert!(report.contains("nobody committed (or was refused) are stored: [3]"), "{report}");
        let reordered = vec![
            commit(1, 10, Kind::Ok, json!({"id": 5, "epoch": 5})),
            commit(1, 20, Kind::Ok, json!({"id": 4, "epoch": 5})),
            read(100, &[4, 5], Some(4)),
        ];
        let report = check("checkpoints", &reordered).report();
        assert!(report.contains("INVALID") && report.contains("latest says 4"), "{report}");
        let unread = vec![commit(1, 10, Kind::Ok, json!({"id": 1, "epoch": 5}))];
        assert_eq!(check("checkpoints", &unread).validity, Validity::Unknown);
    }
}
