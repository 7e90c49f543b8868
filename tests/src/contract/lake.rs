//! Contract of the lake ports: [`LakeWriter`] + [`TableCatalog`] + [`QueryEngine`] over one lake.

use chrono::NaiveDate;
use fashion_domain::lake::{PartitionKey, TableDef, TableRows, tables};
use fashion_domain::ports::{
    LakeError, LakeWriter, QueryEngine, QueryParam, TableCatalog, WriteMode,
};
use serde_json::json;

use crate::fixtures::{product, view};

async fn count(engine: &dyn QueryEngine, table: &str, dt: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE dt = $1");
    let res = engine
        .query(&sql, &[QueryParam::Text(dt.to_owned())])
        .await
        .expect("count query");
    res.rows[0][0]
        .as_i64()
        .unwrap_or_else(|| panic!("count must be an integer: {res:?}"))
}

async fn write(
    lake: &dyn LakeWriter,
    catalog: &dyn TableCatalog,
    table: &TableDef,
    key: &PartitionKey,
    (mode, write_id): (WriteMode, &str),
    batches: Vec<TableRows>,
) {
    let mut w = lake.open(table, key, mode, write_id).await.expect("open");
    for b in batches {
        w.write(b).await.expect("write");
    }
    let info = w.commit().await.expect("commit");
    assert_eq!(&info.key, key);
    catalog.put_partition(&info).await.expect("put_partition");
}

