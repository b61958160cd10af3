//! Linearizability of registers (read, write, compare-and-set), one register per key: the
//! Wing–Gong–Lowe search. Operations are laid out as call and return entries in time order;
//! the search linearizes the first call whose effect the register allows, lifting it out of
//! the list, and backtracks when it meets the return of an operation it has not linearized.
//! A cache of (linearized set, register value) pairs already explored prunes repeats (Lowe's
//! memoisation), and keys are checked separately (P-compositionality).
//!
//! `fail` operations never happened and are dropped; an `info` write or cas may have happened
//! at any time after its invocation, or never: it has no return entry, so nothing forces it
//! in; an `info` read constrains nothing and is dropped. The register starts as `null`.
//! Must never: call a history linearizable that is not (a bounded search that gives up says
//! "unknown", never "valid").

use super::{Validity, Verdict};
use crate::history::{Kind, Op};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Steps the search may take per key before it answers "unknown".
pub const DEFAULT_BUDGET: u64 = 20_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RegOp {
    Read(u32),
    Write(u32),
    Cas(u32, u32),
}

impl RegOp {
    fn step(self, state: u32) -> Option<u32> {
        match self {
            RegOp::Read(v) => (state == v).then_some(state),
            RegOp::Write(v) => Some(v),
            RegOp::Cas(e, n) => (state == e).then_some(n),
        }
    }
}

/// Values as small numbers (compared by their JSON text).
#[derive(Default)]
struct Values {
    ids: HashMap<String, u32>,
}

impl Values {
    fn id(&mut self, v: &Value) -> u32 {
        let n = self.ids.len() as u32;
        *self.ids.entry(v.to_string()).or_insert(n)
    }
}

/// The outcome for one key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyResult {
    Linearizable,
    /// Not linearizable: the operation the longest linearizable prefix could not be extended
    /// past (index into the key's operations).
    Not {
        stuck: usize,
    },
    /// The search gave up after its budget.
    Unknown,
}

/// Checks one key's operations (all of one register), which starts as `null`.
pub fn check_key(ops: &[Op], budget: u64) -> KeyResult {
    check_key_from(ops, budget, &Value::Null)
}

/// Checks one key's operations with the register starting as `initial`.
pub fn check_key_from(ops: &[Op], budget: u64, initial: &Value) -> KeyResult {
    let mut values = Values::default();
    let init = values.id(initial);
    // The operations that take part, as register operations.
    let mut parts: Vec<(usize, RegOp)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let r = match (op.f.as_str(), op.outcome) {
            (_, Kind::Fail) | (_, Kind::Invoke) => continue,
            ("read", Kind::Ok) => RegOp::Read(values.id(&op.result)),
            ("read", _) => continue,
            ("write", _) => RegOp::Write(values.id(&op.arg)),
            ("cas", _) => match op.arg.as_array().map(Vec::as_slice) {
                Some([e, n]) => RegOp::Cas(values.id(e), values.id(n)),
                _ => continue,
            },
            _ => continue,
        };
        parts.push((i, r));
    }
    // Entries: (time, 0 = call / 1 = return, part). Calls sort before returns at one time:
    // operations that touch at an instant count as concurrent (the lenient reading).
    let mut entries: Vec<(u64, u8, usize)> = Vec::new();
    for (p, (i, _)) in parts.iter().enumerate() {
        entries.push((ops[*i].invoked, 0, p));
        if let Some(t) = ops[*i].completed {
            entries.push((t, 1, p));
        }
    }
    entries.sort_unstable();
    let n = entries.len();
    // A doubly linked list over the entries with a head sentinel at `n`.
    const NIL: usize = usize::MAX;
    let head = n;
    let mut next: Vec<usize> = (1..=n).map(|i| if i == n { NIL } else { i }).collect();
    next.push(if n == 0 { NIL } else { 0 });
    let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { head } else { i - 1 }).collect();
    prev.push(NIL);
    let mut ret_of: Vec<Option<usize>> = vec![None; parts.len()];
    for (e, &(_, kind, p)) in entries.iter().enumerate() {
        if kind == 1 {
            ret_of[p] = Some(e);
        }
    }
    let unlink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        let (p, nx) = (prev[e], next[e]);
        next[p] = nx;
        if nx != NIL {
            prev[nx] = p;
        }
    };
    let relink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        let (p, nx) = (prev[e], next[e]);
        next[p] = e;
        if nx != NIL {
            prev[nx] = e;
        }
    };
    let words = parts.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, u32)> = HashSet::new();
    let mut stack: Vec<(usize, u32)> = Vec::new();
    let mut state = init;
    let mut returns_left = ret_of.iter().filter(|r| r.is_some()).count();
    let mut entry = next[head];
    let mut steps = 0u64;
    // The deepest point reached, and the return it could not get past there.
    let mut best = (0usize, None::<usize>);
    while returns_left > 0 {
        steps += 1;
        if steps > budget {
            return KeyResult::Unknown;
        }
        let (_, kind, p) = entries[entry];
        if kind == 0 {
            let (_, op) = parts[p];
            if let Some(s2) = op.step(state) {
                linearized[p / 64] |= 1 << (p % 64);
                if cache.insert((linearized.clone(), s2)) {
                    stack.push((entry, state));
                    state = s2;
                    unlink(&mut next, &mut prev, entry);
                    if let Some(r) = ret_of[p] {
                        unlink(&mut next, &mut prev, r);
                        returns_left -= 1;
                    }
                    entry = next[head];
                    continue;
                }
                linearized[p / 64] &= !(1 << (p % 64));
            }
            entry = next[entry];
        } else {
            if stack.len() >= best.0 {
                best = (stack.len(), Some(p));
            }
            let Some((call, s)) = stack.pop() else {
                let stuck = best.1.map_or(0, |p| parts[p].0);
                return KeyResult::Not { stuck };
            };
            let (_, _, cp) = entries[call];
            linearized[cp / 64] &= !(1 << (cp % 64));
            state = s;
            if let Some(r) = ret_of[cp] {
                relink(&mut next, &mut prev, r);
                returns_left += 1;
            }
            relink(&mut next, &mut prev, call);
            entry = next[call];
        }
    }
    KeyResult::Linearizable
}

