//! A customer's recent activity: what the stream processor remembers between batches, and the
//! products they bought most recently (written by the trainer, never recommended to them again),
//! kept small enough for one DynamoDB write unit per update ([`codec`]: under 1 KB at every cap).

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, DurationRound as _, Utc};
use serde::{Deserialize, Serialize};

use crate::event::EventType;
use crate::ids::{CustomerId, EventId, ProductId};
use crate::stream::{SequenceNumber, ShardId};

pub mod codec;

/// Most recent product interactions kept per customer.
pub const MAX_RECENT_INTERACTIONS: usize = 50;
/// Most recent event ids kept per customer against duplicate sends (a browser or collector
/// re-sending an event it was not sure arrived, seconds later and a few events apart at most).
/// Replays of stream records (a retried batch) are recognised by their position instead
/// ([`UserActivity::applied`]), whatever the batch size.
pub const MAX_SEEN_EVENTS: usize = 32;
/// Most recently bought products kept per customer. The recommender leaves them out; an older
/// purchase may be recommended again (clothes wear out, and a customer's taste moves on).
pub const MAX_PURCHASED: usize = 32;

/// An event id as remembered: its 128 bits folded into 64 (the halves xor-ed). Event ids are
/// random UUIDs (122 random bits), so two ids among one customer's [`MAX_SEEN_EVENTS`] collide
/// with a probability of about 32² / 2⁶⁵, and a collision only ever drops an event of that one
/// customer as a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EventKey(pub u64);

impl EventKey {
    /// The key of an event id.
    #[must_use]
    pub fn of(id: EventId) -> Self {
        let v = id.as_uuid().as_u128();
        // Truncation intended: the low and the high half.
        #[allow(clippy::cast_possible_truncation)]
        Self((v as u64) ^ ((v >> 64) as u64))
    }
}

impl<'de> Deserialize<'de> for EventKey {
    /// A number, or the whole event id (records stored before ids were folded).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Key(u64),
            Id(EventId),
        }
        Ok(match Stored::deserialize(d)? {
            Stored::Key(k) => Self(k),
            Stored::Id(id) => Self::of(id),
        })
    }
}

/// A time as an activity record keeps it: to the millisecond (earlier digits dropped). The
/// recommender weighs interactions by their age in hours, and a millisecond time takes four
/// bytes where a nanosecond one takes seven ([`codec`]), which keeps a record at every cap
/// within one DynamoDB write unit. The lake keeps events' times as they were sent.
#[must_use]
pub fn to_the_millisecond(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(chrono::TimeDelta::milliseconds(1))
        .unwrap_or(at)
}

