//! The local provider: the embedded stack's directories under the data directory
//! (`local:directory`) and its SQLite databases (`local:sqlite`), created and migrated through
//! `fashion-local`'s public API exactly as the apps open them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use fashion_domain::lake::all_tables;
use fashion_domain::ports::SystemClock;
use fashion_local::{SqlitePurchaseStore, SqliteStreamLog, StateDb};
use serde::{Deserialize, Serialize};

use crate::config::StackConfig;
use crate::engine::desired::Builder;
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::provider::Provider;
use crate::engine::resource::{
    Cx, Observed, Outputs, OutputsByKind, ProvisionError, ResourceKind, from_fields, to_fields,
};
use crate::layout::{files, names};

/// The directory kind id.
pub const DIRECTORY_KIND: &str = "local:directory";
/// The SQLite database kind id.
pub const DATABASE_KIND: &str = "local:sqlite";
/// Output key: the absolute path.
pub const OUT_PATH: &str = "path";
/// Output key: a `file://` or `sqlite://` URL.
pub const OUT_URL: &str = "url";

/// The embedded stack's provider.
pub struct LocalProvider;

impl Provider for LocalProvider {
    fn kinds(&self) -> Vec<Box<dyn ResourceKind>> {
        vec![Box::new(LocalDirectory), Box::new(LocalDatabase)]
    }

    fn declare(&self, b: &mut Builder<'_>) {
        local_stack(b);
    }

    fn lake_url(&self, _cfg: &StackConfig, resources: &OutputsByKind) -> Option<String> {
        resources
            .get(DIRECTORY_KIND)
            .and_then(|d| d.get(names::LAKE))
            .and_then(|o| o.get(OUT_URL))
            .map(|u| format!("{u}/"))
    }
}

/// The data directory, the lake's table directories, and the three databases.
fn local_stack(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    let dir = |p: &std::path::Path| p.display().to_string();
    let root = cfg.local.data_dir.clone();
    let data = b.add(
        DIRECTORY_KIND,
        names::DATA,
        dir(&root),
        &DirectoryProps::default(),
        &[],
    );
    let lake = b.add(
        DIRECTORY_KIND,
        names::LAKE,
        dir(&root.join("lake")),
        &DirectoryProps::default(),
        std::slice::from_ref(&data),
    );
    for t in all_tables() {
        b.add(
            DIRECTORY_KIND,
            &format!("lake-{}", t.name),
            dir(&root.join("lake").join(&t.name)),
            &DirectoryProps::default(),
            std::slice::from_ref(&lake),
        );
    }
    for name in [names::MODELS, names::GENERATED] {
        b.add(
            DIRECTORY_KIND,
            name,
            dir(&root.join(name)),
            &DirectoryProps::default(),
            std::slice::from_ref(&data),
        );
    }
    for (name, file, role, shards) in [
        (names::STATE_DB, files::STATE_DB, DatabaseRole::State, None),
        (
            names::STREAM_DB,
            files::STREAM_DB,
            DatabaseRole::Stream,
            Some(cfg.stream.shards),
        ),
        (names::STORE_DB, files::STORE_DB, DatabaseRole::Store, None),
    ] {
        b.add(
            DATABASE_KIND,
            name,
            dir(&root.join(file)),
            &DatabaseProps { role, shards },
            std::slice::from_ref(&data),
        );
    }
}

/// Which embedded database a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseRole {
    /// Key-value stores (`state.db`): catalog, recommendations, activity, dead letters,
    /// checkpoints.
    State,
    /// The embedded stream (`stream.db`).
    Stream,
    /// The transactional database (`store.db`).
    Store,
}

/// Desired (and observed) settings of a directory: it exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryProps {}

/// Desired (and observed) settings of an embedded database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseProps {
    /// Which database.
    pub role: DatabaseRole,
    /// Shards of the stream (fixed at creation: re-sharding would break per-key order).
    pub shards: Option<i32>,
}

fn absolute(path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| p.to_path_buf(), |d| d.join(p))
    }
}

fn io_err(action: &str, path: &Path, source: std::io::Error) -> ProvisionError {
    ProvisionError::Local {
        action: action.to_owned(),
        path: path.display().to_string(),
        source,
    }
}

/// The directory kind.
#[derive(Debug, Default)]
pub struct LocalDirectory;

fn directory_outputs(path: &Path) -> Outputs {
    Outputs::from([
        (OUT_PATH.to_owned(), path.display().to_string()),
        (OUT_URL.to_owned(), format!("file://{}", path.display())),
    ])
}

#[async_trait]
impl ResourceKind for LocalDirectory {
    fn kind(&self) -> &'static str {
        DIRECTORY_KIND
    }

    fn label(&self) -> &'static str {
        "directory"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let path = absolute(&spec.physical_name);
        cx.calls.record("local", "GetDirectory");
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Ok(Some(Observed {
                physical_name: spec.physical_name.clone(),
                fields: to_fields(&DirectoryProps::default()).map_err(anyhow::Error::from)?,
                outputs: directory_outputs(&path),
            })),
            Ok(_) => Err(ProvisionError::invalid(
                &spec.id,
                format!("{} exists and is not a directory", path.display()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path, e)),
        }
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &[])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let path = absolute(&spec.physical_name);
        cx.calls.record("local", "CreateDirectory");
        std::fs::create_dir_all(&path).map_err(|e| io_err("create directory", &path, e))?;
        Ok(directory_outputs(&path))
    }

    async fn update(
        &self,
        _cx: &Cx,
        spec: &ResourceSpec,
        _seen: &Observed,
        _change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        // A directory has nothing to change in place.
        Ok(directory_outputs(&absolute(&spec.physical_name)))
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let path = absolute(&seen.physical_name);
        cx.calls.record("local", "DeleteDirectory");
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_err("delete directory", &path, e))
            }
            _ => Ok(()),
        }
    }
}

