//! Named analysis queries over the lake, in SQL that both DataFusion and Athena run.

/// One named query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedQuery {
    /// The name (`fashion query --named NAME`).
    pub name: &'static str,
    /// What it answers.
    pub description: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every named query.
pub const NAMED_QUERIES: &[NamedQuery] = &[
    NamedQuery {
        name: "top_products",
        description: "The 20 products with the most revenue over every loaded day",
        sql: "SELECT product_id, article_type, colour, gender, SUM(units) AS units, SUM(revenue) AS revenue, \
              SUM(orders) AS orders FROM daily_sales GROUP BY product_id, article_type, colour, gender \
              ORDER BY revenue DESC, product_id LIMIT 20",
    },
    NamedQuery {
        name: "rising_article_types",
        description: "Article types by units sold in the last 7 days against the 7 days before",
        sql: "WITH bounds AS (SELECT MAX(CAST(dt AS DATE)) AS last_day FROM daily_sales), \
              windows AS ( \
                SELECT s.article_type, \
                  SUM(CASE WHEN CAST(s.dt AS DATE) > b.last_day - INTERVAL '7' DAY THEN s.units ELSE 0 END) AS this_week, \
                  SUM(CASE WHEN CAST(s.dt AS DATE) <= b.last_day - INTERVAL '7' DAY \
                            AND CAST(s.dt AS DATE) > b.last_day - INTERVAL '14' DAY THEN s.units ELSE 0 END) AS last_week \
                FROM daily_sales s CROSS JOIN bounds b GROUP BY s.article_type) \
              SELECT article_type, this_week, last_week, \
                CAST(this_week AS DOUBLE) / CAST(GREATEST(last_week, 1) AS DOUBLE) AS growth \
              FROM windows ORDER BY growth DESC, this_week DESC, article_type LIMIT 20",
    },
    NamedQuery {
        name: "revenue_by_gender_city",
        description: "Revenue, units and orders by product gender and customer city",
        sql: "SELECT gender, city, SUM(revenue) AS revenue, SUM(units) AS units, SUM(orders) AS orders \
              FROM daily_sales GROUP BY gender, city ORDER BY revenue DESC, gender, city",
    },
    NamedQuery {
        name: "daily_funnel",
        description: "Clicks by day and event type: views, clicks, carts",
        sql: "SELECT dt, event_type, COUNT(*) AS events, COUNT(DISTINCT user_id) AS customers \
              FROM clickstream GROUP BY dt, event_type ORDER BY dt, events DESC",
    },
    NamedQuery {
        name: "quarantine_by_rule",
        description: "Rows the daily job refused, by day, source table and rule",
        sql: "SELECT dt, source_table, rule, COUNT(*) AS rows FROM quarantine \
              GROUP BY dt, source_table, rule ORDER BY dt, source_table, rows DESC",
    },
];

/// The named query called `name`.
#[must_use]
pub fn named_query(name: &str) -> Option<&'static NamedQuery> {
    NAMED_QUERIES.iter().find(|q| q.name == name)
}
