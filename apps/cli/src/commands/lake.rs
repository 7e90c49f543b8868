//! `fashion query` and `fashion trends`.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Days, NaiveDate, Utc};
use fashion_domain::calendar::StoreDay;
use fashion_domain::history::{PurchaseRecord, TrainingEvent};
use fashion_domain::ports::{QueryEngine, QueryParam, QueryResult, SystemClock};
use fashion_domain::product::Product;
use fashion_domain::services::history::{FullHistory, load_history};
use fashion_domain::services::named_queries::{NAMED_QUERIES, named_query, params_for};
use fashion_domain::services::trends::{
    TrendAttributes, TrendParams, compute_trends, last_full_day,
};
use fashion_domain::trends::{TrendDimension, TrendSignal};
use serde::Serialize;

use crate::cli::{QueryArgs, TrendsArgs};
use crate::output::print_json;
use crate::ports::{Ports, query_engine};
use crate::settings::Settings;

/// Rows as an aligned text table (long values cut at 60 characters), then the row count.
fn table(res: &QueryResult) -> String {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.chars().take(60).collect(),
        serde_json::Value::Null => "NULL".to_owned(),
        other => other.to_string(),
    };
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::ASCII_MARKDOWN)
        .set_header(&res.columns)
        .add_rows(res.rows.iter().map(|r| r.iter().map(text)));
    format!("{table}\n({} rows)", res.rows.len())
}

pub async fn query(settings: &Settings, args: &QueryArgs, json: bool) -> anyhow::Result<()> {
    if args.list {
        for q in NAMED_QUERIES {
            println!("{:<24} {}", q.name, q.description);
        }
        return Ok(());
    }
    let (sql, named) = match (&args.named, &args.sql) {
        (Some(name), _) => {
            let q = named_query(name).with_context(|| {
                format!("no named query {name:?}; `fashion query --list` shows them")
            })?;
            (q.sql.to_owned(), Some(q))
        }
        (None, Some(sql)) => (sql.clone(), None),
        (None, None) => anyhow::bail!("give SQL, --named NAME or --list"),
    };
    let sql_ports = query_engine(settings, args.engine).await?;
    let given: Vec<QueryParam> = args
        .params
        .iter()
        .map(|p| QueryParam::Text(p.clone()))
        .collect();
    let params = match named {
        Some(q) => {
            params_for(
                q,
                given,
                sql_ports.tables.as_ref(),
                sql_ports.history.as_ref(),
            )
            .await?
        }
        None => given,
    };
    let res = sql_ports
        .engine
        .query(&sql, &params)
        .await
        .context("the query failed")?;
    if json {
        return print_json(&res);
    }
    println!("{}", table(&res));
    Ok(())
}

/// The trend report: the strongest signals per dimension at the end of a store day.
#[derive(Debug, Serialize)]
pub struct TrendReport {
    /// The last day included.
    pub date: NaiveDate,
    /// Rising article types.
    pub article_types: Vec<TrendSignal>,
    /// Rising colours.
    pub colours: Vec<TrendSignal>,
    /// Rising article types in a colour.
    pub article_type_colours: Vec<TrendSignal>,
    /// Rising products.
    pub products: Vec<TrendSignal>,
}

/// Computes the report at the end of `date` (default: the last full day with clicks), reading
/// only the days the trend windows cover (and the day before, in case the last one is not full).
pub async fn trend_report(
    ports: &Ports,
    settings: &Settings,
    date: Option<NaiveDate>,
    top: usize,
) -> anyhow::Result<TrendReport> {
    let tz = settings.tz();
    let last = match date {
        Some(d) => d,
        None => ports
            .history
            .latest_click_day()
            .await?
            .context("the lake has no clicks yet")?,
    };
    let (from, to) = trend_window(last, tz);
    let FullHistory {
        events,
        purchases,
        products,
    } = load_history(ports.history.as_ref(), ports.products.as_ref(), from, to).await?;
    trend_report_of(&events, &purchases, &products, tz, date, top)
}

/// The instants a report ending on `last` (or the day before, when `last` is not full) needs:
/// the trend windows plus a day.
fn trend_window(last: NaiveDate, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let params = TrendParams::default();
    let span = params
        .recent
        .num_days()
        .saturating_add(params.baseline.num_days())
        .saturating_add(1);
    let first = last
        .checked_sub_days(Days::new(u64::try_from(span).unwrap_or(0)))
        .unwrap_or(last);
    (StoreDay::new(first, tz).start, StoreDay::new(last, tz).end)
}