/// Checks a register history: every key separately.
pub fn check(workload: &str, ops: &[Op], budget: u64) -> Verdict {
    let mut by_key: BTreeMap<String, Vec<Op>> = BTreeMap::new();
    for op in ops {
        let k = op.key.as_ref().map_or("null".to_string(), Value::to_string);
        by_key.entry(k).or_default().push(op.clone());
    }
    let mut v = Verdict::new(workload);
    let mut unknown = Vec::new();
    for (key, kops) in &by_key {
        match check_key(kops, budget) {
            KeyResult::Linearizable => {}
            KeyResult::Unknown => unknown.push(key.clone()),
            KeyResult::Not { stuck } => {
                v.validity = Validity::Invalid;
                v.anomalies.push(match super::witness::witness(kops, stuck) {
                    Some(w) => format!(
                        "key {key}: not linearizable; a minimal witness (no order of just these \
                         operations works, whatever the value before them; every write or cas \
                         overlapping them is among them):\n{}",
                        lines(kops, &w, stuck)
                    ),
                    None => format!(
                        "key {key}: not linearizable; no order of the operations explains this one:\n{}",
                        excerpt(kops, stuck)
                    ),
                });
            }
        }
    }
    let n = ops.iter().filter(|o| o.outcome == Kind::Ok).count();
    if v.validity == Validity::Valid && !unknown.is_empty() {
        v.validity = Validity::Unknown;
        v.anomalies.push(format!("the search gave up (budget {budget} steps) on keys {}", unknown.join(", ")));
    }
    v.summary = format!("{} keys, {} operations ({} ok)", by_key.len(), ops.len(), n);
    v
}

/// The operation the search could not place, the operations overlapping it in time, and the
/// last three writes that completed before it was invoked.
pub fn excerpt(ops: &[Op], stuck: usize) -> String {
    let s = &ops[stuck];
    let end = s.completed.unwrap_or(u64::MAX);
    let mut picked: Vec<usize> = (0..ops.len())
        .filter(|&i| {
            let o = &ops[i];
            o.may_have_happened() && o.invoked <= end && o.completed.unwrap_or(u64::MAX) >= s.invoked
        })
        .collect();
    let mut before: Vec<usize> = (0..ops.len())
        .filter(|&i| {
            let o = &ops[i];
            o.outcome == Kind::Ok && o.f != "read" && o.completed.is_some_and(|c| c < s.invoked)
        })
        .collect();
    before.sort_by_key(|&i| ops[i].completed);
    picked.extend(before.iter().rev().take(3));
    picked.sort_unstable();
    picked.dedup();
    lines(ops, &picked, stuck)
}

