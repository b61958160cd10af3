//! zkjepsen: a Jepsen-style harness for ZooKeeper-compatible ensembles. Histories in
//! Jepsen's form (`history`), the checkers that judge them (`checker`), the ensemble in
//! network namespaces with its faults (`cluster`, `nemesis`, and `lazyfs`: a disk that loses unsynced writes), what clients do (`workload`), and a whole
//! run (`run`).

pub mod checker;
pub mod checkpoints;
pub mod cluster;
pub mod history;
pub mod lazyfs;
pub mod nemesis;
pub mod plot;
pub mod run;
pub mod sessions;
pub mod watches;
pub mod workload;

use checker::{Validity, Verdict};
use history::{Event, HistoryError};

/// The workloads a history can be checked as.
pub const WORKLOADS: &[&str] = &["register", "set", "ids", "lock", "sessions", "watches", "checkpoints"];

/// Checks a history as workload `w`.
pub fn check(w: &str, events: &[Event]) -> Result<Verdict, HistoryError> {
    let mine: Vec<Event> = events.iter().filter(|e| e.workload.as_deref().is_none_or(|x| x == w)).cloned().collect();
    let ops = history::pair(&mine)?;
    Ok(match w {
        "register" => checker::linear::check(w, &ops, checker::linear::DEFAULT_BUDGET),
        "set" => checker::set::check(w, &ops),
        "ids" | "lock" => checker::ids::check(w, &ops),
        "sessions" => checker::sessions::check(w, &ops),
        "watches" => checker::watches::check(w, &ops),
        "checkpoints" => checker::checkpoints::check(w, &ops),
        other => {
            let mut v = Verdict::new(other);
            v.validity = Validity::Unknown;
            v.summary = format!("no checker for workload {other:?} (known: {})", WORKLOADS.join(", "));
            v
        }
    })
}
