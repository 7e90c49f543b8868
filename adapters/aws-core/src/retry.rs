//! Classification of AWS error codes (throttling, timeouts and server faults are worth retrying;
//! validation and access errors are not), and the one backoff (the domain's) the adapters wait
//! with between retries of the parts of a batch a service did not process.

pub use fashion_domain::backoff::Backoff;

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

#[cfg(test)]
mod tests {
    use super::*;

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
