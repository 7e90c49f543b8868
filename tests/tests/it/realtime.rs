//! The real-time path on the in-memory adapters: stream processor, lake sink, trainer and
//! evaluation, including failure injection.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use fashion_datagen::{GenConfig, Generator};
use fashion_domain::activity::UserActivity;
use fashion_domain::ids::CustomerId;
use fashion_domain::ports::{
    ClickstreamPublisher, DeadLetterReader, DeadLetterSink, ModelStore, ProductCatalog,
    RecommendationReader, RecommendationStore, StoreError, UserActivityStore,
};
use fashion_domain::services::consumer::{Handled, StreamConsumer};
use fashion_domain::services::evaluation::{EvalParams, evaluate};
use fashion_domain::services::lake_sink::{LakeSink, SinkConfig};
use fashion_domain::services::recommender::ModelIndex;
use fashion_domain::services::stream_processor::{ModelHandle, ProcessorConfig, StreamProcessor};
use fashion_domain::services::trainer::{Trainer, TrainerParams, build_model};
use fashion_domain::stream::{OutboundRecord, SequenceNumber, ShardId, StreamRecord};
use fashion_memory::{
    InMemoryCheckpointStore, InMemoryDeadLetterSink, InMemoryLake, InMemoryModelStore,
    InMemoryProductCatalog, InMemoryRecommendationStore, InMemoryStream, InMemoryUserActivityStore,
};
use fashion_tests::fixtures::{cid, product, view};
use futures::TryStreamExt;

fn record(n: u64, data: Vec<u8>, at: DateTime<Utc>) -> StreamRecord {
    StreamRecord {
        shard_id: ShardId("shardId-000000000000".into()),
        sequence_number: SequenceNumber::from_u64(n),
        partition_key: "k".into(),
        data,
        arrived_at: at,
    }
}

async fn catalog() -> Arc<InMemoryProductCatalog> {
    let c = Arc::new(InMemoryProductCatalog::new());
    c.upsert_many(&(1..=40).map(product).collect::<Vec<_>>())
        .await
        .unwrap();
    c
}

fn model_handle(products: &[fashion_domain::product::Product]) -> ModelHandle {
    let now = fashion_tests::fixtures::t0();
    let events: Vec<_> = (1..=40u32)
        .flat_map(|p| {
            (0..u64::from(p % 5 + 1)).map(move |s| view(u64::from(p) * 100 + s, s + 1, p, -3600))
        })
        .filter_map(|e| fashion_domain::history::TrainingEvent::from_event(&e))
        .collect();
    ModelHandle::new(ModelIndex::new(&build_model(
        products,
        &events,
        &[],
        now,
        &TrainerParams::default(),
    )))
}

type Processor = StreamProcessor<
    Arc<dyn UserActivityStore>,
    Arc<dyn RecommendationStore>,
    Arc<InMemoryProductCatalog>,
    Arc<dyn DeadLetterSink>,
>;

struct Stores {
    activity: Arc<InMemoryUserActivityStore>,
    recs: Arc<InMemoryRecommendationStore>,
    dead: Arc<InMemoryDeadLetterSink>,
}

async fn processor_with(
    activity: Arc<dyn UserActivityStore>,
    recs: Arc<dyn RecommendationStore>,
    dead: Arc<dyn DeadLetterSink>,
) -> Processor {
    let catalog = catalog().await;
    let model = model_handle(&catalog.list().await.unwrap());
    StreamProcessor::new(
        activity,
        recs,
        catalog,
        dead,
        model,
        ProcessorConfig::default(),
    )
}

async fn processor() -> (Processor, Stores) {
    let s = Stores {
        activity: Arc::new(InMemoryUserActivityStore::new()),
        recs: Arc::new(InMemoryRecommendationStore::new()),
        dead: Arc::new(InMemoryDeadLetterSink::new()),
    };
    (
        processor_with(s.activity.clone(), s.recs.clone(), s.dead.clone()).await,
        s,
    )
}

