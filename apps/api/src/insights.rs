//! Trends and the dashboard's figures, read from the lake through the ports (the history source
//! for clicks and order lines, the query engine for the daily job's tables) and reused for
//! [`crate::ApiConfig::insights_ttl`], so a page reload does not rescan the lake.
//!
//! Every read covers the days asked for, never the whole history: the window ends at the lake's
//! newest clickstream day (a store whose clicks stopped still has a dashboard).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use fashion_domain::calendar::StoreDay;
use fashion_domain::event::EventType;
use fashion_domain::history::{PurchaseRecord, TrainingEvent};
use fashion_domain::ids::ProductId;
use fashion_domain::product::Product;
use fashion_domain::services::trends::{
    TrendAttributes, TrendParams, compute_trends, last_full_day,
};
use fashion_domain::trends::{TrendDimension, TrendSignal};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::{ApiPorts, AppState};

/// Most signals per dimension a trend report holds.
pub const MAX_TREND_LIMIT: usize = 100;
/// Series drawn per chart on the dashboard.
const SERIES_PER_CHART: usize = 5;

/// One rising (or falling) thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrendItem {
    /// `Tshirts`, `Red`, `Tshirts / Red`, or a product id.
    pub key: String,
    /// The product's name, for product signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Share of weighted interest on the day.
    pub recent_share: f64,
    /// Share in the 7 days before.
    pub baseline_share: f64,
    /// Smoothed ratio of the two (1.0 = flat).
    pub growth: f64,
    /// Ranking score: growth damped by volume.
    pub score: f64,
    /// Weighted events on the day.
    pub recent_events: f64,
}

/// Rising article types, colours and products on a store day against the 7 days before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrendReport {
    /// The store day the report ends with.
    pub date: NaiveDate,
    /// Rising article types.
    pub article_types: Vec<TrendItem>,
    /// Rising colours.
    pub colours: Vec<TrendItem>,
    /// Rising article types in a colour.
    pub article_type_colours: Vec<TrendItem>,
    /// Rising products.
    pub products: Vec<TrendItem>,
}

/// Query of `GET /trends`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TrendsQuery {
    /// The store day (`YYYY-MM-DD`) the report ends with; default: the lake's last full day.
    pub date: Option<NaiveDate>,
    /// Signals per dimension, 1–100 (default 10).
    pub limit: Option<usize>,
}

/// A share of interest per day, for one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The article type or colour.
    pub key: String,
    /// `(day, share in percent)`.
    pub points: Vec<(NaiveDate, f64)>,
}

/// One day of sales from the daily job's `daily_sales` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailySales {
    /// The store day.
    pub day: String,
    /// Revenue (for charts; the lake keeps it exact).
    pub revenue: f64,
    /// Orders.
    pub orders: i64,
    /// Units.
    pub units: i64,
}

/// A best-selling product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopProduct {
    /// Product id.
    pub product_id: i64,
    /// Its name, when the catalog knows it.
    pub name: String,
    /// Units sold.
    pub units: i64,
    /// Revenue.
    pub revenue: f64,
}

/// Everything the dashboard shows. A section that cannot be read (a table the daily job has not
/// written yet) is empty and says why in `notes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dashboard {
    /// When the figures were read.
    pub generated_at: DateTime<Utc>,
    /// First and last store day of the charts.
    pub days: Option<(NaiveDate, NaiveDate)>,
    /// Trends on the last full day.
    pub trends: Option<TrendReport>,
    /// Daily share of the most rising article types.
    pub article_type_share: Vec<Series>,
    /// Daily share of the most rising colours.
    pub colour_share: Vec<Series>,
    /// Views, clicks, carts and purchased lines over the window.
    pub funnel: Vec<(&'static str, u64)>,
    /// Daily sales from the batch job.
    pub daily_sales: Vec<DailySales>,
    /// Best sellers over every loaded day.
    pub top_products: Vec<TopProduct>,
    /// Rows the daily job quarantined, by rule.
    pub quarantine: Vec<(String, i64)>,
    /// Dead letters, by source and reason code.
    pub dead_letters: Vec<(String, u64)>,
    /// Sections that could not be read, and why.
    pub notes: Vec<String>,
}

type Cached<T> = tokio::sync::Mutex<HashMap<String, (Instant, Arc<T>)>>;

