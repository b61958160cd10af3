//! The ensemble's part of ZooKeeper's `ServerMetrics`: election and sync times, the leader's
//! proposal and commit figures, the learners' packet counts. The ensemble shell records them
//! where it acts; this file owns what they are and how they are reported and reset.
//! Must never: decide anything; it only counts.

use super::Ensemble;
use crate::stats::Timing;
use std::collections::VecDeque;
use std::time::Instant;

/// The ensemble's part of ZooKeeper's `ServerMetrics` (see `admin::ServerMetrics`).
#[derive(Default)]
pub(super) struct EnsembleMetrics {
    pub(super) election_time: Timing,
    pub(super) follower_sync_time: Timing,
    pub(super) observer_sync_time: Timing,
    pub(super) quorum_ack_latency: Timing,
    pub(super) proposal_count: u64,
    pub(super) commit_count: u64,
    pub(super) snap_count: u64,
    pub(super) diff_count: u64,
    pub(super) looking_count: u64,
    pub(super) learner_proposals: u64,
    pub(super) learner_commits: u64,
    /// When this member last began looking for a leader.
    pub(super) looking_since: Option<Instant>,
    /// Leader: the proposals not committed yet, with when they were proposed.
    pub(super) proposed_at: VecDeque<(i64, Instant)>,
}

impl Ensemble {
    /// Adds this member's ensemble metrics to `m`.
    pub fn fill_metrics(&self, m: &mut crate::admin::ServerMetrics) {
        let e = &self.metrics;
        m.election_time = e.election_time.summary();
        m.follower_sync_time = e.follower_sync_time.summary();
        m.observer_sync_time = e.observer_sync_time.summary();
        m.quorum_ack_latency = e.quorum_ack_latency.summary();
        m.proposal_count = e.proposal_count;
        m.commit_count = e.commit_count;
        m.snap_count = e.snap_count;
        m.diff_count = e.diff_count;
        m.looking_count = e.looking_count;
        m.learner_proposal_received_count = e.learner_proposals;
        m.learner_commit_received_count = e.learner_commits;
    }

    /// `srst`: the figures start again (what is in flight stays tracked).
    pub fn reset_metrics(&mut self) {
        let m = &mut self.metrics;
        *m = EnsembleMetrics {
            looking_since: m.looking_since,
            proposed_at: std::mem::take(&mut m.proposed_at),
            ..EnsembleMetrics::default()
        };
    }
}
