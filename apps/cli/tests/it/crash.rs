//! Killing the stream consumer or the lake sink mid-run (SIGKILL, no clean-up) and starting it
//! again loses and duplicates nothing.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fashion_domain::ids::CustomerId;
use fashion_domain::ports::{DeadLetterReader, UserActivityStore};
use serde_json::Value;

fn fashion(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fashion"));
    c.arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("FASHION_CONFIG");
    c
}

fn run(data_dir: &Path, args: &[&str]) -> Output {
    let out = fashion(data_dir)
        .args(args)
        .output()
        .expect("the fashion binary runs");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// Generates a store whose clicks wait on the stream, and returns the ground truth.
fn generate(dir: &Path) -> Value {
    run(
        dir,
        &[
            "generate",
            "--days",
            "2",
            "--users",
            "1500",
            "--products",
            "800",
            "--dirty-rate",
            "0.02",
            "--json",
        ],
    );
    serde_json::from_slice(
        &std::fs::read(dir.join("generated/ground_truth.json")).expect("ground truth"),
    )
    .expect("json")
}

fn valid_events(truth: &Value) -> u64 {
    let sent = truth["events_sent"].as_u64().expect("events_sent");
    let dups = truth["event_duplicates"]
        .as_u64()
        .expect("event_duplicates");
    let invalid: u64 = truth["invalid_events"]
        .as_object()
        .expect("invalid")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    sent - dups - invalid
}

/// Starts `child`, waits until `progress` says it has done some work, and kills it while it still
/// runs. Panics if it finished first (the test would prove nothing).
fn kill_mid_run(mut child: Child, progress: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !progress() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the process ended before making progress"
        );
        assert!(Instant::now() < deadline, "no progress within two minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the process finished before it could be killed"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

fn parquet_files(dir: &Path) -> usize {
    fn walk(d: &Path, n: &mut usize) {
        if let Ok(entries) = std::fs::read_dir(d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, n);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    *n += 1;
                }
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

#[test]
fn a_lake_sink_killed_mid_run_and_restarted_writes_every_valid_event_exactly_once() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path());
    let lake = dir.path().join("lake/clickstream");

    // Act: a sink flushing every few kilobytes, killed after its first files appear.
    let child = fashion(dir.path())
        .args(["sink", "run", "--follow"])
        .env("FASHION_SINK__MAX_BYTES", "16384")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_mid_run(child, || parquet_files(&lake) >= 3);
    let before_restart = parquet_files(&lake);
    run(dir.path(), &["sink", "run", "--json"]);

    // Assert
    let count = json(&run(
        dir.path(),
        &[
            "query",
            "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS distinct_ids FROM clickstream",
            "--json",
        ],
    ));
    let (n, distinct) = (
        count["rows"][0][0].as_u64().unwrap(),
        count["rows"][0][1].as_u64().unwrap(),
    );
    assert!(before_restart >= 3);
    assert_eq!(distinct, n, "no event may be in the lake twice");
    assert_eq!(
        n,
        valid_events(&truth),
        "every valid event must be in the lake"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_consumer_killed_mid_run_and_restarted_applies_every_event_exactly_once() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path());
    let state = fashion_local::StateDb::open(&dir.path().join("state.db"))
        .await
        .unwrap();
    let customers: Vec<CustomerId> = (1..=1500).map(|c| CustomerId::new(c).unwrap()).collect();

    // Act: small batches, killed once some customers have activity.
    let child = fashion(dir.path())
        .args(["stream", "consume", "--follow", "--batch-size", "25"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let probe = state.clone();
    let rt = tokio::runtime::Handle::current();
    let seen = customers.clone();
    tokio::task::spawn_blocking(move || {
        kill_mid_run(child, || {
            rt.block_on(probe.activity().get_many(&seen))
                .map(|v| v.len() > 200)
                .unwrap_or(false)
        });
    })
    .await
    .unwrap();
    run(dir.path(), &["stream", "consume", "--json"]);

    // Assert: each customer's applied-event counter adds up to the valid events, exactly.
    let applied: u64 = state
        .activity()
        .get_many(&customers)
        .await
        .unwrap()
        .iter()
        .map(|a| a.event_count)
        .sum();
    assert_eq!(
        applied,
        valid_events(&truth),
        "every valid event applied once: none lost, none twice"
    );
    let letters = state.dead_letters().list(100_000).await.unwrap();
    let invalid: u64 = truth["invalid_events"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(
        letters
            .iter()
            .filter(|l| l.source == "stream-processor")
            .count() as u64,
        invalid
    );
}
