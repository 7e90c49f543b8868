//! `fashion serve` over a local stack filled by a small demo, as a store would run it: the API
//! answers from the real stores (trends from the Parquet lake, metrics from the stream), and a
//! real headless Chromium loads a shop page that includes `/tracker.js`, clicks a product, and
//! then opens the dashboard and looks a customer up. Screenshots are kept as test artifacts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fashion_domain::ports::ClickstreamSource;
use serde_json::Value;

fn fashion(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fashion"));
    c.arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("FASHION_CONFIG");
    c
}

/// The server, stopped (by its process id) when the test ends, however it ends.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path) -> Server {
    let mut child = fashion(data_dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fashion serve starts");
    let mut first = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    lines.read_line(&mut first).unwrap();
    // Keep reading what the server prints, so that it never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let base = first
        .trim()
        .strip_prefix("Listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    Server { child, base }
}

struct Answer {
    status: u16,
    body: String,
}

fn http(base: &str, method: &str, path: &str, body: Option<&str>) -> Answer {
    let host = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(host).unwrap();
    let body = body.unwrap_or("");
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut r = rest;
        while let Some((size, tail)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            r = &tail[n + 2..];
        }
        out
    } else {
        rest.to_owned()
    };
    Answer { status, body }
}

fn demo(dir: &Path) {
    let out = fashion(dir)
        .args([
            "demo",
            "--days",
            "8",
            "--users",
            "400",
            "--products",
            "500",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn product_ids(dir: &Path, n: usize) -> Vec<String> {
    let csv = std::fs::read_to_string(dir.join("generated/styles.csv")).unwrap();
    csv.lines()
        .skip(1)
        .take(n)
        .map(|l| l.split(',').next().unwrap().to_owned())
        .collect()
}

/// Every record on the embedded stream that is JSON.
fn stream_events(dir: &Path) -> Vec<Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clock: std::sync::Arc<dyn fashion_domain::ports::Clock> =
            std::sync::Arc::new(fashion_domain::ports::SystemClock);
        let log = fashion_local::SqliteStreamLog::open(&dir.join("stream.db"), 4, clock)
            .await
            .unwrap();
        let mut out = Vec::new();
        for shard in log.shards().await.unwrap() {
            let mut after = None;
            loop {
                let recs = log.read(&shard, after.clone(), 5000).await.unwrap();
                let Some(last) = recs.last() else { break };
                after = Some(last.sequence_number.clone());
                // The demo's generator puts some malformed records on the stream on purpose.
                out.extend(
                    recs.iter()
                        .filter_map(|r| serde_json::from_slice(&r.data).ok()),
                );
            }
        }
        out
    })
}

fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("FASHION_TEST_ARTIFACTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/browser"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_api_tracker_and_dashboard_work_in_a_real_browser_over_the_local_stack() {
    // Arrange: a small store, its lake filled and a model trained by the demo.
    let dir = tempfile::tempdir().unwrap();
    demo(dir.path());
    let server = serve(dir.path());
    let base = server.base.clone();

    // The API answers from the real stores.
    assert_eq!(http(&base, "GET", "/health", None).status, 200);
    let trends = http(&base, "GET", "/trends?limit=5", None);
    assert_eq!(trends.status, 200, "{}", trends.body);
    let trends: Value = serde_json::from_str(&trends.body).unwrap();
    assert!(
        !trends["article_type_colours"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{trends}"
    );
    let truth: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("generated/ground_truth.json")).unwrap(),
    )
    .unwrap();
    let planted: Vec<String> = truth["planted_trends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} / {}",
                t["article_type"].as_str().unwrap(),
                t["colour"].as_str().unwrap()
            )
        })
        .collect();
    let top: Vec<&str> = trends["article_type_colours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert!(
        planted.iter().any(|p| top.contains(&p.as_str())),
        "no planted trend {planted:?} in the top {top:?}"
    );
    let page = http(&base, "GET", "/", None);
    assert_eq!(page.status, 200);
    assert!(page.body.matches("<figure class=\"chart\">").count() >= 4);
    assert!(page.body.matches("<svg").count() >= 4, "charts missing");
    let metrics = http(&base, "GET", "/metrics", None).body;
    assert!(
        metrics.contains("fashion_stream_lag_records{consumer=\"stream-processor\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("fashion_lake_newest_partition_day_seconds{table=\"daily_sales\"}"),
        "{metrics}"
    );
    let recs = http(&base, "GET", "/users/999999/recommendations", None);
    let recs: Value = serde_json::from_str(&recs.body).unwrap();
    assert_eq!(recs["source"], "fallback");
    assert!(!recs["items"].as_array().unwrap().is_empty(), "{recs}");

    // Act: a shop page with the tracker, in Chromium.
    let python = std::env::var("FASHION_TEST_BROWSER_PYTHON").expect(
        "FASHION_TEST_BROWSER_PYTHON is not set: run the tests with scripts/test (it installs \
         Chromium and Selenium), or source scripts/lib/services.sh and call prepare_browser",
    );
    let script = std::env::var("FASHION_TEST_BROWSER_SCRIPT")
        .expect("FASHION_TEST_BROWSER_SCRIPT is not set (see FASHION_TEST_BROWSER_PYTHON)");
    let products = product_ids(dir.path(), 2);
    let artifacts = artifacts_dir();
    let out = Command::new(python)
        .arg(script)
        .args([
            "--api",
            &base,
            "--user",
            "4242",
            "--products",
            &products.join(","),
        ])
        .args(["--lookup-customer", "1", "--artifacts"])
        .arg(&artifacts)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    // Assert: the clicks are on the stream, and the dashboard rendered and looked a customer up.
    let session = report["session_id"].as_str().unwrap();
    let mine: Vec<Value> = stream_events(dir.path())
        .into_iter()
        .filter(|e| e["session_id"] == session)
        .collect();
    let kinds: Vec<&str> = mine
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"page_view"), "{kinds:?}");
    assert!(kinds.contains(&"click"), "{kinds:?}");
    assert!(kinds.contains(&"add_to_cart"), "{kinds:?}");
    assert!(mine.iter().all(|e| e["user_id"] == 4242));
    assert!(report["lookup_items"].as_u64().unwrap() >= 1, "{report}");
    for shot in ["shop_screenshot", "dashboard_screenshot"] {
        let path = report[shot].as_str().unwrap();
        assert!(
            std::fs::metadata(path).unwrap().len() > 10_000,
            "{path} is nearly empty"
        );
        println!("{shot}: {path}");
    }
}
