//! Infrastructure as Rust code for the fashion-store pipeline, Pulumi style, in two parts:
//!
//! - the [`engine`], which knows no provider: the desired state of a stack as plain data
//!   ([`engine::desired`]), the contract every resource kind implements
//!   ([`engine::resource::ResourceKind`]) and every provider ([`engine::provider::Provider`]),
//!   `preview`, `up` and `destroy` in dependency order, and the outputs the apps read from
//!   `.state/<stack>.json` ([`engine::state`]);
//! - the [`providers`]: `local` (the embedded stack's directories and databases) and `aws` (the
//!   `aws` and `emulator` stacks), each registering its kinds and declaring its resources.
//!
//! The AWS provider needs the `aws` feature (on by default); `--no-default-features` builds the
//! local stack without compiling the AWS SDK (or DataFusion).

// No panic reachable from input (the stack's configuration, the cloud's answers): these are
// denied outside tests; unit tests may unwrap, index and use plain arithmetic.
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

pub mod config;
pub mod engine;
pub mod layout;
pub mod package;
pub mod providers;
