//! The clickstream on a Kinesis data stream: `PutRecords` for publishing (split to the service's
//! limits, retrying only the records a partial failure refused) and shard iterators with
//! `GetRecords` for reading.

use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use chrono::{DateTime, Utc};
use fashion_domain::ports::{ClickstreamPublisher, ClickstreamSource, PublishReport, StreamError};
use fashion_domain::stream::{OutboundRecord, SequenceNumber, ShardId, StreamRecord};

use crate::batch::{BatchOutcome, EntryError, plan_batches, send_with_partial_retry};
use crate::error::{AwsFailure, Class, stream_err};
use crate::retry::Backoff;

/// Most records in one `PutRecords` call.
pub const MAX_RECORDS_PER_PUT: usize = 500;
/// Most bytes (data plus partition keys) in one `PutRecords` call: 5 MiB.
pub const MAX_BYTES_PER_PUT: usize = 5 * 1024 * 1024;
/// Most bytes of one record (data plus partition key): 1 MiB.
pub const MAX_BYTES_PER_RECORD: usize = 1024 * 1024;
/// Longest partition key, in Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;
/// Most records one `GetRecords` call returns.
pub const MAX_RECORDS_PER_GET: usize = 10_000;
/// Empty `GetRecords` pages followed while the shard reports it is behind before giving up (AWS
/// returns empty pages while it skips over sparse parts of a shard).
const MAX_EMPTY_PAGES: usize = 1_000;

/// Publisher and source over one Kinesis data stream.
#[derive(Clone, Debug)]
pub struct KinesisClickstream {
    client: Client,
    stream: String,
    backoff: Backoff,
}

impl KinesisClickstream {
    /// The stream named `stream`, reached through `client`; partial failures are retried with
    /// `backoff`.
    #[must_use]
    pub fn new(client: Client, stream: &str, backoff: Backoff) -> Self {
        Self {
            client,
            stream: stream.to_owned(),
            backoff,
        }
    }

