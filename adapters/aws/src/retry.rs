//! Classification of AWS error codes (throttling, timeouts and server faults are worth retrying;
//! validation and access errors are not) and the backoff the adapters wait with between retries of
//! the parts of a batch a service did not process.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// Error codes AWS services return when a request was throttled or the service is busy.
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "EC2ThrottledException",
    "PriorRequestNotComplete",
    "KMSThrottlingException",
];

/// Error codes of transient server-side faults.
pub const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// True when an error with this code (and HTTP status, when known) may succeed if retried.
#[must_use]
pub fn is_retryable(code: Option<&str>, http_status: Option<u16>) -> bool {
    if let Some(c) = code
        && (THROTTLING_CODES.contains(&c) || TRANSIENT_CODES.contains(&c))
    {
        return true;
    }
    matches!(http_status, Some(429 | 500..=599))
}

/// Error codes meaning the named resource (stream, shard, table, bucket, key, database) does not
/// exist.
pub const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "EntityNotFoundException",
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "NoSuchEntity",
];

/// Exponential backoff with jitter for the adapters' own retries: partial failures of
/// `PutRecords`/`PutRecordBatch` and unprocessed items of DynamoDB batch calls. Whole calls that
/// fail with a retryable error are retried by the SDK's standard retry strategy instead, so the two
/// never multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first one included (at least 1).
    pub max_attempts: u32,
    /// The delay ceiling before the first retry; doubles with every retry.
    pub base: Duration,
    /// Largest delay ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    /// Eight attempts from 50 ms, capped at 5 s: about 10 s of patience in the worst case.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before retry number `retry` (1 for the first retry): half of the exponential
    /// ceiling fixed, the other half random ("equal jitter"), so concurrent writers spread out but
    /// every wait still grows.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        // `exp` is at most 20, so the shift stays inside `u32`.
        let factor = 1u32.checked_shl(exp).unwrap_or(u32::MAX);
        let ceiling = self.base.saturating_mul(factor).min(self.cap);
        // The divisor is a non-zero constant.
        #[allow(clippy::arithmetic_side_effects)]
        let half = ceiling / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        // Uniform in `0..=nanos`; when that is every `u64`, any number will do.
        let jitter = match nanos.checked_add(1) {
            Some(span) => random_u64().checked_rem(span).unwrap_or(0),
            None => random_u64(),
        };
        // A delay that would overflow `Duration` waits as long as one can.
        half.saturating_add(Duration::from_nanos(jitter))
    }

    /// Sleeps for [`Backoff::delay`] of `retry`.
    pub async fn wait(&self, retry: u32) {
        tokio::time::sleep(self.delay(retry)).await;
    }
}

/// A random number for jitter, without a dependency: every `RandomState` is freshly keyed.
fn random_u64() -> u64 {
    RandomState::new().hash_one(std::time::Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_respects_the_cap() {
        let b = Backoff {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d9 = b.delay(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| b.delay(4)).collect();
        assert!(spread.len() > 1, "delays must be jittered");
    }

    #[test]
    fn throttling_timeouts_and_server_errors_are_retryable_validation_is_not() {
        assert!(is_retryable(
            Some("ProvisionedThroughputExceededException"),
            Some(400)
        ));
        assert!(is_retryable(None, Some(503)));
        assert!(is_retryable(Some("SlowDown"), None));
        assert!(!is_retryable(Some("ValidationException"), Some(400)));
        assert!(!is_retryable(Some("AccessDeniedException"), Some(403)));
        assert!(!is_retryable(None, None));
    }
}
