//! The provisioning engine: desired state as plain data, compared field by field with what a
//! provider observes, applied in dependency order.
//!
//! This part holds the data model every resource kind shares: specs, changes, and the ordering
//! rules (`up` in topological order of `depends_on`, `destroy` in reverse).

pub mod plan;
