//! The `fashion` binary end to end: each test gets its own data directory.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn fashion(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fashion"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("FASHION_CONFIG")
        .output()
        .expect("the fashion binary runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

const TRICKY: &str = "\
id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName
15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt
11399,Boys,Apparel,Topwear,Tshirts,Red,Summer,,Casual,Doodle Kids Boy's Red T-shirt
12967,Women,Accessories,Bags,Handbags,Black,Summer,2011,Casual,Baggit Women, Black, Handbag
oops,Women,Accessories,Bags,Handbags,Black,Summer,2011,Casual,Bad Id
";

#[test]
fn catalog_import_reports_imported_and_rejected_rows_and_show_prints_the_product() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("styles.csv");
    std::fs::write(&file, TRICKY).unwrap();

    // Act
    let report = json(&fashion(
        dir.path(),
        &["catalog", "import", file.to_str().unwrap(), "--json"],
    ));
    let shown = json(&fashion(
        dir.path(),
        &["catalog", "show", "12967", "--json"],
    ));
    let no_year = json(&fashion(
        dir.path(),
        &["catalog", "show", "11399", "--json"],
    ));

    // Assert
    assert_eq!(report["imported"], 3);
    assert_eq!(report["rejected"], 1);
    assert_eq!(report["rejections"][0]["line"], 5);
    assert!(
        report["rejections"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("product id")
    );
    assert_eq!(shown["productDisplayName"], "Baggit Women, Black, Handbag");
    assert_eq!(shown["articleType"], "Handbags");
    assert_eq!(no_year["year"], Value::Null);
}

#[test]
fn catalog_show_of_an_unknown_product_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = fashion(dir.path(), &["catalog", "show", "424242"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the catalog"));
}

#[test]
fn generate_writes_the_catalog_file_the_ground_truth_and_fills_the_stores() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();

    // Act
    let report = json(&fashion(
        dir.path(),
        &[
            "generate",
            "--days",
            "2",
            "--users",
            "200",
            "--products",
            "400",
            "--dirty-rate",
            "0.02",
            "--json",
        ],
    ));

    // Assert
    assert_eq!(report["products"], 400);
    assert_eq!(report["customers"], 200);
    assert!(report["events_sent"].as_u64().unwrap() > 1000);
    let truth: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("generated/ground_truth.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(truth["events_sent"], report["events_sent"]);
    assert!(!truth["planted_trends"].as_array().unwrap().is_empty());
    let reimport = json(&fashion(
        dir.path(),
        &[
            "catalog",
            "import",
            dir.path().join("generated/styles.csv").to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(
        reimport["imported"], 400,
        "the generated file is in the format the loader reads"
    );
    assert_eq!(reimport["rejected"], 0);
}

#[test]
fn generate_over_an_imported_catalog_uses_its_products_and_plants_trends_among_them() {
    // Arrange: a catalog in the Kaggle format (another store's), with one row the loader
    // refuses.
    let dir = tempfile::tempdir().unwrap();
    let theirs = fashion_datagen::Generator::new(fashion_datagen::GenConfig {
        seed: 999,
        products: 600,
        ..fashion_datagen::GenConfig::default()
    });
    let mut styles = fashion_domain::catalog_csv::write_styles(theirs.products());
    styles.push_str("oops,Men,Apparel,Topwear,Tshirts,Red,Fall,2011,Casual,Bad id\n");
    let file = dir.path().join("styles.csv");
    std::fs::write(&file, &styles).unwrap();

    // Act
    let report = json(&fashion(
        dir.path(),
        &[
            "generate",
            "--catalog",
            file.to_str().unwrap(),
            "--days",
            "3",
            "--users",
            "150",
            "--json",
        ],
    ));

    // Assert: its products, not synthetic ones; trends planted among its types and colours.
    assert_eq!(report["products"], 600);
    assert_eq!(report["catalog_rows_rejected"], 1);
    assert!(report["events_sent"].as_u64().unwrap() > 500, "{report}");
    let combos: std::collections::HashSet<String> = theirs
        .products()
        .iter()
        .map(|p| fashion_domain::trends::article_type_colour_key(&p.article_type, p.colour()))
        .collect();
    let planted = report["planted_trends"].as_array().unwrap();
    assert!(!planted.is_empty(), "{report}");
    for t in planted {
        let t = t.as_str().unwrap();
        assert!(
            combos.contains(t),
            "{t} is not among the catalog's article types and colours"
        );
    }
    let id = theirs.products()[7].id.to_string();
    let shown = json(&fashion(dir.path(), &["catalog", "show", &id, "--json"]));
    assert_eq!(
        shown["productDisplayName"].as_str(),
        Some(theirs.products()[7].product_display_name.as_str())
    );
}

#[test]
fn bad_configuration_is_reported_all_at_once_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fashion.toml");
    std::fs::write(
        &cfg,
        "time_zone = \"Nowhere/Land\"\n[generator]\ndirty_rate = 3.0\n",
    )
    .unwrap();
    let out = fashion(dir.path(), &["--config", cfg.to_str().unwrap(), "generate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("time_zone") && err.contains("dirty_rate"),
        "{err}"
    );
}

#[test]
fn dead_letters_are_listed_by_rule_and_a_replay_accounts_for_every_letter() {
    // Arrange: a day with dirty records, consumed by the stream processor.
    let dir = tempfile::tempdir().unwrap();
    let generate = [
        "generate",
        "--days",
        "1",
        "--users",
        "100",
        "--products",
        "200",
        "--dirty-rate",
        "0.05",
        "--json",
    ];
    json(&fashion(dir.path(), &generate));
    let consumed = fashion(dir.path(), &["stream", "consume", "--json"]);
    assert!(consumed.status.success(), "{consumed:?}");

    // Act
    let all = json(&fashion(dir.path(), &["dead-letters", "list", "--json"]));
    let malformed = json(&fashion(
        dir.path(),
        &["dead-letters", "list", "--code", "malformed", "--json"],
    ));
    let replay = json(&fashion(dir.path(), &["dead-letters", "replay", "--json"]));
    let refused = fashion(
        dir.path(),
        &["dead-letters", "list", "--since", "yesterday"],
    );

    // Assert
    let total = all["total_stored"].as_u64().unwrap();
    assert!(total > 0, "{all}");
    assert_eq!(all["selected"].as_u64().unwrap(), total);
    let by_rule: u64 = all["by_rule"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_rule, total);
    let letters = malformed["letters"].as_array().unwrap();
    assert!(!letters.is_empty(), "{malformed}");
    assert!(letters.iter().all(|l| l["code"] == "malformed"));
    // Nothing dirty becomes valid by waiting: every letter is counted, none replayed.
    let still: u64 = replay["still_invalid"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(replay["examined"].as_u64().unwrap(), total);
    assert_eq!(replay["replayed"], 0, "{replay}");
    assert_eq!(
        still + replay["truncated"].as_u64().unwrap(),
        total,
        "{replay}"
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--since"));
}
