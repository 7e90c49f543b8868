//! Contract of [`ModelStore`].

use fashion_domain::model::{ModelProduct, Neighbour, RecModel};
use fashion_domain::ports::ModelStore;

use crate::fixtures::{pid, t0};

fn model(version: &str) -> RecModel {
    RecModel {
        version: version.to_owned(),
        trained_at: t0(),
        trained_on_events: 3,
        products: vec![ModelProduct {
            id: pid(1),
            gender: "Men".into(),
            master_category: "Apparel".into(),
            article_type: "Tshirts".into(),
            colour: "Red".into(),
            available: true,
            popularity: 0.5,
            trend: 0.25,
        }],
        neighbours: vec![(
            pid(1),
            vec![Neighbour {
                product_id: pid(2),
                score: 0.75,
            }],
        )],
        popular_by_segment: vec![("Men".into(), vec![pid(1)])],
        trending_by_segment: vec![],
        trends: vec![],
    }
}

/// The newest version is the one that sorts last; every version stays readable and listed.
pub async fn model_store_contract(store: &dyn ModelStore) {
    assert_eq!(store.latest_version().await.expect("latest_version"), None);
    assert!(store.versions().await.expect("versions").is_empty());
    assert_eq!(store.latest().await.expect("latest"), None);

    store.put(&model("20261124T000100Z-a")).await.expect("put");
    store.put(&model("20261125T000100Z-b")).await.expect("put");
    store
        .put(&model("20261124T000100Z-a"))
        .await
        .expect("re-put of an older version");

    assert_eq!(
        store
            .latest_version()
            .await
            .expect("latest_version")
            .as_deref(),
        Some("20261125T000100Z-b")
    );
    assert_eq!(
        store.latest().await.expect("latest"),
        Some(model("20261125T000100Z-b"))
    );
    assert_eq!(
        store.versions().await.expect("versions"),
        vec!["20261124T000100Z-a", "20261125T000100Z-b"],
        "every version, oldest first"
    );
    assert_eq!(
        store.get("20261124T000100Z-a").await.expect("get"),
        Some(model("20261124T000100Z-a"))
    );
    assert_eq!(
        store.get("nope").await.expect("get of an unknown version"),
        None
    );
}
