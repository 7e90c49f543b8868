//! Fault injection around the ports, for the whole-pipeline fault suite.
//!
//! [`Faulty`] wraps any adapter and, on each call, asks a shared [`Faults`] what happens:
//! nothing, a retryable failure before the call (throttling, a timeout, a store that is down for
//! a while), an *ambiguous* failure after it (the write is applied but the caller gets an
//! error), or a crash before or after it. A crash stands for the process exiting: from then on
//! every call fails until the driver [`Faults::restart`]s, and the driver must drop every service
//! (and its memory) and build new ones over the same stores, as a restarted process would.
//! The source wrapper can also deliver records again (at-least-once delivery after a lost
//! checkpoint).
//!
//! Decisions come from a seeded generator, so a failing seed replays exactly.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use fashion_domain::activity::UserActivity;
use fashion_domain::calendar::StoreDay;
use fashion_domain::customer::Customer;
use fashion_domain::dead_letter::DeadLetter;
use fashion_domain::ids::{CustomerId, ProductId};
use fashion_domain::lake::{PartitionInfo, PartitionKey, TableDef, TableRows};
use fashion_domain::order::StoredOrder;
use fashion_domain::ports::{
    CheckpointStore, ClickstreamSource, DeadLetterReader, DeadLetterSink, LakeError, LakeWriter,
    PartitionWriter, ProductCatalog, PurchaseSource, PurchaseStoreError, RecommendationReader,
    RecommendationStore, StoreError, StreamError, TableCatalog, UserActivityStore, WriteMode,
};
use fashion_domain::product::Product;
use fashion_domain::recommendation::Recommendations;
use fashion_domain::stream::{SequenceNumber, ShardId, StreamRecord};
use futures::StreamExt;
use futures::stream::BoxStream;

/// How often each fault happens, per call (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// A retryable failure before the call (throttled, timed out).
    pub fail: f64,
    /// A write applied, then reported failed.
    pub ambiguous: f64,
    /// The process exits, before or after the call.
    pub crash: f64,
    /// The store goes down for [`Rates::outage_calls`] calls.
    pub outage: f64,
    /// Calls an outage lasts.
    pub outage_calls: u32,
    /// A read delivers records again (from the shard's start of the read before).
    pub redeliver: f64,
}

impl Rates {
    /// No faults.
    pub const NONE: Self = Self {
        fail: 0.0,
        ambiguous: 0.0,
        crash: 0.0,
        outage: 0.0,
        outage_calls: 0,
        redeliver: 0.0,
    };
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Pass,
    FailBefore,
    FailAfter,
    CrashBefore,
    CrashAfter,
}

struct State {
    rng: u64,
    rates: Rates,
    outage_left: u32,
    crashed: bool,
    injected: BTreeMap<String, u64>,
}

/// The fault plan shared by every wrapper of one run.
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    /// Faults at `rates`, decided by a generator seeded with `seed`.
    #[must_use]
    pub fn new(seed: u64, rates: Rates) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                // SplitMix64's increment keeps a zero seed from sticking at zero.
                rng: seed ^ 0x9e37_79b9_7f4a_7c15,
                rates,
                outage_left: 0,
                crashed: false,
                injected: BTreeMap::new(),
            }),
        })
    }

    /// A plan that never injects anything.
    #[must_use]
    pub fn none() -> Arc<Self> {
        Self::new(0, Rates::NONE)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True after a crash, until [`Self::restart`].
    #[must_use]
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// The process came back: calls work again.
    pub fn restart(&self) {
        let mut st = self.lock();
        st.crashed = false;
        st.outage_left = 0;
    }

    /// Stops injecting (to let a run drain at the end).
    pub fn quiet(&self) {
        self.lock().rates = Rates::NONE;
    }

    /// Faults injected so far, by kind and operation.
    #[must_use]
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.lock().injected.clone()
    }

    /// Total faults injected of `kind` (`fail`, `ambiguous`, `crash`, `outage`, `redeliver`).
    #[must_use]
    pub fn count(&self, kind: &str) -> u64 {
        self.lock()
            .injected
            .iter()
            .filter(|(k, _)| k.starts_with(kind))
            .map(|(_, v)| *v)
            .sum()
    }

    fn chance(st: &mut State, p: f64) -> bool {
        // SplitMix64.
        st.rng = st.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = st.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        #[allow(clippy::cast_precision_loss)] // a uniform draw in [0, 1)
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        u < p
    }

    fn note(st: &mut State, kind: &str, op: &str) {
        *st.injected.entry(format!("{kind} {op}")).or_default() += 1;
    }

    fn decide(&self, op: &str, write: bool) -> Decision {
        let mut st = self.lock();
        if st.crashed {
            return Decision::FailBefore;
        }
        if st.outage_left > 0 {
            st.outage_left -= 1;
            return Decision::FailBefore;
        }
        let r = st.rates;
        if Self::chance(&mut st, r.crash) {
            st.crashed = true;
            Self::note(&mut st, "crash", op);
            return if write && Self::chance(&mut st, 0.5) {
                Decision::CrashAfter
            } else {
                Decision::CrashBefore
            };
        }
        if Self::chance(&mut st, r.outage) {
            st.outage_left = r.outage_calls;
            Self::note(&mut st, "outage", op);
            return Decision::FailBefore;
        }
        if write && Self::chance(&mut st, r.ambiguous) {
            Self::note(&mut st, "ambiguous", op);
            return Decision::FailAfter;
        }
        if Self::chance(&mut st, r.fail) {
            Self::note(&mut st, "fail", op);
            return Decision::FailBefore;
        }
        Decision::Pass
    }

    fn redeliver(&self, op: &str) -> bool {
        let mut st = self.lock();
        let p = st.rates.redeliver;
        let yes = !st.crashed && Self::chance(&mut st, p);
        if yes {
            Self::note(&mut st, "redeliver", op);
        }
        yes
    }
}

