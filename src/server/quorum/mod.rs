//! The quorum shells: the election port's connections (`cnx`) and the driver that runs
//! `zab::election` over them (`election`). The quorum port (discovery, sync, broadcast) joins
//! them as the ensemble is built (issue 10).
//! Must never: decide anything the `zab` state machines decide.

pub mod cnx;
pub mod election;
