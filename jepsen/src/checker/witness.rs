//! A small witness for a register that is not linearizable: a few operations that on their
//! own admit no order, whatever value the register held before them.
//!
//! Why such a subset proves the whole history wrong: take any window of time [a, b] and the
//! operations S in it, where S holds every write or cas (ok or info) that overlaps the window.
//! Any linearization of the whole history puts the writes that completed before `a` before
//! every operation of S, and the writes invoked after `b` after every completed one of S
//! (anything of S linearized later is an info operation, which may never have happened). So
//! the linearization restricted to S is an order of S from some starting value. Reads change
//! nothing: dropping one never turns a linearizable set into one that is not. The witness is
//! built from the anomaly's operation outwards until it admits no order from any starting
//! value, then shrunk (reads dropped freely, writes only at the window's edge).
//! Must never: offer a subset that could be explained (every candidate is re-checked from every
//! starting value that matters), or drop a write that overlaps the window.

use super::linear::{check_key_from, KeyResult};
use crate::history::{Kind, Op};
use serde_json::Value;

/// Witnesses larger than this are not worth showing: the caller falls back to its excerpt.
const MAX_OPS: usize = 200;
/// Search steps per check of a candidate (they are small).
const BUDGET: u64 = 2_000_000;

fn changes(o: &Op) -> bool {
    o.may_have_happened() && (o.f == "write" || o.f == "cas")
}

fn is_read(o: &Op) -> bool {
    o.f == "read" && o.outcome == Kind::Ok
}

fn end(o: &Op) -> u64 {
    o.completed.unwrap_or(u64::MAX)
}

/// The window a set spans: its earliest invocation to its latest completion.
fn window(ops: &[Op], set: &[usize]) -> (u64, u64) {
    let a = set.iter().map(|&i| ops[i].invoked).min().unwrap_or(0);
    let b = set.iter().filter_map(|&i| ops[i].completed).max().unwrap_or(a);
    (a, b)
}

/// Adds every write or cas overlapping the set's window until none is missing.
fn close(ops: &[Op], set: &mut Vec<usize>) {
    loop {
        let (a, b) = window(ops, set);
        let before = set.len();
        for (i, o) in ops.iter().enumerate() {
            if changes(o) && o.invoked <= b && end(o) >= a && !set.contains(&i) {
                set.push(i);
            }
        }
        if set.len() == before {
            set.sort_unstable();
            return;
        }
    }
}

/// Whether some order of the set works from some starting value (from `null` only when
/// `from_start`: no write precedes the set). Only the values the set mentions matter, plus one
/// it does not; an undecided search counts as explained.
fn explained(ops: &[Op], set: &[usize], from_start: bool) -> bool {
    let sub: Vec<Op> = set.iter().map(|&i| ops[i].clone()).collect();
    if from_start {
        return !matches!(check_key_from(&sub, BUDGET, &Value::Null), KeyResult::Not { .. });
    }
    let mut inits = vec![Value::Null, Value::String("a value none of them wrote".into())];
    for o in &sub {
        for v in [&o.result, &o.arg] {
            match v {
                Value::Array(pair) => inits.extend(pair.iter().cloned()),
                v => inits.push(v.clone()),
            }
        }
    }
    inits.sort_by_key(Value::to_string);
    inits.dedup();
    inits.iter().any(|init| !matches!(check_key_from(&sub, BUDGET, init), KeyResult::Not { .. }))
}

/// A witness around operation `stuck` (indices into `ops`, in order), if one of at most
/// `MAX_OPS` operations exists.
pub fn witness(ops: &[Op], stuck: usize) -> Option<Vec<usize>> {
    let mut set = vec![stuck];
    let mut from_start = false;
    loop {
        // Every read inside the window too, then the writes that overlap the grown window.
        let (a, b) = window(ops, &set);
        for (i, o) in ops.iter().enumerate() {
            if is_read(o) && o.invoked <= b && end(o) >= a && !set.contains(&i) {
                set.push(i);
            }
        }
        close(ops, &mut set);
        if set.len() > MAX_OPS {
            return None;
        }
        if !explained(ops, &set, from_start) {
            break;
        }
        if from_start {
            return None;
        }
        // Reach back to the latest write that completed before the window; with none left,
        // the register held `null` when the window opened.
        let (a, _) = window(ops, &set);
        match (0..ops.len()).filter(|&i| changes(&ops[i]) && end(&ops[i]) < a).max_by_key(|&i| end(&ops[i])) {
            Some(prior) => set.push(prior),
            None => from_start = true,
        }
    }
    shrink(ops, &mut set, stuck, from_start);
    Some(set)
}

