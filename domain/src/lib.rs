//! The fashion-store pipeline's domain: the model (products, customers, orders, click events,
//! recommendations, trends), the ports (traits) every adapter implements, and the services that
//! hold the business logic. Nothing here does IO.
#![warn(missing_docs)]
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

pub mod activity;
pub mod backoff;
pub mod calendar;
pub mod catalog_csv;
pub mod customer;
pub mod dead_letter;
pub mod event;
pub mod fasthash;
pub mod history;
pub mod ids;
pub mod lake;
pub mod model;
pub mod money;
pub mod order;
pub mod ports;
pub mod product;
pub mod recommendation;
pub mod sales;
pub mod services;
pub mod stream;
pub mod trends;
