//! Contract of [`ProductCatalog`].

use fashion_domain::ports::ProductCatalog;

use crate::fixtures::{pid, product};

/// Upserts by id, lookups skip unknown ids, and `list` is ordered by id.
pub async fn product_catalog_contract(catalog: &dyn ProductCatalog) {
    let products: Vec<_> = (1..=40).rev().map(product).collect();
    assert_eq!(catalog.upsert_many(&products).await.expect("upsert"), 40);
    catalog
        .upsert_many(&products)
        .await
        .expect("a second import");

    let listed = catalog.list().await.expect("list");
    assert_eq!(
        listed.len(),
        40,
        "importing twice must not duplicate products"
    );
    assert!(
        listed.windows(2).all(|w| w[0].id < w[1].id),
        "list must be ordered by id"
    );
    assert_eq!(
        listed[4],
        product(5),
        "products must round-trip unchanged (commas, empty year)"
    );

    let mut got = catalog
        .get_many(&[pid(3), pid(999), pid(17)])
        .await
        .expect("get_many");
    got.sort_by_key(|p| p.id);
    assert_eq!(
        got,
        vec![product(3), product(17)],
        "unknown ids are skipped"
    );

    let mut renamed = product(3);
    renamed.product_display_name = "Renamed".into();
    renamed.base_colour = None;
    catalog
        .upsert_many(std::slice::from_ref(&renamed))
        .await
        .expect("upsert");
    assert_eq!(
        catalog.get_many(&[pid(3)]).await.expect("get_many"),
        vec![renamed]
    );
    assert!(
        catalog
            .get_many(&[])
            .await
            .expect("get_many of nothing")
            .is_empty()
    );
}
