//! zabkeeper: a ZooKeeper-compatible coordination server.
//!
//! A deterministic core (`tree`, `prep`, `session`, `watch`) with no I/O, wrapped in thin
//! tokio shells (`server`, `storage`). See ARCHITECTURE.md for the module map.

pub mod proto;
pub mod session;
pub mod txn;
pub mod watch;
