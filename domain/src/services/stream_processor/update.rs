//! A customer's update: the batch's new events applied to their activity, then re-scored.

use chrono::{DateTime, Utc};

use super::Pending;
use crate::activity::{Interaction, UserActivity};
use crate::recommendation::Recommendations;
use crate::services::recommender::{ModelIndex, RecommenderConfig};

/// Applies events not seen before to an activity record; returns it with the counts of new and
/// duplicate events.
pub(super) fn apply_events(
    mut activity: UserActivity,
    events: &[Pending],
) -> (UserActivity, usize, usize) {
    // A linear scan of the stored ids beats building a set for the few events of one customer.
    let (mut new, mut dups) = (0_usize, 0_usize);
    for p in events {
        let ev = &p.event.event;
        if activity.seen_events.contains(&ev.event_id) {
            dups = dups.saturating_add(1);
            continue;
        }
        new = new.saturating_add(1);
        activity.remember(ev.event_id);
        activity.event_count = activity.event_count.saturating_add(1);
        if let Some(product_id) = ev.product_id {
            activity.push_interaction(Interaction {
                product_id,
                event_type: ev.event_type,
                at: ev.occurred_utc(),
            });
        } else if activity.last_event_at.is_none_or(|t| t < ev.occurred_utc()) {
            activity.last_event_at = Some(ev.occurred_utc());
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
        items: model.recommend(a.customer_id, recent, now, cfg),
        model_version: model.version().to_owned(),
        updated_at: now,
    }
}
