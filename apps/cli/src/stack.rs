//! Builds the configured stack's adapters. The local stack lives under the data directory: SQLite
//! stores, the embedded stream, the Parquet lake with its catalog and history, model files, and
//! the transactional database (SQLite, or PostgreSQL when `database_url` is set). SQL over the
//! lake (DataFusion) is compiled in with the feature `sql`, on by default.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use fashion_domain::ports::{Clock, PurchaseSource, PurchaseStore, QueryEngine};
use fashion_domain::services::daily_job::DailyJob;
use fashion_domain::services::lake_sink::{LakeSink, SinkConfig};
use fashion_domain::services::stream_processor::{ModelHandle, ProcessorConfig, StreamProcessor};
use fashion_domain::services::trainer::{Trainer, TrainerParams};
use fashion_local::{
    FileModelStore, LocalHistory, LocalLake, SqliteCheckpointStore, SqliteDeadLetterSink,
    SqliteProductCatalog, SqlitePurchaseStore, SqliteRecommendationStore, SqliteStreamLog,
    SqliteTableCatalog, SqliteUserActivityStore, StateDb,
};
use fashion_postgres::PostgresPurchaseStore;
use secrecy::ExposeSecret;

use crate::settings::Settings;

/// The processor's consumer name (its checkpoints).
pub const PROCESSOR: &str = "stream-processor";

/// A transactional database: written by the generator, read by the daily job.
pub trait PurchaseDb: PurchaseStore + PurchaseSource {}
impl<T: PurchaseStore + PurchaseSource> PurchaseDb for T {}

/// File names inside the data directory.
pub mod files {
    /// Key-value stores and the lake catalog.
    pub const STATE_DB: &str = "state.db";
    /// The embedded stream.
    pub const STREAM_DB: &str = "stream.db";
    /// The transactional database (when not PostgreSQL).
    pub const STORE_DB: &str = "store.db";
    /// The Parquet lake.
    pub const LAKE: &str = "lake";
    /// Model artifacts.
    pub const MODELS: &str = "models";
    /// Generator output (styles.csv, ground truth).
    pub const GENERATED: &str = "generated";
    /// The generator's ground truth.
    pub const GROUND_TRUTH: &str = "generated/ground_truth.json";
}

/// The stream processor as the local stack wires it.
pub type LocalProcessor = StreamProcessor<
    SqliteUserActivityStore,
    SqliteRecommendationStore,
    SqliteProductCatalog,
    SqliteDeadLetterSink,
>;

/// The lake sink as the local stack wires it.
pub type LocalSink = LakeSink<
    Arc<SqliteStreamLog>,
    SqliteCheckpointStore,
    LocalLake,
    Arc<SqliteTableCatalog>,
    SqliteDeadLetterSink,
>;

/// The trainer as the local stack wires it.
pub type LocalTrainer =
    Trainer<Arc<LocalHistory>, SqliteProductCatalog, Arc<FileModelStore>, SqliteUserActivityStore>;

/// Every adapter of the local stack: its stores (reached through it, `stack.lake`), the
/// transactional database and the clock.
pub struct LocalStack {
    /// The stores under the data directory.
    pub stores: LocalStores,
    /// The transactional database.
    pub purchases: Arc<dyn PurchaseDb>,
    /// The clock everything is stamped with.
    pub clock: Arc<dyn Clock>,
}

impl std::ops::Deref for LocalStack {
    type Target = LocalStores;

    fn deref(&self) -> &LocalStores {
        &self.stores
    }
}

/// The local stack's stores without its transactional database, opened as they are (the lake's
/// staging area untouched): what commands that only read or publish need.
pub struct LocalStores {
    /// The stores in `state.db`.
    pub state: StateDb,
    /// The embedded stream.
    pub stream: Arc<SqliteStreamLog>,
    /// The Parquet lake.
    pub lake: LocalLake,
    /// The lake's catalog.
    pub catalog: Arc<SqliteTableCatalog>,
    /// The lake's history, for the trainer, the evaluation and the trend report.
    pub history: Arc<LocalHistory>,
    /// Model artifacts.
    pub models: Arc<FileModelStore>,
}

impl LocalStores {
    /// Opens (creating and migrating where needed) the stores under the data directory.
    ///
    /// # Errors
    /// When a store cannot be opened.
    pub async fn open(s: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&s.data_dir).with_context(|| {
            format!(
                "failed to create the data directory {}",
                s.data_dir.display()
            )
        })?;
        let state = StateDb::open(&s.path(files::STATE_DB))
            .await
            .context("failed to open the local state database")?;
        let stream = Arc::new(
            SqliteStreamLog::open(&s.path(files::STREAM_DB), s.stream.shards, clock)
                .await
                .context("failed to open the embedded stream")?,
        );
        let lake = LocalLake::new(s.path(files::LAKE));
        let catalog = Arc::new(state.table_catalog());
        let history = Arc::new(LocalHistory::new(lake.clone(), catalog.clone()));
        let models = Arc::new(FileModelStore::new(s.path(files::MODELS)));
        Ok(Self {
            state,
            stream,
            lake,
            catalog,
            history,
            models,
        })
    }
}

