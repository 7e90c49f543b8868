//! Shared test code: one contract suite per port, written once and run against every adapter
//! (memory, local, AWS emulator), plus fixtures and the choice of AWS test backend.
//!
//! A contract function takes the adapter under test, already created with names unique to the
//! calling test, and panics with a message naming the broken promise.

#[cfg(feature = "aws")]
pub mod aws;
pub mod aws_backend;
pub mod contract;
pub mod faults;
pub mod fixtures;
