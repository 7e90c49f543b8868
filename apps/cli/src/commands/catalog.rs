//! `fashion catalog import FILE` and `fashion catalog show ID`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use fashion_domain::catalog_csv::{RejectedRow, StylesParse, parse_styles};
use fashion_domain::ids::ProductId;
use fashion_domain::ports::SystemClock;
use serde::Serialize;

use crate::cli::CatalogCommand;
use crate::output::print_json;
use crate::ports::{Ports, transactional};
use crate::settings::Settings;

#[derive(Serialize)]
struct ImportReport {
    stack: String,
    file: String,
    imported: usize,
    rejected: usize,
    rejections: Vec<RejectedRow>,
}

/// Reads a Kaggle-format styles.csv: every row a product or a rejection with its reason.
///
/// # Errors
/// When the file cannot be read or is not a styles file at all (a wrong header).
pub fn read_styles(file: &Path) -> anyhow::Result<StylesParse> {
    let text = std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    // The real file has a few bytes that are not UTF-8; keep the rows, replace the bytes.
    let text = String::from_utf8_lossy(&text);
    parse_styles(&text).with_context(|| format!("failed to parse {}", file.display()))
}

pub async fn run(cmd: CatalogCommand, settings: &Settings, json: bool) -> anyhow::Result<()> {
    let ports = Ports::open(settings, Arc::new(SystemClock)).await?;
    let catalog = ports.products.as_ref();
    match cmd {
        CatalogCommand::Import { file } => {
            let parsed = read_styles(&file)?;
            // The order system's database first (orders refer to its products), then the
            // catalog the stream processor enriches with.
            transactional(settings)
                .await?
                .put_products(&parsed.products)
                .await
                .context("failed to store the products in the transactional database")?;
            catalog
                .upsert_many(&parsed.products)
                .await
                .with_context(|| {
                    format!(
                        "failed to store the products in the {} catalog",
                        ports.stack
                    )
                })?;
            let report = ImportReport {
                stack: ports.stack.to_string(),
                file: file.display().to_string(),
                imported: parsed.products.len(),
                rejected: parsed.rejected.len(),
                rejections: parsed.rejected,
            };
            if json {
                print_json(&report)
            } else {
                println!(
                    "Imported {} products from {} into the {} stack; rejected {}.",
                    report.imported, report.file, report.stack, report.rejected
                );
                for r in &report.rejections {
                    println!("  line {}: {}", r.line, r.reason);
                }
                Ok(())
            }
        }
        CatalogCommand::Show { id } => {
            let id = ProductId::parse(&id)?;
            let found = catalog
                .get_many(&[id])
                .await
                .context("failed to read the catalog")?;
            let product = found
                .into_iter()
                .next()
                .with_context(|| format!("product {id} is not in the catalog"))?;
            if json {
                print_json(&product)
            } else {
                println!("{}", serde_json::to_string_pretty(&product)?);
                Ok(())
            }
        }
    }
}