fn batch() -> Vec<StreamRecord> {
    let t = fashion_tests::fixtures::t0();
    (1..=30u64)
        .map(|n| record(n, view(n, n % 5 + 1, (n % 40) as u32 + 1, 0).to_json(), t))
        .collect()
}

#[tokio::test]
async fn replaying_a_batch_changes_nothing() {
    // Arrange
    let (p, s) = processor().await;
    let now = fashion_tests::fixtures::t0();
    let first = p.process(&batch(), now).await;
    let customers: Vec<CustomerId> = (1..=5).map(cid).collect();
    let activity_before = s.activity.get_many(&customers).await.unwrap();
    let recs_before = s.recs.get(cid(1)).await.unwrap();

    // Act
    let replay = p.process(&batch(), now + Duration::minutes(5)).await;

    // Assert
    assert_eq!(first.processed, 30);
    assert_eq!(replay.processed, 0);
    assert_eq!(replay.duplicates, 30);
    assert_eq!(replay.recommendations_written, 0);
    assert_eq!(
        s.activity.get_many(&customers).await.unwrap(),
        activity_before
    );
    assert_eq!(s.recs.get(cid(1)).await.unwrap(), recs_before);
}

/// Issue 13: a replayed batch is recognised by the records' positions, whatever the number of
/// one customer's events in it (far beyond the 32 ids an activity remembers), and a duplicate
/// send (the same event on a new record) by its id.
#[tokio::test]
async fn a_large_batch_of_one_customer_replays_as_duplicates_and_a_resent_event_is_dropped() {
    // Arrange: 300 events of customer 1, one record each.
    let (p, s) = processor().await;
    let now = fashion_tests::fixtures::t0();
    let events: Vec<_> = (1..=300u64)
        .map(|n| view(n, 1, (n % 40) as u32 + 1, -i64::try_from(n).unwrap()))
        .collect();
    let records: Vec<StreamRecord> = events
        .iter()
        .enumerate()
        .map(|(i, e)| record(i as u64 + 1, e.to_json(), now))
        .collect();
    let first = p.process(&records, now).await;

    // Act: the ESM retries from the middle of the batch; then the browser re-sends an early
    // event (a new record) and a recent one.
    let retried = p.process(&records[150..], now).await;
    let resent = p
        .process(
            &[
                record(301, events[299].to_json(), now),
                record(302, events[0].to_json(), now),
            ],
            now,
        )
        .await;

    // Assert
    assert_eq!(first.processed, 300);
    assert_eq!((retried.processed, retried.duplicates), (0, 150));
    assert_eq!(
        resent.duplicates, 1,
        "the newest event is among the 32 ids: {resent:?}"
    );
    assert_eq!(
        resent.processed, 1,
        "an event 300 events back is beyond the ids remembered (the lake's contract and the \
         trainer deduplicate it again): {resent:?}"
    );
    let stored = s.activity.get_many(&[cid(1)]).await.unwrap();
    assert_eq!(stored[0].event_count, 301);
}

#[tokio::test]
async fn a_malformed_record_in_the_middle_is_dead_lettered_while_the_rest_succeed() {
    // Arrange
    let (p, s) = processor().await;
    let mut records = batch();
    records[14].data = b"{\"event_id\": \"broken".to_vec();
    records[20].data = view(999, 3, 5, 0)
        .to_json()
        .iter()
        .copied()
        .map(|b| if b == b'5' { b'x' } else { b })
        .collect();

    // Act
    let report = p.process(&records, fashion_tests::fixtures::t0()).await;

    // Assert
    assert_eq!(report.processed, 28);
    assert_eq!(report.dead_lettered, 2);
    assert!(report.failed.is_empty());
    assert_eq!(report.dead_lettered_by_code.get("malformed"), Some(&2));
    let letters = s.dead.list(10).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert!(letters[0].origin.ends_with("/15"), "{}", letters[0].origin);
    assert!(!letters[0].reason.is_empty());
}

