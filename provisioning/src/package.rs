//! Lambda deployment packages: a one-file ZIP holding an executable `bootstrap`, the layout of
//! the `provided.al2023` runtime. `apps/lambda/scripts/package` builds the real ones with `zip`;
//! this writer (the `zip` crate) makes small placeholders for stacks whose functions never run (an
//! emulator). [`stale_packages`] tells `up` which packages are missing or older than the sources
//! they are built from, so that it builds them first, as Pulumi builds its assets.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::StackConfig;

/// What the functions' packages are built from, relative to the repository's root: the lock
/// file, the workspace manifest and every crate the `fashion-lambda` binaries link.
pub const PACKAGE_SOURCES: &[&str] = &[
    "Cargo.lock",
    "Cargo.toml",
    "domain",
    "adapters",
    "apps/lambda",
    "apps/api",
];

/// The packaging script, relative to the repository's root.
pub const PACKAGE_SCRIPT: &str = "apps/lambda/scripts/package";

/// The repository holding the packaging script: `start` or the nearest directory above it.
#[must_use]
pub fn repository_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(PACKAGE_SCRIPT).is_file())
        .map(Path::to_path_buf)
}

/// The newest modification time of the files under `paths` (recursively; `target` and hidden
/// directories skipped), `None` when there are none.
fn newest(paths: impl IntoIterator<Item = PathBuf>) -> Option<SystemTime> {
    let mut newest: Option<SystemTime> = None;
    let mut stack: Vec<PathBuf> = paths.into_iter().collect();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let skip = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == "target" || n.starts_with('.'));
            if skip {
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if let Ok(modified) = meta.modified() {
            newest = Some(newest.map_or(modified, |n| n.max(modified)));
        }
    }
    newest
}

/// The functions (by name) whose package is missing, or older than the newest of the sources
/// under `root` ([`PACKAGE_SOURCES`]).
#[must_use]
pub fn stale_packages(cfg: &StackConfig, root: &Path) -> Vec<&'static str> {
    let sources = newest(PACKAGE_SOURCES.iter().map(|p| root.join(p)));
    cfg.functions_named()
        .into_iter()
        .filter(|(_, f)| {
            let built = std::fs::metadata(&f.zip).and_then(|m| m.modified()).ok();
            match (built, sources) {
                (None, _) => true,
                (Some(built), Some(sources)) => built < sources,
                (Some(_), None) => false,
            }
        })
        .map(|(name, _)| name)
        .collect()
}

/// The one directory the packaging script writes every function's `<name>.zip` to, when the
/// configuration names the packages that way (the default); `None` when the packages are named
/// otherwise (packaged by hand: nothing is built for them).
#[must_use]
pub fn script_output_dir(cfg: &StackConfig) -> Option<PathBuf> {
    let functions = cfg.functions_named();
    let (_, first) = functions.first()?;
    let dir = first.zip.parent()?.to_path_buf();
    functions
        .iter()
        .all(|(name, f)| f.zip == dir.join(format!("{name}.zip")))
        .then_some(dir)
}

/// A ZIP archive (one stored, uncompressed entry) holding `content` as an executable
/// `bootstrap`. The same content always gives the same bytes (the entry's time is ZIP's epoch),
/// so that provisioning can compare packages by checksum.
///
/// # Errors
/// When the archive cannot be written (an entry of 4 GiB or more).
pub fn bootstrap_zip(content: &[u8]) -> anyhow::Result<Vec<u8>> {
    use std::io::Write as _;
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o755);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("bootstrap", options)?;
    zip.write_all(content)?;
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StackName;

    /// A repository with sources and a stack whose packages live in `<root>/out`.
    fn repo() -> (tempfile::TempDir, StackConfig) {
        let dir = tempfile::tempdir().unwrap();
        for source in ["Cargo.lock", "domain/src/lib.rs", "apps/lambda/src/main.rs"] {
            let path = dir.path().join(source);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        let script = dir.path().join(PACKAGE_SCRIPT);
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(script, "#!/bin/sh\n").unwrap();
        let mut cfg = StackConfig::builtin(StackName::Emulator).unwrap();
        for (name, f) in cfg.functions_by_name() {
            f.zip = dir.path().join("out").join(format!("{name}.zip"));
        }
        (dir, cfg)
    }

    fn touch_packages(cfg: &StackConfig, at: SystemTime) {
        for (_, f) in cfg.functions_named() {
            std::fs::create_dir_all(f.zip.parent().unwrap()).unwrap();
            std::fs::write(&f.zip, "zip").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&f.zip)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
    }

    #[test]
    fn missing_and_outdated_packages_are_stale_and_fresh_ones_are_not() {
        let (dir, cfg) = repo();
        let root = repository_root(&dir.path().join("domain/src")).unwrap();
        assert_eq!(root, dir.path());
        assert_eq!(stale_packages(&cfg, &root).len(), 5, "none built yet");
        touch_packages(&cfg, SystemTime::now() + std::time::Duration::from_secs(60));
        assert!(
            stale_packages(&cfg, &root).is_empty(),
            "built after the sources"
        );
        touch_packages(
            &cfg,
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(60),
        );
        assert_eq!(
            stale_packages(&cfg, &root).len(),
            5,
            "a source changed since they were built"
        );
        assert_eq!(script_output_dir(&cfg), Some(dir.path().join("out")));
        let mut hand_made = cfg;
        hand_made.functions.api.zip = dir.path().join("elsewhere/api-v2.zip");
        assert_eq!(script_output_dir(&hand_made), None);
    }

    #[test]
    fn the_archive_holds_one_stored_bootstrap_and_is_the_same_every_time() {
        let content = b"#!/bin/sh\nexit 1\n";
        let z = bootstrap_zip(content).unwrap();
        assert_eq!(z, bootstrap_zip(content).unwrap(), "deterministic");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_name("bootstrap").unwrap();
        assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut read = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut read).unwrap();
        assert_eq!(read, content);
    }

    #[test]
    fn python_zipfile_reads_it_as_an_executable_bootstrap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.zip");
        std::fs::write(&path, bootstrap_zip(b"#!/bin/sh\necho hi\n").unwrap()).unwrap();
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); z.testzip() is None or sys.exit(3); \
                 i = z.getinfo('bootstrap'); print(oct(i.external_attr >> 16), z.read(i).decode(), end='')",
            ])
            .arg(&path)
            .output()
            .expect("python3 is on every machine this builds on");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "0o100755 #!/bin/sh\necho hi\n"
        );
    }
}
