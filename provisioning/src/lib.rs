//! Infrastructure as Rust code for the fashion-store pipeline, Pulumi style: the desired state of
//! a stack is plain data computed from its configuration ([`desired`]); each resource kind reads,
//! diffs, creates, updates and deletes one kind of resource ([`resource::ResourceKind`]); the
//! [`engine`] runs `preview`, `up` and `destroy` over them in dependency order and saves the
//! outputs the apps read to `.state/<stack>.json` ([`state`]).
//!
//! Stacks: `aws` (real AWS), `emulator` (the same code against an AWS emulator) and `local` (the
//! embedded stack's directories and databases). The AWS stacks need the `aws` feature (on by
//! default); `--no-default-features` builds the local stack without compiling the AWS SDK.

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

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod desired;
pub mod engine;
pub mod local;
pub mod package;
pub mod plan;
pub mod refs;
pub mod render;
pub mod resource;
pub mod state;
