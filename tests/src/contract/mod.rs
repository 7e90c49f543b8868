//! The contract suites, one module per port family.

mod activity;
mod catalog;
mod checkpoints;
mod dead_letters;
pub mod history;
mod lake;
mod models;
mod purchases;
mod recommendations;
mod stream;

pub use activity::user_activity_store_contract;
pub use catalog::product_catalog_contract;
pub use checkpoints::checkpoint_store_contract;
pub use dead_letters::dead_letter_sink_contract;
pub use lake::lake_contract;
pub use models::model_store_contract;
pub use purchases::purchase_store_contract;
pub use recommendations::recommendation_store_contract;
pub use stream::stream_contract;
