//! Benchmark: the whole daily job against plain `COPY … TO STDOUT`s of the same rows (the
//! extraction's own statements, bytes counted only), the floor any extraction from PostgreSQL
//! pays, measured in one run on the same data.
//!
//! Loads about a million order lines for one store day (plus a tenth of that for the day before,
//! so the day's bounds select), then alternates floor, extraction-only and job runs (the job once
//! into the in-memory lake, once into the local Parquet lake with its SQLite catalog) and takes
//! the median of each. Writes the figures into the "Daily job vs COPY floor" section of
//! `docs/BENCHMARKS.md`.
//!
//! ```sh
//! scripts/services cargo bench -p fashion-postgres --bench daily_job
//! ```
//!
//! Needs PostgreSQL at `FASHION_TEST_DATABASE_URL` (exported by `scripts/services`) or
//! `DATABASE_URL`; works in a schema of its own and drops it afterwards (unless
//! `BENCH_KEEP_SCHEMA` is set, for looking at plans). `BENCH_LINES` overrides the number of lines
//! of the day.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{Duration as ChronoDuration, NaiveDate};
use fashion_datagen::{GenConfig, Generator};
use fashion_domain::calendar::{StoreDay, parse_time_zone};
use fashion_domain::lake::tables;
use fashion_domain::order::{OrderItemRow, OrderRow, StoredOrder};
use fashion_domain::ports::{PurchaseSource, PurchaseStore};
use fashion_domain::services::daily_job::{DailyJob, DailyJobReport};
use fashion_local::{LocalLake, StateDb};
use fashion_memory::InMemoryLake;
use fashion_postgres::PostgresPurchaseStore;
use futures::TryStreamExt;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const SECTION: &str = "## Daily job vs COPY floor";
const ROUNDS: usize = 5;
const DEFAULT_LINES: u64 = 1_000_000;
const LOAD_BATCH: usize = 20_000;

/// SplitMix64: a deterministic stream of numbers, enough for synthetic orders.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Orders of `day` with about `lines` lines, ids from `first_id`, 1 % of them dirty.
fn synthesize(
    g: &Generator,
    day: StoreDay,
    first_id: i64,
    lines: u64,
    rng: &mut Rng,
) -> Vec<StoredOrder> {
    let products = g.products();
    let customers = g.customers();
    let seconds = u64::try_from((day.end - day.start).num_seconds()).unwrap_or(86_400);
    let mut orders = Vec::new();
    let mut made = 0u64;
    let mut id = first_id;
    while made < lines {
        // 1 to 10 lines, mostly few (mean about 3), as in retail baskets.
        let n = 1 + (rng.below(4) * rng.below(4)).min(9);
        let at = day.start
            + ChronoDuration::seconds(i64::try_from(made * seconds / lines).unwrap_or(0))
            + ChronoDuration::milliseconds(i64::try_from(rng.below(1000)).unwrap_or(0));
        let customer = &customers[usize::try_from(rng.below(customers.len() as u64)).unwrap_or(0)];
        let mut items: Vec<OrderItemRow> = (1..=n)
            .map(|line| {
                let p = &products[usize::try_from(rng.below(products.len() as u64)).unwrap_or(0)];
                OrderItemRow {
                    order_id: id,
                    line_no: i32::try_from(line).unwrap_or(1),
                    product_id: Some(i64::from(p.id.get())),
                    quantity: 1 + i32::try_from(rng.below(3) / 2).unwrap_or(0),
                    unit_price_cents: p.price.map_or(1999, |c| c.get()),
                }
            })
            .collect();
        let mut order = OrderRow {
            order_id: id,
            customer_id: Some(customer.id.as_i64()),
            ordered_at: at,
            recorded_at: at,
            status: ["paid", "shipped", "delivered", "cancelled"]
                [usize::try_from(rng.below(4)).unwrap_or(0)]
            .to_owned(),
            total_cents: items
                .iter()
                .map(|i| i64::from(i.quantity) * i.unit_price_cents)
                .sum(),
            currency: "USD".to_owned(),
        };
        match rng.below(600) {
            0 => items[0].product_id = Some(9_999_999),
            1 => items[0].quantity = 0,
            2 => items.push(items[0].clone()),
            3 => order.total_cents += 1,
            4 => order.customer_id = Some(9_999_999),
            5 => order.ordered_at -= ChronoDuration::days(2),
            _ => {}
        }
        made += items.len() as u64;
        orders.push(StoredOrder { order, items });
        id += 1;
    }
    orders
}

