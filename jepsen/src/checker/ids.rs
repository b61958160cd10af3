//! Unique, ordered numbers: the ids workload (sequential znodes' numbers) and the lock
//! workload (the fencing token each holder writes under the lock). Valid when no number was
//! handed out twice and numbers follow real time: an operation that completed before another
//! was invoked got the smaller number. The lock workload also reports overlaps (a holder's
//! versioned token write found the token changed under it while its lock node still existed):
//! each is two holders at once.
//! Must never: compare an operation that did not complete `ok`.

use super::{Validity, Verdict};
use crate::history::{Kind, Op};
use std::collections::HashMap;

pub fn check(workload: &str, ops: &[Op]) -> Verdict {
    let mut v = Verdict::new(workload);
    let mut done: Vec<(&Op, u64)> = Vec::new();
    let mut overlaps = 0;
    for o in ops.iter().filter(|o| o.outcome == Kind::Ok) {
        if o.result.get("overlap").is_some() {
            overlaps += 1;
            if overlaps <= 5 {
                v.anomalies.push(format!(
                    "two holders at once: process {}'s token write (invoked {:.3} ms) found another holder's",
                    o.process,
                    o.invoked as f64 / 1e6
                ));
            }
            continue;
        }
        match o.result.as_u64() {
            Some(n) => done.push((o, n)),
            None => v.anomalies.push(format!("process {}: an ok {} without a number: {}", o.process, o.f, o.result)),
        }
    }
    let mut seen: HashMap<u64, &Op> = HashMap::new();
    let mut duplicates = 0;
    for (o, n) in &done {
        if let Some(first) = seen.insert(*n, o) {
            duplicates += 1;
            if duplicates <= 5 {
                v.anomalies.push(format!("{n} handed out twice: to processes {} and {}", first.process, o.process));
            }
        }
    }
    // Real time: sweep invocations in order, knowing the largest number of every operation
    // completed before each.
    let mut by_completion: Vec<(u64, u64, u64)> =
        done.iter().map(|(o, n)| (o.completed.expect("ok has a completion"), *n, o.process)).collect();
    by_completion.sort_unstable();
    let mut by_invocation: Vec<(u64, u64, u64)> = done.iter().map(|(o, n)| (o.invoked, *n, o.process)).collect();
    by_invocation.sort_unstable();
    let (mut i, mut max_before): (usize, Option<(u64, u64)>) = (0, None);
    let mut inversions = 0;
    for (invoked, n, p) in by_invocation {
        while i < by_completion.len() && by_completion[i].0 < invoked {
            let (_, m, q) = by_completion[i];
            if max_before.is_none_or(|(x, _)| m > x) {
                max_before = Some((m, q));
            }
            i += 1;
        }
        if let Some((m, q)) = max_before {
            if n <= m {
                inversions += 1;
                if inversions <= 5 {
                    v.anomalies.push(format!(
                        "process {p} got {n} after process {q}'s {m} had completed (numbers went back in time)"
                    ));
                }
            }
        }
    }
    if overlaps + duplicates + inversions > 0 || !v.anomalies.is_empty() {
        v.validity = Validity::Invalid;
    }
    v.summary = format!(
        "{} numbers handed out, {duplicates} duplicates, {inversions} out of real-time order, {overlaps} overlapping holders",
        done.len()
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn op(p: u64, n: Value, t0: u64, t1: u64) -> Op {
        Op {
            process: p,
            f: "generate".into(),
            key: None,
            arg: Value::Null,
            result: n,
            invoked: t0,
            completed: Some(t1),
            outcome: Kind::Ok,
            index: 0,
            answer: serde_json::Value::Null,
        }
    }

    #[test]
    fn unique_numbers_in_real_time_order_are_valid_and_concurrent_ones_may_cross() {
        let h = [op(0, json!(1), 0, 10), op(1, json!(3), 5, 8), op(2, json!(2), 6, 12), op(0, json!(4), 13, 14)];
        let v = check("ids", &h);
        assert_eq!(v.validity, Validity::Valid, "{}", v.report());
    }

    #[test]
    fn duplicates_inversions_and_overlaps_are_caught() {
        let dup = check("ids", &[op(0, json!(1), 0, 1), op(1, json!(1), 2, 3)]);
        assert_eq!(dup.validity, Validity::Invalid);
        assert!(dup.anomalies.iter().any(|a| a.contains("handed out twice")), "{}", dup.report());
        let back = check("ids", &[op(0, json!(5), 0, 1), op(1, json!(4), 2, 3)]);
        assert!(back.anomalies.iter().any(|a| a.contains("went back in time")), "{}", back.report());
        let overlap = check("lock", &[op(0, json!({"overlap": true}), 0, 1)]);
        assert_eq!(overlap.validity, Validity::Invalid);
        assert!(overlap.anomalies[0].starts_with("two holders at once"), "{}", overlap.report());
    }
}
