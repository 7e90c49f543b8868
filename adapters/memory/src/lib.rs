//! In-memory adapters for every port of `fashion-domain`: the fakes service tests run against, and
//! the stores of a pipeline that runs in one process.

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
