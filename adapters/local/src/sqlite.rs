//! Opening SQLite databases the way every embedded store wants them: WAL journal (readers never
//! block the writer), `synchronous = NORMAL` (durable at checkpoints, fast commits), a busy timeout,
//! and the schema migrated.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, SqlitePool};

/// Opens (creating if needed) the SQLite database at `path` and applies `migrations` in order.
/// Each migration runs once, recorded in `schema_migrations`.
///
/// # Errors
/// When the file cannot be opened or a migration fails.
pub async fn open_sqlite(
    path: &Path,
    migrations: &[(i64, &'static str)],
) -> anyhow::Result<SqlitePool> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    let opts = SqliteConnectOptions::from_str("sqlite://")
        .context("failed to build SQLite options")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .pragma("foreign_keys", "ON");
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .with_context(|| format!("failed to open SQLite database {}", path.display()))?;
    migrate(&pool, migrations)
        .await
        .with_context(|| format!("failed to migrate {}", path.display()))?;
    Ok(pool)
}

async fn migrate(pool: &SqlitePool, migrations: &[(i64, &'static str)]) -> anyhow::Result<()> {
    pool.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        .await?;
    for (version, sql) in migrations {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_none() {
            tx.execute(*sql)
                .await
                .with_context(|| format!("migration {version}"))?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, datetime('now'))",
            )
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
