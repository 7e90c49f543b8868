//! Direct ingestion into a Firehose delivery stream with `PutRecordBatch`: split to the service's
//! limits, only the records a partial failure refused are re-sent.

use async_trait::async_trait;
use aws_sdk_firehose::Client;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use fashion_domain::ports::{ClickstreamPublisher, PublishReport, StreamError};
use fashion_domain::stream::OutboundRecord;

use crate::batch::{BatchOutcome, EntryError, plan_batches, send_with_partial_retry};
use crate::error::stream_err;
use crate::kinesis::into_report;
use crate::retry::Backoff;

/// Most records in one `PutRecordBatch` call.
pub const MAX_RECORDS_PER_BATCH: usize = 500;
/// Most bytes in one `PutRecordBatch` call: 4 MiB.
pub const MAX_BYTES_PER_BATCH: usize = 4 * 1024 * 1024;
/// Most bytes of one record: 1,000 KiB.
pub const MAX_BYTES_PER_RECORD: usize = 1000 * 1024;

/// Publishes click events straight into a Firehose delivery stream (source `DirectPut`), which
/// buffers them into the lake. Firehose has no partition keys: they are ignored. Each record is
/// sent newline-terminated so that the delivered objects are JSON lines.
#[derive(Clone, Debug)]
pub struct FirehoseClickstreamPublisher {
    client: Client,
    delivery_stream: String,
    backoff: Backoff,
}

impl FirehoseClickstreamPublisher {
    /// The delivery stream named `delivery_stream`; partial failures are retried with `backoff`.
    #[must_use]
    pub fn new(client: Client, delivery_stream: &str, backoff: Backoff) -> Self {
        Self {
            client,
            delivery_stream: delivery_stream.to_owned(),
            backoff,
        }
    }

    async fn put_batch(
        &self,
        records: &[Vec<u8>],
        idx: Vec<usize>,
    ) -> Result<Vec<Option<EntryError>>, StreamError> {
        let entries = idx
            .iter()
            .map(|&i| {
                let record = crate::batch::record_at(records, i)?;
                Record::builder()
                    .data(Blob::new(record.clone()))
                    .build()
                    .map_err(|e| {
                        StreamError::Unexpected(
                            anyhow::Error::new(e).context("failed to build PutRecordBatch entries"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .put_record_batch()
            .delivery_stream_name(&self.delivery_stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| {
                stream_err(
                    &e,
                    &format!("put records on Firehose stream {}", self.delivery_stream),
                )
            })?;
        if out.request_responses().len() != idx.len() {
            return Err(StreamError::Unexpected(anyhow::anyhow!(
                "PutRecordBatch on {} answered {} results for {} records",
                self.delivery_stream,
                out.request_responses().len(),
                idx.len()
            )));
        }
        Ok(out
            .request_responses()
            .iter()
            .map(|r| {
                r.error_code().map(|code| EntryError {
                    code: code.to_owned(),
                    message: r.error_message().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }
}

/// The bytes sent for a record: its data, newline-terminated.
fn framed(r: &OutboundRecord) -> Vec<u8> {
    let mut data = r.data.clone();
    if data.last() != Some(&b'\n') {
        data.push(b'\n');
    }
    data
}

#[async_trait]
impl ClickstreamPublisher for FirehoseClickstreamPublisher {
    #[tracing::instrument(skip_all, fields(delivery_stream = %self.delivery_stream, records = records.len()), err)]
    async fn publish(&self, records: &[OutboundRecord]) -> Result<PublishReport, StreamError> {
        let data: Vec<Vec<u8>> = records.iter().map(framed).collect();
        if let Some((i, d)) = data
            .iter()
            .enumerate()
            .find(|(_, d)| d.len() > MAX_BYTES_PER_RECORD)
        {
            return Err(StreamError::Rejected {
                message: format!(
                    "record {i}: {} bytes, over the {MAX_BYTES_PER_RECORD}-byte limit",
                    d.len()
                ),
            });
        }
        let mut outcomes = Vec::new();
        let mut stop = false;
        for batch in plan_batches(&data, MAX_RECORDS_PER_BATCH, MAX_BYTES_PER_BATCH, Vec::len) {
            if stop {
                outcomes.push(BatchOutcome {
                    accepted: 0,
                    failed: Vec::new(),
                    error: Some((
                        StreamError::Unavailable {
                            message: "not sent: an earlier PutRecordBatch call failed".into(),
                        },
                        batch,
                    )),
                });
                continue;
            }
            let outcome =
                send_with_partial_retry(&self.backoff, batch, |idx| self.put_batch(&data, idx))
                    .await;
            stop = outcome.error.is_some();
            outcomes.push(outcome);
        }
        let report = into_report(records.len(), outcomes)?;
        if !report.failed.is_empty() {
            tracing::warn!(
                accepted = report.accepted,
                failed = report.failed.len(),
                "Some records were not accepted by Firehose."
            );
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_sent_newline_terminated_once() {
        let r = |d: &str| OutboundRecord {
            partition_key: "k".into(),
            data: d.as_bytes().to_vec(),
        };
        assert_eq!(framed(&r("{}")), b"{}\n");
        assert_eq!(framed(&r("{}\n")), b"{}\n");
    }
}