/// `median (min–max)` of values, with `decimals` decimals.
fn spread(values: &[f64], decimals: usize) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |i: usize| v.get(i).copied().unwrap_or(f64::NAN);
    let n = v.len();
    let median = if n % 2 == 1 {
        at(n / 2)
    } else {
        f64::midpoint(at((n / 2).saturating_sub(1)), at(n / 2))
    };
    format!(
        "{median:.decimals$} ({:.decimals$}–{:.decimals$})",
        at(0),
        at(n.saturating_sub(1))
    )
}

fn secs(runs: &[Duration]) -> Vec<f64> {
    runs.iter().map(Duration::as_secs_f64).collect()
}

struct Figures {
    /// The day's size asked for (`BENCH_LINES`), which names the section.
    lines_asked: u64,
    lines: u64,
    orders: u64,
    copy_bytes: u64,
    /// Each round's time of each run; the rounds alternate the runs.
    floor: Vec<Duration>,
    extract: Vec<Duration>,
    job: Vec<Duration>,
    parquet_job: Vec<Duration>,
    parquet_bytes: u64,
    report: DailyJobReport,
    server: String,
    cores: usize,
    load: Duration,
    /// One-minute load averages when the rounds started and ended.
    load_average: (String, String),
}

/// The one-minute load average (`/proc/loadavg`), `?` where unavailable.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn per_second(rows: u64, runs: &[Duration]) -> Vec<f64> {
    runs.iter().map(|d| rows as f64 / d.as_secs_f64()).collect()
}

/// Each round's ratio of a run to that round's floor.
fn ratios(runs: &[Duration], floor: &[Duration]) -> Vec<f64> {
    runs.iter()
        .zip(floor)
        .map(|(d, f)| d.as_secs_f64() / f.as_secs_f64())
        .collect()
}

fn worst(v: &[f64], higher_is_worse: bool) -> f64 {
    let pick = if higher_is_worse { f64::max } else { f64::min };
    v.iter().copied().reduce(pick).unwrap_or(f64::NAN)
}

fn section(f: &Figures) -> String {
    let mut s = String::new();
    let lines = f.lines;
    let _ = writeln!(s, "{SECTION} ({} order lines)\n", f.lines_asked);
    let _ = writeln!(
        s,
        "`scripts/services cargo bench -p fashion-postgres --bench daily_job`: the throwaway \
         PostgreSQL {} of the tests (fsync off, default `work_mem`) on the same {}-core machine as \
         the benchmark. One store day of {} order lines in {} orders (plus {} lines of the day \
         before, so the day's bounds must select), about 1 % of the orders dirty. Each figure is \
         the median (min–max) of {ROUNDS} rounds after a warm-up; within a round the runs \
         alternate, and a ratio to the floor is taken within each round.\n",
        f.server,
        f.cores,
        lines,
        f.orders,
        lines / 10,
    );
    let _ = writeln!(
        s,
        "One-minute load average when the rounds started and ended: {} and {} ({} cores: above \
         about {} other work on the machine competed with the benchmark, and every figure, the \
         floor included, is slower than on an idle machine).\n",
        f.load_average.0, f.load_average.1, f.cores, f.cores
    );
    let _ = writeln!(s, "| run | rows | seconds | rows/s | vs floor |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    let floor = &f.floor;
    for (name, d) in [
        (
            "floor: the extraction's two `COPY … TO STDOUT (FORMAT binary)` (orders; lines of \
             their id range), same snapshot set-up, both at once, bytes counted only",
            &f.floor,
        ),
        (
            "extraction: `PostgresPurchaseStore::extract_day` drained (the same COPYs decoded and \
             merged into whole orders)",
            &f.extract,
        ),
        (
            "**whole daily job, in-memory lake** (extract, clean, aggregate, 8 partitions, \
             catalogue)",
            &f.job,
        ),
        (
            "**whole daily job, local Parquet lake** (the same, plus zstd Parquet files on disk, \
             swapped in, SQLite catalog)",
            &f.parquet_job,
        ),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {lines} | {} | {} | {}× |",
            spread(&secs(d), 3),
            spread(&per_second(lines, d), 0),
            spread(&ratios(d, floor), 2),
        );
    }
    let q = f.report.quarantined_total();
    let _ = writeln!(
        s,
        "\nThe floor moved {:.1} MiB. The job wrote {} orders and {} lines, quarantined {} orders \
         and {} lines, dropped {} duplicate lines, and produced {} `daily_sales` and {} \
         `customer_daily` rows; the Parquet lake holds {:.1} MiB for the day. Loading the data \
         (array-bound `INSERT`s through `put_orders`, then `VACUUM ANALYZE`) took {:.1} s and is \
         not part of any figure.\n",
        f.copy_bytes as f64 / (1024.0 * 1024.0),
        f.report.written_to(tables::ORDERS),
        f.report.written_to(tables::ORDER_ITEMS),
        q.orders,
        q.lines,
        f.report.duplicate_lines_dropped,
        f.report.written_to(tables::DAILY_SALES),
        f.report.written_to(tables::CUSTOMER_DAILY),
        f.parquet_bytes as f64 / (1024.0 * 1024.0),
        f.load.as_secs_f64(),
    );
    let _ = writeln!(
        s,
        "A target is met only when every round meets it (the worst round's figure is shown)."
    );
    for (lake, d) in [("in-memory", &f.job), ("local Parquet", &f.parquet_job)] {
        let ratio = worst(&ratios(d, floor), true);
        let rate = worst(&per_second(lines, d), false);
        let _ = writeln!(
            s,
            "- Job into the {lake} lake: within 1.5× the floor — {} (worst round {ratio:.2}×); at \
             least 1 M rows/s — {} (slowest round {:.2} M rows/s).",
            if ratio <= 1.5 { "met" } else { "**not met**" },
            if rate >= 1e6 { "met" } else { "**not met**" },
            rate / 1e6,
        );
    }
    let _ = writeln!(
        s,
        "\nHow the time is spent: the extraction reads the day's orders and the lines of their \
         order-id range as two COPY streams on two connections sharing one snapshot, so the server \
         does no join and works on both streams at once; a task decodes and merges them while the \
         job cleans and aggregates the previous chunk. On two cores the server's two backends, the \
         decoder and the job share the machine, so the job's own work shows in the wall time \
         instead of hiding behind the server. The Parquet lake adds the encoding (zstd) of every \
         row written, on a thread per file beside the job: on two cores it competes with the \
         server and the decoder for the same CPUs."
    );
    s
}

