//! The quorum shells: the election port's connections (`cnx`), the driver that runs
//! `zab::election` over them (`election`) and the task that runs it when asked (`peer`); the
//! quorum port's links between leader and learners (`link`), the recent log kept for syncing
//! learners (`window`), and a member's life as looking / leading / following inside the node
//! loop (`ensemble`).
//! Must never: decide anything the `zab` state machines decide.

pub mod cnx;
pub mod election;
pub mod ensemble;
pub mod link;
pub mod peer;
pub mod window;

use tokio::net::TcpStream;

/// What the quorum side sends the node loop.
#[derive(Debug)]
pub enum QuorumMsg {
    /// The election decided.
    Decided(crate::zab::election::Decision),
    /// A learner connected to our quorum port.
    LearnerConnected(TcpStream),
    /// Our connection to the elected leader is up (for connection attempt `attempt`).
    LeaderConnected {
        attempt: u64,
        stream: TcpStream,
    },
    /// The elected leader did not accept a connection within initLimit.
    LeaderUnreachable {
        attempt: u64,
    },
    Link(link::LinkEvent),
}

/// Accepts learners on the quorum port for as long as the server runs.
pub async fn accept_learners(
    listener: tokio::net::TcpListener,
    events: tokio::sync::mpsc::UnboundedSender<crate::server::node::CoreMsg>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if events.send(crate::server::node::CoreMsg::Quorum(QuorumMsg::LearnerConnected(stream))).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!("quorum port accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
