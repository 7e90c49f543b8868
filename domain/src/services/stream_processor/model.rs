//! The model the processor scores with: a handle shared by every batch, loaded at start (falling
//! back to earlier versions, then to popularity, when the newest cannot be read) and swapped in
//! place when a newer version appears.

use std::sync::{Arc, RwLock};

use crate::ports::{ModelStore, StoreError};
use crate::services::recommender::ModelIndex;

/// The model the processor scores with, shared and swappable while batches run.
#[derive(Clone, Default)]
pub struct ModelHandle(Arc<RwLock<Arc<ModelIndex>>>, Arc<RwLock<Option<String>>>);

/// What [`ModelHandle::load`] started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLoad {
    /// The newest model.
    Latest(String),
    /// No model is stored yet: recommendations come from the fallbacks only.
    NoModel,
    /// The newest model could not be read; an earlier one is in use.
    Earlier {
        /// The version in use.
        used: String,
        /// The newest version, which is unreadable, and why.
        unreadable: String,
        /// The store's error.
        error: String,
    },
    /// No stored model could be read: recommendations come from the fallbacks only.
    Fallback {
        /// The newest version, which is unreadable.
        unreadable: String,
        /// The store's error.
        error: String,
    },
}

/// How many earlier versions [`ModelHandle::load`] tries before falling back.
pub const EARLIER_MODELS_TRIED: usize = 5;

impl ModelHandle {
    /// A handle holding `index`.
    #[must_use]
    pub fn new(index: ModelIndex) -> Self {
        Self(
            Arc::new(RwLock::new(Arc::new(index))),
            Arc::new(RwLock::new(None)),
        )
    }

    /// The current model.
    #[must_use]
    pub fn current(&self) -> Arc<ModelIndex> {
        self.0
            .read()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    /// Replaces the model.
    pub fn replace(&self, index: ModelIndex) {
        let mut g = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = Arc::new(index);
    }

    fn unreadable(&self) -> Option<String> {
        self.1
            .read()
            .map_or_else(|p| p.into_inner().clone(), |g| g.clone())
    }

    fn mark_unreadable(&self, version: &str) {
        let mut g = self
            .1
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = Some(version.to_owned());
    }

    /// Loads the model to start with (a cold start): the newest, or, when the newest cannot be
    /// decoded, the newest of up to [`EARLIER_MODELS_TRIED`] earlier versions that can, or none
    /// (fallback recommendations only). A corrupt model never stops the processor; what was
    /// used is returned and logged.
    ///
    /// # Errors
    /// The store's error when it cannot be reached at all (Lambda retries the cold start).
    pub async fn load(&self, store: &dyn ModelStore) -> Result<ModelLoad, StoreError> {
        let Some(latest) = store.latest_version().await? else {
            return Ok(ModelLoad::NoModel);
        };
        let error = match store.get(&latest).await {
            Ok(Some(model)) => {
                self.replace(ModelIndex::new(&model));
                tracing::info!(version = %latest, "Loaded model.");
                return Ok(ModelLoad::Latest(latest));
            }
            Ok(None) => format!("model {latest} is named by LATEST but missing"),
            Err(e @ StoreError::Corrupt { .. }) => e.to_string(),
            Err(e) => return Err(e),
        };
        self.mark_unreadable(&latest);
        let versions = store.versions().await?;
        let earlier = versions
            .iter()
            .rev()
            .filter(|v| v.as_str() < latest.as_str())
            .take(EARLIER_MODELS_TRIED);
        for version in earlier {
            match store.get(version).await {
                Ok(Some(model)) => {
                    self.replace(ModelIndex::new(&model));
                    tracing::error!(version = %version, unreadable = %latest, error.message = %error, "The newest model cannot be read; started with an earlier one.");
                    return Ok(ModelLoad::Earlier {
                        used: version.clone(),
                        unreadable: latest,
                        error,
                    });
                }
                Ok(None) | Err(StoreError::Corrupt { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        tracing::error!(unreadable = %latest, error.message = %error, "No stored model can be read; recommending from the fallbacks only.");
        Ok(ModelLoad::Fallback {
            unreadable: latest,
            error,
        })
    }

    /// Loads the newest model from `store` if it differs from the current one; returns whether it
    /// changed. A version already found unreadable is not fetched again.
    ///
    /// # Errors
    /// The store's error; the current model stays in place.
    pub async fn refresh(&self, store: &dyn ModelStore) -> Result<bool, StoreError> {
        let Some(latest) = store.latest_version().await? else {
            return Ok(false);
        };
        if latest == self.current().version() || self.unreadable().as_deref() == Some(&latest) {
            return Ok(false);
        }
        match store.get(&latest).await {
            Ok(Some(model)) => {
                self.replace(ModelIndex::new(&model));
                tracing::info!(version = %latest, "Loaded model.");
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                if matches!(e, StoreError::Corrupt { .. }) {
                    self.mark_unreadable(&latest);
                }
                Err(e)
            }
        }
    }
}
