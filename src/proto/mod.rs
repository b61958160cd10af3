//! The ZooKeeper client wire format: jute primitives, records, op and error codes, typed
//! requests and responses, the length-prefixed frame and path rules.
//! Must never: depend on any other module of this crate, or allocate more than a frame holds.

pub mod codes;
pub mod frame;
pub mod jute;
pub mod path;
pub mod records;
pub mod request;

pub use codes::{op, CreateMode, ErrorCode};
pub use jute::{from_bytes, to_bytes, DecodeError, Jute, Reader};
pub use records::*;
pub use request::{MultiOp, MultiResult, Request, Response};

#[cfg(test)]
mod tests;
