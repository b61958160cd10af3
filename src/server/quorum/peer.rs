//! The election task of an ensemble member: when the node loop asks it to look (with the
//! member's last logged zxid and current epoch), it runs fast leader election and reports the
//! decision; between elections it answers members that are looking (and observers) with the
//! decision it holds, as ZooKeeper's `WorkerReceiver` does.
//! Must never: decide anything the election state machine decides.

use super::cnx::{CnxManager, Inbound};
use super::election::{answer_while_settled, look, ElectionSetup};
use super::QuorumMsg;
use crate::server::node::CoreMsg;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Starts the task; each `ElectionSetup` sent on the returned channel starts an election.
pub fn spawn(
    cnx: Arc<CnxManager>,
    mut inbound: mpsc::Receiver<Inbound>,
    events: mpsc::UnboundedSender<CoreMsg>,
) -> mpsc::UnboundedSender<ElectionSetup> {
    let (tx, mut look_rx) = mpsc::unbounded_channel::<ElectionSetup>();
    tokio::spawn(async move {
        let mut settled = None;
        let mut logical_clock = 0;
        loop {
            let setup = match settled.take() {
                None => match look_rx.recv().await {
                    Some(s) => s,
                    None => return,
                },
                Some((decision, setup)) => {
                    tokio::select! {
                        s = look_rx.recv() => match s {
                            Some(s) => s,
                            None => return,
                        },
                        _ = answer_while_settled(&cnx, &mut inbound, &setup, decision) => return,
                    }
                }
            };
            let decision = look(&cnx, &mut inbound, &setup, logical_clock).await;
            logical_clock = decision.election_epoch;
            if events.send(CoreMsg::Quorum(QuorumMsg::Decided(decision))).is_err() {
                return;
            }
            settled = Some((decision, setup));
        }
    });
    tx
}
