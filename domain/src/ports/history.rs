//! Port: the history the trainer and the evaluation learn from (the lake's clickstream and
//! order lines), read in bulk and in compact form, and the clickstream whole, for checks.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::BoxStream;

use super::errors::LakeError;
use crate::event::ClickEvent;
use crate::history::{PurchaseRecord, TrainingEvent};

/// Bulk reads of the lake's history, in chunks.
///
/// # Errors
/// - [`LakeError::Unavailable`] when the lake cannot be read right now.
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait HistorySource: Send + Sync {
    /// Product interactions (page views excluded) with event time in `[from, to)`, in chunks,
    /// deduplicated by `event_id`. Chunks come partition by partition in time order (a chunk's
    /// events lie in one `dt`/`hour` partition, or a chunk spans several in order): the trainer
    /// closes idle sessions and [`crate::history::SeenIds`] forgets old hours as they pass.
    fn interactions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<TrainingEvent>, LakeError>>;

    /// Every click event (page views included) with event time in `[from, to)`, in chunks,
    /// deduplicated by `event_id`, in time order as `interactions`: the lake's clickstream read through
    /// its contract ("unique by `event_id` when read"), for checks and audits.
    fn clickstream(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<ClickEvent>, LakeError>>;

    /// The last day (`dt`, the UTC date of event time) the clickstream holds events of; `None`
    /// when it holds none. Where the clickstream's partitions are projected rather than
    /// catalogued (Firehose on AWS), read from the lake's own layout.
    async fn latest_click_day(&self) -> Result<Option<NaiveDate>, LakeError>;

    /// Clean order lines placed in `[from, to)`, in chunks.
    fn purchases(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxStream<'static, Result<Vec<PurchaseRecord>, LakeError>>;
}