#[tokio::test]
async fn an_unknown_product_is_dead_lettered_with_its_own_code() {
    let (p, s) = processor().await;
    let records = vec![record(
        1,
        view(1, 1, 4000, 0).to_json(),
        fashion_tests::fixtures::t0(),
    )];
    let report = p.process(&records, fashion_tests::fixtures::t0()).await;
    assert_eq!(
        report.dead_lettered_by_code.get("unknown_product"),
        Some(&1)
    );
    assert_eq!(s.dead.count().await.unwrap(), 1);
}

/// An activity store that is down for one customer.
struct DownFor {
    inner: InMemoryUserActivityStore,
    customer: CustomerId,
}

#[async_trait]
impl UserActivityStore for DownFor {
    async fn get_many(&self, customers: &[CustomerId]) -> Result<Vec<UserActivity>, StoreError> {
        self.inner.get_many(customers).await
    }
    async fn put(&self, a: &UserActivity) -> Result<(), StoreError> {
        if a.customer_id == self.customer {
            return Err(StoreError::Unavailable {
                message: "throttled".into(),
            });
        }
        self.inner.put(a).await
    }
}

/// An activity store whose writes take a while (a network round trip), counting how many are in
/// flight at once.
#[derive(Default)]
struct SlowWrites {
    inner: InMemoryUserActivityStore,
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl UserActivityStore for SlowWrites {
    async fn get_many(&self, customers: &[CustomerId]) -> Result<Vec<UserActivity>, StoreError> {
        self.inner.get_many(customers).await
    }
    async fn put(&self, a: &UserActivity) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        self.in_flight.fetch_sub(1, SeqCst);
        self.inner.put(a).await
    }
}

/// Issue 13: a batch's customers are written concurrently, not one round trip after another
/// (on DynamoDB, 100 customers one by one cost 100 round trips per batch).
#[tokio::test]
async fn a_batch_writes_its_customers_activity_concurrently() {
    // Arrange: 30 events of 5 customers.
    let activity = Arc::new(SlowWrites::default());
    let p = processor_with(
        activity.clone(),
        Arc::new(InMemoryRecommendationStore::new()),
        Arc::new(InMemoryDeadLetterSink::new()),
    )
    .await;

    // Act
    let report = p.process(&batch(), fashion_tests::fixtures::t0()).await;

    // Assert
    assert_eq!(report.customers_updated, 5);
    assert_eq!(
        activity.most.load(std::sync::atomic::Ordering::SeqCst),
        5,
        "every customer's write in flight at once"
    );
}

#[tokio::test]
async fn a_failing_store_write_marks_exactly_the_affected_records_as_failed() {
    // Arrange: customer 3's activity writes fail.
    let activity = Arc::new(DownFor {
        inner: InMemoryUserActivityStore::new(),
        customer: cid(3),
    });
    let recs = Arc::new(InMemoryRecommendationStore::new());
    let p = processor_with(
        activity.clone(),
        recs.clone(),
        Arc::new(InMemoryDeadLetterSink::new()),
    )
    .await;
    let records = batch();
    let expected: Vec<usize> = (0..records.len())
        .filter(|i| (i + 1) % 5 + 1 == 3)
        .collect();

    // Act
    let report = p.process(&records, fashion_tests::fixtures::t0()).await;

    // Assert
    assert_eq!(report.failed, expected);
    assert_eq!(report.processed, records.len() - expected.len());
    // The retry of only the failed records succeeds once the store is back.
    let healthy = processor_with(
        Arc::new(InMemoryUserActivityStore::new()),
        recs,
        Arc::new(InMemoryDeadLetterSink::new()),
    )
    .await;
    let retry: Vec<StreamRecord> = expected.iter().map(|i| records[*i].clone()).collect();
    assert!(
        healthy
            .process(&retry, fashion_tests::fixtures::t0())
            .await
            .failed
            .is_empty()
    );
}

