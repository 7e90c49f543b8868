//! SQL over the lake with Athena: start a query with its parameters bound through
//! `ExecutionParameters`, poll it to the end, and page its results into JSON values.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{
    QueryExecutionContext, QueryExecutionState, ResultConfiguration, StatementType,
};
use fashion_domain::ports::{LakeError, QueryEngine, QueryParam, QueryResult};
use serde_json::Value;

use crate::error::{AwsFailure, Class};

/// The Glue data catalog as Athena names it.
pub const DEFAULT_CATALOG: &str = "AwsDataCatalog";
/// Rows per `GetQueryResults` page (the service's maximum).
const PAGE_SIZE: i32 = 1000;
/// Athena's error category for errors in the query itself.
const USER_ERROR_CATEGORY: i32 = 2;

/// How a query is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    /// First wait between status checks.
    pub initial: Duration,
    /// Longest wait between status checks.
    pub max: Duration,
    /// Longest a query may run before it is cancelled and reported unavailable.
    pub timeout: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            timeout: Duration::from_secs(600),
        }
    }
}

/// Athena over one Glue database, in one workgroup.
#[derive(Clone, Debug)]
pub struct AthenaQueryEngine {
    client: Client,
    database: String,
    catalog: String,
    workgroup: String,
    output_location: Option<String>,
    poll: PollSettings,
}

impl AthenaQueryEngine {
    /// Queries run against `database` in `workgroup`; results go to `output_location` (an
    /// `s3://` prefix), or to the workgroup's configured location when `None`.
    #[must_use]
    pub fn new(
        client: Client,
        database: &str,
        workgroup: &str,
        output_location: Option<String>,
    ) -> Self {
        Self {
            client,
            database: database.to_owned(),
            catalog: DEFAULT_CATALOG.to_owned(),
            workgroup: workgroup.to_owned(),
            output_location,
            poll: PollSettings::default(),
        }
    }

    /// The same engine with other polling settings.
    #[must_use]
    pub fn with_poll_settings(mut self, poll: PollSettings) -> Self {
        self.poll = poll;
        self
    }

    fn failure(e: AwsFailure, what: &str) -> LakeError {
        match e.class {
            // Athena answers InvalidRequestException for SQL it cannot even accept.
            Class::Rejected => LakeError::Query {
                message: format!("{what}: {}", e.message),
            },
            _ => e.into_lake(what),
        }
    }

    /// Waits for the query to finish; its statement type when it succeeded.
    async fn wait(&self, id: &str) -> Result<Option<StatementType>, LakeError> {
        let started = tokio::time::Instant::now();
        let mut delay = self.poll.initial;
        loop {
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| Self::failure(AwsFailure::of(&e), "poll Athena query"))?;
            let exec = out.query_execution();
            let status = exec.and_then(|e| e.status());
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => {
                    return Ok(exec.and_then(|e| e.statement_type()).cloned());
                }
                Some(QueryExecutionState::Failed) => {
                    let reason = status
                        .and_then(|s| s.state_change_reason())
                        .unwrap_or("no reason given")
                        .to_owned();
                    let err = status.and_then(|s| s.athena_error());
                    let retryable = err.is_some_and(|e| {
                        e.retryable() && e.error_category() != Some(USER_ERROR_CATEGORY)
                    });
                    return Err(if retryable {
                        LakeError::Unavailable {
                            message: format!("Athena query {id} failed: {reason}"),
                        }
                    } else {
                        LakeError::Query { message: reason }
                    });
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(LakeError::Query {
                        message: format!("Athena query {id} was cancelled"),
                    });
                }
                _ => {}
            }
            if started.elapsed() >= self.poll.timeout {
                // Do not leave it running (and billing) after giving up on it.
                if let Err(e) = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await
                {
                    tracing::warn!(query_id = id, error.message = %AwsFailure::of(&e).message, "Could not cancel a timed-out Athena query.");
                }
                return Err(LakeError::Unavailable {
                    message: format!(
                        "Athena query {id} still running after {:?}",
                        self.poll.timeout
                    ),
                });
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2).min(self.poll.max);
        }
    }

    async fn results(&self, id: &str, header_row: bool) -> Result<QueryResult, LakeError> {
        let mut result = QueryResult::default();
        let mut types: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| Self::failure(AwsFailure::of(&e), "read Athena results"))?;
            let Some(set) = page.result_set() else { break };
            if first_page && let Some(meta) = set.result_set_metadata() {
                result.columns = meta
                    .column_info()
                    .iter()
                    .map(|c| c.name().to_owned())
                    .collect();
                types = meta
                    .column_info()
                    .iter()
                    .map(|c| c.r#type().to_ascii_lowercase())
                    .collect();
            }
            let mut rows = set.rows();
            if first_page
                && header_row
                && rows.first().is_some_and(|r| is_header(r, &result.columns))
            {
                // For SELECT statements, Athena's first row repeats the column names.
                rows = rows.get(1..).unwrap_or_default();
            }
            for row in rows {
                let values = row
                    .data()
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        to_json(
                            d.var_char_value(),
                            types.get(i).map_or("varchar", String::as_str),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                result.rows.push(values);
            }
            first_page = false;
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(result)
    }
}