/// Where a record sits on the stream: its shard and its position there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    /// The shard.
    pub shard: ShardId,
    /// The position in the shard.
    pub sequence: SequenceNumber,
}

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
    /// Keys of the newest events applied, oldest first, at most [`MAX_SEEN_EVENTS`].
    pub seen_events: VecDeque<EventKey>,
    /// The stream position of the newest record applied: a record at or before it on the same
    /// shard was applied already (a customer's records keep their order on their shard).
    #[serde(default)]
    pub applied: Option<StreamPosition>,
    /// Events applied over the customer's life.
    pub event_count: u64,
    /// Event time of the newest applied event.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Products bought, oldest first, at most [`MAX_PURCHASED`], each once.
    #[serde(default)]
    pub purchased: Vec<ProductId>,
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
            applied: None,
            event_count: 0,
            last_event_at: None,
            purchased: Vec::new(),
            version: 0,
        }
    }

    /// The keys remembered, for quick lookups.
    #[must_use]
    pub fn seen_set(&self) -> HashSet<EventKey> {
        self.seen_events.iter().copied().collect()
    }

    /// Whether the event id is among the newest applied.
    #[must_use]
    pub fn has_seen(&self, id: EventId) -> bool {
        self.seen_events.contains(&EventKey::of(id))
    }

    /// Whether the record at `shard`/`sequence` was applied already: it lies at or before the
    /// newest applied record of the same shard.
    #[must_use]
    pub fn applied_already(&self, shard: &ShardId, sequence: &SequenceNumber) -> bool {
        self.applied
            .as_ref()
            .is_some_and(|p| p.shard == *shard && *sequence <= p.sequence)
    }

    /// Records the position of a record just applied.
    pub fn advance(&mut self, shard: &ShardId, sequence: &SequenceNumber) {
        let newer = self
            .applied
            .as_ref()
            .is_none_or(|p| p.shard != *shard || *sequence > p.sequence);
        if newer {
            self.applied = Some(StreamPosition {
                shard: shard.clone(),
                sequence: sequence.clone(),
            });
        }
    }

    /// Records an event id as applied, forgetting the oldest beyond the cap.
    pub fn remember(&mut self, id: EventId) {
        self.seen_events.push_back(EventKey::of(id));
        while self.seen_events.len() > MAX_SEEN_EVENTS {
            self.seen_events.pop_front();
        }
    }

    /// Records products bought, in the order given (oldest first): each moves to the newest end
    /// (once), and the oldest beyond [`MAX_PURCHASED`] are forgotten. True when the list changed.
    pub fn remember_purchases(&mut self, products: impl IntoIterator<Item = ProductId>) -> bool {
        let before = self.purchased.clone();
        for p in products {
            if self.purchased.last() == Some(&p) {
                continue;
            }
            self.purchased.retain(|q| *q != p);
            self.purchased.push(p);
        }
        let over = self.purchased.len().saturating_sub(MAX_PURCHASED);
        self.purchased.drain(..over);
        self.purchased != before
    }

    /// Whether the customer bought the product recently (see [`MAX_PURCHASED`]).
    #[must_use]
    pub fn bought(&self, product: ProductId) -> bool {
        self.purchased.contains(&product)
    }

    /// Notes an event's time: the newest becomes `last_event_at` (to the millisecond, see
    /// [`to_the_millisecond`]).
    pub fn note_event_time(&mut self, at: DateTime<Utc>) {
        let at = to_the_millisecond(at);
        if self.last_event_at.is_none_or(|t| t < at) {
            self.last_event_at = Some(at);
        }
    }

    /// Adds an interaction, keeping the list in event-time order and within the cap; its time
    /// is kept to the millisecond ([`to_the_millisecond`]).
    pub fn push_interaction(&mut self, it: Interaction) {
        let it = Interaction {
            at: to_the_millisecond(it.at),
            ..it
        };
        let pos = self
            .recent
            .iter()
            .rposition(|r| r.at <= it.at)
            .map_or(0, |p| p.saturating_add(1));
        self.recent.insert(pos, it);
        while self.recent.len() > MAX_RECENT_INTERACTIONS {
            self.recent.pop_front();
        }
        self.note_event_time(it.at);
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
        assert!(!a.has_seen(first));
    }

    #[test]
    fn a_record_at_or_before_the_newest_applied_on_its_shard_was_applied() {
        let mut a = UserActivity::new(CustomerId::new(1).unwrap());
        let (s1, s2) = (ShardId("shardId-1".into()), ShardId("shardId-2".into()));
        let seq = |n: u64| SequenceNumber::from_u64(n);
        assert!(!a.applied_already(&s1, &seq(1)));
        a.advance(&s1, &seq(10));
        a.advance(&s1, &seq(7));
        assert!(a.applied_already(&s1, &seq(10)) && a.applied_already(&s1, &seq(9)));
        assert!(!a.applied_already(&s1, &seq(11)));
        assert!(
            !a.applied_already(&s2, &seq(3)),
            "another shard's order says nothing"
        );
        a.advance(&s2, &seq(3));
        assert!(a.applied_already(&s2, &seq(3)) && !a.applied_already(&s1, &seq(5)));
    }

    #[test]
    fn purchases_are_kept_once_newest_last_and_capped() {
        let mut a = UserActivity::new(CustomerId::new(1).unwrap());
        let p = |i: u32| ProductId::new(i).unwrap();
        assert!(a.remember_purchases([p(1), p(2), p(1)]));
        assert_eq!(a.purchased, vec![p(2), p(1)]);
        assert!(
            !a.remember_purchases([p(2), p(1)]),
            "the same lines again change nothing"
        );
        let many = u32::try_from(MAX_PURCHASED).unwrap() + 5;
        assert!(a.remember_purchases((10..10 + many).map(p)));
        assert_eq!(a.purchased.len(), MAX_PURCHASED);
        assert!(
            !a.bought(p(1)) && !a.bought(p(14)),
            "the oldest are forgotten"
        );
        assert!(a.bought(p(15)) && a.bought(p(9 + many)));
    }

    #[test]
    fn ids_stored_whole_before_read_as_their_keys() {
        let id = EventId::from_uuid(Uuid::new_v4());
        let stored = serde_json::json!({
            "customer_id": 7, "recent": [], "seen_events": [id.as_uuid().to_string()],
            "event_count": 1, "last_event_at": null, "version": 3
        });
        let a: UserActivity = serde_json::from_value(stored).unwrap();
        assert!(a.has_seen(id));
        assert_eq!(a.applied, None);
        assert!(
            a.purchased.is_empty(),
            "records stored before purchases have none"
        );
        let again: UserActivity =
            serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        assert_eq!(again, a);
    }
}
