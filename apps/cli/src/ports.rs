//! The ports the stack-independent commands use (`catalog`, `generate`, `recs`, `train`, `eval`,
//! `trends`, `etl`, `dead-letters`), from the
//! configured stack: the local stores in the data directory, or the provisioned resources of the
//! `emulator` or `aws` stack (built with the `aws` feature). Commands that still run on the
//! local stack only, or whose work an AWS-managed resource does, are refused on the others by
//! [`local_only`], which says which.

use std::sync::Arc;

use fashion_domain::ports::{
    ClickstreamPublisher, Clock, DeadLetterReader, HistorySource, LakeWriter, ModelStore,
    ProductCatalog, QueryEngine, RecommendationReader, SystemClock, TableCatalog,
    UserActivityStore,
};
use fashion_domain::services::trainer::{Trainer, TrainerParams};

use crate::cli::{Command, SchedulerCommand, SinkCommand, SqlEngine, StreamCommand};
use crate::settings::{Settings, StackKind};
use crate::stack::{LocalStack, LocalStores, PurchaseDb};

/// The trainer over any stack's ports.
pub type DynTrainer = Trainer<
    Arc<dyn HistorySource>,
    Arc<dyn ProductCatalog>,
    Arc<dyn ModelStore>,
    Arc<dyn UserActivityStore>,
>;

/// The ports of the configured stack.
pub struct Ports {
    /// The stack they belong to.
    pub stack: StackKind,
    /// The catalog the stream processor enriches with.
    pub products: Arc<dyn ProductCatalog>,
    /// The customers' recommendations.
    pub recommendations: Arc<dyn RecommendationReader>,
    /// The records set aside.
    pub dead_letters: Arc<dyn DeadLetterReader>,
    /// The clickstream, to publish to.
    pub stream: Arc<dyn ClickstreamPublisher>,
    /// The lake's history, for training, evaluation and trends.
    pub history: Arc<dyn HistorySource>,
    /// Trained models.
    pub models: Arc<dyn ModelStore>,
    /// Customers' activity records (the trainer adds their purchases).
    pub activity: Arc<dyn UserActivityStore>,
    /// The lake's writer, for the daily job's tables.
    pub lake: Arc<dyn LakeWriter>,
    /// The lake's table catalog.
    pub tables: Arc<dyn TableCatalog>,
}

impl Ports {
    /// Opens the configured stack's ports; the local stream stamps arrivals with `clock`.
    ///
    /// # Errors
    /// When a local store cannot be opened, the AWS stack was never provisioned, or this build
    /// has no AWS support.
    pub async fn open(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        match settings.stack {
            StackKind::Local => {
                let stack = LocalStores::open(settings, clock).await?;
                Ok(Self {
                    stack: StackKind::Local,
                    products: Arc::new(stack.state.catalog()),
                    recommendations: Arc::new(stack.state.recommendations()),
                    dead_letters: Arc::new(stack.state.dead_letters()),
                    stream: stack.stream,
                    history: stack.history,
                    models: stack.models,
                    activity: Arc::new(stack.state.activity()),
                    lake: Arc::new(stack.lake),
                    tables: stack.catalog,
                })
            }
            other => aws(other).await,
        }
    }

    /// The trainer over this stack's history, catalog and model store.
    #[must_use]
    pub fn trainer(&self) -> DynTrainer {
        Trainer::new(
            self.history.clone(),
            self.products.clone(),
            self.models.clone(),
            self.activity.clone(),
            TrainerParams::default(),
        )
    }
}

#[cfg(feature = "aws")]
async fn aws(kind: StackKind) -> anyhow::Result<Ports> {
    let stack = crate::aws_stack::AwsStack::of(kind).await?;
    Ok(Ports {
        stack: kind,
        products: Arc::new(stack.products()?),
        recommendations: Arc::new(stack.recommendations()?),
        dead_letters: Arc::new(stack.dead_letters()?),
        stream: Arc::new(stack.clickstream()?),
        history: Arc::new(stack.history()?),
        models: Arc::new(stack.models()?),
        activity: Arc::new(stack.activity()?),
        lake: Arc::new(stack.lake_writer()?),
        tables: Arc::new(stack.tables()?),
    })
}

#[cfg(not(feature = "aws"))]
#[allow(clippy::unused_async)]
async fn aws(kind: StackKind) -> anyhow::Result<Ports> {
    anyhow::bail!(
        "this build has no AWS support: --stack {kind} needs the `aws` feature \
         (cargo run --release -p fashion --features aws -- --stack {kind} …)"
    )
}

