//! The AWS provider: its resource kinds, the stack it declares ([`super::stack`]), its SDK
//! clients, and the caller's account that policies reference before any resource exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;

use super::{ACCOUNT_ID, AwsClients, CALLER, clients, s3, sdk_config};
use super::{
    athena, dynamodb, firehose, function_url, glue, iam, kinesis, lambda, lambda_mapping, rds,
    scheduler,
};
use crate::config::StackConfig;
use crate::engine::desired::Builder;
use crate::engine::provider::Provider;

use crate::engine::resource::{CallCounter, Cx, Outputs, OutputsByKind, ResourceKind, Session};
use crate::layout::names;

/// Serves the `aws` and `emulator` stacks.
pub struct AwsProvider;

#[async_trait]
impl Provider for AwsProvider {
    fn kinds(&self) -> Vec<Box<dyn ResourceKind>> {
        vec![
            Box::new(s3::S3Bucket),
            Box::new(kinesis::KinesisStream),
            Box::new(dynamodb::DynamoDbTable),
            Box::new(glue::GlueDatabase),
            Box::new(glue::GlueTable),
            Box::new(firehose::FirehoseDeliveryStream),
            Box::new(iam::IamRole),
            Box::new(iam::IamRolePolicy),
            Box::new(lambda::LambdaFunction),
            Box::new(lambda_mapping::EventSourceMapping),
            Box::new(function_url::FunctionUrl),
            Box::new(scheduler::ScheduleGroup),
            Box::new(scheduler::Schedule),
            Box::new(athena::AthenaWorkgroup),
            Box::new(rds::RdsInstance),
        ]
    }

    fn declare(&self, b: &mut Builder<'_>) {
        super::stack::declare(b);
    }

    async fn connect(
        &self,
        cfg: &StackConfig,
        calls: Arc<CallCounter>,
    ) -> anyhow::Result<Option<Session>> {
        let sdk = sdk_config(cfg).await?;
        let clients = AwsClients::new(&sdk, calls);
        Ok(Some(Arc::new(clients)))
    }

    async fn known(&self, cx: &Cx) -> anyhow::Result<BTreeMap<String, Outputs>> {
        let account = clients(cx)?
            .account_id()
            .await
            .context("failed to find the AWS account of the credentials")?;
        Ok(BTreeMap::from([(
            CALLER.to_owned(),
            Outputs::from([(ACCOUNT_ID.to_owned(), account)]),
        )]))
    }

    fn lake_url(&self, cfg: &StackConfig, resources: &OutputsByKind) -> Option<String> {
        resources
            .get(s3::KIND)
            .and_then(|d| d.get(names::LAKE))
            .and_then(|o| o.get(s3::OUT_URL))
            .map(|u| format!("{u}/{}", cfg.lake.prefix))
    }
}