#[tokio::test]
async fn a_failing_recommendation_write_fails_the_batch_records_and_writes_no_activity() {
    let mut recs = fashion_domain::ports::MockRecommendationStore::new();
    recs.expect_put_many().returning(|_| {
        Err(StoreError::Unavailable {
            message: "throttled".into(),
        })
    });
    let activity = Arc::new(InMemoryUserActivityStore::new());
    let p = processor_with(
        activity.clone(),
        Arc::new(recs),
        Arc::new(InMemoryDeadLetterSink::new()),
    )
    .await;
    let report = p.process(&batch(), fashion_tests::fixtures::t0()).await;
    assert_eq!(report.failed.len(), 30);
    assert_eq!(report.processed, 0);
    assert!(
        activity.get_many(&[cid(1)]).await.unwrap().is_empty(),
        "activity must not move ahead of recommendations"
    );
}

#[tokio::test]
async fn cold_start_customers_get_non_empty_recommendations() {
    let (p, s) = processor().await;
    let mut page_view = view(1, 77, 1, 0);
    page_view.event_type = fashion_domain::event::EventType::PageView;
    page_view.product_id = None;
    let report = p
        .process(
            &[record(
                1,
                page_view.to_json(),
                fashion_tests::fixtures::t0(),
            )],
            fashion_tests::fixtures::t0(),
        )
        .await;
    assert_eq!(report.processed, 1);
    let recs = s
        .recs
        .get(cid(77))
        .await
        .unwrap()
        .expect("recommendations for a customer without history");
    assert_eq!(recs.items.len(), 10);
    assert!(
        serde_json::to_vec(&recs).unwrap().len() <= 1024,
        "a stored item stays under 1 KB"
    );
}

/// Generates a store, streams it through the processor and the sink on the in-memory adapters,
/// trains from the lake and evaluates: the acceptance run of the real-time path.
#[tokio::test]
async fn generate_consume_train_and_evaluate_in_memory_beats_popularity_and_finds_the_planted_trends()
 {
    // Arrange
    let g = Generator::new(GenConfig {
        users: 1500,
        products: 1500,
        days: 7,
        dirty_rate: 0.01,
        ..GenConfig::default()
    });
    let clock = Arc::new(fashion_memory::ManualClock::new(
        fashion_tests::fixtures::t0(),
    ));
    let stream = Arc::new(InMemoryStream::with_clock(4, clock.clone()));
    let catalog = Arc::new(InMemoryProductCatalog::new());
    catalog.upsert_many(g.products()).await.unwrap();
    let lake = InMemoryLake::new();
    let models = Arc::new(InMemoryModelStore::new());
    let checkpoints = Arc::new(InMemoryCheckpointStore::new());
    let dead = Arc::new(InMemoryDeadLetterSink::new());
    let recs = Arc::new(InMemoryRecommendationStore::new());
    let activity = Arc::new(InMemoryUserActivityStore::new());
    let processor = StreamProcessor::new(
        activity.clone(),
        recs.clone(),
        catalog.clone(),
        dead.clone(),
        ModelHandle::default(),
        ProcessorConfig::default(),
    );
    let consumer = StreamConsumer::new(stream.clone(), checkpoints.clone(), "processor", 500);
    let mut sink = LakeSink::new(
        stream.clone(),
        checkpoints.clone(),
        lake.clone(),
        lake.clone(),
        dead.clone(),
        SinkConfig::default(),
    );
    let trainer = Trainer::new(
        lake.clone(),
        catalog.clone(),
        models.clone(),
        activity.clone(),
        TrainerParams::default(),
    );
    let mut truth = g.ground_truth();
    let totals = std::cell::RefCell::new((0usize, 0usize, 0usize));

    // Act: day by day, publish, process, sink; retrain at each midnight.
    for d in 0..7 {
        let day = g.day(d);
        truth.add_day(&day);
        // The website sends events as they happen: the stream stamps each chunk with its time.
        for chunk in day.events.chunks(200) {
            clock.set(chunk.last().unwrap().occurred_at);
            let records: Vec<OutboundRecord> = chunk
                .iter()
                .map(fashion_datagen::GeneratedEvent::outbound)
                .collect();
            stream.publish(&records).await.unwrap();
        }
        let now = day.events.last().unwrap().occurred_at;
        consumer
            .pass(|batch| {
                let (p, totals) = (&processor, &totals);
                async move {
                    let r = p.process(&batch, now).await;
                    let mut t = totals.borrow_mut();
                    t.0 += r.processed;
                    t.1 += r.dead_lettered;
                    t.2 += r.duplicates;
                    Handled {
                        done: r.failed.first().copied().unwrap_or(batch.len()),
                    }
                }
            })
            .await
            .unwrap();
        sink.poll(now).await.unwrap();
        sink.flush(now).await.unwrap();
        let midnight = now + Duration::hours(1);
        trainer.train(midnight).await.unwrap();
        processor.model().refresh(models.as_ref()).await.unwrap();
    }

    // Assert: every record is accounted for.
    let (processed, dead_lettered, duplicates) = totals.into_inner();
    assert_eq!(
        processed + dead_lettered,
        (truth.events_sent - truth.event_duplicates) as usize
    );
    assert_eq!(duplicates, truth.event_duplicates as usize);
    assert_eq!(sink.report().events_written, truth.valid_events());
    let history: Vec<_> = fashion_domain::ports::HistorySource::interactions(
        &lake,
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
    )
    .try_concat()
    .await
    .unwrap();
    let eval = evaluate(
        g.products(),
        &history,
        &[],
        g.planted_trends(),
        &EvalParams::default(),
    );
    println!("{}", serde_json::to_string_pretty(&eval).unwrap());
    assert!(eval.customers_evaluated > 200, "{eval:?}");
    assert!(eval.hr_at_10 >= 3.0 * eval.popularity_hr_at_10, "{eval:?}");
    assert!(eval.hr_at_10 > eval.random_hr_at_10);
    assert!(
        (eval.planted_trend_precision - 1.0).abs() < f64::EPSILON,
        "{eval:?}"
    );
    assert!(recs.count().await.unwrap() > 1000);
    assert!(models.latest_version().await.unwrap().is_some());
}

