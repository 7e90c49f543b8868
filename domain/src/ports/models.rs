//! Port: versioned model artifacts.

use async_trait::async_trait;

use super::errors::StoreError;
use crate::model::RecModel;

/// Trained models by version. Versions sort in training order; `put` of an existing version
/// replaces it with identical content (training is deterministic for the same inputs).
///
/// # Errors
/// - [`StoreError::Corrupt`] MUST be returned when a stored artifact cannot be decoded.
/// - [`StoreError::Unavailable`] on throttling or timeout.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
#[auto_impl::auto_impl(Arc)]
pub trait ModelStore: Send + Sync {
    /// Stores a model and makes it the latest if its version sorts last.
    async fn put(&self, model: &RecModel) -> Result<(), StoreError>;

    /// The newest version, cheap enough to poll for refreshes.
    async fn latest_version(&self) -> Result<Option<String>, StoreError>;

    /// A model by version.
    async fn get(&self, version: &str) -> Result<Option<RecModel>, StoreError>;

    /// Every stored version, oldest first (to fall back to an earlier model when the newest
    /// cannot be read).
    async fn versions(&self) -> Result<Vec<String>, StoreError>;

    /// The newest model.
    async fn latest(&self) -> Result<Option<RecModel>, StoreError> {
        match self.latest_version().await? {
            Some(v) => self.get(&v).await,
            None => Ok(None),
        }
    }
}