fn is_header(row: &aws_sdk_athena::types::Row, columns: &[String]) -> bool {
    row.data().len() == columns.len()
        && row
            .data()
            .iter()
            .zip(columns)
            .all(|(d, c)| d.var_char_value() == Some(c.as_str()))
}

/// One result value as JSON: integers as numbers, floats as numbers, decimals as exact strings,
/// booleans as booleans, nulls as null, everything else (text, dates, timestamps) as strings.
fn to_json(value: Option<&str>, ty: &str) -> Result<Value, LakeError> {
    let Some(v) = value else {
        return Ok(Value::Null);
    };
    let base = ty.split('(').next().unwrap_or(ty).trim();
    let bad = || LakeError::Unexpected(anyhow::anyhow!("Athena returned {v:?} for a {ty} column"));
    Ok(match base {
        "tinyint" | "smallint" | "integer" | "int" | "bigint" => {
            Value::from(v.parse::<i64>().map_err(|_| bad())?)
        }
        "double" | "float" | "real" => {
            let f: f64 = v.parse().map_err(|_| bad())?;
            serde_json::Number::from_f64(f)
                .map_or_else(|| Value::String(v.to_owned()), Value::Number)
        }
        "boolean" => Value::Bool(v.parse().map_err(|_| bad())?),
        _ => Value::String(v.to_owned()),
    })
}

/// A parameter as the SQL literal Athena binds (`ExecutionParameters` are literals, not raw
/// values: text is quoted, a float is written with an exponent so it is a DOUBLE, not a DECIMAL).
fn literal(p: &QueryParam) -> Result<String, LakeError> {
    match p {
        QueryParam::Text(s) => Ok(format!("'{}'", s.replace('\'', "''"))),
        QueryParam::Int(i) => Ok(i.to_string()),
        QueryParam::Float(f) if f.is_finite() => Ok(format!("{f:e}")),
        QueryParam::Float(f) => Err(LakeError::Query {
            message: format!("{f} cannot be bound as a query parameter"),
        }),
    }
}

/// Rewrites `$1`, `$2`, ... into Athena's positional `?` and lists the parameters in the order the
/// placeholders appear. Placeholders inside quotes and comments are left alone.
fn bind(sql: &str, params: &[QueryParam]) -> Result<(String, Vec<String>), LakeError> {
    let mut out = String::with_capacity(sql.len());
    let mut bound = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                copy_through(&mut chars, &mut out, |d| d == c);
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                copy_through(&mut chars, &mut out, |d| d == '\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                out.extend(chars.next());
                let mut star = false;
                copy_through(&mut chars, &mut out, |d| {
                    let closes = star && d == '/';
                    star = d == '*';
                    closes
                });
            }
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    digits.push(d);
                }
                let n: usize = digits.parse().unwrap_or(0);
                let p = n
                    .checked_sub(1)
                    .and_then(|k| params.get(k))
                    .ok_or_else(|| LakeError::Query {
                        message: format!("no value for parameter ${n} ({} given)", params.len()),
                    })?;
                bound.push(literal(p)?);
                out.push('?');
            }
            _ => out.push(c),
        }
    }
    Ok((out, bound))
}

