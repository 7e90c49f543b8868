//! The lake: its bucket (and the bucket of discarded stream batches), the Glue catalog of its
//! tables, and the Athena workgroup analysts query it with.

use std::collections::BTreeMap;

use fashion_domain::lake::{TableDef, all_tables, tables};

use crate::engine::desired::{Builder, tags};
use crate::layout::{names, prefixes};
use crate::providers::aws::athena::{self, WorkgroupProps};
use crate::providers::aws::glue::{self, DatabaseProps};
use crate::providers::aws::s3::{self, BucketProps, Lifecycle, PublicAccessBlock, tls_only_policy};

/// The lake and dead-letter buckets, the catalog, the workgroup.
pub fn declare(b: &mut Builder<'_>) {
    buckets(b);
    catalog(b);
    workgroup(b);
}

fn expiry(id: &str, prefix: String, days: i32) -> Lifecycle {
    Lifecycle {
        id: id.into(),
        prefix,
        expiration_days: Some(days),
        abort_incomplete_upload_days: None,
        noncurrent_expiry_days: None,
    }
}

fn buckets(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    let lake = &cfg.lake;
    let lifecycle = |mut rules: Vec<Lifecycle>| {
        rules.push(Lifecycle {
            id: "abort-incomplete-uploads".into(),
            prefix: String::new(),
            expiration_days: None,
            abort_incomplete_upload_days: Some(lake.abort_incomplete_upload_days),
            noncurrent_expiry_days: None,
        });
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        rules
    };
    let bucket = |name: String, versioning: bool, rules: Vec<Lifecycle>| BucketProps {
        region: cfg.region.clone(),
        public_access_block: Some(PublicAccessBlock::ALL),
        encryption: Some("AES256".into()),
        policy: lake
            .require_tls
            .then(|| tls_only_policy(cfg.partition(), &name)),
        versioning,
        lifecycle: lifecycle(rules),
        tags: tags(cfg),
    };
    let name = cfg.lake_bucket();
    // Overwritten and deleted lake objects stay recoverable (a bad backfill, a mistaken
    // delete) for a while; the lake writer's superseded version directories become noncurrent,
    // and noncurrent versions expire so that reruns and backfills do not pile up storage.
    let props = bucket(
        name.clone(),
        true,
        vec![
            Lifecycle {
                id: "noncurrent-version-expiry".into(),
                prefix: String::new(),
                expiration_days: None,
                abort_incomplete_upload_days: None,
                noncurrent_expiry_days: Some(lake.noncurrent_version_expiry_days),
            },
            expiry(
                "raw-zone-expiry",
                lake.raw_prefix.clone(),
                lake.raw_expiry_days,
            ),
            expiry(
                "quarantine-retention",
                format!("{}{}/", lake.prefix, tables::QUARANTINE),
                lake.quarantine_retention_days,
            ),
            expiry(
                "athena-results-expiry",
                prefixes::ATHENA_RESULTS.into(),
                lake.athena_results_expiry_days,
            ),
        ],
    );
    b.add(s3::KIND, names::LAKE, name, &props, &[]);
    let name = cfg.physical(&format!("dead-letters-{}", cfg.region));
    let props = bucket(
        name.clone(),
        false,
        vec![expiry(
            "dead-letter-expiry",
            String::new(),
            lake.dead_letter_expiry_days,
        )],
    );
    b.add(s3::KIND, names::DEAD_LETTERS, name, &props, &[]);
}

fn catalog(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    let bucket = cfg.lake_bucket();
    let lake_prefix = &cfg.lake.prefix;
    let database = cfg.glue_database();
    let database_id = b.add(
        glue::DATABASE_KIND,
        names::LAKE,
        database.clone(),
        &DatabaseProps {
            description: "The fashion store's data lake".into(),
            location: format!("s3://{bucket}/{lake_prefix}"),
            tags: tags(cfg),
        },
        &[],
    );
    for def in all_tables() {
        let location = format!("s3://{bucket}/{lake_prefix}{}/", def.name);
        let extra = if fashion_aws_core::glue::is_delivered(&def.name) {
            clickstream_projection(&def, &location)
        } else {
            BTreeMap::new()
        };
        let table_id = b.add(
            glue::TABLE_KIND,
            &def.name,
            def.name.clone(),
            &glue::TableProps::parquet(&def, &database, location, extra),
            std::slice::from_ref(&database_id),
        );
        if fashion_aws_core::glue::is_delivered(&def.name) {
            unique_view(b, &def, &database, &[database_id.clone(), table_id]);
        }
    }
}

/// The analysts' view of a delivered table: each event once. Firehose delivers at least once, so
/// the table itself may hold an event twice; the view keeps the first delivery of each
/// `event_id` (by partition), with every column and partition key.
fn unique_view(b: &mut Builder<'_>, def: &TableDef, database: &str, after: &[String]) {
    let shape = fashion_aws_core::glue::ParquetTable::of(def);
    let columns: Vec<glue::HiveColumn> = shape
        .columns
        .into_iter()
        .chain(shape.partition_keys)
        .collect();
    let list = columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let order = def
        .partition_keys
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {list} FROM (SELECT {list}, row_number() OVER (PARTITION BY \"event_id\" ORDER \
         BY {order}) AS \"delivery\" FROM \"{database}\".\"{table}\") WHERE \"delivery\" = 1",
        table = def.name
    );
    let name = format!("{}_unique", def.name);
    let props = glue::TableProps::athena_view(
        database,
        &format!(
            "{}, each event once (Firehose delivers at least once)",
            def.description
        ),
        columns,
        &sql,
    );
    b.add(glue::TABLE_KIND, &name, name.clone(), &props, after);
}

/// Partition projection for the clickstream: Athena computes its `dt`/`hour` partitions from
/// the table's parameters, so partitions Firehose writes are queryable without being catalogued.
fn clickstream_projection(def: &TableDef, location: &str) -> BTreeMap<String, String> {
    let mut template = location.trim_end_matches('/').to_owned();
    for key in &def.partition_keys {
        template.push_str(&format!("/{key}=${{{key}}}"));
    }
    template.push('/');
    BTreeMap::from([
        ("projection.enabled".into(), "true".into()),
        ("projection.dt.type".into(), "date".into()),
        ("projection.dt.format".into(), "yyyy-MM-dd".into()),
        ("projection.dt.range".into(), "2020-01-01,NOW".into()),
        ("projection.dt.interval".into(), "1".into()),
        ("projection.dt.interval.unit".into(), "DAYS".into()),
        ("projection.hour.type".into(), "integer".into()),
        ("projection.hour.range".into(), "0,23".into()),
        ("projection.hour.digits".into(), "2".into()),
        ("storage.location.template".into(), template),
    ])
}

/// Analysts' SQL.
fn workgroup(b: &mut Builder<'_>) {
    let cfg = b.cfg;
    let lake_url = b.out(s3::KIND, names::LAKE, s3::OUT_URL);
    b.add(
        athena::KIND,
        names::ANALYTICS,
        cfg.name_prefix.clone(),
        &WorkgroupProps {
            description: "SQL over the fashion store's lake".into(),
            output_location: format!("{lake_url}/{}", prefixes::ATHENA_RESULTS),
            encryption: "SSE_S3".into(),
            enforce_configuration: true,
            publish_metrics: true,
            bytes_scanned_cutoff: cfg.athena.bytes_scanned_cutoff,
            state: "ENABLED".into(),
            tags: tags(cfg),
        },
        &[],
    );
}