/// The embedded database kind. Physical name: the file's path.
#[derive(Debug, Default)]
pub struct LocalDatabase;

fn database_outputs(path: &Path) -> Outputs {
    Outputs::from([
        (OUT_PATH.to_owned(), path.display().to_string()),
        (OUT_URL.to_owned(), format!("sqlite://{}", path.display())),
    ])
}

/// SQLite in WAL mode keeps two companion files next to the database.
fn companions(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

#[async_trait]
impl ResourceKind for LocalDatabase {
    fn kind(&self) -> &'static str {
        DATABASE_KIND
    }

    fn label(&self) -> &'static str {
        "SQLite database"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let want: DatabaseProps = from_fields(spec)?;
        let path = absolute(&spec.physical_name);
        cx.calls.record("local", "GetDatabase");
        if !path.is_file() {
            return Ok(None);
        }
        // Only the stream has a setting to read back; it is opened only because it exists, so a
        // preview never creates a file.
        let shards = match want.role {
            DatabaseRole::Stream => {
                let log = SqliteStreamLog::open(
                    &path,
                    usize::try_from(cx.config.stream.shards).unwrap_or(1),
                    Arc::new(SystemClock),
                )
                .await
                .map_err(|e| ProvisionError::Unexpected(e.context("failed to read the stream")))?;
                Some(i32::try_from(log.shard_count()).unwrap_or(i32::MAX))
            }
            DatabaseRole::State | DatabaseRole::Store => None,
        };
        let seen = DatabaseProps {
            role: want.role,
            shards,
        };
        Ok(Some(Observed {
            physical_name: spec.physical_name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: database_outputs(&path),
        }))
    }

    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        diff_fields(&spec.fields, &seen.fields, &["role", "shards"])
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: DatabaseProps = from_fields(spec)?;
        let path = absolute(&spec.physical_name);
        cx.calls.record("local", "CreateDatabase");
        let opened = match p.role {
            DatabaseRole::State => StateDb::open(&path).await.map(|_| ()),
            DatabaseRole::Stream => SqliteStreamLog::open(
                &path,
                usize::try_from(p.shards.unwrap_or(1)).unwrap_or(1),
                Arc::new(SystemClock),
            )
            .await
            .map(|_| ()),
            DatabaseRole::Store => SqlitePurchaseStore::open(&path).await.map(|_| ()),
        };
        opened.map_err(|e| {
            ProvisionError::Unexpected(
                e.context(format!("failed to create and migrate {}", path.display())),
            )
        })?;
        Ok(database_outputs(&path))
    }

    async fn update(
        &self,
        _cx: &Cx,
        spec: &ResourceSpec,
        _seen: &Observed,
        _change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        // Every field forces a replacement; opening a database migrates it.
        Ok(database_outputs(&absolute(&spec.physical_name)))
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        cx.calls.record("local", "DeleteDatabase");
        for f in companions(&absolute(&seen.physical_name)) {
            match std::fs::remove_file(&f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err("delete", &f, e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;

    fn spec(p: &DatabaseProps) -> ResourceSpec {
        fixtures::declared(
            "local::local:sqlite::stream",
            DATABASE_KIND,
            "fashion-data/stream.db",
            p,
        )
    }

    fn seen(p: &DatabaseProps) -> Observed {
        fixtures::observed("fashion-data/stream.db", p)
    }

    #[test]
    fn database_diff_replaces_a_stream_with_another_shard_count() {
        let four = DatabaseProps {
            role: DatabaseRole::Stream,
            shards: Some(4),
        };
        let two = DatabaseProps {
            role: DatabaseRole::Stream,
            shards: Some(2),
        };
        assert_eq!(LocalDatabase.diff(&spec(&four), &seen(&four)), Change::Same);
        assert_eq!(
            LocalDatabase.diff(&spec(&four), &seen(&two)),
            Change::Replace {
                field: "shards".into()
            }
        );
    }

    #[test]
    fn directory_diff_is_same_for_any_existing_directory() {
        let fields = to_fields(&DirectoryProps::default()).unwrap();
        let s = ResourceSpec {
            id: "local::local:directory::lake".into(),
            kind: DIRECTORY_KIND.into(),
            physical_name: "fashion-data/lake".into(),
            fields: fields.clone(),
            depends_on: vec![],
        };
        let o = Observed {
            physical_name: "fashion-data/lake".into(),
            fields,
            outputs: Outputs::new(),
        };
        assert_eq!(LocalDirectory.diff(&s, &o), Change::Same);
    }

    #[test]
    fn wal_companions_are_deleted_with_the_database() {
        let [db, wal, shm] = companions(Path::new("/d/state.db"));
        assert_eq!(db, Path::new("/d/state.db"));
        assert_eq!(wal, Path::new("/d/state.db-wal"));
        assert_eq!(shm, Path::new("/d/state.db-shm"));
    }
}
