//! The local file system as DataFusion reads the lake: `object_store`'s own store, except for
//! listings. Its listing looks each entry up again by path after reading the directory's names,
//! and silently drops an entry that is no longer there. A reader listing a partition while a
//! replacement swaps it (see [`crate::LocalLake`]) read the old directory's names, found none of
//! them under the live path, and saw the partition empty, a version that was never committed.
//! Here every entry is looked up through the directory handle it was read from, so a listing
//! sees one directory's files whole; and a visible file that vanishes between the two steps is
//! an error (the query fails and can be rerun), never a silent gap.

use std::collections::VecDeque;
use std::fmt;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::SystemTime;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::stream::{self, BoxStream, StreamExt};

use crate::lake::hidden;

/// The store's name in errors.
const STORE: &str = "LocalLakeFiles";

/// The local file system with strict listings; everything else is `object_store`'s.
#[derive(Debug, Default)]
pub struct StrictLocalStore {
    inner: LocalFileSystem,
}

impl fmt::Display for StrictLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE}")
    }
}

fn io_error(path: &std::path::Path, e: &std::io::Error) -> Error {
    Error::Generic {
        store: STORE,
        source: format!("{}: {e}", path.display()).into(),
    }
}

/// One directory read through one handle: the files (looked up through that handle) and the
/// subdirectories. `Ok(None)` when the directory itself does not exist.
fn read_dir(dir: &std::path::Path) -> Result<Option<(Vec<ObjectMeta>, Vec<PathBuf>)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(dir, &e)),
    };
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, &e))?;
        let name = entry.file_name();
        if hidden(&name.to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        // Relative to the directory handle (`fstatat`), not by path: after a swap the path
        // names the other directory.
        let meta = entry.metadata().map_err(|e| io_error(&path, &e))?;
        if meta.is_dir() {
            dirs.push(path);
        } else if meta.is_file() {
            files.push(object_meta(&path, &meta)?);
        }
    }
    Ok(Some((files, dirs)))
}

fn object_meta(path: &std::path::Path, meta: &std::fs::Metadata) -> Result<ObjectMeta> {
    let modified = meta.modified().map_err(|e| io_error(path, &e))?;
    let micros = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    Ok(ObjectMeta {
        location: Path::from_absolute_path(path)?,
        last_modified: DateTime::<Utc>::from(modified),
        size: meta.len(),
        // The same tag `object_store`'s own store gives the file.
        e_tag: Some(format!("{inode:x}-{micros:x}-{:x}", meta.len())),
        version: None,
    })
}

/// Every file below `root`, directory by directory.
fn walk(root: PathBuf) -> Result<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    let mut pending = VecDeque::from([root]);
    let mut top = true;
    while let Some(dir) = pending.pop_front() {
        match read_dir(&dir)? {
            Some((files, dirs)) => {
                out.extend(files);
                pending.extend(dirs);
            }
            // A prefix that does not exist lists nothing; a subdirectory that was just listed
            // and is gone was there a moment ago: the listing would miss its files.
            None if top => {}
            None => {
                return Err(io_error(
                    &dir,
                    &std::io::Error::new(ErrorKind::NotFound, "vanished during the listing"),
                ));
            }
        }
        top = false;
    }
    Ok(out)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Generic {
            store: STORE,
            source: Box::new(e),
        })?
}

#[async_trait]
impl ObjectStore for StrictLocalStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let root = self
            .inner
            .path_to_filesystem(&prefix.cloned().unwrap_or_default());
        stream::once(async move { blocking(move || walk(root?)).await })
            .flat_map(|listed| match listed {
                Ok(files) => stream::iter(files.into_iter().map(Ok)).boxed(),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let prefix = prefix.cloned().unwrap_or_default();
        let dir = self.inner.path_to_filesystem(&prefix)?;
        let (objects, dirs) = blocking(move || Ok(read_dir(&dir)?.unwrap_or_default())).await?;
        let common_prefixes = dirs
            .iter()
            .map(Path::from_absolute_path)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ListResult {
            common_prefixes,
            objects,
        })
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn names(metas: &[ObjectMeta]) -> Vec<String> {
        let mut names: Vec<String> = metas
            .iter()
            .filter_map(|m| m.location.filename().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn listings_skip_hidden_files_and_a_missing_prefix_lists_nothing() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("t").join("dt=2026-11-24");
        std::fs::create_dir_all(&part).unwrap();
        for name in ["part-a.parquet", ".tmp-b.parquet", "_sizes.json"] {
            std::fs::write(part.join(name), b"x").unwrap();
        }
        let store = StrictLocalStore::default();
        let table = Path::from_absolute_path(dir.path().join("t")).unwrap();
        // Act
        let all: Vec<ObjectMeta> = store.list(Some(&table)).try_collect().await.unwrap();
        let top = store.list_with_delimiter(Some(&table)).await.unwrap();
        let missing = Path::from_absolute_path(dir.path().join("none")).unwrap();
        let nothing: Vec<ObjectMeta> = store.list(Some(&missing)).try_collect().await.unwrap();
        // Assert
        assert_eq!(names(&all), ["part-a.parquet"]);
        assert_eq!(all[0].size, 1);
        assert_eq!(
            all[0].location,
            Path::from_absolute_path(part.join("part-a.parquet")).unwrap()
        );
        assert!(top.objects.is_empty());
        assert_eq!(
            top.common_prefixes,
            [Path::from_absolute_path(&part).unwrap()]
        );
        assert!(nothing.is_empty());
    }

    /// What `object_store`'s own listing did wrong: the directory's names were read, the
    /// directory was swapped, and looking the names up by path found nothing, so the listing
    /// came back empty. Looked up through the handle, the names read are the files listed.
    #[test]
    fn a_directory_swapped_after_its_names_were_read_lists_the_files_of_the_one_read() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("dt=2026-11-24");
        let staged = dir.path().join("staged");
        std::fs::create_dir_all(&live).unwrap();
        std::fs::create_dir_all(&staged).unwrap();
        std::fs::write(live.join("part-old.parquet"), b"old").unwrap();
        std::fs::write(staged.join("part-new.parquet"), b"newer").unwrap();
        let mut handle = std::fs::read_dir(&live).unwrap();
        // Act: the swap lands between reading the directory and looking its entries up.
        std::fs::rename(&live, dir.path().join("retired")).unwrap();
        std::fs::rename(&staged, &live).unwrap();
        let entry = handle.next().unwrap().unwrap();
        // Assert: by path the old name is gone; through the handle it is the old file.
        assert!(std::fs::symlink_metadata(entry.path()).is_err());
        assert_eq!(entry.metadata().unwrap().len(), 3);
    }
}