/// One line per operation picked, the stuck one marked.
pub fn lines(ops: &[Op], picked: &[usize], stuck: usize) -> String {
    picked
        .iter()
        .map(|&i| {
            let o = &ops[i];
            let what = if o.f == "read" { o.result.to_string() } else { o.arg.to_string() };
            let done = o.completed.map_or("never (info)".into(), |t| format!("{:.3} ms", t as f64 / 1e6));
            format!(
                "  {}process {} {} {} {:?}: invoked {:.3} ms, completed {}",
                if i == stuck { "=> " } else { "   " },
                o.process,
                o.f,
                what,
                o.outcome,
                o.invoked as f64 / 1e6,
                done
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An operation of process `p` from `t0` to `t1` (None: info).
    fn op(p: u64, f: &str, arg: Value, result: Value, t0: u64, t1: Option<u64>) -> Op {
        Op {
            process: p,
            f: f.into(),
            key: Some(json!(1)),
            arg,
            result,
            invoked: t0,
            completed: t1,
            outcome: if t1.is_some() { Kind::Ok } else { Kind::Info },
            index: 0,
            answer: serde_json::Value::Null,
        }
    }
    fn w(p: u64, v: i64, t0: u64, t1: u64) -> Op {
        op(p, "write", json!(v), Value::Null, t0, Some(t1))
    }
    fn r(p: u64, v: Value, t0: u64, t1: u64) -> Op {
        op(p, "read", Value::Null, v, t0, Some(t1))
    }
    fn cas(p: u64, e: i64, n: i64, t0: u64, t1: Option<u64>) -> Op {
        op(p, "cas", json!([e, n]), Value::Null, t0, t1)
    }
    fn lin(ops: &[Op]) -> bool {
        match check_key(ops, DEFAULT_BUDGET) {
            KeyResult::Linearizable => true,
            KeyResult::Not { .. } => false,
            KeyResult::Unknown => panic!("unknown"),
        }
    }

    #[test]
    fn sequential_and_concurrent_histories_that_are_linearizable() {
        assert!(lin(&[]));
        assert!(lin(&[r(0, Value::Null, 0, 1), w(0, 1, 2, 3), r(1, json!(1), 4, 5)]));
        // A read concurrent with a write may see either value.
        assert!(lin(&[w(0, 1, 0, 10), r(1, Value::Null, 1, 2), r(2, json!(1), 3, 4)]));
        assert!(lin(&[w(0, 1, 0, 1), cas(1, 1, 2, 2, Some(3)), r(2, json!(2), 4, 5)]));
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        // The write completed before the read began, yet the read saw the old value.
        let h = [w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, json!(1), 4, 5)];
        assert_eq!(check_key(&h, DEFAULT_BUDGET), KeyResult::Not { stuck: 2 });
    }

    #[test]
    fn reads_that_go_back_in_time_are_caught() {
        // Two reads, both concurrent with the write, but the later one sees the older value.
        let h = [w(0, 1, 0, 100), r(1, json!(1), 10, 20), r(2, Value::Null, 30, 40)];
        assert!(!lin(&h));
    }

    #[test]
    fn a_value_nobody_wrote_is_caught() {
        assert!(!lin(&[w(0, 1, 0, 1), r(1, json!(7), 2, 3)]));
    }

    #[test]
    fn two_successful_cas_from_the_same_value_are_caught() {
        let h = [w(0, 1, 0, 1), cas(1, 1, 2, 2, Some(10)), cas(2, 1, 3, 3, Some(11))];
        assert!(!lin(&h));
    }

    #[test]
    fn an_info_write_may_have_happened_or_not() {
        // Applied: a later read sees it.
        assert!(lin(&[op(0, "write", json!(5), Value::Null, 0, None), r(1, json!(5), 10, 11)]));
        // Not applied: a later read does not.
        assert!(lin(&[op(0, "write", json!(5), Value::Null, 0, None), r(1, Value::Null, 10, 11)]));
        // But it cannot have happened before it was invoked.
        assert!(!lin(&[r(1, json!(5), 0, 1), op(0, "write", json!(5), Value::Null, 2, None)]));
        // And once seen, it stays.
        assert!(!lin(&[
            op(0, "write", json!(5), Value::Null, 0, None),
            r(1, json!(5), 10, 11),
            r(1, Value::Null, 12, 13)
        ]));
    }

    #[test]
    fn failed_operations_never_happened() {
        let mut failed = w(0, 9, 0, 1);
        failed.outcome = Kind::Fail;
        assert!(!lin(&[failed.clone(), r(1, json!(9), 2, 3)]));
        assert!(lin(&[failed, r(1, Value::Null, 2, 3)]));
    }

    #[test]
    fn keys_are_checked_separately_and_the_anomaly_names_its_key_and_operation() {
        let mut h = vec![w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, json!(1), 4, 5)];
        let mut other = w(3, 1, 0, 1);
        other.key = Some(json!(2));
        h.push(other);
        let v = check("register", &h, DEFAULT_BUDGET);
        assert_eq!(v.validity, Validity::Invalid);
        assert_eq!(v.anomalies.len(), 1);
        assert!(v.anomalies[0].starts_with("key 1: not linearizable"), "{}", v.anomalies[0]);
        assert!(v.anomalies[0].contains("=> process 1 read 1"), "{}", v.anomalies[0]);
    }

    #[test]
    fn a_long_concurrent_history_is_decided_quickly_thanks_to_the_cache() {
        // 12 processes, 40 rounds: each round all write concurrently, then all read the value
        // one of them wrote (any of them could have been last).
        let mut h = Vec::new();
        let mut t = 0;
        for round in 0..40i64 {
            for p in 0..12 {
                h.push(w(p, round * 100 + p as i64, t, t + 50));
            }
            t += 60;
            for p in 0..12 {
                h.push(r(p, json!(round * 100 + 7), t, t + 5));
            }
            t += 10;
        }
        assert!(lin(&h));
        // One stale read at the end breaks it.
        h.push(r(0, json!(107), t + 1, t + 2));
        assert!(!lin(&h));
    }

    #[test]
    fn a_search_past_its_budget_says_unknown_not_valid() {
        let h = [w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, json!(2), 11, 12)];
        assert_eq!(check_key(&h, 1), KeyResult::Unknown);
        let v = check("register", &h, 1);
        assert_eq!(v.validity, Validity::Unknown);
    }
}
