//! `fashion query` and `fashion trends`.

use std::sync::Arc;

use anyhow::Context;
use chrono::{Days, NaiveDate};
use fashion_domain::calendar::StoreDay;
use fashion_domain::history::{PurchaseRecord, TrainingEvent};
use fashion_domain::ports::{QueryEngine, QueryParam, QueryResult, SystemClock};
use fashion_domain::product::Product;
use fashion_domain::services::history::{FullHistory, load_full_history};
use fashion_domain::services::named_queries::{NAMED_QUERIES, named_query, params_for};
use fashion_domain::services::trends::{
    TrendAttributes, TrendParams, compute_trends, last_full_day,
};
use fashion_domain::trends::{TrendDimension, TrendSignal};
use serde::Serialize;

use crate::cli::{QueryArgs, TrendsArgs};
use crate::output::print_json;
use crate::settings::Settings;
use crate::stack::LocalStack;

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
    let stack = LocalStack::open(settings, Arc::new(SystemClock)).await?;
    let given: Vec<QueryParam> = args
        .params
        .iter()
        .map(|p| QueryParam::Text(p.clone()))
        .collect();
    let params = match named {
        Some(q) => params_for(q, given, stack.catalog.as_ref()).await?,
        None => given,
    };
    let res = stack
        .sql()?
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

/// Computes the report at the end of `date` (default: the last full day with clicks).
pub async fn trend_report(
    stack: &LocalStack,
    settings: &Settings,
    date: Option<NaiveDate>,
    top: usize,
) -> anyhow::Result<TrendReport> {
    let FullHistory {
        events,
        purchases,
        products,
    } = load_full_history(stack.history.as_ref(), &stack.state.catalog()).await?;
    trend_report_of(&events, &purchases, &products, settings.tz(), date, top)
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
    let stack = LocalStack::open(settings, Arc::new(SystemClock)).await?;
    let report = trend_report(&stack, settings, args.date, args.top).await?;
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
