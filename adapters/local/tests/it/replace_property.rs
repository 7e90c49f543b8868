//! Property (issue 14): replacing a partition is atomic. Any sequence of replacements of one
//! partition, each committed, aborted or abandoned part-way (its writer dropped, as a crashed
//! process leaves it), while a reader queries the partition the whole time, shows the reader only
//! whole versions that were committed (or the empty partition before the first commit), never a
//! mix of two and never an abandoned one; afterwards the partition holds the last committed one.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use fashion_domain::lake::{PartitionKey, TableDef, TableRows, tables};
use fashion_domain::ports::{LakeWriter, QueryEngine, QueryParam, TableCatalog, WriteMode};
use fashion_local::{DataFusionEngine, LocalLake, StateDb};
use fashion_tests::fixtures::product;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum End {
    Commit,
    Abort,
    Abandon,
}

/// One replacement: its rows, in batches, and how it ends.
#[derive(Debug, Clone)]
struct Step {
    batches: Vec<u32>,
    end: End,
}

fn arb_step() -> impl Strategy<Value = Step> {
    (
        prop::collection::vec(0u32..40, 0..4),
        prop_oneof![3 => Just(End::Commit), 1 => Just(End::Abort), 1 => Just(End::Abandon)],
    )
        .prop_map(|(batches, end)| Step { batches, end })
}

const DAY: &str = "2026-11-24";

async fn ids_in(engine: &dyn QueryEngine) -> Option<BTreeSet<i64>> {
    let res = engine
        .query(
            "SELECT product_id FROM products WHERE dt = $1",
            &[QueryParam::Text(DAY.to_owned())],
        )
        .await
        // A query that listed the old files just before a swap fails and is rerun: not a view.
        .ok()?;
    Some(
        res.rows
            .iter()
            .map(|r| {
                r.first()
                    .and_then(serde_json::Value::as_i64)
                    .expect("an id")
            })
            .collect(),
    )
}

/// Runs the steps with a reader querying throughout; returns what the reader saw, the versions
/// committed (the empty partition first) and the partition's content at the end.
async fn run(steps: &[Step]) -> (Vec<BTreeSet<i64>>, Vec<BTreeSet<i64>>, BTreeSet<i64>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = LocalLake::new(dir.path().join("lake"));
    let db = StateDb::open(&dir.path().join("state.db"))
        .await
        .expect("state db");
    let catalog = Arc::new(db.table_catalog());
    let engine = Arc::new(DataFusionEngine::new(lake.clone(), catalog.clone()));
    let products = TableDef::named(tables::PRODUCTS).expect("products");
    catalog.ensure_table(&products).await.expect("ensure_table");
    let key = PartitionKey::day(NaiveDate::from_ymd_opt(2026, 11, 24).expect("date"));

    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = tokio::spawn({
        let (engine, done, seen) = (engine.clone(), done.clone(), seen.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(ids) = ids_in(engine.as_ref()).await {
                    seen.lock().expect("lock").push(ids);
                }
                tokio::task::yield_now().await;
            }
        }
    });

    let mut committed = vec![BTreeSet::new()];
    for (n, step) in (1u32..).zip(steps) {
        let mut w = lake
            .open(&products, &key, WriteMode::Replace, &format!("run-{n}"))
            .await
            .expect("open");
        // Ids unique to this step: a mix of two versions cannot look like either.
        let mut ids = BTreeSet::new();
        let mut next = n * 1_000;
        for &size in &step.batches {
            let rows: Vec<_> = (next..next + size).map(product).collect();
            ids.extend(rows.iter().map(|p| i64::from(p.id.get())));
            next += size;
            w.write(TableRows::Products(rows)).await.expect("write");
        }
        match step.end {
            End::Commit => {
                let info = w.commit().await.expect("commit");
                catalog.put_partition(&info).await.expect("put_partition");
                committed.push(ids);
            }
            End::Abort => w.abort().await.expect("abort"),
            End::Abandon => drop(w),
        }
        tokio::task::yield_now().await;
    }
    done.store(true, Ordering::Relaxed);
    reader.await.expect("reader");
    let last = ids_in(engine.as_ref()).await.expect("final read");
    let seen = seen.lock().expect("lock").clone();
    (seen, committed, last)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_replaced_partition_is_seen_whole_old_or_whole_new(
        steps in prop::collection::vec(arb_step(), 1..6)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (seen, committed, last) = rt.block_on(run(&steps));
        // Each view is a committed version, and views go forward: once the reader has seen a
        // version it never sees an earlier one (the empty partition included) again.
        let mut at = 0;
        for view in &seen {
            let k = committed.iter().skip(at).position(|v| v == view);
            prop_assert!(
                k.is_some(),
                "the reader saw {} ids, which is no committed version from #{} on",
                view.len(),
                at
            );
            at += k.unwrap_or(0);
        }
        prop_assert_eq!(&last, committed.last().expect("the empty partition at least"));
    }
}