/// An activity store whose record of one customer is corrupt.
struct CorruptFor {
    inner: InMemoryUserActivityStore,
    customer: CustomerId,
}

#[async_trait]
impl UserActivityStore for CorruptFor {
    async fn get_many(&self, customers: &[CustomerId]) -> Result<Vec<UserActivity>, StoreError> {
        if customers.contains(&self.customer) {
            return Err(StoreError::Corrupt {
                what: format!("activity of {}", self.customer),
                message: "bad json".into(),
            });
        }
        self.inner.get_many(customers).await
    }
    async fn put(&self, a: &UserActivity) -> Result<(), StoreError> {
        self.inner.put(a).await
    }
}

#[tokio::test]
async fn a_corrupt_stored_record_dead_letters_only_its_customers_events_and_the_batch_moves_on() {
    // Arrange: customer 3's stored activity cannot be decoded.
    let dead = Arc::new(InMemoryDeadLetterSink::new());
    let activity = Arc::new(CorruptFor {
        inner: InMemoryUserActivityStore::new(),
        customer: cid(3),
    });
    let p = processor_with(
        activity,
        Arc::new(InMemoryRecommendationStore::new()),
        dead.clone(),
    )
    .await;
    let records = batch();
    let of_3 = (0..records.len()).filter(|i| (i + 1) % 5 + 1 == 3).count();

    // Act
    let report = p.process(&records, fashion_tests::fixtures::t0()).await;

    // Assert: nothing is left to retry forever; the rest is processed.
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        report.dead_lettered_by_code.get("unreadable_state"),
        Some(&of_3)
    );
    assert_eq!(report.processed, records.len() - of_3);
    assert_eq!(dead.count().await.unwrap(), of_3 as u64);
}

