//! Sending a batch to a service that may accept part of it (Kinesis `PutRecords`, Firehose
//! `PutRecordBatch`): the batch is split to the service's limits, and only the entries it refused
//! are re-sent, with backoff, until they are stored or the attempts run out.

use std::future::Future;

use fashion_domain::ports::StreamError;

use crate::retry::{self, Backoff};

/// One entry a service refused in an otherwise successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryError {
    pub code: String,
    pub message: String,
}

impl EntryError {
    /// True when re-sending the entry may succeed (throttling, an internal failure).
    pub(crate) fn is_retryable(&self) -> bool {
        retry::is_retryable(Some(&self.code), None)
    }

    /// The reason reported to the caller.
    pub(crate) fn reason(&self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

/// What became of one batch.
#[derive(Debug)]
pub(crate) struct BatchOutcome<E> {
    /// Entries stored.
    pub accepted: usize,
    /// Entries refused for good (not retryable, or out of attempts), by index in the request.
    pub failed: Vec<(usize, EntryError)>,
    /// A whole call failed (after the SDK's own retries): the entries of `unsent` were not stored.
    pub error: Option<(E, Vec<usize>)>,
}

/// Sends `batch` (indices into the caller's records) with `send`, which returns one result per
/// entry in order (`None` = stored). Entries refused with a retryable code are re-sent alone, after
/// a backoff, up to `backoff.max_attempts` sends in all; entries already stored are never re-sent.
pub(crate) async fn send_with_partial_retry<E, F, Fut>(
    backoff: &Backoff,
    batch: Vec<usize>,
    mut send: F,
) -> BatchOutcome<E>
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: Future<Output = Result<Vec<Option<EntryError>>, E>>,
{
    let mut outcome = BatchOutcome {
        accepted: 0,
        failed: Vec::new(),
        error: None,
    };
    let mut pending = batch;
    let mut attempt: u32 = 1;
    while !pending.is_empty() {
        let results = match send(pending.clone()).await {
            Ok(r) => r,
            Err(e) => {
                outcome.error = Some((e, pending));
                return outcome;
            }
        };
        let mut again = Vec::new();
        for (idx, result) in pending.iter().copied().zip(results) {
            match result {
                // At most one per record of the batch, so this never saturates.
                None => outcome.accepted = outcome.accepted.saturating_add(1),
                Some(err) if err.is_retryable() && attempt < backoff.max_attempts => {
                    again.push(idx);
                }
                Some(err) => outcome.failed.push((idx, err)),
            }
        }
        if !again.is_empty() {
            tracing::debug!(
                retrying = again.len(),
                attempt,
                "Re-sending only the entries the service refused."
            );
            tokio::time::sleep(backoff.delay(attempt)).await;
            // Retries happen only while `attempt < max_attempts`: never saturates.
            attempt = attempt.saturating_add(1);
        }
        pending = again;
    }
    outcome
}

/// The record at `i`, which [`plan_batches`] and [`send_with_partial_retry`] only ever take from
/// `0..records.len()`; an index outside is a bug reported as an error rather than a panic.
pub(crate) fn record_at<T>(records: &[T], i: usize) -> Result<&T, StreamError> {
    records.get(i).ok_or_else(|| {
        StreamError::Unexpected(anyhow::anyhow!(
            "record index {i} is outside the batch of {} records",
            records.len()
        ))
    })
}

/// Splits records into consecutive batches of at most `max_count` records and `max_bytes` bytes
/// (as measured by `size`), keeping their order. Every record must fit alone.
pub(crate) fn plan_batches<T>(
    records: &[T],
    max_count: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0usize;
    for (i, r) in records.iter().enumerate() {
        let s = size(r);
        // A saturated sum is over every limit, which is what it means.
        if !current.is_empty()
            && (current.len() == max_count || bytes.saturating_add(s) > max_bytes)
        {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes = bytes.saturating_add(s);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use super::*;

    fn quick() -> Backoff {
        Backoff {
            max_attempts: 4,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        }
    }

    fn throttled() -> EntryError {
        EntryError {
            code: "ProvisionedThroughputExceededException".into(),
            message: "slow down".into(),
        }
    }

    #[test]
    fn batches_respect_count_and_byte_limits_and_keep_order() {
        let sizes = [4, 4, 4, 9, 1, 1, 1, 1];
        let batches = plan_batches(&sizes, 3, 10, |s| *s);
        assert_eq!(
            batches,
            vec![vec![0, 1], vec![2], vec![3, 4], vec![5, 6, 7]]
        );
        assert!(plan_batches::<u8>(&[], 3, 10, |_| 1).is_empty());
    }

    #[tokio::test]
    async fn only_refused_entries_are_resent_until_stored() {
        let sent = RefCell::new(Vec::new());
        let outcome = send_with_partial_retry::<(), _, _>(&quick(), vec![0, 1, 2, 3], |idx| {
            sent.borrow_mut().push(idx.clone());
            let first = sent.borrow().len() == 1;
            async move {
                Ok(idx
                    .iter()
                    .map(|i| (first && i % 2 == 1).then(throttled))
                    .collect())
            }
        })
        .await;
        assert_eq!(outcome.accepted, 4);
        assert!(outcome.failed.is_empty());
        assert_eq!(sent.into_inner(), vec![vec![0, 1, 2, 3], vec![1, 3]]);
    }

    #[tokio::test]
    async fn non_retryable_refusals_are_reported_without_a_resend_and_attempts_are_bounded() {
        let calls = RefCell::new(0);
        let outcome = send_with_partial_retry::<(), _, _>(&quick(), vec![0, 1], |idx| {
            *calls.borrow_mut() += 1;
            async move {
                Ok(idx
                    .iter()
                    .map(|i| {
                        Some(if *i == 0 {
                            EntryError {
                                code: "KMSAccessDeniedException".into(),
                                message: "no".into(),
                            }
                        } else {
                            throttled()
                        })
                    })
                    .collect())
            }
        })
        .await;
        assert_eq!(outcome.accepted, 0);
        assert_eq!(*calls.borrow(), 4, "record 1 is tried max_attempts times");
        let mut failed: Vec<usize> = outcome.failed.iter().map(|(i, _)| *i).collect();
        failed.sort_unstable();
        assert_eq!(failed, vec![0, 1]);
    }

    #[tokio::test]
    async fn a_failed_call_reports_what_was_not_sent() {
        let outcome =
            send_with_partial_retry(&quick(), vec![5, 6], |_| async { Err::<Vec<_>, _>("down") })
                .await;
        assert_eq!(outcome.accepted, 0);
        assert_eq!(outcome.error, Some(("down", vec![5, 6])));
    }
}
