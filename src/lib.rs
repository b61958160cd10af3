//! zabkeeper: a ZooKeeper-compatible coordination server.
//!
//! A deterministic core (`tree`, `prep`, `session`, `watch`, `core`) with no I/O, wrapped in
//! thin tokio shells (`server`, `storage`). See ARCHITECTURE.md for the module map.

pub mod acl;
pub mod admin;
pub mod bench;
pub mod client;
pub mod config;
pub mod core;
pub mod prep;
pub mod proto;
pub mod server;
pub mod session;
pub mod stats;
pub mod storage;
#[cfg(test)]
pub(crate) mod testkit;
pub mod tools;
pub mod tree;
pub mod txn;
pub mod watch;
pub mod zab;
pub mod zkcli;
pub mod zkfmt;
