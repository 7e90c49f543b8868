//! Lambda deployment packages: a one-file ZIP holding an executable `bootstrap`, the layout of
//! the `provided.al2023` runtime. `apps/lambda/scripts/package` builds the real ones with `zip`;
//! this writer (the `zip` crate) makes small placeholders for stacks whose functions never run (an
//! emulator).

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
