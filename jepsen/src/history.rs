//! A history: what every client process invoked and how each call ended, as Jepsen records
//! it, and its JSON-lines form (one event per line, Jepsen's field names) so that another
//! checker can re-check our runs and ours can check theirs:
//!
//! `{"index": i, "time": ns, "process": p, "type": "invoke"|"ok"|"fail"|"info", "f": "read"|
//! "write"|"cas"|"add"|…, "key": k, "value": v}` — `time` in nanoseconds since the run
//! started, `key` absent for single-object workloads, a cas value `[expected, new]`, a read's
//! invoke value `null` and its completion the value read.
//!
//! `ok`: the operation happened, with this result. `fail`: it certainly did not happen.
//! `info`: unknown (a timeout, a lost connection): it may have happened, at any time after its
//! invocation. A process has at most one operation in flight; a process whose operation ended
//! in `info` is never reused (its later operations would be concurrent with it).
//! Must never: reorder events, or turn an `info` into an `ok` or a `fail`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{BufRead, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub index: u64,
    pub time: u64,
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    #[serde(default)]
    pub value: Value,
    /// Which workload of a run with several (absent otherwise; not one of Jepsen's fields,
    /// other checkers ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

/// One operation: its invocation paired with how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub process: u64,
    pub f: String,
    pub key: Option<Value>,
    /// The invocation's value (a write's or cas's argument; null for a read).
    pub arg: Value,
    /// The completion's value (what a read returned), if it completed `ok`.
    pub result: Value,
    pub invoked: u64,
    /// When it completed; None for an `info` (or no completion at all).
    pub completed: Option<u64>,
    pub outcome: Kind,
    /// The invocation's index in the history.
    pub index: u64,
    /// The completion's value whatever its kind (a refusal's or an `info`'s detail too).
    pub answer: Value,
}

impl Op {
    /// Whether it may have happened.
    pub fn may_have_happened(&self) -> bool {
        self.outcome != Kind::Fail
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("line {line}: {why}")]
    Parse { line: usize, why: String },
    #[error("event {index}: {why}")]
    Malformed { index: u64, why: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads a JSON-lines history (blank lines are skipped).
pub fn read_jsonl(r: impl BufRead) -> Result<Vec<Event>, HistoryError> {
    let mut out = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let e: Event =
            serde_json::from_str(&line).map_err(|e| HistoryError::Parse { line: i + 1, why: e.to_string() })?;
        out.push(e);
    }
    Ok(out)
}

pub fn write_jsonl(w: &mut impl Write, events: &[Event]) -> std::io::Result<()> {
    for e in events {
        serde_json::to_writer(&mut *w, e)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Pairs every invocation with its completion (by process, in order). An invocation with no
/// completion counts as `info`. A completion without an invocation, or a second invocation
/// while one is in flight on the same process, makes the history malformed.
pub fn pair(events: &[Event]) -> Result<Vec<Op>, HistoryError> {
    let mut open: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut ops: Vec<Op> = Vec::new();
    for e in events {
        match e.kind {
            Kind::Invoke => {
                if open.contains_key(&e.process) {
                    return Err(HistoryError::Malformed {
                        index: e.index,
                        why: format!("process {} invoked while an operation is in flight", e.process),
                    });
                }
                open.insert(e.process, ops.len());
                ops.push(Op {
                    process: e.process,
                    f: e.f.clone(),
                    key: e.key.clone(),
                    arg: e.value.clone(),
                    result: Value::Null,
                    invoked: e.time,
                    completed: None,
                    outcome: Kind::Info,
                    index: e.index,
                    answer: Value::Null,
                });
            }
            Kind::Ok | Kind::Fail | Kind::Info => {
                let Some(i) = open.remove(&e.process) else {
                    return Err(HistoryError::Malformed {
                        index: e.index,
                        why: format!("process {} completed an operation it never invoked", e.process),
                    });
                };
                let op = &mut ops[i];
                if op.f != e.f {
                    return Err(HistoryError::Malformed {
                        index: e.index,
                        why: format!("completion {} of invocation {}", e.f, op.f),
                    });
                }
                op.outcome = e.kind;
                op.answer = e.value.clone();
                if e.kind != Kind::Info {
                    op.completed = Some(e.time);
                }
                if e.kind == Kind::Ok {
                    op.result = e.value.clone();
                }
            }
        }
    }
    Ok(ops)
}

/// Records events as they happen, numbering them.
#[derive(Debug, Default)]
pub struct Recorder {
    events: Vec<Event>,
}

impl Recorder {
    pub fn push(&mut self, time: u64, process: u64, kind: Kind, f: &str, key: Option<Value>, value: Value) {
        self.push_for(None, time, process, kind, f, key, value);
    }

    /// An event of one workload of several.
    #[allow(clippy::too_many_arguments)]
    pub fn push_for(
        &mut self,
        workload: Option<&str>,
        time: u64,
        process: u64,
        kind: Kind,
        f: &str,
        key: Option<Value>,
        value: Value,
    ) {
        let index = self.events.len() as u64;
        let workload = workload.map(str::to_string);
        self.events.push(Event { index, time, process, kind, f: f.to_string(), key, value, workload });
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn into_events(self) -> Vec<Event> {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_jsonl_form_has_jepsens_fields_and_round_trips() {
        let mut r = Recorder::default();
        r.push(5, 0, Kind::Invoke, "cas", Some(json!(3)), json!([1, 2]));
        r.push(9, 0, Kind::Ok, "cas", Some(json!(3)), json!([1, 2]));
        r.push(10, 1, Kind::Invoke, "add", None, json!(7));
        let mut out = Vec::new();
        write_jsonl(&mut out, r.events()).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(
            first,
            json!({"index": 0, "time": 5, "process": 0, "type": "invoke", "f": "cas", "key": 3, "value": [1, 2]})
        );
        assert!(!text.lines().nth(2).unwrap().contains("key"));
        assert_eq!(read_jsonl(&out[..]).unwrap(), r.into_events());
    }

    #[test]
    fn pairing_matches_completions_by_process_and_treats_missing_ones_as_info() {
        let text = r#"
{"index":0,"time":1,"process":0,"type":"invoke","f":"read","key":1,"value":null}
{"index":1,"time":2,"process":1,"type":"invoke","f":"write","key":1,"value":5}
{"index":2,"time":3,"process":0,"type":"ok","f":"read","key":1,"value":5}
{"index":3,"time":4,"process":2,"type":"invoke","f":"write","key":1,"value":6}
{"index":4,"time":5,"process":2,"type":"fail","f":"write","key":1,"value":6}
"#;
        let ops = pair(&read_jsonl(text.as_bytes()).unwrap()).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!((ops[0].outcome, ops[0].result.clone(), ops[0].completed), (Kind::Ok, json!(5), Some(3)));
        assert_eq!((ops[1].outcome, ops[1].completed), (Kind::Info, None));
        assert!(!ops[2].may_have_happened());
    }

    #[test]
    fn malformed_histories_are_refused_with_the_event() {
        let two = r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time":2,"process":0,"type":"invoke","f":"read","value":null}"#;
        let e = pair(&read_jsonl(two.as_bytes()).unwrap()).unwrap_err();
        assert!(e.to_string().starts_with("event 1:"), "{e}");
        let orphan = r#"{"index":0,"time":1,"process":3,"type":"ok","f":"read","value":1}"#;
        assert!(pair(&read_jsonl(orphan.as_bytes()).unwrap()).is_err());
        assert!(read_jsonl("{not json".as_bytes()).unwrap_err().to_string().starts_with("line 1:"));
    }
}
