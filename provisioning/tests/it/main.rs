//! Provisioning's integration tests, one binary (zero2prod's `tests/api/main.rs`): the emulator
//! stack against moto, the local stack in a temporary directory, and the command line.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod cli;
mod emulator;
mod local;
mod plan;
mod support;