/// A lake whose commits fail (retryably) while `failing` says so, for partitions of hour
/// `fail_hour` only; it records every write id it was opened with.
#[derive(Clone)]
struct FlakyLake {
    inner: InMemoryLake,
    fail_hour: u32,
    failing: Arc<std::sync::atomic::AtomicBool>,
    write_ids: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

struct FlakyWriter {
    inner: Box<dyn fashion_domain::ports::PartitionWriter>,
    fail: bool,
}

#[async_trait]
impl fashion_domain::ports::PartitionWriter for FlakyWriter {
    async fn write(
        &mut self,
        rows: fashion_domain::lake::TableRows,
    ) -> Result<(), fashion_domain::ports::LakeError> {
        self.inner.write(rows).await
    }
    async fn commit(
        self: Box<Self>,
    ) -> Result<fashion_domain::lake::PartitionInfo, fashion_domain::ports::LakeError> {
        if self.fail {
            self.inner.abort().await?;
            return Err(fashion_domain::ports::LakeError::Unavailable {
                message: "injected: slow down".into(),
            });
        }
        self.inner.commit().await
    }
    async fn abort(self: Box<Self>) -> Result<(), fashion_domain::ports::LakeError> {
        self.inner.abort().await
    }
}

#[async_trait]
impl fashion_domain::ports::LakeWriter for FlakyLake {
    async fn open(
        &self,
        table: &fashion_domain::lake::TableDef,
        partition: &fashion_domain::lake::PartitionKey,
        mode: fashion_domain::ports::WriteMode,
        write_id: &str,
    ) -> Result<Box<dyn fashion_domain::ports::PartitionWriter>, fashion_domain::ports::LakeError>
    {
        self.write_ids
            .lock()
            .unwrap()
            .push((partition.path(), write_id.to_owned()));
        let fail = self.failing.load(std::sync::atomic::Ordering::SeqCst)
            && partition
                .path()
                .ends_with(&format!("hour={:02}", self.fail_hour));
        Ok(Box::new(FlakyWriter {
            inner: self.inner.open(table, partition, mode, write_id).await?,
            fail,
        }))
    }
}

/// Rows the lake's catalog holds for the clickstream table, over every partition.
async fn lake_rows(lake: &InMemoryLake) -> u64 {
    fashion_domain::ports::TableCatalog::partitions(lake, "clickstream")
        .await
        .unwrap()
        .iter()
        .map(|p| p.rows)
        .sum()
}

async fn publish_views(stream: &InMemoryStream, from: u64, n: u64, secs: i64) {
    let records: Vec<OutboundRecord> = (from..from + n)
        .map(|i| OutboundRecord {
            partition_key: "one-shard".into(),
            data: view(i, 1 + i % 50, 1, secs).to_json(),
        })
        .collect();
    stream.publish(&records).await.unwrap();
}

/// Issue 14, defects 2 and 9: a flush that fails after one partition's file is committed is
/// finished with the same rows under the same names before anything more is read (so the buffer
/// stays bounded), and nothing reaches the lake twice, even when the flush holds more events than
/// the sink's memory of recent ids.
#[tokio::test]
async fn a_flush_failing_part_way_is_finished_as_planned_before_anything_more_is_read() {
    // Arrange: one shard; more events in hour 10 than the sink remembers ids, a few in hour 11,
    // whose commit fails until the store comes back.
    let t = fashion_tests::fixtures::t0();
    let hour = |h: i64| {
        (t.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc() + Duration::hours(h) - t)
            .num_seconds()
    };
    let stream = InMemoryStream::new(1);
    let many = u64::try_from(fashion_domain::services::lake_sink::RECENT_IDS).unwrap() + 20_000;
    publish_views(&stream, 1, many, hour(10)).await;
    publish_views(&stream, many + 1, 10, hour(11)).await;
    let inner = InMemoryLake::new();
    let lake = FlakyLake {
        inner: inner.clone(),
        fail_hour: 11,
        failing: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        write_ids: Arc::default(),
    };
    let checkpoints = Arc::new(InMemoryCheckpointStore::new());
    let stream = Arc::new(stream);
    let mut sink = LakeSink::new(
        stream.clone(),
        checkpoints,
        lake.clone(),
        inner.clone(),
        Arc::new(InMemoryDeadLetterSink::new()),
        SinkConfig {
            read_batch: 5_000,
            ..SinkConfig::default()
        },
    );
    let later = Utc::now() + Duration::days(1);

    // Act: the flush commits hour 10 and fails on hour 11; the website keeps sending; the sink
    // is polled again (as `--follow` does) while the store is still down, then after it is back.
    let first = sink.poll(later).await;
    publish_views(&stream, many + 11, 100, hour(12)).await;
    let read_before = sink.report().records_read;
    let second = sink.poll(later).await;
    let read_while_failing = sink.report().records_read;
    lake.failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    sink.poll(later).await.unwrap();
    sink.flush(later).await.unwrap();

    // Assert
    assert!(first.unwrap_err().is_retryable());
    assert!(second.unwrap_err().is_retryable());
    assert_eq!(
        read_while_failing, read_before,
        "nothing more is read while a flush is unfinished"
    );
    assert_eq!(
        lake_rows(&inner).await,
        many + 110,
        "every event exactly once"
    );
    let ids = lake.write_ids.lock().unwrap().clone();
    let hour10: Vec<_> = ids.iter().filter(|(p, _)| p.ends_with("hour=10")).collect();
    assert_eq!(hour10.len(), 1, "hour 10 written once: {hour10:?}");
    let hour11: std::collections::BTreeSet<_> = ids
        .iter()
        .filter(|(p, _)| p.ends_with("hour=11"))
        .map(|(_, id)| id)
        .collect();
    assert_eq!(
        hour11.len(),
        1,
        "the retry used the same write id: {hour11:?}"
    );
    assert_eq!(sink.report().events_written, many + 110);
}

/// A stream whose second shard appears (a resharding) after the sink started.
struct ReshardedStream {
    inner: Arc<InMemoryStream>,
    shards: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl fashion_domain::ports::ClickstreamSource for ReshardedStream {
    async fn shards(&self) -> Result<Vec<ShardId>, fashion_domain::ports::StreamError> {
        let all = self.inner.shards().await?;
        let n = self.shards.load(std::sync::atomic::Ordering::SeqCst);
        Ok(all.into_iter().take(n).collect())
    }
    async fn read(
        &self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, fashion_domain::ports::StreamError> {
        self.inner.read(shard, after, limit).await
    }
}

/// Issue 14, defect 9: shards created by a resharding are read without a restart.
#[tokio::test]
async fn the_sink_reads_the_shards_a_resharding_creates_without_a_restart() {
    // Arrange: two shards, of which the sink first sees one.
    let t = fashion_tests::fixtures::t0();
    let stream = Arc::new(InMemoryStream::new(2));
    let records: Vec<OutboundRecord> = (1..=200_u64)
        .map(|i| OutboundRecord {
            partition_key: format!("customer-{i}"),
            data: view(i, i, 1, 0).to_json(),
        })
        .collect();
    stream.publish(&records).await.unwrap();
    let source = Arc::new(ReshardedStream {
        inner: stream.clone(),
        shards: std::sync::atomic::AtomicUsize::new(1),
    });
    let lake = InMemoryLake::new();
    let mut sink = LakeSink::new(
        source.clone(),
        Arc::new(InMemoryCheckpointStore::new()),
        lake.clone(),
        lake.clone(),
        Arc::new(InMemoryDeadLetterSink::new()),
        SinkConfig::default(),
    );

    // Act
    sink.poll(t).await.unwrap();
    sink.flush(t).await.unwrap();
    let before = lake_rows(&lake).await;
    source.shards.store(2, std::sync::atomic::Ordering::SeqCst);
    let later = t + Duration::seconds(fashion_domain::services::lake_sink::SHARD_REFRESH_SECS);
    sink.poll(later).await.unwrap();
    sink.flush(later).await.unwrap();

    // Assert
    assert!(
        before > 0 && before < 200,
        "one shard's share first: {before}"
    );
    assert_eq!(lake_rows(&lake).await, 200);
}

/// A model store whose newest version cannot be decoded; counts the reads of it.
struct CorruptNewest {
    inner: InMemoryModelStore,
    corrupt: String,
    reads_of_corrupt: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl ModelStore for CorruptNewest {
    async fn put(&self, model: &fashion_domain::model::RecModel) -> Result<(), StoreError> {
        self.inner.put(model).await
    }
    async fn latest_version(&self) -> Result<Option<String>, StoreError> {
        Ok(Some(self.corrupt.clone()))
    }
    async fn get(
        &self,
        version: &str,
    ) -> Result<Option<fashion_domain::model::RecModel>, StoreError> {
        if version == self.corrupt {
            self.reads_of_corrupt
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Err(StoreError::Corrupt {
                what: format!("model {version}"),
                message: "EOF while parsing an object at line 1 column 4096".into(),
            });
        }
        self.inner.get(version).await
    }
    async fn versions(&self) -> Result<Vec<String>, StoreError> {
        let mut v = self.inner.versions().await?;
        v.push(self.corrupt.clone());
        Ok(v)
    }
}

/// Issue 14, defect 6, in the domain: the model handle starts with the newest readable model,
/// or the fallbacks, and does not fetch a version it found unreadable again.
#[tokio::test]
async fn a_corrupt_newest_model_loads_the_last_good_one_or_the_fallbacks() {
    // Arrange
    let products: Vec<_> = (1..=3).map(product).collect();
    let mut good = build_model(
        &products,
        &[],
        &[],
        fashion_tests::fixtures::t0(),
        &TrainerParams::default(),
    );
    good.version = "20261124T000000Z-good".into();
    let with_good = CorruptNewest {
        inner: InMemoryModelStore::new(),
        corrupt: "20261125T000000Z-bad".into(),
        reads_of_corrupt: std::sync::atomic::AtomicUsize::new(0),
    };
    with_good.inner.put(&good).await.unwrap();
    let only_bad = CorruptNewest {
        inner: InMemoryModelStore::new(),
        corrupt: "20261125T000000Z-bad".into(),
        reads_of_corrupt: std::sync::atomic::AtomicUsize::new(0),
    };

    // Act
    let handle = ModelHandle::default();
    let loaded = handle.load(&with_good).await.unwrap();
    let refreshed = handle.refresh(&with_good).await.unwrap();
    let fallback = ModelHandle::default().load(&only_bad).await.unwrap();

    // Assert
    assert!(
        matches!(&loaded, fashion_domain::services::stream_processor::ModelLoad::Earlier { used, .. } if used == "20261124T000000Z-good"),
        "{loaded:?}"
    );
    assert_eq!(handle.current().version(), "20261124T000000Z-good");
    assert!(!refreshed);
    assert_eq!(
        with_good
            .reads_of_corrupt
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "an unreadable version is not fetched again"
    );
    assert!(
        matches!(
            fallback,
            fashion_domain::services::stream_processor::ModelLoad::Fallback { .. }
        ),
        "{fallback:?}"
    );
}

/// The lake sink's dedupe window survives a restart: the second copy of an event sent again
/// after the sink restarted (a client retry, a producer resend) is dropped, not written twice.
#[tokio::test]
async fn a_duplicate_sent_after_the_sink_restarted_reaches_the_lake_once() {
    // Arrange
    let stream = Arc::new(InMemoryStream::new(1));
    let checkpoints = Arc::new(InMemoryCheckpointStore::new());
    let lake = InMemoryLake::new();
    let dead = Arc::new(InMemoryDeadLetterSink::new());
    let sink = || {
        LakeSink::new(
            stream.clone(),
            checkpoints.clone(),
            lake.clone(),
            lake.clone(),
            dead.clone(),
            SinkConfig::default(),
        )
    };
    let later = Utc::now() + Duration::days(1);
    publish_views(&stream, 1, 100, 0).await;
    let mut first = sink();
    first.poll(later).await.unwrap();
    first.flush(later).await.unwrap();
    drop(first);

    // Act: after the restart, event 50 arrives again with five new ones.
    publish_views(&stream, 50, 1, 0).await;
    publish_views(&stream, 101, 5, 0).await;
    let mut second = sink();
    second.poll(later).await.unwrap();
    second.flush(later).await.unwrap();

    // Assert
    assert_eq!(lake_rows(&lake).await, 105);
    assert_eq!(second.report().duplicates, 1);
}
