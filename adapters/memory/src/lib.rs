//! In-memory adapters for every port of `fashion-domain`: the fakes service tests run against, and
//! the stores of a pipeline that runs in one process.

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic. Integration tests, benches and examples are crates of their own.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing
    )
)]

mod clock;
mod lake;
mod purchases;
mod stores;
mod stream;

pub use clock::ManualClock;
pub use lake::{InMemoryLake, InMemoryQueryEngine};
pub use purchases::InMemoryPurchaseStore;
pub use stores::{
    InMemoryDeadLetterSink, InMemoryModelStore, InMemoryProductCatalog,
    InMemoryRecommendationStore, InMemoryUserActivityStore,
};
pub use stream::{InMemoryCheckpointStore, InMemoryStream};

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the fakes hold plain
/// data whose invariants hold between statements).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
