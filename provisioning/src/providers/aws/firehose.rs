//! The Firehose delivery stream (`aws:firehose:delivery-stream`) that lands the clickstream in the
//! lake: Kinesis stream as source, S3 as destination, size/time buffering, a Lambda
//! data-transformation processor whose partition keys drive dynamic partitioning, Parquet
//! conversion against the Glue table, and an error prefix.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_firehose::types::{
    BufferingHints, CompressionFormat, DataFormatConversionConfiguration, DeliveryStreamStatus,
    DeliveryStreamType, Deserializer, DynamicPartitioningConfiguration,
    ExtendedS3DestinationConfiguration, ExtendedS3DestinationUpdate, HiveJsonSerDe,
    InputFormatConfiguration, KinesisStreamSourceConfiguration, OutputFormatConfiguration,
    ParquetCompression, ParquetSerDe, ProcessingConfiguration, Processor, ProcessorParameter,
    ProcessorParameterName, ProcessorType, RetryOptions, SchemaConfiguration, Serializer, Tag,
};
use serde::{Deserialize, Serialize};

use super::{
    IAM_PROPAGATION_TIMEOUT, OUT_ARN, OUT_NAME, absent_if, aws_err, changes_field, clients,
    comparable_tags, gone_if, is_role_propagation, reread, retry_transient, seen_tags, tag_changes,
    wait_until,
};
use crate::engine::plan::{Change, ResourceSpec, diff_fields};
use crate::engine::resource::{
    Cx, Observed, Outputs, ProvisionError, ResourceKind, from_fields, to_fields,
};

/// The kind id.
pub const KIND: &str = "aws:firehose:delivery-stream";
/// A delivery stream becomes ACTIVE within this.
pub const FIREHOSE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// A delivery stream is gone within this after its deletion.
pub const FIREHOSE_DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// What the Lambda processor is told: a retry count and Firehose's buffering towards it
/// (1 MiB or 60 s; a Lambda payload is at most 6 MB). Read back, only the function's ARN is
/// compared: AWS fills its own defaults into the rest.
const PROCESSOR_RETRIES: &str = "3";
const PROCESSOR_BUFFER_MIB: &str = "1";
const PROCESSOR_BUFFER_SECS: &str = "60";

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// Parquet conversion against a Glue table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParquetConversion {
    /// Glue database.
    pub database: String,
    /// Glue table whose schema the records follow.
    pub table: String,
    /// Region of the catalog.
    pub region: String,
    /// Role Firehose reads the schema with.
    pub role_arn: String,
    /// How the JSON SerDe reads timestamps (Joda patterns or `millis`).
    pub timestamp_formats: Vec<String>,
    /// Parquet compression (`SNAPPY`, `GZIP`, `UNCOMPRESSED`).
    pub compression: String,
}

/// Desired (and observed) settings of a delivery stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStreamProps {
    /// The Kinesis stream it reads (fixed at creation).
    pub source_stream_arn: String,
    /// The role it reads the stream with (fixed at creation).
    pub source_role_arn: String,
    /// The role it writes to S3 with.
    pub role_arn: String,
    /// Destination bucket.
    pub bucket_arn: String,
    /// Key prefix of delivered objects.
    pub prefix: String,
    /// Key prefix of records that failed delivery or conversion.
    pub error_prefix: String,
    /// Flush at least this often.
    pub buffer_interval_secs: i32,
    /// Flush at this size.
    pub buffer_size_mib: i32,
    /// Object compression (`UNCOMPRESSED` when converting to Parquet, which compresses itself).
    pub compression: String,
    /// The Lambda function that transforms each batch and returns each record's partition keys
    /// (dynamic partitioning, `!{partitionKeyFromLambda:…}` in the prefix); `None` disables both.
    pub processor_arn: Option<String>,
    /// Seconds Firehose retries delivery of a partition.
    pub partition_retry_secs: i32,
    /// Parquet conversion.
    pub conversion: Option<ParquetConversion>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The Firehose delivery stream kind.
#[derive(Debug, Default)]
pub struct FirehoseDeliveryStream;

struct Parts {
    buffering: BufferingHints,
    processing: ProcessingConfiguration,
    partitioning: DynamicPartitioningConfiguration,
    conversion: DataFormatConversionConfiguration,
}

