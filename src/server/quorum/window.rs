//! The recent end of this member's txn log, kept in memory for syncing learners (ZooKeeper's
//! `committedLog`): the last txns logged, up to a count and a byte budget. A leader answers
//! DIFF and TRUNC from it without reading the disk (a sync never waits on the group-commit
//! thread); a learner too far behind for it gets SNAP.
//! Must never: hold more than its budgets, or hold a txn out of zxid order.

use crate::zab::sync::LogIndex;
use bytes::Bytes;
use std::collections::VecDeque;

/// The last logged txns (zxid, txn entry bytes), oldest first.
#[derive(Debug)]
pub struct LogWindow {
    entries: VecDeque<(i64, Bytes)>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl LogWindow {
    pub fn new(max_entries: usize, max_bytes: usize) -> LogWindow {
        LogWindow { entries: VecDeque::new(), bytes: 0, max_entries: max_entries.max(1), max_bytes }
    }

    /// Adds a logged txn; an older txn falls out when a budget is exceeded. A zxid not above
    /// the last one is ignored.
    pub fn push(&mut self, zxid: i64, data: Bytes) {
        if self.entries.back().is_some_and(|(z, _)| *z >= zxid) {
            return;
        }
        self.bytes += data.len();
        self.entries.push_back((zxid, data));
        while self.entries.len() > self.max_entries || (self.bytes > self.max_bytes && self.entries.len() > 1) {
            if let Some((_, d)) = self.entries.pop_front() {
                self.bytes -= d.len();
            }
        }
    }

    /// Drops every txn after `zxid` (a TRUNC).
    pub fn truncate_after(&mut self, zxid: i64) {
        while self.entries.back().is_some_and(|(z, _)| *z > zxid) {
            if let Some((_, d)) = self.entries.pop_back() {
                self.bytes -= d.len();
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The txns with `after < zxid <= upto`, in order.
    pub fn between(&self, after: i64, upto: i64) -> impl Iterator<Item = &(i64, Bytes)> {
        let start = self.entries.partition_point(|(z, _)| *z <= after);
        self.entries.range(start..).take_while(move |(z, _)| *z <= upto)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl LogIndex for LogWindow {
    fn range(&self) -> Option<(i64, i64)> {
        Some((self.entries.front()?.0, self.entries.back()?.0))
    }
    fn first_at_or_after(&self, zxid: i64) -> Option<i64> {
        let i = self.entries.partition_point(|(z, _)| *z < zxid);
        self.entries.get(i).map(|(z, _)| *z)
    }
    fn last_before(&self, zxid: i64) -> Option<i64> {
        let i = self.entries.partition_point(|(z, _)| *z < zxid);
        i.checked_sub(1).and_then(|i| self.entries.get(i)).map(|(z, _)| *z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(zxids: &[i64]) -> LogWindow {
        let mut w = LogWindow::new(100, 1 << 20);
        for z in zxids {
            w.push(*z, Bytes::from(vec![0u8; 10]));
        }
        w
    }

    #[test]
    fn answers_the_log_index_questions() {
        let w = window(&[0x1_0000_0001, 0x1_0000_0002, 0x2_0000_0001]);
        assert_eq!(w.range(), Some((0x1_0000_0001, 0x2_0000_0001)));
        assert_eq!(w.first_at_or_after(0x1_0000_0003), Some(0x2_0000_0001));
        assert_eq!(w.last_before(0x2_0000_0000), Some(0x1_0000_0002));
        assert_eq!(w.last_before(0x1_0000_0001), None);
        let between: Vec<i64> = w.between(0x1_0000_0001, 0x2_0000_0001).map(|(z, _)| *z).collect();
        assert_eq!(between, vec![0x1_0000_0002, 0x2_0000_0001]);
    }

    #[test]
    fn keeps_within_its_budgets_and_truncates() {
        let mut w = LogWindow::new(3, 1 << 20);
        for z in 1..=5 {
            w.push(z, Bytes::from_static(b"x"));
        }
        assert_eq!(w.range(), Some((3, 5)));
        let mut w2 = LogWindow::new(100, 25);
        for z in 1..=5 {
            w2.push(z, Bytes::from(vec![0u8; 10]));
        }
        assert_eq!(w2.len(), 2);
        w.truncate_after(3);
        assert_eq!(w.range(), Some((3, 3)));
        w.push(2, Bytes::from_static(b"old"));
        assert_eq!(w.len(), 1, "an older zxid is ignored");
    }
}
