//! What the provisioning tests share: the emulator's endpoint (a missing one fails the test),
//! unique name prefixes, tiny Lambda packages, stack configurations in temporary directories,
//! and SDK clients of their own for out-of-band changes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use provisioning::config::{StackConfig, StackName};
use provisioning::engine::Engine;

/// The variable the test command (`scripts/services`) sets to the moto server's URL.
pub const ENDPOINT_VAR: &str = "FASHION_TEST_AWS_ENDPOINT";

/// The variable that picks the AWS test backend (`scripts/lib/services.sh`).
pub const BACKEND_VAR: &str = "FASHION_TEST_AWS_BACKEND";

/// The emulator's endpoint; a test that needs it fails (never skips) without it, and on real AWS
/// (`FASHION_TEST_AWS_BACKEND=aws`), where only the AWS adapters' contract suites run.
pub fn endpoint() -> String {
    assert!(
        !std::env::var(BACKEND_VAR).is_ok_and(|b| b.trim() == "aws"),
        "{BACKEND_VAR}=aws: these tests provision an emulator stack and need an AWS emulator \
         (moto or LocalStack); they do not run on real AWS. Run them with \
         `scripts/services cargo nextest run -p provisioning`."
    );
    std::env::var(ENDPOINT_VAR)
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{ENDPOINT_VAR} is not set: these tests need an AWS emulator. Run them with \
             `scripts/services cargo nextest run -p provisioning`, which starts a moto server on \
             loopback and sets {ENDPOINT_VAR}."
            )
        })
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name prefix no other test (or earlier run against the same emulator) uses.
pub fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("t{tag}-{:x}{n}", nanos ^ std::process::id())
}

/// CRC-32 (IEEE), as ZIP files carry it.
fn crc32(data: &[u8]) -> u32 {
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

/// A valid one-file ZIP archive (stored, not compressed) holding an executable `bootstrap`.
pub fn tiny_zip(content: &[u8]) -> Vec<u8> {
    let name = b"bootstrap";
    let crc = crc32(content);
    let size = u32::try_from(content.len()).unwrap();
    let dos_date: u16 = 0x21; // 1980-01-01
    let mut z = Vec::new();
    let u16le = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
    let u32le = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
    // Local file header.
    u32le(&mut z, 0x0403_4b50);
    for v in [20, 0, 0, 0, dos_date] {
        u16le(&mut z, v);
    }
    for v in [crc, size, size] {
        u32le(&mut z, v);
    }
    u16le(&mut z, u16::try_from(name.len()).unwrap());
    u16le(&mut z, 0);
    z.extend_from_slice(name);
    z.extend_from_slice(content);
    // Central directory.
    let cd_offset = u32::try_from(z.len()).unwrap();
    u32le(&mut z, 0x0201_4b50);
    for v in [0x031E, 20, 0, 0, 0, dos_date] {
        u16le(&mut z, v);
    }
    for v in [crc, size, size] {
        u32le(&mut z, v);
    }
    for v in [u16::try_from(name.len()).unwrap(), 0, 0, 0, 0] {
        u16le(&mut z, v);
    }
    u32le(&mut z, 0o100_755 << 16); // a regular, executable file
    u32le(&mut z, 0);
    z.extend_from_slice(name);
    let cd_size = u32::try_from(z.len()).unwrap() - cd_offset;
    // End of central directory.
    u32le(&mut z, 0x0605_4b50);
    for v in [0, 0, 1, 1] {
        u16le(&mut z, v);
    }
    u32le(&mut z, cd_size);
    u32le(&mut z, cd_offset);
    u16le(&mut z, 0);
    z
}

/// An emulator stack with a unique prefix, its state and packages in `dir`.
pub fn emulator_config(tag: &str, dir: &Path) -> StackConfig {
    let mut cfg = StackConfig::builtin(StackName::Emulator).unwrap();
    cfg.endpoint_url = Some(endpoint());
    cfg.name_prefix = unique_prefix(tag);
    cfg.state_dir = dir.join(".state");
    // The policy is part of what the tests check (see stacks/emulator.toml for why the stack
    // itself leaves it off).
    cfg.lake.require_tls = true;
    for (name, f) in [
        ("stream-processor", &mut cfg.functions.stream_processor),
        ("daily-job", &mut cfg.functions.daily_job),
        ("trainer", &mut cfg.functions.trainer),
    ] {
        let zip = dir.join(format!("{name}.zip"));
        std::fs::write(
            &zip,
            tiny_zip(format!("#!/bin/sh\necho {name}\n").as_bytes()),
        )
        .unwrap();
        f.zip = zip;
    }
    cfg.validate().unwrap();
    cfg
}

/// An engine whose progress lines go nowhere (set `TEST_LOG` to see them).
pub async fn engine(cfg: StackConfig) -> Engine {
    let quiet = std::env::var_os("TEST_LOG").is_none();
    Engine::connect(cfg)
        .await
        .unwrap()
        .with_progress(Arc::new(move |line: &str| {
            if !quiet {
                eprintln!("{line}");
            }
        }))
}

/// SDK configuration for out-of-band clients (not the engine's: their calls are not counted).
pub async fn other_sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "out-of-band"))
        .load()
        .await
}

#[test]
fn tiny_zips_carry_the_standard_crc() {
    // CRC-32 of "123456789" is the usual check value.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    let z = tiny_zip(b"x");
    assert_eq!(&z[..4], &[0x50, 0x4b, 0x03, 0x04]);
    assert_eq!(&z[z.len() - 22..z.len() - 18], &[0x50, 0x4b, 0x05, 0x06]);
}
