//! The AWS stack's desired state, in components a reader finds by name: the [`lake`] (buckets,
//! catalog, workgroup), the [`stream`] (Kinesis and Firehose), the [`realtime`] path (tables and
//! the stream processor), the [`batch`] path (database, daily job, trainer), the [`api`], the
//! [`schedules`], and what they share: [`identity`] (roles and policies), [`network`],
//! [`functions`] and [`common`] references.

pub mod api;
pub mod batch;
pub mod common;
pub mod functions;
pub mod identity;
pub mod lake;
pub mod network;
pub mod realtime;
pub mod schedules;
pub mod stream;
#[cfg(test)]
mod tests;

use crate::engine::desired::Builder;

/// Declares every AWS resource of the stack.
pub fn declare(b: &mut Builder<'_>) {
    lake::declare(b);
    stream::declare(b);
    realtime::declare(b);
    batch::declare(b);
    api::declare(b);
    schedules::declare(b);
}
