//! A customer's recent activity: what the stream processor remembers between batches.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::EventType;
use crate::ids::{CustomerId, EventId, ProductId};

/// Most recent product interactions kept per customer.
pub const MAX_RECENT_INTERACTIONS: usize = 50;
/// Most recent event ids kept per customer to make replays harmless: a replayed event is
/// recognised as long as its customer has had fewer than this many events since. Batches larger
/// than this (per customer) are refused by the consumers' settings.
pub const MAX_SEEN_EVENTS: usize = 1024;

/// One interaction with a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    /// The product.
    pub product_id: ProductId,
    /// What the customer did.
    pub event_type: EventType,
    /// When (event time).
    pub at: DateTime<Utc>,
}

/// The activity record of one customer. `version` guards concurrent writers: a store accepts a
/// write only if the version it holds is the one the writer read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserActivity {
    /// The customer.
    pub customer_id: CustomerId,
    /// Recent product interactions, oldest first, at most [`MAX_RECENT_INTERACTIONS`].
    pub recent: VecDeque<Interaction>,
    /// Ids of the events already applied, oldest first, at most [`MAX_SEEN_EVENTS`].
    pub seen_events: VecDeque<EventId>,
    /// Events applied over the customer's life.
    pub event_count: u64,
    /// Event time of the newest applied event.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version; 0 for a record not yet stored.
    pub version: u64,
}

impl UserActivity {
    /// An empty record for a customer never seen before.
    #[must_use]
    pub fn new(customer_id: CustomerId) -> Self {
        Self {
            customer_id,
            recent: VecDeque::new(),
            seen_events: VecDeque::new(),
            event_count: 0,
            last_event_at: None,
            version: 0,
        }
    }

    /// The ids already applied, for quick lookups.
    #[must_use]
    pub fn seen_set(&self) -> HashSet<EventId> {
        self.seen_events.iter().copied().collect()
    }

    /// Records an event id as applied, forgetting the oldest beyond the cap.
    pub fn remember(&mut self, id: EventId) {
        self.seen_events.push_back(id);
        while self.seen_events.len() > MAX_SEEN_EVENTS {
            self.seen_events.pop_front();
        }
    }

    /// Adds an interaction, keeping the list in event-time order and within the cap.
    pub fn push_interaction(&mut self, it: Interaction) {
        let pos = self
            .recent
            .iter()
            .rposition(|r| r.at <= it.at)
            .map_or(0, |p| p.saturating_add(1));
        self.recent.insert(pos, it);
        while self.recent.len() > MAX_RECENT_INTERACTIONS {
            self.recent.pop_front();
        }
        if self.last_event_at.is_none_or(|t| t < it.at) {
            self.last_event_at = Some(it.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn interactions_stay_ordered_by_event_time_and_capped() {
        let mut a = UserActivity::new(CustomerId::new(1).unwrap());
        let base: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().unwrap();
        for i in (0..60).rev() {
            a.push_interaction(Interaction {
                product_id: ProductId::new(i + 1).unwrap(),
                event_type: EventType::Click,
                at: base + chrono::Duration::seconds(i64::from(i)),
            });
        }
        assert_eq!(a.recent.len(), MAX_RECENT_INTERACTIONS);
        assert!(
            a.recent
                .iter()
                .zip(a.recent.iter().skip(1))
                .all(|(x, y)| x.at <= y.at)
        );
        assert_eq!(a.recent.back().unwrap().product_id.get(), 60);
        assert_eq!(a.last_event_at, Some(base + chrono::Duration::seconds(59)));
    }

    #[test]
    fn seen_events_forget_the_oldest_beyond_the_cap() {
        let mut a = UserActivity::new(CustomerId::new(1).unwrap());
        let first = EventId::from_uuid(Uuid::new_v4());
        a.remember(first);
        for _ in 0..MAX_SEEN_EVENTS {
            a.remember(EventId::from_uuid(Uuid::new_v4()));
        }
        assert_eq!(a.seen_events.len(), MAX_SEEN_EVENTS);
        assert!(!a.seen_set().contains(&first));
    }
}