/// Copies characters up to and including the first for which `end` holds (or to the end).
fn copy_through(
    chars: &mut impl Iterator<Item = char>,
    out: &mut String,
    mut end: impl FnMut(char) -> bool,
) {
    for d in chars {
        out.push(d);
        if end(d) {
            break;
        }
    }
}

#[async_trait]
impl QueryEngine for AthenaQueryEngine {
    #[tracing::instrument(skip_all, fields(workgroup = %self.workgroup, database = %self.database, params = params.len()), err)]
    async fn query(&self, sql: &str, params: &[QueryParam]) -> Result<QueryResult, LakeError> {
        let (text, bound) = bind(sql, params)?;
        let mut req = self
            .client
            .start_query_execution()
            .query_string(text)
            .work_group(&self.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .catalog(&self.catalog)
                    .database(&self.database)
                    .build(),
            );
        if let Some(loc) = &self.output_location {
            req = req
                .result_configuration(ResultConfiguration::builder().output_location(loc).build());
        }
        if !bound.is_empty() {
            req = req.set_execution_parameters(Some(bound));
        }
        let started = req
            .send()
            .await
            .map_err(|e| Self::failure(AwsFailure::of(&e), "start Athena query"))?;
        let id = started
            .query_execution_id()
            .ok_or_else(|| {
                LakeError::Unexpected(anyhow::anyhow!("Athena returned no query execution id"))
            })?
            .to_owned();
        tracing::debug!(query_id = %id, "Started Athena query.");
        let statement = self.wait(&id).await?;
        // Only SELECT-like (DML) results start with a header row; an unknown type is checked by
        // content.
        let header = !matches!(statement, Some(StatementType::Ddl | StatementType::Utility));
        self.results(&id, header).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_positional_parameters_in_order_of_appearance() {
        let (sql, bound) = bind(
            "SELECT '$1', \"$2\" FROM t -- $1\nWHERE a = $2 AND b = $1 /* $3 */",
            &[QueryParam::Text("it's".into()), QueryParam::Int(5)],
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT '$1', \"$2\" FROM t -- $1\nWHERE a = ? AND b = ? /* $3 */"
        );
        assert_eq!(bound, vec!["5".to_owned(), "'it''s'".to_owned()]);
    }

    #[test]
    fn a_missing_parameter_or_a_non_finite_float_is_a_query_error() {
        assert!(matches!(
            bind("SELECT $2", &[QueryParam::Int(1)]),
            Err(LakeError::Query { .. })
        ));
        assert!(matches!(
            bind("SELECT $0", &[]),
            Err(LakeError::Query { .. })
        ));
        assert!(matches!(
            bind("SELECT $1", &[QueryParam::Float(f64::NAN)]),
            Err(LakeError::Query { .. })
        ));
        assert_eq!(
            bind("SELECT $1", &[QueryParam::Float(1.5)]).unwrap().1,
            vec!["1.5e0".to_owned()]
        );
    }

    #[test]
    fn values_map_to_json_by_column_type() {
        assert_eq!(to_json(Some("40"), "bigint").unwrap(), Value::from(40));
        assert_eq!(
            to_json(Some("10.05"), "decimal").unwrap(),
            Value::from("10.05")
        );
        assert_eq!(to_json(None, "integer").unwrap(), Value::Null);
        assert_eq!(to_json(Some("0.5"), "double").unwrap(), Value::from(0.5));
        assert_eq!(to_json(Some("true"), "boolean").unwrap(), Value::Bool(true));
        assert_eq!(to_json(Some(""), "varchar").unwrap(), Value::from(""));
        assert!(to_json(Some("x"), "bigint").is_err());
    }
}
