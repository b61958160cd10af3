//! The sessions workload's checker: every `expire` that completed must have found the
//! ephemeral gone on every member it could reach once it was seen gone on one; every `move`
//! that completed must have kept the ephemeral, owned by the moved session, on the member it
//! moved to. Operations that failed or ended unknown claim nothing.
//! Must never: count an unreachable member as one still showing the ephemeral.

use super::{Validity, Verdict};
use crate::history::{Kind, Op};

pub fn check(workload: &str, ops: &[Op]) -> Verdict {
    let mut v = Verdict::new(workload);
    let (mut expired, mut moved) = (0, 0);
    for o in ops.iter().filter(|o| o.outcome == Kind::Ok) {
        match o.f.as_str() {
            "expire" => {
                expired += 1;
                let still = o.result.get("still_on").and_then(|s| s.as_array()).map_or(0, Vec::len);
                if still > 0 {
                    v.anomalies.push(format!(
                        "session {} of process {}: its ephemeral still on members {} after it vanished elsewhere",
                        o.arg, o.process, o.result["still_on"]
                    ));
                }
            }
            "move" => {
                moved += 1;
                let kept = o.result.get("kept").and_then(|k| k.as_bool()) == Some(true);
                let owner = o.result.get("owner_ok").and_then(|k| k.as_bool()) == Some(true);
                if !kept || !owner {
                    v.anomalies.push(format!(
                        "session {} of process {}: moved to another member, {}",
                        o.arg,
                        o.process,
                        if !kept { "its ephemeral vanished while it lived" } else { "its ephemeral changed owner" }
                    ));
                }
            }
            _ => {}
        }
    }
    if !v.anomalies.is_empty() {
        v.validity = Validity::Invalid;
    }
    v.summary = format!("{expired} sessions expired, {moved} sessions moved");
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn op(f: &str, result: Value) -> Op {
        super::super::ok_op(f, json!(7), result)
    }

    #[test]
    fn vanished_everywhere_and_kept_after_a_move_is_valid() {
        let h = [
            op("expire", json!({"gone_after_ms": 5000, "still_on": [], "unreachable": [3]})),
            op("move", json!({"kept": true, "owner_ok": true})),
        ];
        assert_eq!(check("sessions", &h).validity, Validity::Valid);
    }

    #[test]
    fn an_ephemeral_left_on_a_member_or_lost_after_a_move_is_caught() {
        let v = check("sessions", &[op("expire", json!({"gone_after_ms": 1, "still_on": [2], "unreachable": []}))]);
        assert_eq!(v.validity, Validity::Invalid);
        assert!(v.anomalies[0].contains("still on members [2]"), "{}", v.report());
        let v = check("sessions", &[op("move", json!({"kept": false, "owner_ok": true}))]);
        assert!(v.anomalies[0].contains("vanished while it lived"), "{}", v.report());
    }
}
