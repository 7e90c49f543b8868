//! Model artifacts as JSON files in a directory, with a `LATEST` pointer replaced atomically.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use fashion_domain::model::RecModel;
use fashion_domain::ports::{ModelStore, StoreError};

/// `<dir>/<version>.json` plus `<dir>/LATEST`.
#[derive(Debug, Clone)]
pub struct FileModelStore {
    dir: PathBuf,
}

fn io_err(e: &std::io::Error, what: &str) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("failed to {what}: {e}"))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers see the old file or
/// the new one, never half of one.
pub(crate) async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    tokio::fs::write(&tmp, bytes).await?;
    let file = tokio::fs::File::open(&tmp).await?;
    file.sync_all().await?;
    tokio::fs::rename(&tmp, path).await
}

impl FileModelStore {
    /// A store in `dir` (created on first write).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn valid(version: &str) -> bool {
        !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !version.starts_with('.')
    }
}

#[async_trait]
impl ModelStore for FileModelStore {
    async fn put(&self, model: &RecModel) -> Result<(), StoreError> {
        if !Self::valid(&model.version) {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "invalid model version {:?}",
                model.version
            )));
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io_err(&e, "create model directory"))?;
        let body = serde_json::to_vec(model).map_err(|e| StoreError::Corrupt {
            what: "model".into(),
            message: e.to_string(),
        })?;
        write_atomically(&self.dir.join(format!("{}.json", model.version)), &body)
            .await
            .map_err(|e| io_err(&e, "write model"))?;
        let current = self.latest_version().await?;
        if current
            .as_deref()
            .is_none_or(|c| c < model.version.as_str())
        {
            write_atomically(&self.dir.join("LATEST"), model.version.as_bytes())
                .await
                .map_err(|e| io_err(&e, "update LATEST"))?;
        }
        Ok(())
    }

    async fn latest_version(&self) -> Result<Option<String>, StoreError> {
        match tokio::fs::read_to_string(self.dir.join("LATEST")).await {
            Ok(v) => Ok(Some(v.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&e, "read LATEST")),
        }
    }

    async fn get(&self, version: &str) -> Result<Option<RecModel>, StoreError> {
        if !Self::valid(version) {
            return Ok(None);
        }
        match tokio::fs::read(self.dir.join(format!("{version}.json"))).await {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        what: format!("model {version}"),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&e, "read model")),
        }
    }

    async fn versions(&self) -> Result<Vec<String>, StoreError> {
        let mut dir = match tokio::fs::read_dir(&self.dir).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&e, "list models")),
        };
        let mut out = Vec::new();
        while let Some(entry) = dir
            .next_entry()
            .await
            .map_err(|e| io_err(&e, "list models"))?
        {
            if let Some(version) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|v| Self::valid(v))
            {
                out.push(version.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }
}
