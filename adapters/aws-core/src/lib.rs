//! What both sides of the AWS deployment agree on, without the AWS SDK, so that a name is written
//! once: the adapters (fashion-aws) and the functions (fashion-lambda) use it at run time,
//! provisioning declares the resources from it, the tests create their resources from it.
//!
//! - [`retry`]: which AWS error codes are worth retrying, and the one backoff;
//! - [`dynamodb`]: the tables' key schemas, index and TTL attribute;
//! - [`glue`]: the Glue shape of a lake table, from the domain's definition;
//! - [`vars`]: the functions' environment variables;
//! - `sdk` (feature `sdk`): how every client is configured (endpoint, credentials, path style,
//!   retries, timeouts).

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

pub mod dynamodb;
pub mod glue;
pub mod retry;
#[cfg(feature = "sdk")]
pub mod sdk;
pub mod vars;