/// Reports and dashboards computed recently.
#[derive(Default)]
pub(crate) struct InsightsCache {
    trends: Cached<TrendReport>,
    dashboard: Cached<Dashboard>,
}

async fn cached<T, F>(
    cache: &Cached<T>,
    key: String,
    ttl: std::time::Duration,
    compute: F,
) -> Result<Arc<T>, ApiError>
where
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    // One computation at a time: concurrent reloads of the dashboard wait for the first.
    let mut map = cache.lock().await;
    if let Some((at, v)) = map.get(&key)
        && at.elapsed() < ttl
    {
        return Ok(Arc::clone(v));
    }
    let value = Arc::new(compute.await?);
    map.retain(|_, (at, _)| at.elapsed() < ttl);
    map.insert(key, (Instant::now(), Arc::clone(&value)));
    Ok(value)
}

/// Trend report of a store day.
#[utoipa::path(get, path = "/trends", tag = "trends",
    params(TrendsQuery),
    responses(
        (status = 200, description = "Rising article types, colours and products", body = TrendReport),
        (status = 400, description = "Bad date or limit", body = crate::error::ErrorBody),
        (status = 503, description = "The lake cannot be read right now", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn get_trends(
    State(state): State<Arc<AppState>>,
    Query(q): Query<TrendsQuery>,
) -> Result<Json<TrendReport>, ApiError> {
    let limit = q.limit.unwrap_or(10);
    if !(1..=MAX_TREND_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit}: must be between 1 and {MAX_TREND_LIMIT}"
        )));
    }
    let key = format!("{:?}/{limit}", q.date);
    let report = cached(
        &state.insights.trends,
        key,
        state.config.insights_ttl,
        trend_report(&state.ports, state.config.time_zone, q.date, limit),
    )
    .await?;
    Ok(Json((*report).clone()))
}

/// The dashboard's figures, cached.
pub(crate) async fn dashboard(state: &AppState) -> Result<Arc<Dashboard>, ApiError> {
    cached(
        &state.insights.dashboard,
        String::new(),
        state.config.insights_ttl,
        build_dashboard(
            &state.ports,
            state.config.time_zone,
            state.config.dashboard_days,
        ),
    )
    .await
}

fn lake_unavailable(what: &str, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::Unavailable {
        message: format!("the lake's {what} cannot be read: {e}"),
        retry_after_secs: 5,
    }
}

/// The newest store day with clicks in the lake, if any.
async fn last_clickstream_day(ports: &ApiPorts) -> Result<Option<NaiveDate>, ApiError> {
    let res = match ports
        .lake
        .query("SELECT MAX(dt) AS last_day FROM clickstream", &[])
        .await
    {
        Ok(r) => r,
        // No clickstream table yet: a new store, nothing to show.
        Err(fashion_domain::ports::LakeError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(lake_unavailable("clickstream", &e)),
    };
    Ok(res
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_str())
        .and_then(|s| s.get(..10))
        .and_then(|s| s.parse().ok()))
}

struct Window {
    events: Vec<TrainingEvent>,
    purchases: Vec<PurchaseRecord>,
    products: Vec<Product>,
}

/// Clicks and order lines of the store days `first..=last`, and the catalog.
async fn load_window(
    ports: &ApiPorts,
    tz: Tz,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Window, ApiError> {
    let from = StoreDay::new(first, tz).start;
    let to = StoreDay::new(last, tz).end;
    let events = ports
        .history
        .interactions(from, to)
        .try_concat()
        .await
        .map_err(|e| lake_unavailable("clickstream", &e))?;
    let purchases = ports
        .history
        .purchases(from, to)
        .try_concat()
        .await
        .map_err(|e| lake_unavailable("order lines", &e))?;
    let products = ports
        .catalog
        .list()
        .await
        .map_err(|e| ApiError::Unavailable {
            message: format!("the catalog cannot be read: {e}"),
            retry_after_secs: 5,
        })?;
    Ok(Window {
        events,
        purchases,
        products,
    })
}

fn minus_days(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).unwrap_or(d)
}

