//! S3 locations and the model store: model artifacts as JSON objects, one per version, plus a
//! `LATEST` pointer object.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use fashion_domain::model::RecModel;
use fashion_domain::ports::{ModelStore, StoreError};

use crate::error::{AwsFailure, corrupt};

/// A bucket and a key prefix (without leading or trailing slashes; may be empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The prefix keys start with, `""` for the bucket's root.
    pub prefix: String,
}

impl S3Location {
    /// `s3://bucket/prefix/`.
    #[must_use]
    pub fn new(bucket: &str, prefix: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// The key of `rel` under the prefix.
    #[must_use]
    pub fn key(&self, rel: &str) -> String {
        let rel = rel.trim_start_matches('/');
        if self.prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// `s3://bucket/<key of rel>`.
    #[must_use]
    pub fn url(&self, rel: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(rel))
    }
}

/// The object holding the newest version's name.
const LATEST: &str = "LATEST";

/// Models under `s3://bucket/prefix/`: `<version>.json` per version and `LATEST` naming the
/// newest. `LATEST` is written after the version it names, so a reader that finds it can always
/// load that version.
#[derive(Clone, Debug)]
pub struct S3ModelStore {
    client: Client,
    at: S3Location,
}

impl S3ModelStore {
    /// The store at `at`.
    #[must_use]
    pub fn new(client: Client, at: S3Location) -> Self {
        Self { client, at }
    }

    fn valid(version: &str) -> bool {
        !version.is_empty()
            && !version.starts_with('.')
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    }

    /// The object's bytes, `None` when there is no such key.
    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let what = || format!("read s3://{}/{key}", self.at.bucket);
        let out = match self
            .client
            .get_object()
            .bucket(&self.at.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let f = AwsFailure::of(&e);
                if f.is_code("NoSuchKey") {
                    return Ok(None);
                }
                return Err(f.into_store(&what()));
            }
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                message: format!("{}: {e}", what()),
            })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn write(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.at.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| {
                AwsFailure::of(&e).into_store(&format!("write s3://{}/{key}", self.at.bucket))
            })?;
        Ok(())
    }
}

#[async_trait]
impl ModelStore for S3ModelStore {
    #[tracing::instrument(skip_all, fields(bucket = %self.at.bucket, version = %model.version), err)]
    async fn put(&self, model: &RecModel) -> Result<(), StoreError> {
        if !Self::valid(&model.version) {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "invalid model version {:?}",
                model.version
            )));
        }
        let body = serde_json::to_vec(model).map_err(|e| corrupt("model", e.to_string()))?;
        self.write(
            &self.at.key(&format!("{}.json", model.version)),
            body,
            "application/json",
        )
        .await?;
        let current = self.latest_version().await?;
        if current
            .as_deref()
            .is_none_or(|c| c < model.version.as_str())
        {
            self.write(
                &self.at.key(LATEST),
                model.version.clone().into_bytes(),
                "text/plain",
            )
            .await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.at.bucket), err)]
    async fn latest_version(&self) -> Result<Option<String>, StoreError> {
        match self.read(&self.at.key(LATEST)).await? {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(|v| Some(v.trim().to_owned()))
                .map_err(|e| corrupt("LATEST", e.to_string())),
        }
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.at.bucket, version = %version), err)]
    async fn get(&self, version: &str) -> Result<Option<RecModel>, StoreError> {
        if !Self::valid(version) {
            return Ok(None);
        }
        match self.read(&self.at.key(&format!("{version}.json"))).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt(format!("model {version}"), e.to_string())),
        }
    }

    #[tracing::instrument(skip_all, fields(bucket = %self.at.bucket), err)]
    async fn versions(&self) -> Result<Vec<String>, StoreError> {
        let prefix = self.at.key("");
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.at.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsFailure::of(&e).into_store(&format!(
                    "list models under s3://{}/{prefix}",
                    self.at.bucket
                ))
            })?;
            for object in page.contents() {
                if let Some(version) = object
                    .key()
                    .and_then(|k| k.strip_prefix(prefix.as_str()))
                    .and_then(|k| k.strip_suffix(".json"))
                    .filter(|v| Self::valid(v))
                {
                    out.push(version.to_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_urls_join_the_prefix_with_one_slash() {
        let l = S3Location::new("b", "/lake/");
        assert_eq!(l.key("orders/dt=1"), "lake/orders/dt=1");
        assert_eq!(l.url("/x"), "s3://b/lake/x");
        assert_eq!(S3Location::new("b", "").key("x"), "x");
    }

    #[test]
    fn versions_that_could_escape_the_prefix_are_invalid() {
        assert!(S3ModelStore::valid("20261125T000100Z-b"));
        assert!(!S3ModelStore::valid("../x"));
        assert!(!S3ModelStore::valid(""));
        assert!(!S3ModelStore::valid("a/b"));
    }
}