fn message(op: &str) -> String {
    format!("injected fault in {op}")
}

/// Runs a call under the plan: `fail` builds the error the port returns.
async fn run<T, E, F>(
    faults: &Faults,
    op: &str,
    write: bool,
    fail: impl Fn(String) -> E,
    call: F,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    match faults.decide(op, write) {
        Decision::Pass => call.await,
        Decision::FailBefore | Decision::CrashBefore => Err(fail(message(op))),
        Decision::FailAfter | Decision::CrashAfter => {
            // Applied (whatever its own outcome), then reported failed.
            let _applied = call.await;
            Err(fail(message(op)))
        }
    }
}

fn store_err(message: String) -> StoreError {
    StoreError::Unavailable { message }
}

fn stream_err(message: String) -> StreamError {
    StreamError::Unavailable { message }
}

fn lake_err(message: String) -> LakeError {
    LakeError::Unavailable { message }
}

fn purchase_err(message: String) -> PurchaseStoreError {
    PurchaseStoreError::Unavailable { message }
}

/// An adapter under a fault plan.
pub struct Faulty<P> {
    inner: P,
    faults: Arc<Faults>,
    /// The last position each shard was read after (for redelivery).
    reads: Mutex<BTreeMap<ShardId, Option<SequenceNumber>>>,
}

impl<P> Faulty<P> {
    /// `inner` under `faults`.
    pub fn new(inner: P, faults: &Arc<Faults>) -> Self {
        Self {
            inner,
            faults: Arc::clone(faults),
            reads: Mutex::new(BTreeMap::new()),
        }
    }
}

#[async_trait]
impl<P: ClickstreamSource> ClickstreamSource for Faulty<P> {
    async fn shards(&self) -> Result<Vec<ShardId>, StreamError> {
        run(
            &self.faults,
            "shards",
            false,
            stream_err,
            self.inner.shards(),
        )
        .await
    }

    async fn read(
        &self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StreamError> {
        // At-least-once: deliver again from where the read before this one started.
        let previous = {
            let mut reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
            reads.insert(shard.clone(), after.clone())
        };
        let from = match previous {
            Some(earlier) if earlier < after && self.faults.redeliver("read") => earlier,
            _ => after,
        };
        run(
            &self.faults,
            "read",
            false,
            stream_err,
            self.inner.read(shard, from, limit),
        )
        .await
    }
}

#[async_trait]
impl<P: CheckpointStore> CheckpointStore for Faulty<P> {
    async fn load(
        &self,
        consumer: &str,
        shard: &ShardId,
    ) -> Result<Option<SequenceNumber>, StreamError> {
        run(
            &self.faults,
            "checkpoint load",
            false,
            stream_err,
            self.inner.load(consumer, shard),
        )
        .await
    }

    async fn commit(
        &self,
        consumer: &str,
        shard: &ShardId,
        position: &SequenceNumber,
    ) -> Result<(), StreamError> {
        run(
            &self.faults,
            "checkpoint commit",
            true,
            stream_err,
            self.inner.commit(consumer, shard, position),
        )
        .await
    }
}

#[async_trait]
impl<P: UserActivityStore> UserActivityStore for Faulty<P> {
    async fn get_many(&self, customers: &[CustomerId]) -> Result<Vec<UserActivity>, StoreError> {
        run(
            &self.faults,
            "activity get",
            false,
            store_err,
            self.inner.get_many(customers),
        )
        .await
    }

