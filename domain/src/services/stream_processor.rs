//! The stream processor: a batch of raw stream records in; per record validate, deduplicate by
//! `event_id`, enrich with the product, update the customer's activity and re-score the
//! customer's recommendations. Work is grouped per customer, so a batch of 1,000 events from 50
//! customers costs one catalog read, one activity read, one recommendation write and ~50
//! conditional activity writes.
//!
//! Failures are per record: invalid records are dead-lettered with their reason, and a failed
//! write marks exactly the records it affects as failed so the caller retries only those
//! (Lambda's `batchItemFailures`). Recommendations are written before activity, so a retry after
//! any partial failure recomputes and converges; replaying a batch changes nothing.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::Serialize;

use super::recommender::RecommenderConfig;
use crate::activity::UserActivity;
use crate::dead_letter::DeadLetter;
use crate::event::{ClickEvent, EnrichedEvent, InvalidEventCode};
use crate::fasthash::FastMap;
use crate::ids::{CustomerId, ProductId};
use crate::ports::{
    DeadLetterSink, ProductCatalog, RecommendationStore, StoreError, UserActivityStore,
};
use crate::recommendation::Recommendations;
use crate::stream::StreamRecord;

mod enrichment;
mod model;
mod update;

pub use enrichment::CATALOG_CACHE_TTL;
use enrichment::ProductCache;
pub use model::{EARLIER_MODELS_TRIED, ModelHandle, ModelLoad};
use update::{apply_events, score};

/// The name dead letters of this service carry.
pub const SOURCE: &str = "stream-processor";

/// Settings of the processor.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorConfig {
    /// Scoring settings.
    pub recommender: RecommenderConfig,
    /// Attempts of a customer's conditional write after a version conflict.
    pub conflict_retries: usize,
    /// Customers' activity writes in flight at once (each customer's own stay in order). One at
    /// a time, a batch of 100 customers on DynamoDB waits 100 round trips.
    pub write_concurrency: usize,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            recommender: RecommenderConfig::default(),
            conflict_retries: 3,
            write_concurrency: 16,
        }
    }
}

/// What a batch did. `processed + duplicates + dead_lettered + failed.len() == received`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// Records in the batch.
    pub received: usize,
    /// New events applied.
    pub processed: usize,
    /// Events already applied before (replays, retried sends).
    pub duplicates: usize,
    /// Records set aside with a reason.
    pub dead_lettered: usize,
    /// Dead letters by rule.
    pub dead_lettered_by_code: BTreeMap<String, usize>,
    /// Indexes (in the batch) of records that failed and must be retried.
    pub failed: Vec<usize>,
    /// Customers whose activity was updated.
    pub customers_updated: usize,
    /// Recommendation lists written.
    pub recommendations_written: usize,
}

/// The stream processor over its ports.
pub struct StreamProcessor<A, R, C, D> {
    activity: A,
    recommendations: R,
    catalog: C,
    dead_letters: D,
    model: ModelHandle,
    config: ProcessorConfig,
    cache: std::sync::Mutex<ProductCache>,
}

struct Pending {
    index: usize,
    event: EnrichedEvent,
}

