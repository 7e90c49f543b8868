//! The `fashion` command line as a user runs it. One test binary for the crate: one link.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers outside #[test] functions

mod cli;
mod crash;
#[cfg(feature = "aws")]
mod demo_emulator;
mod etl_postgres;
mod interop;
mod serve;
#[cfg(feature = "aws")]
mod stack_emulator;
