//! Contract of [`RecommendationStore`].

use fashion_domain::ports::{RecommendationReader, RecommendationStore};
use fashion_domain::recommendation::{Reason, Recommendations, RecommendedItem};

use crate::fixtures::{cid, pid, t0};

fn recs(customer: u64, first_product: u32, version: &str) -> Recommendations {
    Recommendations {
        customer_id: cid(customer),
        items: (0..10)
            .map(|i| RecommendedItem {
                product_id: pid(first_product + i),
                score: 1.0 / (1.0 + i as f32),
                reason: if i % 2 == 0 {
                    Reason::AlsoViewed
                } else {
                    Reason::Trending
                },
            })
            .collect(),
        model_version: version.to_owned(),
        updated_at: t0(),
    }
}

/// Upserts by customer, replays change nothing, the last write wins, and counts are exact.
pub async fn recommendation_store_contract<S: RecommendationStore + RecommendationReader>(
    store: &S,
) {
    // Arrange
    let batch: Vec<Recommendations> = (1..=30).map(|c| recs(c, 100, "v1")).collect();

    // Act
    assert_eq!(
        store.get(cid(1)).await.expect("get"),
        None,
        "nothing stored yet"
    );
    store.put_many(&batch).await.expect("put_many");
    store.put_many(&batch).await.expect("replayed put_many");

    // Assert
    assert_eq!(
        store.count().await.expect("count"),
        30,
        "a replayed batch must not add customers"
    );
    assert_eq!(
        store.get(cid(7)).await.expect("get"),
        Some(batch[6].clone()),
        "stored as given"
    );

    let newer = recs(7, 500, "v2");
    store
        .put_many(std::slice::from_ref(&newer))
        .await
        .expect("put_many");
    assert_eq!(
        store.get(cid(7)).await.expect("get"),
        Some(newer),
        "the last write wins"
    );
    assert_eq!(store.count().await.expect("count"), 30);
    store
        .put_many(&[])
        .await
        .expect("an empty batch is a no-op");
}
