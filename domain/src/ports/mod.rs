//! Ports: the traits the services depend on, implemented by the memory, local and AWS adapters.
//! Each is also implemented for `Arc<T>` (`#[auto_impl(Arc)]`): a shared adapter
//! (`Arc<dyn Port>`) is a port too, so services can take it by value.

mod activity;
mod catalog;
mod clock;
mod dead_letters;
mod errors;
mod history;
mod lake;
mod models;
mod purchases;
mod recommendations;
mod stream;

pub use activity::UserActivityStore;
pub use catalog::ProductCatalog;
pub use clock::{Clock, SystemClock};
pub use dead_letters::{DeadLetterReader, DeadLetterSink};
pub use errors::{LakeError, PurchaseStoreError, StoreError, StreamError};
pub use history::HistorySource;
pub use lake::{
    LakeWriter, PartitionWriter, QueryEngine, QueryParam, QueryResult, TableCatalog, WriteMode,
    check_open,
};
pub use models::ModelStore;
pub use purchases::{PurchaseSource, PurchaseStore};
pub use recommendations::{RecommendationReader, RecommendationStore};
pub use stream::{CheckpointStore, ClickstreamPublisher, ClickstreamSource, PublishReport};

#[cfg(any(test, feature = "mocks"))]
pub use activity::MockUserActivityStore;
#[cfg(any(test, feature = "mocks"))]
pub use catalog::MockProductCatalog;
#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mocks"))]
pub use dead_letters::{MockDeadLetterReader, MockDeadLetterSink};
#[cfg(any(test, feature = "mocks"))]
pub use lake::{MockLakeWriter, MockQueryEngine, MockTableCatalog};
#[cfg(any(test, feature = "mocks"))]
pub use models::MockModelStore;
#[cfg(any(test, feature = "mocks"))]
pub use purchases::{MockPurchaseSource, MockPurchaseStore};
#[cfg(any(test, feature = "mocks"))]
pub use recommendations::{MockRecommendationReader, MockRecommendationStore};
#[cfg(any(test, feature = "mocks"))]
pub use stream::{MockCheckpointStore, MockClickstreamPublisher, MockClickstreamSource};
