//! Translation of driver errors into the ports' errors, at the boundary.

use fashion_domain::ports::{StoreError, StreamError};

/// True for errors that go away by waiting: a locked database, an exhausted pool, IO hiccups.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            let msg = db.message();
            msg.contains("database is locked") || msg.contains("busy")
        }
        _ => false,
    }
}

pub(crate) fn store_err(e: sqlx::Error, what: &str) -> StoreError {
    if is_transient(&e) {
        StoreError::Unavailable {
            message: format!("{what}: {e}"),
        }
    } else {
        StoreError::Unexpected(anyhow::Error::new(e).context(format!("failed to {what}")))
    }
}

pub(crate) fn stream_err(e: sqlx::Error, what: &str) -> StreamError {
    if is_transient(&e) {
        StreamError::Unavailable {
            message: format!("{what}: {e}"),
        }
    } else {
        StreamError::Unexpected(anyhow::Error::new(e).context(format!("failed to {what}")))
    }
}