async fn trend_report(
    ports: &ApiPorts,
    tz: Tz,
    date: Option<NaiveDate>,
    limit: usize,
) -> Result<TrendReport, ApiError> {
    let params = TrendParams::default();
    let baseline_days = u64::try_from(params.baseline.num_days()).unwrap_or(7);
    let date = match date {
        Some(d) => d,
        None => match last_clickstream_day(ports).await? {
            Some(d) => d,
            None => {
                return Ok(empty_report(
                    StoreDay::yesterday(ports.clock.now(), tz).date,
                ));
            }
        },
    };
    let window = load_window(ports, tz, minus_days(date, baseline_days), date).await?;
    // Without an explicit date, the newest day may have just begun: report the last full one.
    let date = last_full_day(&window.events, tz).map_or(date, |d| d.min(date));
    Ok(report_of(&window, tz, date, limit))
}

fn empty_report(date: NaiveDate) -> TrendReport {
    TrendReport {
        date,
        article_types: Vec::new(),
        colours: Vec::new(),
        article_type_colours: Vec::new(),
        products: Vec::new(),
    }
}

fn report_of(window: &Window, tz: Tz, date: NaiveDate, limit: usize) -> TrendReport {
    let attrs = TrendAttributes::of_catalog(&window.products);
    let names: HashMap<String, &str> = window
        .products
        .iter()
        .map(|p| (p.id.to_string(), p.product_display_name.as_str()))
        .collect();
    let end = StoreDay::new(date, tz).end;
    let signals = compute_trends(
        &window.events,
        &window.purchases,
        &attrs,
        end,
        TrendParams::default(),
    );
    let pick = |d: TrendDimension| -> Vec<TrendItem> {
        signals
            .iter()
            .filter(|s| s.dimension == d)
            .take(limit)
            .map(|s: &TrendSignal| TrendItem {
                key: s.key.clone(),
                name: (d == TrendDimension::Product)
                    .then(|| names.get(&s.key).map(|n| (*n).to_owned()))
                    .flatten(),
                recent_share: s.recent_share,
                baseline_share: s.baseline_share,
                growth: s.growth,
                score: s.score,
                recent_events: s.recent_events,
            })
            .collect()
    };
    TrendReport {
        date,
        article_types: pick(TrendDimension::ArticleType),
        colours: pick(TrendDimension::Colour),
        article_type_colours: pick(TrendDimension::ArticleTypeColour),
        products: pick(TrendDimension::Product),
    }
}

/// Daily share (percent of the day's product interactions) of each of `keys`, on the days up
/// to `last` (a day that has just begun would show a meaningless jump).
fn daily_share(
    window: &Window,
    tz: Tz,
    last: NaiveDate,
    keys: &[String],
    key_of: impl Fn(&Product) -> String,
) -> Vec<Series> {
    let of: HashMap<ProductId, String> =
        window.products.iter().map(|p| (p.id, key_of(p))).collect();
    let mut totals: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut counts: HashMap<(&str, NaiveDate), u64> = HashMap::new();
    for e in &window.events {
        let day = StoreDay::containing(e.at, tz).date;
        if day > last {
            continue;
        }
        let total = totals.entry(day).or_default();
        *total = total.saturating_add(1);
        if let Some(k) = of.get(&e.product)
            && let Some(key) = keys.iter().find(|x| *x == k)
        {
            let count = counts.entry((key.as_str(), day)).or_default();
            *count = count.saturating_add(1);
        }
    }
    keys.iter()
        .map(|k| Series {
            key: k.clone(),
            points: totals
                .iter()
                .map(|(day, total)| {
                    let n = counts.get(&(k.as_str(), *day)).copied().unwrap_or(0);
                    (*day, 100.0 * n as f64 / (*total).max(1) as f64)
                })
                .collect(),
        })
        .collect()
}

