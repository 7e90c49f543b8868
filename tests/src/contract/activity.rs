//! Contract of [`UserActivityStore`].

use fashion_domain::activity::{Interaction, UserActivity};
use fashion_domain::event::EventType;
use fashion_domain::ports::{StoreError, UserActivityStore};

use crate::fixtures::{cid, event_id, pid, t0};

/// Conditional writes by version: a stale write is a `Conflict` and changes nothing.
pub async fn user_activity_store_contract(store: &dyn UserActivityStore) {
    // Arrange
    let mut a = UserActivity::new(cid(11));
    a.push_interaction(Interaction {
        product_id: pid(5),
        event_type: EventType::Click,
        at: t0(),
    });
    a.remember(event_id(1));
    a.event_count = 1;

    // Act + Assert
    assert!(
        store
            .get_many(&[cid(11)])
            .await
            .expect("get_many")
            .is_empty(),
        "nothing stored yet"
    );
    store.put(&a).await.expect("first put with version 0");
    let stored = store.get_many(&[cid(11), cid(12)]).await.expect("get_many");
    assert_eq!(stored.len(), 1, "customers without a record are left out");
    assert_eq!(stored[0].version, 1, "a successful put stores version + 1");
    assert_eq!(stored[0].recent, a.recent);
    assert_eq!(stored[0].seen_events, a.seen_events);

    let mut stale = a.clone();
    stale.event_count = 99;
    let err = store
        .put(&stale)
        .await
        .expect_err("a put with a stale version must fail");
    assert!(
        matches!(err, StoreError::Conflict { .. }),
        "stale put must be Conflict, got {err:?}"
    );
    assert!(err.is_retryable());
    let after = store.get_many(&[cid(11)]).await.expect("get_many");
    assert_eq!(
        after[0].event_count, 1,
        "a conflicting put must change nothing"
    );

    let mut next = after[0].clone();
    next.event_count = 2;
    store
        .put(&next)
        .await
        .expect("put with the current version");
    assert_eq!(
        store.get_many(&[cid(11)]).await.expect("get_many")[0].version,
        2
    );

    let mut fresh_again = UserActivity::new(cid(11));
    fresh_again.event_count = 5;
    assert!(
        matches!(
            store.put(&fresh_again).await,
            Err(StoreError::Conflict { .. })
        ),
        "version 0 must not overwrite an existing record"
    );
}