    async fn put(&self, activity: &UserActivity) -> Result<(), StoreError> {
        run(
            &self.faults,
            "activity put",
            true,
            store_err,
            self.inner.put(activity),
        )
        .await
    }
}

#[async_trait]
impl<P: RecommendationStore> RecommendationStore for Faulty<P> {
    async fn put_many(&self, recs: &[Recommendations]) -> Result<(), StoreError> {
        run(
            &self.faults,
            "recommendations put",
            true,
            store_err,
            self.inner.put_many(recs),
        )
        .await
    }
}

#[async_trait]
impl<P: RecommendationReader> RecommendationReader for Faulty<P> {
    async fn get(&self, customer: CustomerId) -> Result<Option<Recommendations>, StoreError> {
        self.inner.get(customer).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }
}

#[async_trait]
impl<P: DeadLetterSink> DeadLetterSink for Faulty<P> {
    async fn put_many(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        run(
            &self.faults,
            "dead letters put",
            true,
            store_err,
            self.inner.put_many(letters),
        )
        .await
    }
}

#[async_trait]
impl<P: DeadLetterReader> DeadLetterReader for Faulty<P> {
    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }

    async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.inner.list(limit).await
    }
}

#[async_trait]
impl<P: ProductCatalog> ProductCatalog for Faulty<P> {
    async fn upsert_many(&self, products: &[Product]) -> Result<u64, StoreError> {
        self.inner.upsert_many(products).await
    }

    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        run(
            &self.faults,
            "catalog get",
            false,
            store_err,
            self.inner.get_many(ids),
        )
        .await
    }

    async fn list(&self) -> Result<Vec<Product>, StoreError> {
        self.inner.list().await
    }
}

/// A partition writer under a fault plan (its commit can fail before, after, or crash).
struct FaultyWriter {
    inner: Box<dyn PartitionWriter>,
    faults: Arc<Faults>,
}

#[async_trait]
impl PartitionWriter for FaultyWriter {
    async fn write(&mut self, rows: TableRows) -> Result<(), LakeError> {
        match self.faults.decide("partition write", false) {
            Decision::Pass => self.inner.write(rows).await,
            _ => Err(lake_err(message("partition write"))),
        }
    }

    async fn commit(self: Box<Self>) -> Result<PartitionInfo, LakeError> {
        let Self { inner, faults } = *self;
        match faults.decide("partition commit", true) {
            Decision::Pass => inner.commit().await,
            Decision::FailBefore | Decision::CrashBefore => {
                inner.abort().await?;
                Err(lake_err(message("partition commit")))
            }
            Decision::FailAfter | Decision::CrashAfter => {
                let _applied = inner.commit().await;
                Err(lake_err(message("partition commit")))
            }
        }
    }

    async fn abort(self: Box<Self>) -> Result<(), LakeError> {
        self.inner.abort().await
    }
}

#[async_trait]
impl<P: LakeWriter> LakeWriter for Faulty<P> {
    async fn open(
        &self,
        table: &TableDef,
        partition: &PartitionKey,
        mode: WriteMode,
        write_id: &str,
    ) -> Result<Box<dyn PartitionWriter>, LakeError> {
        let inner = run(
            &self.faults,
            "partition open",
            false,
            lake_err,
            self.inner.open(table, partition, mode, write_id),
        )
        .await?;
        Ok(Box::new(FaultyWriter {
            inner,
            faults: Arc::clone(&self.faults),
        }))
    }
}

#[async_trait]
impl<P: TableCatalog> TableCatalog for Faulty<P> {
    async fn ensure_table(&self, table: &TableDef) -> Result<(), LakeError> {
        run(
            &self.faults,
            "ensure table",
            true,
            lake_err,
            self.inner.ensure_table(table),
        )
        .await
    }

    async fn table(&self, name: &str) -> Result<Option<TableDef>, LakeError> {
        self.inner.table(name).await
    }

    async fn put_partition(&self, partition: &PartitionInfo) -> Result<(), LakeError> {
        run(
            &self.faults,
            "put partition",
            true,
            lake_err,
            self.inner.put_partition(partition),
        )
        .await
    }

    async fn partitions(&self, table: &str) -> Result<Vec<PartitionInfo>, LakeError> {
        self.inner.partitions(table).await
    }
}

#[async_trait]
impl<P: PurchaseSource> PurchaseSource for Faulty<P> {
    fn extract_day(
        &self,
        day: StoreDay,
    ) -> BoxStream<'static, Result<Vec<StoredOrder>, PurchaseStoreError>> {
        let faults = Arc::clone(&self.faults);
        self.inner
            .extract_day(day)
            .map(move |chunk| match faults.decide("extract chunk", false) {
                Decision::Pass => chunk,
                _ => Err(purchase_err(message("extract chunk"))),
            })
            .boxed()
    }

    async fn customers(&self) -> Result<Vec<Customer>, PurchaseStoreError> {
        run(
            &self.faults,
            "customers",
            false,
            purchase_err,
            self.inner.customers(),
        )
        .await
    }

    async fn products(&self) -> Result<Vec<Product>, PurchaseStoreError> {
        run(
            &self.faults,
            "products",
            false,
            purchase_err,
            self.inner.products(),
        )
        .await
    }
}
