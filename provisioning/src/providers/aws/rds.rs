//! The transactional database (`aws:rds:db-instance`): RDS PostgreSQL, encrypted, never publicly
//! accessible, its master password generated and kept by AWS Secrets Manager
//! (`ManageMasterUserPassword`), so no password ever passes through this code or its state.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::types::{PendingModifiedValues, Tag};
use serde::{Deserialize, Serialize};

use super::{
    OUT_ARN, OUT_NAME, absent_if, aws_err, changes_field, clients, comparable_tags, gone_if,
    reread, retry_transient, seen_tags, tag_changes, wait_until,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The kind id.
pub const KIND: &str = "aws:rds:db-instance";
/// A new instance is available within this (AWS takes 5 to 20 minutes).
pub const RDS_AVAILABLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// A deleted instance is gone within this (longer with a final snapshot).
pub const RDS_DELETE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Output key: the instance's host name.
pub const OUT_ENDPOINT: &str = "endpoint";
/// Output key: the instance's port.
pub const OUT_PORT: &str = "port";
/// Output key: the Secrets Manager secret holding the master user's password.
pub const OUT_SECRET_ARN: &str = "master_user_secret_arn";
/// Output key: `postgres://user@host:port/db?sslmode=require`, without a password (RDS for
/// PostgreSQL refuses unencrypted connections).
pub const OUT_URL: &str = "url";

const NOT_FOUND: &[&str] = &["DBInstanceNotFound", "DBInstanceNotFoundFault"];

/// Desired (and observed) settings of a database instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbInstanceProps {
    /// `postgres` (fixed at creation).
    pub engine: String,
    /// Major version (`17`); AWS picks and upgrades the minor one.
    pub engine_version: String,
    /// Instance class.
    pub instance_class: String,
    /// Storage, GiB.
    pub allocated_storage_gib: i32,
    /// `gp3`.
    pub storage_type: String,
    /// Storage encryption (fixed at creation).
    pub storage_encrypted: bool,
    /// Reachable from the internet.
    pub publicly_accessible: bool,
    /// The master password lives in Secrets Manager, managed by RDS.
    pub manage_master_password: bool,
    /// Master user (fixed at creation).
    pub master_username: String,
    /// Initial database (fixed at creation).
    pub db_name: String,
    /// Days of automated backups.
    pub backup_retention_days: i32,
    /// Refuse deletion.
    pub deletion_protection: bool,
    /// Standby in a second availability zone.
    pub multi_az: bool,
    /// Snapshots carry the instance's tags.
    pub copy_tags_to_snapshot: bool,
    /// Minor versions are applied in the maintenance window.
    pub auto_minor_version_upgrade: bool,
    /// Security groups; `None` leaves the VPC's default group (not compared).
    pub security_group_ids: Option<Vec<String>>,
    /// DB subnet group; `None` uses the default VPC's (not compared).
    pub subnet_group: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The RDS instance kind.
#[derive(Debug, Default)]
pub struct RdsInstance;

impl RdsInstance {
    async fn wait_available(&self, cx: &Cx, id: &str) -> Result<(), ProvisionError> {
        let r = &clients(cx)?.rds;
        wait_until(id, "available", RDS_AVAILABLE_TIMEOUT, || async {
            let out = r
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
                .map_err(aws_err("read RDS instance", id))?;
            Ok(out.db_instances().first().is_some_and(|d| {
                d.db_instance_status() == Some("available")
                    && d.pending_modified_values()
                        .is_none_or(|p| p == &PendingModifiedValues::builder().build())
            }))
        })
        .await
    }

    async fn wait_gone(&self, cx: &Cx, id: &str) -> Result<(), ProvisionError> {
        let r = &clients(cx)?.rds;
        wait_until(id, "deleted", RDS_DELETE_TIMEOUT, || async {
            Ok(absent_if(
                r.describe_db_instances()
                    .db_instance_identifier(id)
                    .send()
                    .await
                    .map_err(aws_err("read RDS instance", id)),
                NOT_FOUND,
            )?
            .is_none_or(|o| o.db_instances().is_empty()))
        })
        .await
    }
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

#[async_trait]
impl ResourceKind for RdsInstance {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn label(&self) -> &'static str {
        "RDS instance"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let id = &spec.physical_name;
        let out = absent_if(
            clients(cx)?
                .rds
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
                .map_err(aws_err("read RDS instance", id)),
            NOT_FOUND,
        )?;
        let Some(d) = out.as_ref().and_then(|o| o.db_instances().first()) else {
            return Ok(None);
        };
        if d.db_instance_status() == Some("deleting") {
            return Ok(None);
        }
        let mut groups: Vec<String> = d
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
            .collect();
        groups.sort();
        let seen = DbInstanceProps {
            engine: d.engine().unwrap_or_default().to_owned(),
            engine_version: d.engine_version().unwrap_or_default().to_owned(),
            instance_class: d.db_instance_class().unwrap_or_default().to_owned(),
            allocated_storage_gib: d.allocated_storage().unwrap_or_default(),
            storage_type: d.storage_type().unwrap_or_default().to_owned(),
            storage_encrypted: d.storage_encrypted().unwrap_or(false),
            publicly_accessible: d.publicly_accessible().unwrap_or(false),
            manage_master_password: d.master_user_secret().is_some(),
            master_username: d.master_username().unwrap_or_default().to_owned(),
            db_name: d.db_name().unwrap_or_default().to_owned(),
            backup_retention_days: d.backup_retention_period().unwrap_or_default(),
            deletion_protection: d.deletion_protection().unwrap_or(false),
            multi_az: d.multi_az().unwrap_or(false),
            copy_tags_to_snapshot: d.copy_tags_to_snapshot().unwrap_or(false),
            auto_minor_version_upgrade: d.auto_minor_version_upgrade().unwrap_or(false),
            security_group_ids: Some(groups),
            subnet_group: d
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .map(str::to_owned),
            tags: comparable_tags(d.tag_list().iter().filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })),
        };
        let host = d
            .endpoint()
            .and_then(|e| e.address())
            .unwrap_or_default()
            .to_owned();
        let port = d.endpoint().and_then(|e| e.port()).unwrap_or(5432);
        let mut outputs = Outputs::from([
            (OUT_NAME.to_owned(), id.clone()),
            (
                OUT_ARN.to_owned(),
                d.db_instance_arn().unwrap_or_default().to_owned(),
            ),
            (OUT_ENDPOINT.to_owned(), host.clone()),
            (OUT_PORT.to_owned(), port.to_string()),
            (
                OUT_URL.to_owned(),
                format!(
                    "postgres://{}@{host}:{port}/{}?sslmode=require",
                    seen.master_username, seen.db_name
                ),
            ),
        ]);
        if let Some(arn) = d.master_user_secret().and_then(|s| s.secret_arn()) {
            outputs.insert(OUT_SECRET_ARN.to_owned(), arn.to_owned());
        }
        Ok(Some(Observed {
            physical_name: id.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs,
        }))
    }

    /// A major version is compared by its major number (`17` matches `17.4`); the network
    /// settings are compared only when declared.
    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        let mut got = seen.fields.clone();
        if let (Some(want), Some(have)) = (
            spec.fields.get("engine_version").and_then(|v| v.as_str()),
            seen.fields.get("engine_version").and_then(|v| v.as_str()),
        ) && !want.contains('.')
            && major(have) == want
        {
            got.insert("engine_version".to_owned(), want.into());
        }
        let mut want = spec.fields.clone();
        for optional in ["security_group_ids", "subnet_group"] {
            if want.get(optional).is_none_or(serde_json::Value::is_null) {
                want.remove(optional);
            }
        }
        diff_fields(
            &want,
            &got,
            &["engine", "storage_encrypted", "master_username", "db_name"],
        )
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: DbInstanceProps = from_fields(spec)?;
        let id = &spec.physical_name;
        self.wait_gone(cx, id).await?;
        let tags: Vec<Tag> = p
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        clients(cx)?
            .rds
            .create_db_instance()
            .db_instance_identifier(id)
            .engine(&p.engine)
            .engine_version(&p.engine_version)
            .db_instance_class(&p.instance_class)
            .allocated_storage(p.allocated_storage_gib)
            .storage_type(&p.storage_type)
            .storage_encrypted(p.storage_encrypted)
            .publicly_accessible(p.publicly_accessible)
            .manage_master_user_password(p.manage_master_password)
            .master_username(&p.master_username)
            .db_name(&p.db_name)
            .backup_retention_period(p.backup_retention_days)
            .deletion_protection(p.deletion_protection)
            .multi_az(p.multi_az)
            .copy_tags_to_snapshot(p.copy_tags_to_snapshot)
            .auto_minor_version_upgrade(p.auto_minor_version_upgrade)
            .set_vpc_security_group_ids(p.security_group_ids.clone())
            .set_db_subnet_group_name(p.subnet_group.clone())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(aws_err("create RDS instance", id))?;
        self.wait_available(cx, id).await?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: DbInstanceProps = from_fields(spec)?;
        let r = &clients(cx)?.rds;
        let id = &spec.physical_name;
        let c = |f: &str| changes_field(change, f);
        let settings = [
            "engine_version",
            "instance_class",
            "allocated_storage_gib",
            "storage_type",
            "publicly_accessible",
            "manage_master_password",
            "backup_retention_days",
            "deletion_protection",
            "multi_az",
            "copy_tags_to_snapshot",
            "auto_minor_version_upgrade",
            "security_group_ids",
            "subnet_group",
        ];
        if settings.iter().any(|f| c(f)) {
            let was_major = seen
                .fields
                .get("engine_version")
                .and_then(|v| v.as_str())
                .map(|v| major(v).to_owned());
            let mut req = r
                .modify_db_instance()
                .db_instance_identifier(id)
                .apply_immediately(true);
            if c("engine_version") {
                req = req
                    .engine_version(&p.engine_version)
                    .allow_major_version_upgrade(
                        was_major.as_deref() != Some(major(&p.engine_version)),
                    );
            }
            if c("instance_class") {
                req = req.db_instance_class(&p.instance_class);
            }
            if c("allocated_storage_gib") {
                req = req.allocated_storage(p.allocated_storage_gib);
            }
            if c("storage_type") {
                req = req.storage_type(&p.storage_type);
            }
            if c("publicly_accessible") {
                req = req.publicly_accessible(p.publicly_accessible);
            }
            if c("manage_master_password") {
                req = req.manage_master_user_password(p.manage_master_password);
            }
            if c("backup_retention_days") {
                req = req.backup_retention_period(p.backup_retention_days);
            }
            if c("deletion_protection") {
                req = req.deletion_protection(p.deletion_protection);
            }
            if c("multi_az") {
                req = req.multi_az(p.multi_az);
            }
            if c("copy_tags_to_snapshot") {
                req = req.copy_tags_to_snapshot(p.copy_tags_to_snapshot);
            }
            if c("auto_minor_version_upgrade") {
                req = req.auto_minor_version_upgrade(p.auto_minor_version_upgrade);
            }
            if c("security_group_ids") {
                req = req.set_vpc_security_group_ids(p.security_group_ids.clone());
            }
            if c("subnet_group") {
                req = req.set_db_subnet_group_name(p.subnet_group.clone());
            }
            // An instance still applying an earlier change refuses a new one for a while.
            retry_transient(
                super::BUSY_RETRY_TIMEOUT,
                |e| e.code() == Some("InvalidDBInstanceState"),
                || async {
                    req.clone()
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(aws_err("modify RDS instance", id))
                },
            )
            .await?;
            self.wait_available(cx, id).await?;
        }
        if c("tags") {
            let arn = seen.outputs.get(OUT_ARN).cloned().unwrap_or_default();
            let (add, remove) = tag_changes(&p.tags, &seen_tags(seen));
            if !remove.is_empty() {
                r.remove_tags_from_resource()
                    .resource_name(&arn)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(aws_err("untag RDS instance", id))?;
            }
            if !add.is_empty() {
                r.add_tags_to_resource()
                    .resource_name(&arn)
                    .set_tags(Some(
                        add.into_iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(aws_err("tag RDS instance", id))?;
            }
        }
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let id = &seen.physical_name;
        let skip = cx.config.database.skip_final_snapshot;
        let mut req = clients(cx)?
            .rds
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(skip)
            .delete_automated_backups(true);
        if !skip {
            // Snapshot names must be unique; the time makes repeated destroys possible.
            req = req.final_db_snapshot_identifier(format!(
                "{id}-final-{}",
                chrono::Utc::now().format("%Y%m%d%H%M%S")
            ));
        }
        gone_if(
            req.send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete RDS instance", id)),
            NOT_FOUND,
        )?;
        self.wait_gone(cx, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;

    fn props() -> DbInstanceProps {
        DbInstanceProps {
            engine: "postgres".into(),
            engine_version: "17".into(),
            instance_class: "db.t4g.micro".into(),
            allocated_storage_gib: 20,
            storage_type: "gp3".into(),
            storage_encrypted: true,
            publicly_accessible: false,
            manage_master_password: true,
            master_username: "fashion".into(),
            db_name: "fashion".into(),
            backup_retention_days: 7,
            deletion_protection: false,
            multi_az: false,
            copy_tags_to_snapshot: true,
            auto_minor_version_upgrade: true,
            security_group_ids: None,
            subnet_group: None,
            tags: BTreeMap::new(),
        }
    }

    fn spec(p: &DbInstanceProps) -> ResourceSpec {
        fixtures::declared("aws::aws:rds:db-instance::orders", KIND, "db", p)
    }

    fn seen(p: &DbInstanceProps) -> Observed {
        fixtures::observed("db", p)
    }

    #[test]
    fn instance_diff_accepts_a_minor_version_and_default_network() {
        // Arrange: AWS reports the minor version and the default VPC's security group.
        let mut observed = props();
        observed.engine_version = "17.4".into();
        observed.security_group_ids = Some(vec!["sg-default".into()]);
        observed.subnet_group = Some("default".into());
        // Act / Assert
        assert_eq!(
            RdsInstance.diff(&spec(&props()), &seen(&observed)),
            Change::Same
        );
    }

    #[test]
    fn instance_diff_updates_public_access_and_replaces_unencrypted_storage() {
        let mut public = props();
        public.publicly_accessible = true;
        let Change::Update { fields } = RdsInstance.diff(&spec(&props()), &seen(&public)) else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "publicly_accessible");
        let mut plain = props();
        plain.storage_encrypted = false;
        assert_eq!(
            RdsInstance.diff(&spec(&props()), &seen(&plain)),
            Change::Replace {
                field: "storage_encrypted".into()
            }
        );
    }

    #[test]
    fn instance_diff_updates_a_new_major_version() {
        let mut old = props();
        old.engine_version = "16.8".into();
        assert!(matches!(
            RdsInstance.diff(&spec(&props()), &seen(&old)),
            Change::Update { ref fields } if fields[0].field == "engine_version"
        ));
    }
}