impl<A, R, C, D> StreamProcessor<A, R, C, D>
where
    A: UserActivityStore,
    R: RecommendationStore,
    C: ProductCatalog,
    D: DeadLetterSink,
{
    /// A processor over the given ports and model.
    pub fn new(
        activity: A,
        recommendations: R,
        catalog: C,
        dead_letters: D,
        model: ModelHandle,
        config: ProcessorConfig,
    ) -> Self {
        Self {
            activity,
            recommendations,
            catalog,
            dead_letters,
            model,
            config,
            cache: std::sync::Mutex::new(FastMap::default()),
        }
    }

    /// The model handle (to refresh it).
    #[must_use]
    pub const fn model(&self) -> &ModelHandle {
        &self.model
    }

    /// Processes one batch at time `now` (used for recency and dead-letter stamps).
    #[tracing::instrument(skip_all, fields(records = records.len()))]
    pub async fn process(&self, records: &[StreamRecord], now: DateTime<Utc>) -> BatchReport {
        let mut report = BatchReport {
            received: records.len(),
            ..BatchReport::default()
        };
        let mut failed: HashSet<usize> = HashSet::new();
        let mut letters: Vec<(usize, DeadLetter)> = Vec::new();

        // 1. Parse and validate.
        let mut valid: Vec<(usize, ClickEvent)> = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            match ClickEvent::parse(&r.data, r.arrived_at) {
                Ok(ev) => valid.push((i, ev)),
                Err(e) => letters.push((i, dead_letter(records, i, e.code, &e.message, now))),
            }
        }

        // 2. Enrich: products from the cache, the rest with one catalog read for the batch.
        let mut ids: Vec<ProductId> = valid.iter().filter_map(|(_, e)| e.product_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut pending: Vec<Pending> = Vec::with_capacity(valid.len());
        match self.enrichment(&ids, now).await {
            Ok(attrs) => {
                for (i, ev) in valid {
                    let product = match ev.product_id {
                        Some(p) => match attrs.get(&p) {
                            Some(a) => Some(a.clone()),
                            None => {
                                let msg = format!("product {p} is not in the catalog");
                                letters.push((
                                    i,
                                    dead_letter(
                                        records,
                                        i,
                                        InvalidEventCode::UnknownProduct,
                                        &msg,
                                        now,
                                    ),
                                ));
                                continue;
                            }
                        },
                        None => None,
                    };
                    pending.push(Pending {
                        index: i,
                        event: EnrichedEvent { event: ev, product },
                    });
                }
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "Catalog read failed; the batch's valid records will be retried.");
                failed.extend(valid.iter().map(|(i, _)| *i));
            }
        }

        // 3. Per customer: apply, score, write.
        let mut by_customer: BTreeMap<CustomerId, Vec<Pending>> = BTreeMap::new();
        for p in pending {
            by_customer
                .entry(p.event.event.user_id)
                .or_default()
                .push(p);
        }
        let unreadable = self
            .apply(records, by_customer, now, &mut report, &mut failed)
            .await;
        for (i, who) in unreadable {
            let msg = format!(
                "the stored activity of customer {who} cannot be read; replay once it is repaired"
            );
            letters.push((
                i,
                dead_letter(records, i, InvalidEventCode::UnreadableState, &msg, now),
            ));
        }

        // 4. Dead letters, stored before their records are acknowledged.
        if !letters.is_empty() {
            let batch: Vec<DeadLetter> = letters.iter().map(|(_, l)| l.clone()).collect();
            match self.dead_letters.put_many(&batch).await {
                Ok(()) => {
                    report.dead_lettered = letters.len();
                    for (_, l) in &letters {
                        let n = report
                            .dead_lettered_by_code
                            .entry(l.code.clone())
                            .or_default();
                        *n = n.saturating_add(1);
                    }
                }
                Err(e) => {
                    tracing::warn!(error.message = %e, "Dead-letter write failed; those records will be retried.");
                    failed.extend(letters.iter().map(|(i, _)| *i));
                }
            }
        }
        let mut failed: Vec<usize> = failed.into_iter().collect();
        failed.sort_unstable();
        report.failed = failed;
        report
    }

    /// Reads every customer's activity; when the batch read fails for a reason retrying cannot
    /// fix (a corrupt record), reads customer by customer so that one bad record cannot stall
    /// the shard. Returns the records of customers whose activity cannot be read.
    async fn read_activity(
        &self,
        groups: &BTreeMap<CustomerId, Vec<Pending>>,
        failed: &mut HashSet<usize>,
    ) -> Result<(FastMap<CustomerId, UserActivity>, Vec<(usize, CustomerId)>), ()> {
        let customers: Vec<CustomerId> = groups.keys().copied().collect();
        match self.activity.get_many(&customers).await {
            Ok(v) => {
                return Ok((
                    v.into_iter().map(|a| (a.customer_id, a)).collect(),
                    Vec::new(),
                ));
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(error.message = %e, "Activity read failed; the batch will be retried.");
                failed.extend(groups.values().flatten().map(|p| p.index));
                return Err(());
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "Activity read failed; reading customer by customer.");
            }
        }
        let (mut stored, mut unreadable) = (FastMap::default(), Vec::new());
        for (c, events) in groups {
            match self.activity.get_many(&[*c]).await {
                Ok(v) => stored.extend(v.into_iter().map(|a| (a.customer_id, a))),
                Err(e) if e.is_retryable() => failed.extend(events.iter().map(|p| p.index)),
                Err(e) => {
                    tracing::error!(customer = %c, error.message = %e, "A customer's stored activity cannot be read; dead-lettering their events.");
                    unreadable.extend(events.iter().map(|p| (p.index, *c)));
                }
            }
        }
        Ok((stored, unreadable))
    }

    async fn apply(
        &self,
        records: &[StreamRecord],
        mut groups: BTreeMap<CustomerId, Vec<Pending>>,
        now: DateTime<Utc>,
        report: &mut BatchReport,
        failed: &mut HashSet<usize>,
    ) -> Vec<(usize, CustomerId)> {
        if groups.is_empty() {
            return Vec::new();
        }
        let Ok((stored, unreadable)) = self.read_activity(&groups, failed).await else {
            return Vec::new();
        };
        // Customers set aside or left for retry take no further part.
        groups.retain(|c, events| {
            !unreadable.iter().any(|(_, u)| u == c)
                && !events.iter().any(|p| failed.contains(&p.index))
        });
        let model = self.model.current();
        // Apply the new events of every customer and score them.
        let mut updates: Vec<(UserActivity, Recommendations, &Vec<Pending>, usize, usize)> =
            Vec::new();
        for (customer, events) in &groups {
            let before = stored
                .get(customer)
                .cloned()
                .unwrap_or_else(|| UserActivity::new(*customer));
            let (after, new, dups) = apply_events(before, events, records);
            report.duplicates = report.duplicates.saturating_add(dups);
            if new == 0 {
                continue;
            }
            let recs = score(&model, &after, now, &self.config.recommender);
            updates.push((after, recs, events, new, dups));
        }
        if updates.is_empty() {
            return unreadable;
        }
        // Recommendations first: if this fails nothing else is written, and a retry recomputes.
        // With a model, an empty list is the truth (everything was bought or withdrawn) and replaces
        // the old one; without a model yet there is nothing worth storing.
        let has_model = !model.is_empty();
        let recs: Vec<Recommendations> = updates
            .iter()
            .map(|u| u.1.clone())
            .filter(|r| has_model || !r.items.is_empty())
            .collect();
        if let Err(e) = self.recommendations.put_many(&recs).await {
            tracing::warn!(error.message = %e, customers = updates.len(), "Recommendation write failed; those customers' records will be retried.");
            for u in &updates {
                failed.extend(u.2.iter().map(|p| p.index));
                report.duplicates = report.duplicates.saturating_sub(u.4);
            }
            return unreadable;
        }
        report.recommendations_written = report.recommendations_written.saturating_add(recs.len());
        let writes: Vec<_> = futures::stream::iter(updates.into_iter().map(
            |(activity, _, events, new, dups)| async move {
                let outcome = self.put_activity(activity, events, records, now).await;
                (outcome, events, new, dups)
            },
        ))
        .buffer_unordered(self.config.write_concurrency.max(1))
        .collect()
        .await;
        for (outcome, events, new, dups) in writes {
            match outcome {
                Ok(written) => {
                    report.customers_updated = report.customers_updated.saturating_add(1);
                    report.processed = report.processed.saturating_add(new);
                    report.recommendations_written =
                        report.recommendations_written.saturating_add(written);
                }
                Err(e) => {
                    tracing::warn!(error.message = %e, "Activity write failed; the customer's records will be retried.");
                    failed.extend(events.iter().map(|p| p.index));
                    report.duplicates = report.duplicates.saturating_sub(dups);
                }
            }
        }
        unreadable
    }

    /// Writes a customer's activity; on a version conflict re-reads, re-applies, re-scores and
    /// tries again. Returns how many extra recommendation writes that took.
    async fn put_activity(
        &self,
        mut activity: UserActivity,
        events: &[Pending],
        records: &[StreamRecord],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut extra = 0;
        for attempt in 0..=self.config.conflict_retries {
            match self.activity.put(&activity).await {
                Ok(()) => return Ok(extra),
                Err(StoreError::Conflict { .. }) if attempt < self.config.conflict_retries => {
                    let c = activity.customer_id;
                    let fresh = self
                        .activity
                        .get_many(&[c])
                        .await?
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| UserActivity::new(c));
                    let (after, new, _) = apply_events(fresh, events, records);
                    if new == 0 {
                        return Ok(extra);
                    }
                    let recs = score(&self.model.current(), &after, now, &self.config.recommender);
                    if !recs.items.is_empty() || !self.model.current().is_empty() {
                        self.recommendations.put_many(&[recs]).await?;
                        extra = extra.saturating_add(1);
                    }
                    activity = after;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict {
            key: activity.customer_id.to_string(),
            expected: activity.version,
        })
    }
}

fn dead_letter(
    records: &[StreamRecord],
    i: usize,
    code: InvalidEventCode,
    message: &str,
    now: DateTime<Utc>,
) -> DeadLetter {
    // `i` is the record's index in the batch it came from; a record is always found.
    let (origin, payload) = records.get(i).map_or_else(
        || (format!("batch record {i}"), &[][..]),
        |r| (format!("{}/{}", r.shard_id, r.sequence_number), &r.data[..]),
    );
    DeadLetter::new(SOURCE, code.as_str(), message, &origin, payload, now)
}