/// The report over history already read: at the end of `date` (default: the last full day with
/// clicks) in the store's time zone `tz`.
///
/// # Errors
/// When no date is given and the history has no clicks.
pub fn trend_report_of(
    events: &[TrainingEvent],
    purchases: &[PurchaseRecord],
    products: &[Product],
    tz: chrono_tz::Tz,
    date: Option<NaiveDate>,
    top: usize,
) -> anyhow::Result<TrendReport> {
    let date = match date {
        Some(d) => d,
        None => last_full_day(events, tz).context("the lake has no clicks yet")?,
    };
    let end = StoreDay::new(date.checked_add_days(Days::new(1)).unwrap_or(date), tz).start;
    let attrs = TrendAttributes::of_catalog(products);
    let signals = compute_trends(events, purchases, &attrs, end, TrendParams::default());
    let pick = |d: TrendDimension| {
        signals
            .iter()
            .filter(|s| s.dimension == d)
            .take(top)
            .cloned()
            .collect()
    };
    Ok(TrendReport {
        date,
        article_types: pick(TrendDimension::ArticleType),
        colours: pick(TrendDimension::Colour),
        article_type_colours: pick(TrendDimension::ArticleTypeColour),
        products: pick(TrendDimension::Product),
    })
}

pub async fn trends(settings: &Settings, args: &TrendsArgs, json: bool) -> anyhow::Result<()> {
    let ports = Ports::open(settings, Arc::new(SystemClock)).await?;
    let report = trend_report(&ports, settings, args.date, args.top).await?;
    if json {
        return print_json(&report);
    }
    println!(
        "Trends for the day ending {} (last day vs the 7 days before):",
        report.date
    );
    for (title, list) in [
        ("Article types", &report.article_types),
        ("Colours", &report.colours),
        ("Article type + colour", &report.article_type_colours),
        ("Products", &report.products),
    ] {
        println!("{title}:");
        for s in list {
            println!(
                "  {:<32} share {:>5.2}% (was {:>5.2}%)  growth x{:<5.2} score {:>6.1}",
                s.key,
                s.recent_share * 100.0,
                s.baseline_share * 100.0,
                s.growth,
                s.score
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fashion trends` reads only [`trend_window`]; the report must be the one the whole
    /// history gives, for an explicit day and for the default (the last full one).
    #[test]
    fn the_trend_window_holds_everything_the_report_uses() {
        use fashion_domain::event::EventType;
        use fashion_domain::ids::{CustomerId, ProductId};
        let tz: chrono_tz::Tz = "Europe/Paris".parse().unwrap();
        let products: Vec<Product> = (1..=6).map(fashion_tests::fixtures::product).collect();
        let start = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let mut events = Vec::new();
        for day in 0..30_u32 {
            let date = start + Days::new(u64::from(day));
            // The last day has only just begun: a few events.
            let n = if day == 29 { 3 } else { 40 + day };
            for k in 0..n {
                let at =
                    StoreDay::new(date, tz).start + chrono::Duration::minutes(i64::from(k) * 20);
                // Product 2 rises over the last days.
                let product = if day > 24 && k % 3 != 0 {
                    2
                } else {
                    1 + (k % 6)
                };
                events.push(TrainingEvent {
                    customer: CustomerId::new(u64::from(k) + 1).unwrap(),
                    product: ProductId::new(product).unwrap(),
                    kind: EventType::AddToCart,
                    at,
                    session: u64::from(day * 1000 + k),
                });
            }
        }
        let last = start + Days::new(29);
        let (from, to) = trend_window(last, tz);
        let windowed: Vec<TrainingEvent> = events
            .iter()
            .filter(|e| e.at >= from && e.at < to)
            .cloned()
            .collect();
        assert!(windowed.len() < events.len() / 2);
        for date in [None, Some(last), Some(last - Days::new(1))] {
            let all = trend_report_of(&events, &[], &products, tz, date, 5).unwrap();
            let part = trend_report_of(&windowed, &[], &products, tz, date, 5).unwrap();
            assert_eq!(
                serde_json::to_value(&all).unwrap(),
                serde_json::to_value(&part).unwrap()
            );
            assert!(
                !all.article_types.is_empty(),
                "{date:?}: the test needs trends to compare"
            );
        }
    }

    #[test]
    fn rows_print_as_an_aligned_table_with_nulls_and_long_values_cut() {
        let res = QueryResult {
            columns: vec!["article_type".into(), "units".into()],
            rows: vec![
                vec![serde_json::json!("Tshirts"), serde_json::json!(12)],
                vec![serde_json::json!("x".repeat(80)), serde_json::Value::Null],
            ],
        };
        let text = table(&res);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].contains("article_type") && lines[0].contains("units"));
        assert!(lines[2].contains("Tshirts") && lines[2].contains("12"));
        assert!(lines[3].contains(&"x".repeat(60)) && !lines[3].contains(&"x".repeat(61)));
        assert!(lines[3].contains("NULL"));
        assert_eq!(lines[4], "(2 rows)");
        let width = lines[0].chars().count();
        assert!(
            lines[1..4].iter().all(|l| l.chars().count() == width),
            "{text}"
        );
    }
}
