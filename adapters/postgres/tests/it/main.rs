//! The PostgreSQL store and the daily job on PostgreSQL. One test binary for the crate: one link.

mod daily_job_postgres;
mod postgres_store;
mod support;
