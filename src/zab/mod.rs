//! The ensemble: ZooKeeper's quorum protocol (fast leader election and Zab's discovery,
//! synchronisation and broadcast) as pure state machines, and its wire formats.
//! Must never: do I/O, read a clock or draw randomness; the server's quorum shell feeds it
//! messages and ticks and carries out what it returns.

pub mod broadcast;
pub mod election;
pub mod leader;
pub mod learner;
pub mod read_index;
pub mod sync;
#[cfg(test)]
mod tests_sim;
pub mod wire;

/// initLimit and syncLimit, in ticks: how long a leader may take to gather a quorum and sync
/// it, and how long a member may stay silent once in broadcast. The machines count time in
/// half ticks (the shell calls their `tick` every half tick, when the leader PINGs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub init_ticks: u64,
    pub sync_ticks: u64,
}

impl Default for Limits {
    /// zoo.cfg's usual initLimit=10, syncLimit=5.
    fn default() -> Limits {
        Limits { init_ticks: 10, sync_ticks: 5 }
    }
}
