//! Runs fast leader election over the election port: feeds `zab::election::Election` the
//! notifications that arrive and the clock, sends what it asks for, and once decided answers
//! members that are still looking (and observers) with the decision, as ZooKeeper's
//! `WorkerReceiver` does.
//! Must never: decide anything itself.

use super::cnx::{CnxManager, Inbound};
use crate::zab::election::{settled_reply, Decision, Election, ElectionAction};
use crate::zab::wire::Notification;
use bytes::Bytes;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

/// What a member brings to an election.
#[derive(Debug, Clone)]
pub struct ElectionSetup {
    pub my_id: i64,
    pub voters: BTreeSet<i64>,
    /// The membership text (`zab::wire::membership_text`).
    pub config: Bytes,
    pub last_zxid: i64,
    pub current_epoch: i64,
    /// Once the member is established in the decided leader's epoch (leading, or synced and
    /// serving), that epoch: from then on the vote it answers looking members with carries it
    /// as its peer epoch, as ZooKeeper's `updateElectionVote` does (ZOOKEEPER-1732) — so that
    /// every member of an established ensemble reports the same vote and a member that
    /// starts later (of either kind) can join. -1 until then.
    pub vote_epoch: Arc<std::sync::atomic::AtomicI64>,
}

/// Looks for a leader until decided; `logical_clock` is the previous round's.
pub async fn look(
    cnx: &Arc<CnxManager>,
    inbound: &mut mpsc::Receiver<Inbound>,
    setup: &ElectionSetup,
    logical_clock: i64,
) -> Decision {
    let origin = Instant::now();
    let now_ms = |origin: Instant| origin.elapsed().as_millis() as u64;
    let (mut e, first) = Election::start(
        setup.my_id,
        setup.voters.clone(),
        setup.config.clone(),
        logical_clock,
        setup.last_zxid,
        setup.current_epoch,
        0,
    );
    if let Some(d) = carry_out(cnx, first) {
        return d;
    }
    loop {
        let deadline = origin + Duration::from_millis(e.next_deadline_ms());
        let actions = tokio::select! {
            m = inbound.recv() => match m {
                Some((from, body)) => match Notification::decode(&body) {
                    Ok(Some(n)) => {
                        tracing::debug!("notification from {from}: {n:?}");
                        e.receive(from, &n, now_ms(origin))
                    }
                    _ => Vec::new(),
                },
                None => Vec::new(),
            },
            _ = tokio::time::sleep_until(deadline) => e.tick(now_ms(origin)),
        };
        if let Some(d) = carry_out(cnx, actions) {
            tracing::info!(
                "leader election decided: {:?}, leader {} (zxid 0x{:x}, epoch {}, round {})",
                d.state,
                d.vote.leader,
                d.vote.zxid,
                d.vote.peer_epoch,
                d.election_epoch
            );
            return d;
        }
    }
}

fn carry_out(cnx: &Arc<CnxManager>, actions: Vec<ElectionAction>) -> Option<Decision> {
    let mut decided = None;
    for a in actions {
        match a {
            ElectionAction::Send { to, notification } => cnx.send(to, notification.encode().freeze()),
            ElectionAction::Decided(d) => decided = Some(d),
        }
    }
    decided
}

/// After a decision: answers looking members and observers with it, until the channel closes.
pub async fn answer_while_settled(
    cnx: &Arc<CnxManager>,
    inbound: &mut mpsc::Receiver<Inbound>,
    setup: &ElectionSetup,
    decision: Decision,
) {
    while let Some((from, body)) = inbound.recv().await {
        if let Ok(Some(n)) = Notification::decode(&body) {
            let mut decision = decision;
            let epoch = setup.vote_epoch.load(std::sync::atomic::Ordering::Relaxed);
            if epoch >= 0 {
                decision.vote.peer_epoch = epoch;
            }
            if let Some(reply) = settled_reply(&decision, &setup.config, setup.voters.contains(&from), &n) {
                cnx.send(from, reply.encode().freeze());
            }
        }
    }
}