fn number(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(0.0),
        serde_json::Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn integer(v: &serde_json::Value) -> i64 {
    match v {
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(0),
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs one dashboard query; a failure becomes a note instead of failing the page.
async fn rows(
    ports: &ApiPorts,
    notes: &mut Vec<String>,
    what: &str,
    sql: &str,
) -> Vec<Vec<serde_json::Value>> {
    match ports.lake.query(sql, &[]).await {
        Ok(r) => r.rows,
        Err(e) => {
            notes.push(format!("{what}: {e}"));
            Vec::new()
        }
    }
}

async fn build_dashboard(ports: &ApiPorts, tz: Tz, days: u32) -> Result<Dashboard, ApiError> {
    let mut notes = Vec::new();
    let last = last_clickstream_day(ports).await?;
    let mut dash = Dashboard {
        generated_at: ports.clock.now(),
        days: None,
        trends: None,
        article_type_share: Vec::new(),
        colour_share: Vec::new(),
        funnel: Vec::new(),
        daily_sales: Vec::new(),
        top_products: Vec::new(),
        quarantine: Vec::new(),
        dead_letters: Vec::new(),
        notes: Vec::new(),
    };
    let mut names: HashMap<i64, String> = HashMap::new();
    if let Some(last) = last {
        let first = minus_days(last, u64::from(days.max(8)).saturating_sub(1));
        let window = load_window(ports, tz, first, last).await?;
        names = window
            .products
            .iter()
            .map(|p| (i64::from(p.id.get()), p.product_display_name.clone()))
            .collect();
        let date = last_full_day(&window.events, tz).unwrap_or(last);
        let report = report_of(&window, tz, date, 10);
        let top = |items: &[TrendItem]| -> Vec<String> {
            items
                .iter()
                .take(SERIES_PER_CHART)
                .map(|t| t.key.clone())
                .collect()
        };
        dash.article_type_share =
            daily_share(&window, tz, date, &top(&report.article_types), |p| {
                p.article_type.clone()
            });
        dash.colour_share = daily_share(&window, tz, date, &top(&report.colours), |p| {
            p.colour().to_owned()
        });
        let count = |t: EventType| window.events.iter().filter(|e| e.kind == t).count() as u64;
        dash.funnel = vec![
            ("product views", count(EventType::ProductView)),
            ("clicks", count(EventType::Click)),
            ("add to cart", count(EventType::AddToCart)),
            ("purchased lines", window.purchases.len() as u64),
        ];
        let first_seen = window
            .events
            .iter()
            .map(|e| StoreDay::containing(e.at, tz).date)
            .min()
            .unwrap_or(first);
        dash.days = Some((first_seen, last));
        dash.trends = Some(report);
    } else {
        notes.push("clickstream: the lake has no clicks yet".to_owned());
    }

    dash.daily_sales = rows(
        ports,
        &mut notes,
        "daily sales",
        "SELECT dt, SUM(revenue) AS revenue, SUM(orders) AS orders, SUM(units) AS units \
         FROM daily_sales GROUP BY dt ORDER BY dt DESC LIMIT 31",
    )
    .await
    .iter()
    .rev()
    .map(|r| DailySales {
        day: r.first().map(text).unwrap_or_default(),
        revenue: r.get(1).map_or(0.0, number),
        orders: r.get(2).map_or(0, integer),
        units: r.get(3).map_or(0, integer),
    })
    .collect();

    let top_sql = fashion_domain::services::named_queries::named_query("top_products")
        .map_or("SELECT 1 WHERE 1 = 0", |q| q.sql);
    dash.top_products = rows(ports, &mut notes, "top products", top_sql)
        .await
        .iter()
        .take(10)
        .map(|r| {
            let id = r.first().map_or(0, integer);
            TopProduct {
                product_id: id,
                name: names
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| format!("product {id}")),
                units: r.get(4).map_or(0, integer),
                revenue: r.get(5).map_or(0.0, number),
            }
        })
        .collect();

    dash.quarantine = rows(
        ports,
        &mut notes,
        "quarantine",
        "SELECT rule, COUNT(*) AS n FROM quarantine GROUP BY rule ORDER BY n DESC, rule",
    )
    .await
    .iter()
    .map(|r| {
        (
            r.first().map(text).unwrap_or_default(),
            r.get(1).map_or(0, integer),
        )
    })
    .collect();

    match ports.dead_letter_log.list(DEAD_LETTERS_READ).await {
        Ok(letters) => {
            let mut by: BTreeMap<String, u64> = BTreeMap::new();
            for l in &letters {
                let n = by.entry(format!("{} / {}", l.source, l.code)).or_default();
                *n = n.saturating_add(1);
            }
            let mut by: Vec<_> = by.into_iter().collect();
            by.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            dash.dead_letters = by;
            if letters.len() == DEAD_LETTERS_READ {
                notes.push(format!(
                    "dead letters: counted over the oldest {DEAD_LETTERS_READ} only"
                ));
            }
        }
        Err(e) => notes.push(format!("dead letters: {e}")),
    }
    dash.notes = notes;
    Ok(dash)
}

/// Dead letters read to count them by reason.
const DEAD_LETTERS_READ: usize = 10_000;