    /// The stream's name.
    #[must_use]
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// One `PutRecords` call for the records at `idx`; one result per record, in order.
    async fn put_records(
        &self,
        records: &[OutboundRecord],
        idx: Vec<usize>,
    ) -> Result<Vec<Option<EntryError>>, StreamError> {
        let entries = idx
            .iter()
            .map(|&i| {
                let record = crate::batch::record_at(records, i)?;
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(record.data.clone()))
                    .partition_key(&record.partition_key)
                    .build()
                    .map_err(|e| {
                        StreamError::Unexpected(
                            anyhow::Error::new(e).context("failed to build PutRecords entries"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .put_records()
            .stream_name(&self.stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| {
                stream_err(
                    &e,
                    &format!("put records on Kinesis stream {}", self.stream),
                )
            })?;
        if out.records().len() != idx.len() {
            return Err(StreamError::Unexpected(anyhow::anyhow!(
                "PutRecords on {} answered {} results for {} records",
                self.stream,
                out.records().len(),
                idx.len()
            )));
        }
        Ok(out
            .records()
            .iter()
            .map(|r| {
                r.error_code().map(|code| EntryError {
                    code: code.to_owned(),
                    message: r.error_message().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }

    fn not_found_or(&self, e: &AwsFailure, shard: &ShardId) -> StreamError {
        match e.class {
            Class::NotFound => StreamError::NotFound {
                what: format!(
                    "shard {shard} of Kinesis stream {}: {}",
                    self.stream, e.message
                ),
            },
            _ => e.clone().into_stream(&format!(
                "read shard {shard} of Kinesis stream {}",
                self.stream
            )),
        }
    }
}

/// Refuses records Kinesis can never accept, before anything is sent.
fn validate(records: &[OutboundRecord]) -> Result<(), StreamError> {
    for (i, r) in records.iter().enumerate() {
        let key_chars = r.partition_key.chars().count();
        if key_chars == 0 || key_chars > MAX_PARTITION_KEY_CHARS {
            return Err(StreamError::Rejected {
                message: format!(
                    "record {i}: a partition key must have 1 to {MAX_PARTITION_KEY_CHARS} characters, got {key_chars}"
                ),
            });
        }
        // A saturated size is over the limit, which is what it means.
        let size = r.data.len().saturating_add(r.partition_key.len());
        if size > MAX_BYTES_PER_RECORD {
            return Err(StreamError::Rejected {
                message: format!(
                    "record {i}: {size} bytes with its partition key, over the {MAX_BYTES_PER_RECORD}-byte limit"
                ),
            });
        }
    }
    Ok(())
}

/// Folds the outcomes of every batch into the port's answer: a report, or an error when nothing
/// at all was stored.
pub(crate) fn into_report(
    total: usize,
    outcomes: Vec<BatchOutcome<StreamError>>,
) -> Result<PublishReport, StreamError> {
    let mut report = PublishReport::default();
    let mut all_retryable = true;
    let mut first_error = None;
    for o in outcomes {
        // At most one per record published, all of them in memory: never saturates.
        report.accepted = report.accepted.saturating_add(o.accepted);
        for (i, e) in o.failed {
            all_retryable &= e.is_retryable();
            report.failed.push((i, e.reason()));
        }
        if let Some((e, unsent)) = o.error {
            all_retryable &= e.is_retryable();
            let reason = e.to_string();
            report
                .failed
                .extend(unsent.into_iter().map(|i| (i, reason.clone())));
            first_error.get_or_insert(e);
        }
    }
    report.failed.sort_by_key(|(i, _)| *i);
    if report.accepted == 0 && total > 0 {
        if let Some(e) = first_error {
            return Err(e);
        }
        if all_retryable {
            return Err(StreamError::Unavailable {
                message: format!(
                    "none of {total} records stored after retries: {}",
                    report
                        .failed
                        .first()
                        .map(|(_, r)| r.as_str())
                        .unwrap_or_default()
                ),
            });
        }
    }
    Ok(report)
}

#[async_trait]
impl ClickstreamPublisher for KinesisClickstream {
    #[tracing::instrument(skip_all, fields(stream = %self.stream, records = records.len()), err)]
    async fn publish(&self, records: &[OutboundRecord]) -> Result<PublishReport, StreamError> {
        validate(records)?;
        let mut outcomes = Vec::new();
        let mut stop = false;
        for batch in plan_batches(records, MAX_RECORDS_PER_PUT, MAX_BYTES_PER_PUT, |r| {
            r.data.len().saturating_add(r.partition_key.len())
        }) {
            if stop {
                // An earlier call failed for good: later records stay unsent, so that records of
                // one key are not stored after a gap, and the caller learns which ones to retry.
                outcomes.push(BatchOutcome {
                    accepted: 0,
                    failed: Vec::new(),
                    error: Some((
                        StreamError::Unavailable {
                            message: "not sent: an earlier PutRecords call failed".into(),
                        },
                        batch,
                    )),
                });
                continue;
            }
            let outcome =
                send_with_partial_retry(&self.backoff, batch, |idx| self.put_records(records, idx))
                    .await;
            stop = outcome.error.is_some();
            outcomes.push(outcome);
        }
        let report = into_report(records.len(), outcomes)?;
        if !report.failed.is_empty() {
            tracing::warn!(
                accepted = report.accepted,
                failed = report.failed.len(),
                "Some records were not stored on the stream."
            );
        }
        Ok(report)
    }
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

#[async_trait]
impl ClickstreamSource for KinesisClickstream {
    #[tracing::instrument(skip_all, fields(stream = %self.stream), err)]
    async fn shards(&self) -> Result<Vec<ShardId>, StreamError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // ListShards refuses the stream name together with a continuation token.
            let req = match &token {
                Some(t) => self.client.list_shards().next_token(t),
                None => self.client.list_shards().stream_name(&self.stream),
            };
            let out = req.send().await.map_err(|e| {
                stream_err(
                    &e,
                    &format!("list shards of Kinesis stream {}", self.stream),
                )
            })?;
            shards.extend(
                out.shards()
                    .iter()
                    .map(|s| ShardId(s.shard_id().to_owned())),
            );
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        shards.sort();
        Ok(shards)
    }

    #[tracing::instrument(skip_all, fields(stream = %self.stream, shard = %shard, limit = limit), err)]
    async fn read(
        &self,
        shard: &ShardId,
        after: Option<SequenceNumber>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StreamError> {
        let req = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(&shard.0);
        let req = match &after {
            Some(seq) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(&seq.0),
            None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = req
            .send()
            .await
            .map_err(|e| self.not_found_or(&AwsFailure::of(&e), shard))?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i32::try_from(limit.min(MAX_RECORDS_PER_GET)).unwrap_or(i32::MAX);
        let mut iterator = out.shard_iterator().map(str::to_owned);
        for _ in 0..MAX_EMPTY_PAGES {
            // No iterator: the shard is closed (resharded) and fully read.
            let Some(it) = iterator.take() else {
                return Ok(Vec::new());
            };
            let page = self
                .client
                .get_records()
                .shard_iterator(it)
                .limit(limit)
                .send()
                .await
                .map_err(|e| self.not_found_or(&AwsFailure::of(&e), shard))?;
            if !page.records().is_empty() {
                return Ok(page
                    .records()
                    .iter()
                    .map(|r| StreamRecord {
                        shard_id: shard.clone(),
                        sequence_number: SequenceNumber(r.sequence_number().to_owned()),
                        partition_key: r.partition_key().unwrap_or_default().to_owned(),
                        data: r.data().as_ref().to_vec(),
                        arrived_at: r
                            .approximate_arrival_timestamp()
                            .and_then(to_chrono)
                            .unwrap_or_else(Utc::now),
                    })
                    .collect());
            }
            if page.millis_behind_latest().unwrap_or(0) == 0 {
                return Ok(Vec::new());
            }
            iterator = page.next_shard_iterator().map(str::to_owned);
        }
        Err(StreamError::Unavailable {
            message: format!(
                "shard {shard} of {} still behind after {MAX_EMPTY_PAGES} empty pages",
                self.stream
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, len: usize) -> OutboundRecord {
        OutboundRecord {
            partition_key: key.into(),
            data: vec![b'x'; len],
        }
    }

    #[test]
    fn records_kinesis_can_never_take_are_rejected_before_sending() {
        assert!(validate(&[rec("k", 10)]).is_ok());
        assert!(matches!(
            validate(&[rec("k", 10), rec("", 1)]),
            Err(StreamError::Rejected { .. })
        ));
        assert!(matches!(
            validate(&[rec(&"k".repeat(257), 1)]),
            Err(StreamError::Rejected { .. })
        ));
        assert!(matches!(
            validate(&[rec("k", MAX_BYTES_PER_RECORD)]),
            Err(StreamError::Rejected { .. })
        ));
    }

    #[test]
    fn a_report_with_nothing_stored_and_only_throttling_is_unavailable() {
        let outcome = BatchOutcome {
            accepted: 0,
            failed: vec![(
                0,
                EntryError {
                    code: "ProvisionedThroughputExceededException".into(),
                    message: "Rate exceeded".into(),
                },
            )],
            error: None,
        };
        let err = into_report(1, vec![outcome]).expect_err("nothing stored");
        assert!(err.is_retryable());
    }

    #[test]
    fn a_report_with_some_records_stored_lists_the_rest_in_index_order() {
        let outcomes = vec![
            BatchOutcome {
                accepted: 2,
                failed: vec![(
                    1,
                    EntryError {
                        code: "InternalFailure".into(),
                        message: "oops".into(),
                    },
                )],
                error: None,
            },
            BatchOutcome {
                accepted: 0,
                failed: Vec::new(),
                error: Some((
                    StreamError::Unavailable {
                        message: "down".into(),
                    },
                    vec![3],
                )),
            },
        ];
        let report = into_report(4, outcomes).expect("some stored");
        assert_eq!(report.accepted, 2);
        assert_eq!(
            report.failed.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }
}
