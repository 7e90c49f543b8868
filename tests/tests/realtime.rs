//! The real-time path on the in-memory adapters: stream processor, lake sink, trainer and
//! evaluation, including failure injection.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use fashion_datagen::{GenConfig, Generator};
use fashion_domain::activity::UserActivity;
use fashion_domain::ids::CustomerId;
use fashion_domain::ports::{
    ClickstreamPublisher, DeadLetterSink, ModelStore, ProductCatalog, RecommendationStore,
    StoreError, UserActivityStore,
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
    let processor = StreamProcessor::new(
        Arc::new(InMemoryUserActivityStore::new()),
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
                .map(|e| OutboundRecord {
                    partition_key: e.partition_key.clone(),
                    data: e.data.clone(),
                })
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
