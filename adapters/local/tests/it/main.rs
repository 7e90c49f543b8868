//! The embedded stack's adapters: the port contracts, and the lake's partition replace as a property. One test binary for the crate: one link.

mod contracts;
mod named_queries;
mod replace_property;
