//! The AWS adapters against the emulator: the port contracts, failure handling, an emulator restart, the lake writer and the history reader. One test binary for the crate: one link.

mod common;
mod contracts;
mod emulator;
mod failures;
mod history;
mod lake;