impl LocalStack {
    /// Opens (creating and migrating where needed) every store under the data directory, and
    /// clears what an interrupted lake write left in the staging area.
    ///
    /// # Errors
    /// When a store cannot be opened.
    pub async fn open(s: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let stores = LocalStores::open(s, clock.clone()).await?;
        stores
            .lake
            .clean_staging()
            .context("failed to clean the lake's staging area")?;
        let purchases = purchases(s).await?;
        Ok(Self {
            stores,
            purchases,
            clock,
        })
    }

    /// A stream processor with the latest readable model loaded.
    ///
    /// # Errors
    /// When the model store cannot be reached.
    pub async fn processor(&self) -> anyhow::Result<LocalProcessor> {
        let model = ModelHandle::default();
        // A corrupt newest model starts the processor with an earlier one or the fallbacks.
        model
            .load(self.models.as_ref())
            .await
            .context("failed to read the model store")?;
        Ok(StreamProcessor::new(
            self.state.activity(),
            self.state.recommendations(),
            self.state.catalog(),
            self.state.dead_letters(),
            model,
            ProcessorConfig::default(),
        ))
    }

    /// The micro-batch lake sink.
    #[must_use]
    pub fn sink(&self, s: &Settings) -> LocalSink {
        let config = sink_config(s);
        LakeSink::new(
            self.stream.clone(),
            self.state.checkpoints(),
            self.lake.clone(),
            self.catalog.clone(),
            self.state.dead_letters(),
            config,
        )
    }

    /// Applies the stream's retention: deletes records older than `retention_hours` that both
    /// consumers (processor and lake sink) have passed. Unlike Kinesis, a lagging consumer never
    /// loses records to retention here.
    ///
    /// # Errors
    /// When the stream or checkpoints cannot be read or written.
    pub async fn trim_stream(
        &self,
        s: &Settings,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<u64> {
        use fashion_domain::ports::{CheckpointStore, ClickstreamSource};
        let cutoff = now
            .checked_sub_signed(chrono::Duration::hours(i64::from(s.stream.retention_hours)))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        let checkpoints = self.state.checkpoints();
        let mut trimmed: u64 = 0;
        for shard in self.stream.shards().await? {
            let a = checkpoints.load(PROCESSOR, &shard).await?;
            let b = checkpoints
                .load(fashion_domain::services::lake_sink::CONSUMER, &shard)
                .await?;
            if let (Some(a), Some(b)) = (a, b) {
                let upto = if a < b { a } else { b };
                let n = self.stream.trim_consumed(&shard, &upto, cutoff).await?;
                trimmed = trimmed.saturating_add(n);
            }
        }
        Ok(trimmed)
    }

    /// SQL over the lake (`fashion query`, the dashboard).
    ///
    /// # Errors
    /// When this binary was built without the feature `sql`.
    pub fn sql(&self) -> anyhow::Result<Arc<dyn QueryEngine>> {
        #[cfg(feature = "sql")]
        {
            Ok(Arc::new(fashion_local::DataFusionEngine::new(
                self.lake.clone(),
                self.catalog.clone(),
            )))
        }
        #[cfg(not(feature = "sql"))]
        {
            anyhow::bail!(
                "this `fashion` was built without SQL over the lake (DataFusion): build it with \
                 the default features, e.g. `cargo run --release -p fashion -- <command>`"
            )
        }
    }

    /// The trainer.
    #[must_use]
    pub fn trainer(&self) -> LocalTrainer {
        Trainer::new(
            self.history.clone(),
            self.state.catalog(),
            self.models.clone(),
            self.state.activity(),
            TrainerParams::default(),
        )
    }

    /// The daily job.
    #[must_use]
    pub fn daily_job(
        &self,
    ) -> DailyJob<dyn PurchaseDb, LocalLake, SqliteTableCatalog, Arc<dyn Clock>> {
        DailyJob::new(
            self.purchases.clone(),
            Arc::new(self.lake.clone()),
            self.catalog.clone(),
        )
        .with_clock(self.clock.clone())
    }
}

/// The lake sink's buffering from the settings (Firehose's buffering hints).
#[must_use]
pub fn sink_config(s: &Settings) -> SinkConfig {
    SinkConfig {
        max_age: chrono::Duration::seconds(i64::try_from(s.sink.max_age_secs).unwrap_or(300)),
        max_bytes: usize::try_from(s.sink.max_bytes).unwrap_or(usize::MAX),
        read_batch: 2_000,
    }
}

/// Opens the transactional database: PostgreSQL when configured, SQLite otherwise.
///
/// # Errors
/// When the database cannot be reached or migrated.
pub async fn purchases(s: &Settings) -> anyhow::Result<Arc<dyn PurchaseDb>> {
    if let Some(url) = &s.database_url {
        let db = PostgresPurchaseStore::connect(url.expose_secret())
            .await
            .context("failed to connect to the PostgreSQL database (DATABASE_URL)")?;
        return Ok(Arc::new(db));
    }
    let db = SqlitePurchaseStore::open(&s.path(files::STORE_DB))
        .await
        .context("failed to open the transactional database")?;
    Ok(Arc::new(db))
}

/// True when `dir` is missing or empty.
#[must_use]
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}
