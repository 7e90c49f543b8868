//! Named analysis queries over the lake, in SQL that both DataFusion and Athena run. Queries over
//! the clickstream count each `event_id` once: on AWS, Firehose delivers at least once.
//!
//! A query that looks at recent days takes the last day of its window as `$1` (`YYYY-MM-DD`)
//! and filters the `dt` partition key with it, so the engine reads that window's partitions and
//! not the whole history: its cost follows the days it asks for, not the store's age. When no
//! day is given, [`params_for`] takes the latest day the table's catalog holds.

use super::history::latest_day;
use crate::lake::tables;
use crate::ports::{HistorySource, LakeError, QueryParam, TableCatalog};

/// One named query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedQuery {
    /// The name (`fashion query --named NAME`).
    pub name: &'static str,
    /// What it answers.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
    /// For a query over a window of days: the table whose latest partition day `$1` defaults to.
    pub last_day_of: Option<&'static str>,
}

/// Every named query.
pub const NAMED_QUERIES: &[NamedQuery] = &[
    NamedQuery {
        name: "top_products",
        description: "The 20 products with the most revenue over every loaded day",
        sql: "SELECT product_id, article_type, colour, gender, SUM(units) AS units, SUM(revenue) AS revenue, \
              SUM(orders) AS orders FROM daily_sales GROUP BY product_id, article_type, colour, gender \
              ORDER BY revenue DESC, product_id LIMIT 20",
        last_day_of: None,
    },
    NamedQuery {
        name: "rising_article_types",
        description: "Article types by units sold in the 7 days ending $1 against the 7 days before \
                      (default: the last day of sales)",
        sql: "WITH windows AS ( \
                SELECT article_type, \
                  SUM(CASE WHEN dt > CAST(CAST($1 AS DATE) - INTERVAL '7' DAY AS VARCHAR) THEN units ELSE 0 END) AS this_week, \
                  SUM(CASE WHEN dt <= CAST(CAST($1 AS DATE) - INTERVAL '7' DAY AS VARCHAR) THEN units ELSE 0 END) AS last_week \
                FROM daily_sales \
                WHERE dt > CAST(CAST($1 AS DATE) - INTERVAL '14' DAY AS VARCHAR) AND dt <= $1 \
                GROUP BY article_type) \
              SELECT article_type, this_week, last_week, \
                CAST(this_week AS DOUBLE) / CAST(GREATEST(last_week, 1) AS DOUBLE) AS growth \
              FROM windows ORDER BY growth DESC, this_week DESC, article_type LIMIT 20",
        last_day_of: Some("daily_sales"),
    },
    NamedQuery {
        name: "revenue_by_gender_city",
        description: "Revenue, units and orders by product gender and customer city",
        sql: "SELECT gender, city, SUM(revenue) AS revenue, SUM(units) AS units, SUM(orders) AS orders \
              FROM daily_sales GROUP BY gender, city ORDER BY revenue DESC, gender, city",
        last_day_of: None,
    },
    NamedQuery {
        name: "daily_funnel",
        description: "Clicks by day and event type (views, clicks, carts), each event once, over the 30 days ending $1 \
                      (default: the last day of clicks)",
        sql: "SELECT dt, event_type, COUNT(DISTINCT event_id) AS events, COUNT(DISTINCT user_id) AS customers \
              FROM clickstream \
              WHERE dt > CAST(CAST($1 AS DATE) - INTERVAL '30' DAY AS VARCHAR) AND dt <= $1 \
              GROUP BY dt, event_type ORDER BY dt, events DESC",
        last_day_of: Some("clickstream"),
    },
    NamedQuery {
        name: "quarantine_by_rule",
        description: "Rows the daily job refused, by day, source table and rule",
        sql: "SELECT dt, source_table, rule, COUNT(*) AS rows FROM quarantine \
              GROUP BY dt, source_table, rule ORDER BY dt, source_table, rows DESC",
        last_day_of: None,
    },
];

/// The named query called `name`.
#[must_use]
pub fn named_query(name: &str) -> Option<&'static NamedQuery> {
    NAMED_QUERIES.iter().find(|q| q.name == name)
}

/// The parameters to run `query` with: `given` when there are any; for a windowed query without
/// them, its table's last day: the latest `dt` among the partitions `catalog` holds, or for the
/// clickstream (whose partitions are projected on AWS, not catalogued) the one `history` reads.
///
/// # Errors
/// [`LakeError`] when the catalog cannot be read, or [`LakeError::Query`] when the table has no
/// partition yet (there is no last day to end the window on).
pub async fn params_for(
    query: &NamedQuery,
    given: Vec<QueryParam>,
    catalog: &dyn TableCatalog,
    history: &dyn HistorySource,
) -> Result<Vec<QueryParam>, LakeError> {
    let Some(table) = query.last_day_of.filter(|_| given.is_empty()) else {
        return Ok(given);
    };
    let last = if table == tables::CLICKSTREAM {
        history.latest_click_day().await?
    } else {
        latest_day(catalog, table).await?
    };
    let last = last
        .ok_or_else(|| LakeError::Query {
            message: format!(
                "{} needs a last day ($1, YYYY-MM-DD) and the {table} table has no partition yet",
                query.name
            ),
        })?
        .to_string();
    Ok(vec![QueryParam::Text(last)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windowed_queries_filter_the_partition_key_with_their_parameter() {
        for q in NAMED_QUERIES {
            let filtered = q.sql.contains("WHERE dt >") && q.sql.contains("dt <= $1");
            assert_eq!(
                q.last_day_of.is_some(),
                filtered,
                "{}: a window needs a last day and a filter on dt",
                q.name
            );
        }
    }
}
