//! AWS adapters for the ports of `fashion-domain`. Kept in their own crate so that the local stack
//! never compiles the AWS SDK.
//!
//! This first part holds what every adapter shares: which AWS error codes mean "retry later".

pub mod retry;
