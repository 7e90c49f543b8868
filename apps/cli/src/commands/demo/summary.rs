//! What `fashion demo` reports: the summary it prints as text or JSON, and the text printer.

use std::collections::BTreeMap;

use fashion_domain::services::evaluation::EvalReport;
use serde::Serialize;

use crate::demo_stack::StackInfo;

/// One lake table's size at the end of the run.
#[derive(Debug, Default, Serialize)]
pub(super) struct LakeTable {
    pub(super) partitions: usize,
    pub(super) files: u64,
    pub(super) rows: u64,
    pub(super) bytes: u64,
}

/// One of the strongest trends the trend query found.
#[derive(Debug, Serialize)]
pub(super) struct TrendLine {
    pub(super) key: String,
    pub(super) growth: f64,
    pub(super) score: f64,
}

/// The daily job runs added up.
#[derive(Debug, Default, Serialize)]
pub(super) struct EtlTotals {
    pub(super) runs: u64,
    pub(super) orders_written: u64,
    pub(super) lines_written: u64,
    pub(super) duplicate_lines_dropped: u64,
    pub(super) quarantined_by_rule: BTreeMap<String, u64>,
}

/// The invariants the run checks on its own outputs.
#[derive(Debug, Serialize)]
pub(super) struct Checks {
    pub(super) every_event_accounted_for: bool,
    /// The clickstream read back through the lake's contract (each event id once) holds as many
    /// events as were valid.
    pub(super) lake_clickstream_equals_valid_events: bool,
    /// Every product the lake's clickstream names is in the catalog.
    pub(super) lake_clickstream_products_in_catalog: bool,
    /// Every event time in the lake's clickstream lies in the simulation, at most the accepted
    /// future skew past its end.
    pub(super) lake_clickstream_times_accepted: bool,
    pub(super) daily_jobs_balanced: bool,
}

/// Everything the demo reports.
#[derive(Debug, Serialize)]
pub(super) struct DemoSummary {
    pub(super) days: u32,
    pub(super) customers: usize,
    pub(super) products: usize,
    pub(super) events_generated: u64,
    pub(super) events_exact_duplicates: u64,
    pub(super) events_processed: u64,
    pub(super) events_duplicates_skipped: u64,
    pub(super) events_dead_lettered: u64,
    pub(super) events_valid_expected: u64,
    pub(super) lake_rows: BTreeMap<String, u64>,
    /// Click events read back from the lake, each event id once.
    pub(super) lake_clickstream_events: u64,
    pub(super) lake_tables: BTreeMap<String, LakeTable>,
    pub(super) customers_with_recommendations: u64,
    pub(super) models_trained: u64,
    pub(super) etl: EtlTotals,
    pub(super) top_trends: Vec<TrendLine>,
    pub(super) planted_trends: Vec<String>,
    pub(super) evaluation: EvalReport,
    pub(super) checks: Checks,
    pub(super) wall_seconds: f64,
    pub(super) data_dir: String,
    /// Where the emulator run happened (absent on the local stack).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) emulator: Option<StackInfo>,
}

/// Prints the summary as the text a person reads after the run.
pub(super) fn print_summary(s: &DemoSummary) {
    println!(
        "Simulated {} days of a store with {} customers and {} products ({:.1} s).",
        s.days, s.customers, s.products, s.wall_seconds
    );
    println!();
    println!("Clickstream");
    println!(
        "  events generated        {:>9}  ({} exact duplicates)",
        s.events_generated, s.events_exact_duplicates
    );
    println!("  processed               {:>9}", s.events_processed);
    println!(
        "  duplicates skipped      {:>9}",
        s.events_duplicates_skipped
    );
    println!("  dead-lettered           {:>9}", s.events_dead_lettered);
    println!(
        "  customers with recs     {:>9}",
        s.customers_with_recommendations
    );
    println!();
    match &s.emulator {
        Some(e) => println!("Lake ({})", e.lake_url),
        None => println!("Lake ({})", s.data_dir),
    }
    for (name, t) in &s.lake_tables {
        println!(
            "  {name:<16} {:>9} rows  {:>5} files  {:>4} partitions  {:>9} bytes",
            t.rows, t.files, t.partitions, t.bytes
        );
    }
    println!(
        "  clickstream read back {:>9} events, each once",
        s.lake_clickstream_events
    );
    println!();
    println!(
        "Daily job: {} runs, {} orders and {} lines published, {} duplicate lines dropped",
        s.etl.runs, s.etl.orders_written, s.etl.lines_written, s.etl.duplicate_lines_dropped
    );
    for (rule, n) in &s.etl.quarantined_by_rule {
        println!("  quarantined {rule:<24} {n:>6} rows");
    }
    println!();
    println!(
        "Trends (article type / colour)          planted: {}",
        s.planted_trends.join(", ")
    );
    for t in &s.top_trends {
        let mark = if s.planted_trends.contains(&t.key) {
            "  <- planted"
        } else {
            ""
        };
        println!(
            "  {:<36} growth x{:<6.2} score {:>6.1}{mark}",
            t.key, t.growth, t.score
        );
    }
    println!();
    let e = &s.evaluation;
    println!(
        "Recommendations: HR@10 {:.3} vs popularity {:.3} (x{:.1}), random {:.3}; NDCG@10 {:.3}; {} models trained.",
        e.hr_at_10,
        e.popularity_hr_at_10,
        e.lift_over_popularity,
        e.random_hr_at_10,
        e.ndcg_at_10,
        s.models_trained
    );
    let c = &s.checks;
    println!(
        "Checks: every event accounted for: {}; lake clickstream = valid events: {}; its products \
         in the catalog: {}; its times accepted: {}; daily jobs balanced: {}.",
        c.every_event_accounted_for,
        c.lake_clickstream_equals_valid_events,
        c.lake_clickstream_products_in_catalog,
        c.lake_clickstream_times_accepted,
        c.daily_jobs_balanced
    );
    if let Some(e) = &s.emulator {
        println!();
        println!(
            "Emulator {} (resources {}*, state in {})",
            e.endpoint_url, e.name_prefix, e.state_file
        );
        println!("  stream processor: {}", e.stream_processor);
        println!("  lake delivery:    {}", e.lake_delivery);
        println!("  Lambda packages:  {}", e.lambda_packages);
        for (role, name) in &e.resources {
            println!("  {role:<26} {name}");
        }
    }
}
