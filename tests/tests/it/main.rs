//! Whole-pipeline tests over the adapters: the memory contracts, the realtime path, the daily job, and the fault suite. One test binary for the crate: one link.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test helpers outside #[test] functions

mod daily_job;
mod faults;
mod memory_contracts;
mod realtime;
