//! The HTTP API through its real router. One test binary for the crate: one link.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod api;