/// Replace swaps a partition whole, append adds (idempotently per write id), abort changes nothing, bad partitions and write
/// ids are refused at open, rows of another table are
/// refused, only catalogued data is visible to queries, and values survive the round trip.
pub async fn lake_contract(
    lake: &dyn LakeWriter,
    catalog: &dyn TableCatalog,
    engine: &dyn QueryEngine,
) {
    // Arrange
    let products = TableDef::named(tables::PRODUCTS).expect("products table");
    let clicks = TableDef::named(tables::CLICKSTREAM).expect("clickstream table");
    catalog.ensure_table(&products).await.expect("ensure_table");
    catalog
        .ensure_table(&products)
        .await
        .expect("ensure_table is idempotent");
    catalog.ensure_table(&clicks).await.expect("ensure_table");
    assert_eq!(
        catalog.table(tables::PRODUCTS).await.expect("table"),
        Some(products.clone())
    );
    let d1 = PartitionKey::day(NaiveDate::from_ymd_opt(2026, 11, 24).expect("date"));
    let d2 = PartitionKey::day(NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"));

    // Replace: a second write of the same partition replaces the first one whole.
    write(
        lake,
        catalog,
        &products,
        &d1,
        (WriteMode::Replace, "run-1"),
        vec![
            TableRows::Products((1..=30).map(product).collect()),
            TableRows::Products((31..=40).map(product).collect()),
        ],
    )
    .await;
    write(
        lake,
        catalog,
        &products,
        &d2,
        (WriteMode::Replace, "run-1"),
        vec![TableRows::Products((13..=17).map(product).collect())],
    )
    .await;
    assert_eq!(count(engine, tables::PRODUCTS, "2026-11-24").await, 40);
    write(
        lake,
        catalog,
        &products,
        &d1,
        (WriteMode::Replace, "run-2"),
        vec![TableRows::Products((1..=12).map(product).collect())],
    )
    .await;
    assert_eq!(
        count(engine, tables::PRODUCTS, "2026-11-24").await,
        12,
        "replace must drop the old rows"
    );
    assert_eq!(
        count(engine, tables::PRODUCTS, "2026-11-25").await,
        5,
        "other partitions are untouched"
    );
    let parts = catalog
        .partitions(tables::PRODUCTS)
        .await
        .expect("partitions");
    assert_eq!(
        parts.iter().map(|p| p.key.clone()).collect::<Vec<_>>(),
        vec![d1.clone(), d2.clone()]
    );
    assert_eq!(parts[0].rows, 12);

    // Abort: nothing written becomes visible.
    let mut w = lake
        .open(&products, &d1, WriteMode::Replace, "run-3")
        .await
        .expect("open");
    w.write(TableRows::Products((1..=3).map(product).collect()))
        .await
        .expect("write");
    w.abort().await.expect("abort");
    assert_eq!(
        count(engine, tables::PRODUCTS, "2026-11-24").await,
        12,
        "an aborted write changes nothing"
    );

    // Wrong table: refused.
    let mut w = lake
        .open(&products, &d2, WriteMode::Replace, "run-4")
        .await
        .expect("open");
    let err = w
        .write(TableRows::Clickstream(vec![view(1, 1, 1, 0)]))
        .await
        .expect_err("wrong table");
    assert!(
        matches!(err, LakeError::Schema { .. }),
        "rows of another table must be a Schema error: {err:?}"
    );
    w.abort().await.expect("abort");

    // What no writer may open: keys that are not the table's, values that are not one path
    // segment, write ids that are not plain names.
    let refused = [
        (
            PartitionKey::hour_of(crate::fixtures::t0()),
            "run-5",
            "the keys of another table",
        ),
        (
            PartitionKey(vec![("dt".to_owned(), "../2026-11-24".to_owned())]),
            "run-5",
            "a value with '/'",
        ),
        (
            PartitionKey(vec![("dt".to_owned(), String::new())]),
            "run-5",
            "an empty value",
        ),
        (d2.clone(), "../run-5", "a write id with '/'"),
        (d2.clone(), "", "an empty write id"),
    ];
    for (key, write_id, what) in refused {
        match lake
            .open(&products, &key, WriteMode::Replace, write_id)
            .await
        {
            Err(LakeError::Schema { .. }) => {}
            Err(e) => panic!("{what} must be refused as a Schema error: {e:?}"),
            Ok(w) => {
                let _ = w.abort().await;
                panic!("{what} must be refused at open");
            }
        }
    }

    // Append: each commit adds its rows.
    let hour = PartitionKey::hour_of(crate::fixtures::t0());
    write(
        lake,
        catalog,
        &clicks,
        &hour,
        (WriteMode::Append, "flush-1"),
        vec![TableRows::Clickstream(
            (1..=4).map(|n| view(n, 1, 1, 0)).collect(),
        )],
    )
    .await;
    write(
        lake,
        catalog,
        &clicks,
        &hour,
        (WriteMode::Append, "flush-2"),
        vec![TableRows::Clickstream(
            (5..=7).map(|n| view(n, 2, 3, 1)).collect(),
        )],
    )
    .await;
    assert_eq!(
        count(engine, tables::CLICKSTREAM, "2026-11-25").await,
        7,
        "appends accumulate"
    );
    // A retried append (same write id, same rows) replaces its own files: nothing doubles.
    write(
        lake,
        catalog,
        &clicks,
        &hour,
        (WriteMode::Append, "flush-2"),
        vec![TableRows::Clickstream(
            (5..=7).map(|n| view(n, 2, 3, 1)).collect(),
        )],
    )
    .await;
    assert_eq!(
        count(engine, tables::CLICKSTREAM, "2026-11-25").await,
        7,
        "a retried append with the same write id must not duplicate rows"
    );
    let hours = catalog
        .partitions(tables::CLICKSTREAM)
        .await
        .expect("partitions");
    assert_eq!(hours.len(), 1);
    assert_eq!(
        hours[0].rows, 7,
        "the catalogued partition counts the rows of all its appends"
    );

    // Values survive the round trip: the display name keeps its commas, a missing year is null,
    // money is an exact decimal.
    let res = engine
        .query(
            "SELECT * FROM products WHERE product_id = $1",
            &[QueryParam::Int(5)],
        )
        .await
        .expect("select");
    assert_eq!(
        res.rows.len(),
        1,
        "one row for product 5 in dt=2026-11-24: {res:?}"
    );
    let get = |name: &str| {
        let i = res
            .columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("column {name} in {:?}", res.columns));
        res.rows[0][i].clone()
    };
    assert_eq!(get("product_display_name"), json!("Brand 5, Comma Name"));
    assert_eq!(get("year"), serde_json::Value::Null);
    assert_eq!(get("price"), json!("10.05"));
    assert_eq!(get("dt"), json!("2026-11-24"));

    let bad = engine.query("SELEKT nonsense", &[]).await;
    assert!(
        matches!(bad, Err(LakeError::Query { .. })),
        "bad SQL must be a Query error: {bad:?}"
    );

    let orphan = fashion_domain::lake::PartitionInfo {
        table: "no_such_table".into(),
        key: d1,
        location: "nowhere".into(),
        files: 0,
        rows: 0,
        bytes: 0,
    };
    assert!(matches!(
        catalog.put_partition(&orphan).await,
        Err(LakeError::NotFound { .. })
    ));
}