/// Drops what the witness does not need: any read, and a write or cas once nothing left
/// overlaps it (never a write when the witness counts on starting from `null`).
fn shrink(ops: &[Op], set: &mut Vec<usize>, stuck: usize, from_start: bool) {
    let mut progress = true;
    while progress {
        progress = false;
        for k in 0..set.len() {
            let i = set[k];
            if i == stuck {
                continue;
            }
            let mut without: Vec<usize> = set.iter().copied().filter(|&j| j != i).collect();
            if changes(&ops[i]) {
                if from_start {
                    continue;
                }
                let (a, b) = window(ops, &without);
                if ops[i].invoked <= b && end(&ops[i]) >= a {
                    continue;
                }
                close(ops, &mut without);
                if without.contains(&i) {
                    continue;
                }
            }
            if !explained(ops, &without, from_start) {
                *set = without;
                progress = true;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn w(v: i64, t0: u64, t1: u64) -> Op {
        op(0, "write", json!(v), Value::Null, t0, Some(t1))
    }
    fn r(v: Value, t0: u64, t1: u64) -> Op {
        op(1, "read", Value::Null, v, t0, Some(t1))
    }

    #[test]
    fn a_stale_read_is_witnessed_by_the_write_it_missed() {
        // Many earlier writes and reads, then a read that misses the last completed write.
        let mut h = Vec::new();
        for k in 0..50 {
            h.push(w(k, k as u64 * 10, k as u64 * 10 + 2));
            h.push(r(json!(k), k as u64 * 10 + 3, k as u64 * 10 + 4));
        }
        h.push(w(100, 600, 602));
        h.push(r(json!(49), 610, 611));
        let stuck = h.len() - 1;
        let got = witness(&h, stuck).expect("a witness");
        assert_eq!(got, vec![h.len() - 2, stuck], "the missed write and the stale read");
    }

    #[test]
    fn reads_going_back_in_time_keep_the_write_they_straddle() {
        let h = vec![w(1, 0, 100), r(json!(1), 10, 20), r(Value::Null, 30, 40)];
        let got = witness(&h, 2).expect("a witness");
        assert_eq!(got, vec![0, 1, 2]);
    }

    #[test]
    fn a_write_overlapping_the_window_is_never_dropped() {
        // Read 7 after write 5 completed would be stale, but write 7 overlaps the read: the
        // whole is linearizable and any witness must keep write 7 — so no subset works here.
        let h = vec![w(5, 0, 1), w(7, 2, 10), r(json!(7), 3, 4), r(json!(5), 20, 21)];
        // The last read is stale (write 7 completed before it); its witness includes write 7.
        let got = witness(&h, 3).expect("a witness");
        assert!(got.contains(&1), "{got:?}");
        assert!(explained(&h, &[0, 1, 2], false), "the first three alone are fine");
    }

    #[test]
    fn a_value_nobody_wrote_is_witnessed_from_the_start() {
        // Before any write, a read of a value nobody wrote: the register still held null.
        let h = vec![r(json!(9), 0, 1), w(1, 2, 3)];
        assert_eq!(witness(&h, 0), Some(vec![0]));
        // Two reads with no write between them that disagree need no starting value at all.
        let h = vec![w(1, 0, 1), r(json!(1), 2, 3), r(json!(9), 5, 6)];
        assert_eq!(witness(&h, 2), Some(vec![1, 2]));
    }

    #[test]
    fn no_witness_when_the_overlapping_writes_outgrow_the_cap() {
        // 300 back-to-back overlapping writes: the closure grows past the cap.
        let mut h: Vec<Op> = (0..300).map(|k| w(k, k as u64 * 10, k as u64 * 10 + 15)).collect();
        h.push(r(json!("never written"), 3_100, 3_101));
        assert_eq!(witness(&h, 300), None);
    }
}
