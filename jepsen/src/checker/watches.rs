//! The watches workload's checker: each observer's list of child creations must go up by
//! exactly one each time (zxid order, none skipped while its connection lasted) and hold only
//! numbers some writer's create may have produced (none invented).
//! Must never: judge a list against creates that ended `fail` (they never happened).

use super::{Validity, Verdict};
use crate::history::{Kind, Op};
use std::collections::HashSet;

pub fn check(workload: &str, ops: &[Op]) -> Verdict {
    let mut v = Verdict::new(workload);
    let possible: HashSet<u64> =
        ops.iter().filter(|o| o.f == "create" && o.outcome == Kind::Ok).filter_map(|o| o.result.as_u64()).collect();
    let unknown = ops.iter().filter(|o| o.f == "create" && o.outcome == Kind::Info).count();
    let (mut lists, mut events) = (0, 0);
    for o in ops.iter().filter(|o| o.f == "observe" && o.outcome == Kind::Ok) {
        lists += 1;
        let seen: Vec<u64> =
            o.result.get("seen").and_then(|s| s.as_array()).into_iter().flatten().filter_map(|x| x.as_u64()).collect();
        events += seen.len();
        for w in seen.windows(2) {
            if w[1] != w[0] + 1 {
                v.anomalies.push(format!(
                    "process {}'s watch saw creation {} then {}: {}",
                    o.process,
                    w[0],
                    w[1],
                    if w[1] <= w[0] { "out of zxid order" } else { "skipped the ones between" }
                ));
                break;
            }
        }
        // A number nobody was told about may still come from a create that ended unknown;
        // only numbers beyond every create that may have happened are invented.
        let invented: Vec<u64> = seen.iter().copied().filter(|n| !possible.contains(n)).collect();
        if invented.len() > unknown {
            v.anomalies.push(format!("process {}'s watch reported creations nobody made: {invented:?}", o.process));
        }
    }
    if !v.anomalies.is_empty() {
        v.validity = Validity::Invalid;
    }
    v.summary = format!("{} creates acknowledged, {lists} watches observed {events} creations", possible.len());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn op(f: &str, result: Value) -> Op {
        super::super::ok_op(f, Value::Null, result)
    }

    #[test]
    fn contiguous_increasing_lists_of_real_creations_are_valid() {
        let h =
            [op("create", json!(4)), op("create", json!(5)), op("observe", json!({"seen": [4, 5], "dropped": false}))];
        assert_eq!(check("watches", &h).validity, Validity::Valid);
    }

    #[test]
    fn a_skipped_a_reordered_and_an_invented_creation_are_caught() {
        let creates = [op("create", json!(1)), op("create", json!(2)), op("create", json!(3))];
        let mut h = creates.to_vec();
        h.push(op("observe", json!({"seen": [1, 3]})));
        assert!(check("watches", &h).anomalies[0].contains("skipped"));
        let mut h = creates.to_vec();
        h.push(op("observe", json!({"seen": [2, 1]})));
        assert!(check("watches", &h).anomalies[0].contains("out of zxid order"));
        let mut h = creates.to_vec();
        h.push(op("observe", json!({"seen": [3, 4]})));
        let v = check("watches", &h);
        assert_eq!(v.validity, Validity::Invalid);
        assert!(v.anomalies[0].contains("nobody made: [4]"), "{}", v.report());
    }
}
