//! The ensemble: ZooKeeper's quorum protocol (fast leader election and Zab's discovery,
//! synchronisation and broadcast) as pure state machines, and its wire formats.
//! Must never: do I/O, read a clock or draw randomness; the server's quorum shell feeds it
//! messages and ticks and carries out what it returns.

pub mod broadcast;
pub mod election;
pub mod leader;
pub mod learner;
pub mod sync;
#[cfg(test)]
mod tests_sim;
pub mod wire;
