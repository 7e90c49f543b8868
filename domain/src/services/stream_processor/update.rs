//! A customer's update: the batch's new events applied to their activity, then re-scored.

use chrono::{DateTime, Utc};

use super::Pending;
use crate::activity::{Interaction, UserActivity};
use crate::recommendation::Recommendations;
use crate::services::recommender::{ModelIndex, RecommenderConfig};
use crate::stream::StreamRecord;

/// Applies events not applied before to an activity record (a record at or before the newest
/// applied on its shard is a replay; an event id among the newest applied is a duplicate send);
/// returns it with the counts of new and duplicate events. `records` is the batch the events'
/// indexes point into.
pub(super) fn apply_events(
    mut activity: UserActivity,
    events: &[Pending],
    records: &[StreamRecord],
) -> (UserActivity, usize, usize) {
    // A linear scan of the few stored keys beats building a set for one customer's events.
    let (mut new, mut dups) = (0_usize, 0_usize);
    for p in events {
        let ev = &p.event.event;
        let record = records.get(p.index);
        let replay =
            record.is_some_and(|r| activity.applied_already(&r.shard_id, &r.sequence_number));
        if replay || activity.has_seen(ev.event_id) {
            dups = dups.saturating_add(1);
            continue;
        }
        new = new.saturating_add(1);
        if let Some(r) = record {
            activity.advance(&r.shard_id, &r.sequence_number);
        }
        activity.remember(ev.event_id);
        activity.event_count = activity.event_count.saturating_add(1);
        if let Some(product_id) = ev.product_id {
            activity.push_interaction(Interaction {
                product_id,
                event_type: ev.event_type,
                at: ev.occurred_utc(),
            });
        } else {
            activity.note_event_time(ev.occurred_utc());
        }
    }
    (activity, new, dups)
}

pub(super) fn score(
    model: &ModelIndex,
    a: &UserActivity,
    now: DateTime<Utc>,
    cfg: &RecommenderConfig,
) -> Recommendations {
    let (front, back) = a.recent.as_slices();
    let joined: Vec<Interaction>;
    let recent: &[Interaction] = if back.is_empty() {
        front
    } else {
        joined = a.recent.iter().copied().collect();
        &joined
    };
    Recommendations {
        customer_id: a.customer_id,
        items: model.recommend(recent, &a.purchased, now, cfg),
        model_version: model.version().to_owned(),
        updated_at: now,
    }
}