fn parts(p: &DeliveryStreamProps) -> Result<Parts, ProvisionError> {
    let processing = match &p.processor_arn {
        Some(arn) => {
            let param = |name: ProcessorParameterName, value: &str| {
                ProcessorParameter::builder()
                    .parameter_name(name)
                    .parameter_value(value)
                    .build()
            };
            ProcessingConfiguration::builder()
                .enabled(true)
                .processors(
                    Processor::builder()
                        .r#type(ProcessorType::Lambda)
                        .parameters(param(ProcessorParameterName::LambdaArn, arn)?)
                        .parameters(param(
                            ProcessorParameterName::LambdaNumberOfRetries,
                            PROCESSOR_RETRIES,
                        )?)
                        .parameters(param(
                            ProcessorParameterName::BufferSizeInMb,
                            PROCESSOR_BUFFER_MIB,
                        )?)
                        .parameters(param(
                            ProcessorParameterName::BufferIntervalInSeconds,
                            PROCESSOR_BUFFER_SECS,
                        )?)
                        .build()?,
                )
                .build()
        }
        None => ProcessingConfiguration::builder().enabled(false).build(),
    };
    let conversion = match &p.conversion {
        Some(c) => DataFormatConversionConfiguration::builder()
            .enabled(true)
            .schema_configuration(
                SchemaConfiguration::builder()
                    .database_name(&c.database)
                    .table_name(&c.table)
                    .region(&c.region)
                    .role_arn(&c.role_arn)
                    .version_id("LATEST")
                    .build(),
            )
            .input_format_configuration(
                InputFormatConfiguration::builder()
                    .deserializer(
                        Deserializer::builder()
                            .hive_json_ser_de(
                                HiveJsonSerDe::builder()
                                    .set_timestamp_formats(Some(c.timestamp_formats.clone()))
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .output_format_configuration(
                OutputFormatConfiguration::builder()
                    .serializer(
                        Serializer::builder()
                            .parquet_ser_de(
                                ParquetSerDe::builder()
                                    .compression(ParquetCompression::from(c.compression.as_str()))
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build(),
        None => DataFormatConversionConfiguration::builder()
            .enabled(false)
            .build(),
    };
    Ok(Parts {
        buffering: BufferingHints::builder()
            .interval_in_seconds(p.buffer_interval_secs)
            .size_in_mbs(p.buffer_size_mib)
            .build(),
        processing,
        partitioning: DynamicPartitioningConfiguration::builder()
            .enabled(p.processor_arn.is_some())
            .retry_options(
                RetryOptions::builder()
                    .duration_in_seconds(p.partition_retry_secs)
                    .build(),
            )
            .build(),
        conversion,
    })
}

impl FirehoseDeliveryStream {
    async fn wait_active(&self, cx: &Cx, name: &str) -> Result<(), ProvisionError> {
        let f = &clients(cx)?.firehose;
        wait_until(name, "ACTIVE", FIREHOSE_ACTIVE_TIMEOUT, || async {
            let out = f
                .describe_delivery_stream()
                .delivery_stream_name(name)
                .send()
                .await
                .map_err(aws_err("read Firehose delivery stream", name))?;
            let status = out
                .delivery_stream_description()
                .map(|d| d.delivery_stream_status().clone());
            if status == Some(DeliveryStreamStatus::CreatingFailed) {
                return Err(ProvisionError::invalid(
                    name,
                    "Firehose reports CREATING_FAILED (see its failure description)",
                ));
            }
            Ok(status == Some(DeliveryStreamStatus::Active))
        })
        .await
    }

    async fn wait_gone(&self, cx: &Cx, name: &str) -> Result<(), ProvisionError> {
        let f = &clients(cx)?.firehose;
        wait_until(name, "deleted", FIREHOSE_DELETE_TIMEOUT, || async {
            Ok(absent_if(
                f.describe_delivery_stream()
                    .delivery_stream_name(name)
                    .send()
                    .await
                    .map_err(aws_err("read Firehose delivery stream", name)),
                NOT_FOUND,
            )?
            .is_none())
        })
        .await
    }
}

#[async_trait]
impl ResourceKind for FirehoseDeliveryStream {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn label(&self) -> &'static str {
        "Firehose delivery stream"
    }

    async fn read(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Option<Observed>, ProvisionError> {
        let f = &clients(cx)?.firehose;
        let name = &spec.physical_name;
        let out = absent_if(
            f.describe_delivery_stream()
                .delivery_stream_name(name)
                .send()
                .await
                .map_err(aws_err("read Firehose delivery stream", name)),
            NOT_FOUND,
        )?;
        let Some(d) = out.as_ref().and_then(|o| o.delivery_stream_description()) else {
            return Ok(None);
        };
        if d.delivery_stream_status() == &DeliveryStreamStatus::Deleting {
            return Ok(None);
        }
        let source = d
            .source()
            .and_then(|s| s.kinesis_stream_source_description());
        let dest = d.destinations().first();
        let s3 = dest.and_then(|x| x.extended_s3_destination_description());
        let processor_arn = s3
            .and_then(|s| s.processing_configuration())
            .filter(|p| p.enabled() == Some(true))
            .and_then(|p| {
                p.processors()
                    .iter()
                    .filter(|x| x.r#type() == &ProcessorType::Lambda)
                    .flat_map(|x| x.parameters())
                    .find(|x| x.parameter_name() == &ProcessorParameterName::LambdaArn)
                    .map(|x| x.parameter_value().to_owned())
            });
        let conversion = s3
            .and_then(|s| s.data_format_conversion_configuration())
            .filter(|c| c.enabled() != Some(false))
            .map(|c| {
                let schema = c.schema_configuration();
                ParquetConversion {
                    database: schema
                        .and_then(|s| s.database_name())
                        .unwrap_or_default()
                        .to_owned(),
                    table: schema
                        .and_then(|s| s.table_name())
                        .unwrap_or_default()
                        .to_owned(),
                    region: schema
                        .and_then(|s| s.region())
                        .unwrap_or_default()
                        .to_owned(),
                    role_arn: schema
                        .and_then(|s| s.role_arn())
                        .unwrap_or_default()
                        .to_owned(),
                    timestamp_formats: c
                        .input_format_configuration()
                        .and_then(|i| i.deserializer())
                        .and_then(|d| d.hive_json_ser_de())
                        .map(|h| h.timestamp_formats().to_vec())
                        .unwrap_or_default(),
                    compression: c
                        .output_format_configuration()
                        .and_then(|o| o.serializer())
                        .and_then(|s| s.parquet_ser_de())
                        .and_then(|p| p.compression())
                        .map_or("SNAPPY", ParquetCompression::as_str)
                        .to_owned(),
                }
            });
        let tags = f
            .list_tags_for_delivery_stream()
            .delivery_stream_name(name)
            .send()
            .await
            .map_err(aws_err("read the tags of Firehose delivery stream", name))?;
        let hints = s3.and_then(|s| s.buffering_hints());
        let seen = DeliveryStreamProps {
            source_stream_arn: source
                .and_then(|s| s.kinesis_stream_arn())
                .unwrap_or_default()
                .to_owned(),
            source_role_arn: source
                .and_then(|s| s.role_arn())
                .unwrap_or_default()
                .to_owned(),
            role_arn: s3.map(|s| s.role_arn()).unwrap_or_default().to_owned(),
            bucket_arn: s3.map(|s| s.bucket_arn()).unwrap_or_default().to_owned(),
            prefix: s3.and_then(|s| s.prefix()).unwrap_or_default().to_owned(),
            error_prefix: s3
                .and_then(|s| s.error_output_prefix())
                .unwrap_or_default()
                .to_owned(),
            buffer_interval_secs: hints.and_then(|h| h.interval_in_seconds()).unwrap_or(300),
            buffer_size_mib: hints.and_then(|h| h.size_in_mbs()).unwrap_or(5),
            compression: s3
                .map_or("UNCOMPRESSED", |s| s.compression_format().as_str())
                .to_owned(),
            partition_retry_secs: s3
                .and_then(|s| s.dynamic_partitioning_configuration())
                .and_then(|p| p.retry_options())
                .and_then(|r| r.duration_in_seconds())
                .unwrap_or(300),
            processor_arn,
            conversion,
            tags: comparable_tags(
                tags.tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned())),
            ),
        };
        Ok(Some(Observed {
            physical_name: name.clone(),
            fields: to_fields(&seen).map_err(anyhow::Error::from)?,
            outputs: Outputs::from([
                (OUT_NAME.to_owned(), name.clone()),
                (OUT_ARN.to_owned(), d.delivery_stream_arn().to_owned()),
                ("version_id".to_owned(), d.version_id().to_owned()),
                (
                    "destination_id".to_owned(),
                    dest.map(|x| x.destination_id().to_owned())
                        .unwrap_or_default(),
                ),
            ]),
        }))
    }

    /// The source cannot change, and dynamic partitioning cannot be turned off once on: both
    /// mean a new delivery stream. (A stream partitioned by the JQ query of earlier versions
    /// reads back without a processor; moving it to the Lambda processor is an update.)
    fn diff(&self, spec: &ResourceSpec, seen: &Observed) -> Change {
        let turns_off_partitioning = seen
            .fields
            .get("processor_arn")
            .is_some_and(|v| !v.is_null())
            && spec
                .fields
                .get("processor_arn")
                .is_none_or(serde_json::Value::is_null);
        if turns_off_partitioning {
            return Change::Replace {
                field: "processor_arn".to_owned(),
            };
        }
        diff_fields(
            &spec.fields,
            &seen.fields,
            &["source_stream_arn", "source_role_arn"],
        )
    }

    async fn create(&self, cx: &Cx, spec: &ResourceSpec) -> Result<Outputs, ProvisionError> {
        let p: DeliveryStreamProps = from_fields(spec)?;
        let f = &clients(cx)?.firehose;
        let name = &spec.physical_name;
        self.wait_gone(cx, name).await?;
        let tags = p
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()?;
        retry_transient(IAM_PROPAGATION_TIMEOUT, is_role_propagation, || async {
            let x = parts(&p)?;
            // Boxed: the request future of this large input is too big for the stack.
            let req = f
                .create_delivery_stream()
                .delivery_stream_name(name)
                .delivery_stream_type(DeliveryStreamType::KinesisStreamAsSource)
                .kinesis_stream_source_configuration(
                    KinesisStreamSourceConfiguration::builder()
                        .kinesis_stream_arn(&p.source_stream_arn)
                        .role_arn(&p.source_role_arn)
                        .build()?,
                )
                .extended_s3_destination_configuration(
                    ExtendedS3DestinationConfiguration::builder()
                        .role_arn(&p.role_arn)
                        .bucket_arn(&p.bucket_arn)
                        .prefix(&p.prefix)
                        .error_output_prefix(&p.error_prefix)
                        .buffering_hints(x.buffering)
                        .compression_format(CompressionFormat::from(p.compression.as_str()))
                        .processing_configuration(x.processing)
                        .dynamic_partitioning_configuration(x.partitioning)
                        .data_format_conversion_configuration(x.conversion)
                        .build()?,
                )
                .set_tags(Some(tags.clone()));
            Box::pin(req.send())
                .await
                .map(|_| ())
                .map_err(aws_err("create Firehose delivery stream", name))
        })
        .await?;
        self.wait_active(cx, name).await?;
        reread(self, cx, spec).await
    }

    async fn update(
        &self,
        cx: &Cx,
        spec: &ResourceSpec,
        seen: &Observed,
        change: &Change,
    ) -> Result<Outputs, ProvisionError> {
        let p: DeliveryStreamProps = from_fields(spec)?;
        let f = &clients(cx)?.firehose;
        let name = &spec.physical_name;
        let destination_changed = [
            "role_arn",
            "bucket_arn",
            "prefix",
            "error_prefix",
            "buffer_interval_secs",
            "buffer_size_mib",
            "compression",
            "processor_arn",
            "partition_retry_secs",
            "conversion",
        ]
        .iter()
        .any(|field| changes_field(change, field));
        if destination_changed {
            let x = parts(&p)?;
            let version = seen.outputs.get("version_id").cloned().unwrap_or_default();
            let destination = seen
                .outputs
                .get("destination_id")
                .cloned()
                .unwrap_or_default();
            retry_transient(IAM_PROPAGATION_TIMEOUT, is_role_propagation, || async {
                let req = f
                    .update_destination()
                    .delivery_stream_name(name)
                    .current_delivery_stream_version_id(&version)
                    .destination_id(&destination)
                    .extended_s3_destination_update(
                        ExtendedS3DestinationUpdate::builder()
                            .role_arn(&p.role_arn)
                            .bucket_arn(&p.bucket_arn)
                            .prefix(&p.prefix)
                            .error_output_prefix(&p.error_prefix)
                            .buffering_hints(x.buffering.clone())
                            .compression_format(CompressionFormat::from(p.compression.as_str()))
                            .processing_configuration(x.processing.clone())
                            .dynamic_partitioning_configuration(x.partitioning.clone())
                            .data_format_conversion_configuration(x.conversion.clone())
                            .build(),
                    );
                Box::pin(req.send())
                    .await
                    .map(|_| ())
                    .map_err(aws_err("update Firehose delivery stream", name))
            })
            .await?;
            self.wait_active(cx, name).await?;
        }
        if changes_field(change, "tags") {
            let (add, remove) = tag_changes(&p.tags, &seen_tags(seen));
            if !remove.is_empty() {
                f.untag_delivery_stream()
                    .delivery_stream_name(name)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map_err(aws_err("untag Firehose delivery stream", name))?;
            }
            if !add.is_empty() {
                let tags = add
                    .into_iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<Vec<_>, _>>()?;
                f.tag_delivery_stream()
                    .delivery_stream_name(name)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(aws_err("tag Firehose delivery stream", name))?;
            }
        }
        reread(self, cx, spec).await
    }

    async fn delete(&self, cx: &Cx, seen: &Observed) -> Result<(), ProvisionError> {
        let name = &seen.physical_name;
        gone_if(
            clients(cx)?
                .firehose
                .delete_delivery_stream()
                .delivery_stream_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(aws_err("delete Firehose delivery stream", name)),
            NOT_FOUND,
        )?;
        self.wait_gone(cx, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::resource::fixtures;

    fn props() -> DeliveryStreamProps {
        DeliveryStreamProps {
            source_stream_arn: "arn:aws:kinesis:us-east-1:1:stream/s".into(),
            source_role_arn: "arn:aws:iam::1:role/f".into(),
            role_arn: "arn:aws:iam::1:role/f".into(),
            bucket_arn: "arn:aws:s3:::lake".into(),
            prefix: "lake/clickstream/dt=!{partitionKeyFromLambda:dt}/".into(),
            error_prefix: "raw/firehose-errors/!{firehose:error-output-type}/".into(),
            buffer_interval_secs: 300,
            buffer_size_mib: 64,
            compression: "UNCOMPRESSED".into(),
            processor_arn: Some("arn:aws:lambda:us-east-1:1:function:t".into()),
            partition_retry_secs: 300,
            conversion: Some(ParquetConversion {
                database: "lake".into(),
                table: "clickstream".into(),
                region: "us-east-1".into(),
                role_arn: "arn:aws:iam::1:role/f".into(),
                timestamp_formats: vec!["yyyy-MM-dd'T'HH:mm:ssZZ".into()],
                compression: "SNAPPY".into(),
            }),
            tags: BTreeMap::new(),
        }
    }

    fn spec(p: &DeliveryStreamProps) -> ResourceSpec {
        fixtures::declared(
            "aws::aws:firehose:delivery-stream::clickstream-to-lake",
            KIND,
            "d",
            p,
        )
    }

    fn seen(p: &DeliveryStreamProps) -> Observed {
        fixtures::observed("d", p)
    }

    #[test]
    fn delivery_stream_diff_updates_buffering_in_place() {
        let mut drifted = props();
        drifted.buffer_interval_secs = 60;
        assert_eq!(
            FirehoseDeliveryStream.diff(&spec(&props()), &seen(&props())),
            Change::Same
        );
        let Change::Update { fields } =
            FirehoseDeliveryStream.diff(&spec(&props()), &seen(&drifted))
        else {
            panic!("expected an update")
        };
        assert_eq!(fields[0].field, "buffer_interval_secs");
    }

    #[test]
    fn delivery_stream_diff_replaces_on_a_new_source_or_partitioning_turned_off() {
        let mut other_source = props();
        other_source.source_stream_arn = "arn:aws:kinesis:us-east-1:1:stream/t".into();
        assert_eq!(
            FirehoseDeliveryStream.diff(&spec(&other_source), &seen(&props())),
            Change::Replace {
                field: "source_stream_arn".into()
            }
        );
        let mut unpartitioned = props();
        unpartitioned.processor_arn = None;
        assert_eq!(
            FirehoseDeliveryStream.diff(&spec(&unpartitioned), &seen(&props())),
            Change::Replace {
                field: "processor_arn".into()
            }
        );
    }
}
