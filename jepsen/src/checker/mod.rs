//! Checkers: each reads a history's operations and says whether the run kept the workload's
//! promise (`Valid`), broke it (`Invalid`, with the anomalies found), or cannot tell
//! (`Unknown`: a search that ran out of budget, a run with no final read).
//! Must never: say `Valid` when it could not check.

pub mod checkpoints;
pub mod ids;
pub mod linear;
pub mod sessions;
pub mod set;
pub mod watches;
pub mod witness;

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Validity::Valid => "valid",
            Validity::Invalid => "INVALID",
            Validity::Unknown => "unknown",
        })
    }
}

/// One workload's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub workload: String,
    pub validity: Validity,
    /// What was checked, in a line.
    pub summary: String,
    pub anomalies: Vec<String>,
}

impl Verdict {
    pub fn new(workload: &str) -> Verdict {
        Verdict { workload: workload.into(), validity: Validity::Valid, summary: String::new(), anomalies: Vec::new() }
    }

    /// The verdict line, then each anomaly.
    pub fn report(&self) -> String {
        let mut s = format!("{}: {} ({})", self.workload, self.validity, self.summary);
        for a in &self.anomalies {
            s.push('\n');
            s.push_str(a);
        }
        s
    }
}

/// An operation of process 1 that completed `ok` with `result` (for the checkers' tests).
#[cfg(test)]
pub(crate) fn ok_op(f: &str, arg: serde_json::Value, result: serde_json::Value) -> crate::history::Op {
    crate::history::Op {
        process: 1,
        f: f.into(),
        key: None,
        arg,
        result,
        invoked: 0,
        completed: Some(1),
        outcome: crate::history::Kind::Ok,
        index: 0,
        answer: serde_json::Value::Null,
    }
}