/// SQL over the configured stack's lake with `engine` (default: Athena on `aws`, DataFusion
/// elsewhere), and the catalog its named queries' default days come from. DataFusion reads the
/// local lake, or the S3 lake of the emulator and aws stacks through the SDK; Athena runs on
/// `aws` only (moto's Athena runs no SQL).
///
/// # Errors
/// Athena off `aws`, or when the engine cannot be built.
pub async fn query_engine(settings: &Settings, engine: Option<SqlEngine>) -> anyhow::Result<Sql> {
    let engine = engine.unwrap_or(if settings.stack == StackKind::Aws {
        SqlEngine::Athena
    } else {
        SqlEngine::Datafusion
    });
    match (settings.stack, engine) {
        (StackKind::Local, SqlEngine::Datafusion) => {
            let stack = LocalStack::open(settings, Arc::new(SystemClock)).await?;
            Ok(Sql {
                engine: stack.sql()?,
                tables: stack.stores.catalog,
                history: stack.stores.history,
            })
        }
        (StackKind::Aws, _) | (StackKind::Emulator, SqlEngine::Datafusion) => {
            remote(settings.stack, engine).await
        }
        (stack, SqlEngine::Athena) => anyhow::bail!(
            "Athena runs on the aws stack only (moto's Athena runs no SQL): on {stack} use \
             --engine datafusion"
        ),
    }
}

/// What `query` needs: the engine, and the catalog and history that give a named query its
/// last day.
pub struct Sql {
    /// The SQL engine.
    pub engine: Arc<dyn QueryEngine>,
    /// The lake's catalog.
    pub tables: Arc<dyn TableCatalog>,
    /// The lake's history (the clickstream's last day, where it is not catalogued).
    pub history: Arc<dyn HistorySource>,
}

#[cfg(feature = "aws")]
async fn remote(kind: StackKind, engine: SqlEngine) -> anyhow::Result<Sql> {
    let stack = crate::aws_stack::AwsStack::of(kind).await?;
    let tables: Arc<dyn TableCatalog> = Arc::new(stack.tables()?);
    let engine: Arc<dyn QueryEngine> = match engine {
        SqlEngine::Athena => Arc::new(stack.athena()?),
        SqlEngine::Datafusion => Arc::new(stack.datafusion(tables.clone())?),
    };
    Ok(Sql {
        engine,
        tables,
        history: Arc::new(stack.history()?),
    })
}

#[cfg(not(feature = "aws"))]
#[allow(clippy::unused_async)]
async fn remote(kind: StackKind, _engine: SqlEngine) -> anyhow::Result<Sql> {
    anyhow::bail!(
        "this build has no AWS support: --stack {kind} needs the `aws` feature \
         (cargo run --release -p fashion --features aws -- --stack {kind} …)"
    )
}

/// The store's transactional database for `settings.stack`: `DATABASE_URL` when set; on the
/// local and emulator stacks the SQLite database in the data directory otherwise. On `aws` it
/// is the RDS instance, which has no stand-in: `DATABASE_URL` is required.
///
/// # Errors
/// On `aws` without `DATABASE_URL`, or when the database cannot be opened.
pub async fn transactional(settings: &Settings) -> anyhow::Result<Arc<dyn PurchaseDb>> {
    if settings.stack == StackKind::Aws && settings.database_url.is_none() {
        anyhow::bail!(
            "on the aws stack the transactional database is the RDS instance: set DATABASE_URL \
             (its endpoint and secret are in provisioning's outputs for the orders database)"
        );
    }
    crate::stack::purchases(settings).await
}

/// Why `command` does not run on `stack`, when it does not: the AWS resource doing that work
/// there, or that the command runs on the local stack only so far.
#[must_use]
pub fn local_only(command: &Command, stack: StackKind) -> Option<String> {
    if stack == StackKind::Local {
        return None;
    }
    let managed = |what: &str, by: &str| {
        Some(format!(
            "`fashion {what}` is the local stack's stand-in: on the {stack} stack {by}"
        ))
    };
    let not_yet = |what: &str| {
        Some(format!(
            "`fashion {what}` runs on the local stack only in this version (not yet on {stack})"
        ))
    };
    match command {
        Command::Catalog(_)
        | Command::Recs { .. }
        | Command::DeadLetters(_)
        | Command::Demo(_)
        | Command::Generate(_)
        | Command::Train
        | Command::Eval
        | Command::Trends(_)
        | Command::Etl(_)
        | Command::Query(_) => None,
        // moto runs neither the event-source mapping nor Firehose: the emulator plays them.
        Command::Stream(_) | Command::Sink(_) if stack == StackKind::Emulator => None,
        Command::Stream(StreamCommand::Consume { .. }) => managed(
            "stream consume",
            "the stream-processor Lambda function consumes the Kinesis stream through its \
             event-source mapping",
        ),
        Command::Sink(SinkCommand::Run { .. }) => managed(
            "sink run",
            "the Firehose delivery stream clickstream-to-lake lands the clickstream in S3, \
             through the firehose-transform function",
        ),
        Command::Scheduler(SchedulerCommand::Run { .. }) => managed(
            "scheduler run",
            "EventBridge Scheduler invokes the daily-job and trainer functions",
        ),
        Command::Serve(_) => not_yet("serve"),
    }
}
