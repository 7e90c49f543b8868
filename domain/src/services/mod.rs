//! Services: the business logic, generic over the ports.

pub mod catalog_sync;
pub mod consumer;
pub mod daily_job;
pub mod evaluation;
pub mod history;
pub mod lake_gate;
pub mod lake_sink;
pub mod named_queries;
pub mod recommender;
pub mod replay;
pub mod schedule;
pub mod stream_processor;
pub mod trainer;
pub mod trends;