/// The section's name: `daily-job` at the default size, `daily-job-<lines>` at another.
fn section_name(lines: u64) -> String {
    if lines == DEFAULT_LINES {
        "daily-job".to_owned()
    } else {
        format!("daily-job-{lines}")
    }
}

/// Replaces this benchmark's section of `docs/BENCHMARKS.md` for `lines` (between its
/// markers), or appends it, leaving every other section byte for byte as it was.
fn write_section(text: &str, lines: u64) -> anyhow::Result<PathBuf> {
    let name = section_name(lines);
    let (start, end) = (
        format!("<!-- bench:{name}:start -->"),
        format!("<!-- bench:{name}:end -->"),
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let block = format!("{start}\n{}{end}\n", text.trim_end().to_owned() + "\n");
    let new = match (old.find(&start), old.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            let after = &old[b + end.len()..];
            format!(
                "{}{block}{}",
                &old[..a],
                after.strip_prefix('\n').unwrap_or(after)
            )
        }
        _ => {
            let mut out = old.trim_end().to_owned();
            out.push_str("\n\n");
            out.push_str(&block);
            out
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, new).with_context(|| format!("failed to write {}", path.display()))?;
    Ok(path)
}

async fn run_job(
    db: &PostgresPurchaseStore,
    day: StoreDay,
) -> anyhow::Result<(Duration, DailyJobReport)> {
    let lake = InMemoryLake::new();
    let job = DailyJob::new(Arc::new(db.clone()), Arc::new(lake.clone()), Arc::new(lake));
    let t = Instant::now();
    let report = job.run(day).await.context("daily job")?;
    let took = t.elapsed();
    if !report.is_balanced() {
        bail!("unbalanced report: {report:?}");
    }
    Ok((took, report))
}

async fn run_parquet_job(
    db: &PostgresPurchaseStore,
    day: StoreDay,
) -> anyhow::Result<(Duration, u64)> {
    let dir = tempfile::tempdir()?;
    let state = StateDb::open(&dir.path().join("state.db")).await?;
    let lake = LocalLake::new(dir.path().join("lake"));
    let job = DailyJob::new(
        Arc::new(db.clone()),
        Arc::new(lake),
        Arc::new(state.table_catalog()),
    );
    let t = Instant::now();
    let report = job
        .run(day)
        .await
        .context("daily job into the Parquet lake")?;
    let took = t.elapsed();
    if !report.is_balanced() {
        bail!("unbalanced report: {report:?}");
    }
    let bytes = report
        .partitions
        .iter()
        .filter(|p| p.table != tables::PRODUCTS && p.table != tables::CUSTOMERS)
        .map(|p| p.bytes)
        .sum();
    Ok((took, bytes))
}

async fn run_extract(db: &PostgresPurchaseStore, day: StoreDay) -> anyhow::Result<(Duration, u64)> {
    let t = Instant::now();
    let lines = db
        .extract_day(day)
        .try_fold(0u64, |n, chunk| async move {
            Ok(n + chunk.iter().map(|o| o.items.len() as u64).sum::<u64>())
        })
        .await?;
    Ok((t.elapsed(), lines))
}

async fn bench(url: &str, schema: &str) -> anyhow::Result<Figures> {
    let lines: u64 = std::env::var("BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_LINES);
    let options = PgConnectOptions::from_str(url)?.options([("search_path", schema)]);
    let db = PostgresPurchaseStore::connect_with(options).await?;
    let tz = parse_time_zone("Asia/Ho_Chi_Minh")?;
    let date = NaiveDate::from_ymd_opt(2026, 11, 25).context("date")?;
    let day = StoreDay::new(date, tz);
    let before = StoreDay::new(date.pred_opt().context("date")?, tz);

    // Arrange: a realistic catalog and customer base from the generator, synthetic orders.
    let t = Instant::now();
    let g = Generator::new(GenConfig {
        users: 20_000,
        products: 5_000,
        time_zone: tz,
        ..GenConfig::default()
    });
    db.put_products(g.products()).await?;
    db.put_customers(g.customers()).await?;
    let mut rng = Rng(7);
    let mut orders = synthesize(&g, before, 1, lines / 10, &mut rng);
    let next_id = orders.last().map_or(1, |o| o.order.order_id + 1);
    orders.extend(synthesize(&g, day, next_id, lines, &mut rng));
    for batch in orders.chunks(LOAD_BATCH) {
        db.put_orders(batch).await?;
    }
    drop(orders);
    sqlx::raw_sql("VACUUM ANALYZE").execute(db.pool()).await?;
    let load = t.elapsed();
    let server: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(db.pool())
        .await?;
    eprintln!("loaded in {:.1} s", load.as_secs_f64());

    // Warm-up, then alternate.
    db.copy_floor(day).await?;
    let (_, report) = run_job(&db, day).await?;
    let (_, parquet_bytes) = run_parquet_job(&db, day).await?;
    let mut floors = Vec::new();
    let mut extracts = Vec::new();
    let mut jobs = Vec::new();
    let mut parquet_jobs = Vec::new();
    let load_start = load_average();
    let mut copy_bytes = 0;
    let mut extracted_lines = 0;
    for round in 0..ROUNDS {
        let t = Instant::now();
        let floor = db.copy_floor(day).await?;
        floors.push(t.elapsed());
        copy_bytes = floor.bytes;
        let (took, n) = run_extract(&db, day).await?;
        extracts.push(took);
        extracted_lines = n;
        let (took, _) = run_job(&db, day).await?;
        jobs.push(took);
        let (took, _) = run_parquet_job(&db, day).await?;
        parquet_jobs.push(took);
        eprintln!(
            "round {round}: floor {:.3} s, extract {:.3} s, job {:.3} s, parquet job {:.3} s",
            floors[round].as_secs_f64(),
            extracts[round].as_secs_f64(),
            jobs[round].as_secs_f64(),
            parquet_jobs[round].as_secs_f64()
        );
    }
    if extracted_lines != report.extracted.lines {
        bail!(
            "extraction saw {extracted_lines} lines, the job {}",
            report.extracted.lines
        );
    }
    Ok(Figures {
        lines_asked: lines,
        lines: report.extracted.lines,
        orders: report.extracted.orders,
        copy_bytes,
        floor: floors,
        extract: extracts,
        job: jobs,
        parquet_job: parquet_jobs,
        parquet_bytes,
        report,
        server,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        load,
        load_average: (load_start, load_average()),
    })
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; a filter or `--list` from other tooling means "not me".
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let url = std::env::var("FASHION_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .context(
            "set FASHION_TEST_DATABASE_URL or DATABASE_URL, or run through \
             `scripts/services cargo bench -p fashion-postgres --bench daily_job`",
        )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Identifiers cannot be bound; this one is built from a UUID's hex digits only.
        let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await?;
        let result = bench(&url, &schema).await;
        if std::env::var_os("BENCH_KEEP_SCHEMA").is_some() {
            eprintln!("kept schema {schema} for inspection");
        } else {
            sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await?;
        }
        let figures = result?;
        let text = section(&figures);
        let path = write_section(&text, figures.lines_asked)?;
        println!("{text}");
        println!("written to {}", path.display());
        anyhow::Ok(())
    })
}
