//! The set workload's checker: unique elements are added (`add`, value = the element), and a
//! final `read` (value = every element present) ends the run. Valid when every acknowledged
//! add is in the final read (none lost) and every element read was added by someone (none
//! invented); adds that ended `info` may be present or not.
//! Must never: count an add as lost when no final read completed (that is "unknown").

use super::{Validity, Verdict};
use crate::history::{Kind, Op};
use serde_json::Value;
use std::collections::BTreeSet;

pub fn check(workload: &str, ops: &[Op]) -> Verdict {
    let mut v = Verdict::new(workload);
    let key = |x: &Value| x.to_string();
    let acknowledged: BTreeSet<String> =
        ops.iter().filter(|o| o.f == "add" && o.outcome == Kind::Ok).map(|o| key(&o.arg)).collect();
    let attempted: BTreeSet<String> =
        ops.iter().filter(|o| o.f == "add" && o.may_have_happened()).map(|o| key(&o.arg)).collect();
    let final_read = ops.iter().filter(|o| o.f == "read" && o.outcome == Kind::Ok).max_by_key(|o| o.completed);
    let Some(read) = final_read else {
        v.validity = Validity::Unknown;
        v.summary = format!("{} adds acknowledged, no final read completed", acknowledged.len());
        return v;
    };
    let Some(items) = read.result.as_array() else {
        v.validity = Validity::Unknown;
        v.summary = "the final read's value is not a list".into();
        return v;
    };
    let present: BTreeSet<String> = items.iter().map(key).collect();
    let lost: Vec<&String> = acknowledged.difference(&present).collect();
    let invented: Vec<&String> = present.difference(&attempted).collect();
    let recovered = present.iter().filter(|x| !acknowledged.contains(*x)).count();
    if !lost.is_empty() {
        v.validity = Validity::Invalid;
        v.anomalies.push(format!("{} acknowledged adds lost: {}", lost.len(), shorten(&lost)));
    }
    if !invented.is_empty() {
        v.validity = Validity::Invalid;
        v.anomalies.push(format!("{} elements read that nobody added: {}", invented.len(), shorten(&invented)));
    }
    v.summary = format!(
        "{} adds acknowledged, {} present in the final read ({} of them from adds that ended unknown)",
        acknowledged.len(),
        present.len(),
        recovered
    );
    v
}

fn shorten(xs: &[&String]) -> String {
    let mut s: Vec<&str> = xs.iter().take(20).map(|x| x.as_str()).collect();
    if xs.len() > 20 {
        s.push("…");
    }
    s.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(f: &str, arg: Value, result: Value, outcome: Kind, t: u64) -> Op {
        Op {
            process: 0,
            f: f.into(),
            key: None,
            arg,
            result,
            invoked: t,
            completed: (outcome != Kind::Info).then_some(t + 1),
            outcome,
            index: 0,
            answer: serde_json::Value::Null,
        }
    }

    #[test]
    fn every_acknowledged_add_present_is_valid_and_unknown_adds_may_show() {
        let h = [
            op("add", json!(1), Value::Null, Kind::Ok, 0),
            op("add", json!(2), Value::Null, Kind::Info, 2),
            op("add", json!(3), Value::Null, Kind::Fail, 4),
            op("read", Value::Null, json!([1, 2]), Kind::Ok, 10),
        ];
        let v = check("set", &h);
        assert_eq!(v.validity, Validity::Valid, "{}", v.report());
        assert!(v.summary.contains("1 of them from adds that ended unknown"), "{}", v.summary);
    }

    #[test]
    fn a_lost_add_and_an_invented_element_are_caught() {
        let h = [
            op("add", json!(1), Value::Null, Kind::Ok, 0),
            op("add", json!(2), Value::Null, Kind::Ok, 2),
            op("add", json!(3), Value::Null, Kind::Fail, 4),
            op("read", Value::Null, json!([2, 3, 9]), Kind::Ok, 10),
        ];
        let v = check("set", &h);
        assert_eq!(v.validity, Validity::Invalid);
        assert_eq!(v.anomalies[0], "1 acknowledged adds lost: 1");
        assert_eq!(v.anomalies[1], "2 elements read that nobody added: 3, 9");
    }

    #[test]
    fn no_final_read_is_unknown() {
        let h = [op("add", json!(1), Value::Null, Kind::Ok, 0), op("read", Value::Null, Value::Null, Kind::Info, 5)];
        assert_eq!(check("set", &h).validity, Validity::Unknown);
    }
}
