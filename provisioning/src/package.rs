//! Lambda deployment packages: a one-file ZIP holding an executable `bootstrap`, the layout of
//! the `provided.al2023` runtime. `apps/lambda/scripts/package` builds the real ones with `zip`;
//! this writer makes small placeholders for stacks whose functions never run (an emulator).

/// CRC-32 (IEEE), as ZIP archives carry it.
#[must_use]
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 0 {
                crc >> 1
            } else {
                (crc >> 1) ^ 0xEDB8_8320
            };
        }
    }
    !crc
}

/// A ZIP archive (one stored, uncompressed entry) holding `content` as an executable
/// `bootstrap`.
///
/// # Errors
/// When `content` is 4 GiB or more (beyond a plain ZIP's sizes).
pub fn bootstrap_zip(content: &[u8]) -> anyhow::Result<Vec<u8>> {
    const NAME: &[u8] = b"bootstrap";
    const NAME_LEN: u16 = 9;
    const DOS_DATE: u16 = 0x21; // 1980-01-01
    let crc = crc32(content);
    let size = u32::try_from(content.len())
        .map_err(|_| anyhow::anyhow!("a package of {} bytes is too large", content.len()))?;
    let mut z = Vec::with_capacity(content.len().saturating_add(128));
    let u16le = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
    let u32le = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
    // Local file header.
    u32le(&mut z, 0x0403_4b50);
    for v in [20, 0, 0, 0, DOS_DATE] {
        u16le(&mut z, v);
    }
    for v in [crc, size, size] {
        u32le(&mut z, v);
    }
    u16le(&mut z, NAME_LEN);
    u16le(&mut z, 0);
    z.extend_from_slice(NAME);
    z.extend_from_slice(content);
    // Central directory.
    let cd_offset = u32::try_from(z.len())?;
    u32le(&mut z, 0x0201_4b50);
    for v in [0x031E, 20, 0, 0, 0, DOS_DATE] {
        u16le(&mut z, v);
    }
    for v in [crc, size, size] {
        u32le(&mut z, v);
    }
    for v in [NAME_LEN, 0, 0, 0, 0] {
        u16le(&mut z, v);
    }
    u32le(&mut z, 0o100_755 << 16); // a regular, executable file
    u32le(&mut z, 0);
    z.extend_from_slice(NAME);
    let cd_size = u32::try_from(z.len())?
        .checked_sub(cd_offset)
        .ok_or_else(|| anyhow::anyhow!("the central directory starts after its end"))?;
    // End of central directory.
    u32le(&mut z, 0x0605_4b50);
    for v in [0, 0, 1, 1] {
        u16le(&mut z, v);
    }
    u32le(&mut z, cd_size);
    u32le(&mut z, cd_offset);
    u16le(&mut z, 0);
    Ok(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_standard_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn the_archive_holds_one_stored_bootstrap() {
        let content = b"#!/bin/sh\nexit 1\n";
        let z = bootstrap_zip(content).unwrap();
        assert_eq!(&z[..4], b"PK\x03\x04");
        assert_eq!(&z[30..39], b"bootstrap");
        assert_eq!(&z[39..39 + content.len()], content);
        assert_eq!(&z[z.len() - 22..z.len() - 18], b"PK\x05\x06");
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
