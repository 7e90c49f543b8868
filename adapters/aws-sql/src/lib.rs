//! SQL over the S3 lake with DataFusion: the same engine as the local lake's
//! ([`fashion_local::DataFusionEngine`], the same named queries), its listing tables read from
//! S3 through [`S3ReadStore`], a read-only `object_store` over the AWS SDK's S3 client (so the
//! build adds no second HTTP stack). On AWS, Athena serves the same queries; this engine serves
//! the emulator, whose Athena runs no SQL, and `fashion query --engine datafusion`.
//!
//! Tables are listed under `s3://<bucket>/<prefix>/<table>/` with their partition keys as
//! columns; the clickstream's objects (Firehose's, named without an extension) are read whole
//! from their `dt=`/`hour=` prefixes, every other table's `.parquet` files from the version
//! directory its partition holds (the S3 lake writer deletes a replaced version once the catalog
//! points at the new one). The clickstream may hold an event twice (Firehose delivers at least
//! once): the named queries count each event id once.

// No panic reachable from input: these are denied outside tests (each allowed exception sits on
// the smallest item, with a comment proving it cannot fire); unit tests may unwrap, index and
// use plain arithmetic.
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

use std::sync::Arc;

use fashion_domain::ports::TableCatalog;
use fashion_local::{DataFusionEngine, LakeRoot};

mod store;
pub use store::S3ReadStore;

/// DataFusion over the lake under `s3://bucket/prefix/`, for the tables `catalog` knows.
#[must_use]
pub fn s3_lake_engine(
    s3: aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    catalog: Arc<dyn TableCatalog>,
) -> DataFusionEngine {
    DataFusionEngine::over(
        LakeRoot::Store {
            url: format!("s3://{bucket}/"),
            prefix: prefix.trim_matches('/').to_owned(),
            store: Arc::new(S3ReadStore::new(s3, bucket)),
            unextended: fashion_aws_core::glue::DELIVERED_TABLES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        },
        catalog,
    )
}
