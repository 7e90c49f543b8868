//! Translation of AWS SDK errors into the ports' errors, at the boundary: throttling, timeouts,
//! connection failures and 5xx become `Unavailable` (retryable), missing resources `NotFound`,
//! refused requests `Rejected`/`Query`, and the rest `Unexpected` with context.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use fashion_domain::ports::{LakeError, StoreError, StreamError};

use crate::retry;

/// What kind of failure an SDK error is, as far as the caller is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Throttled, timed out, connection lost or a server fault: the same call may succeed later.
    Retryable,
    /// The stream, shard, table, bucket or key does not exist.
    NotFound,
    /// The service refused the request itself (validation, limits, access).
    Rejected,
    /// Anything else (a request that could not be built, an unparsable response).
    Other,
}

/// An SDK error reduced to what the adapters need: its class, its code and a full message.
#[derive(Debug, Clone)]
pub(crate) struct AwsFailure {
    pub class: Class,
    pub code: Option<String>,
    pub message: String,
}

impl AwsFailure {
    /// Classifies an SDK error.
    pub(crate) fn of<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let code = err.code().map(str::to_owned);
        // A service error reads best as its code and message; the full context (which prints
        // the raw response) is kept for failures that have no code.
        let message = match (err, code.as_deref()) {
            (SdkError::ServiceError(s), Some(c)) => format!(
                "{c}: {} (HTTP {})",
                err.message().unwrap_or("no message"),
                s.raw().status().as_u16()
            ),
            _ => DisplayErrorContext(err).to_string(),
        };
        let class = match err {
            SdkError::TimeoutError(_) => Class::Retryable,
            SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Class::Retryable,
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => Class::Other,
            SdkError::ResponseError(r) => {
                if r.raw().status().is_server_error() {
                    Class::Retryable
                } else {
                    Class::Other
                }
            }
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                classify_code(code.as_deref(), Some(status))
            }
            _ => Class::Other,
        };
        Self {
            class,
            code,
            message,
        }
    }

    /// True for an error of exactly this code.
    pub(crate) fn is_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// As a store error; `what` names the operation ("write recommendations to table t").
    pub(crate) fn into_store(self, what: &str) -> StoreError {
        match self.class {
            Class::Retryable => StoreError::Unavailable {
                message: format!("{what}: {}", self.message),
            },
            Class::NotFound => StoreError::NotFound {
                what: format!("{what}: {}", self.message),
            },
            Class::Rejected | Class::Other => StoreError::Unexpected(
                anyhow::anyhow!(self.message).context(format!("failed to {what}")),
            ),
        }
    }

    /// As a stream error.
    pub(crate) fn into_stream(self, what: &str) -> StreamError {
        match self.class {
            Class::Retryable => StreamError::Unavailable {
                message: format!("{what}: {}", self.message),
            },
            Class::NotFound => StreamError::NotFound {
                what: format!("{what}: {}", self.message),
            },
            Class::Rejected => StreamError::Rejected {
                message: format!("{what}: {}", self.message),
            },
            Class::Other => StreamError::Unexpected(
                anyhow::anyhow!(self.message).context(format!("failed to {what}")),
            ),
        }
    }

    /// As a lake error.
    pub(crate) fn into_lake(self, what: &str) -> LakeError {
        match self.class {
            Class::Retryable => LakeError::Unavailable {
                message: format!("{what}: {}", self.message),
            },
            Class::NotFound => LakeError::NotFound {
                what: format!("{what}: {}", self.message),
            },
            Class::Rejected | Class::Other => LakeError::Unexpected(
                anyhow::anyhow!(self.message).context(format!("failed to {what}")),
            ),
        }
    }
}

/// The class of a service error from its code and HTTP status.
pub(crate) fn classify_code(code: Option<&str>, status: Option<u16>) -> Class {
    if retry::is_retryable(code, status) {
        Class::Retryable
    } else if code.is_some_and(|c| retry::NOT_FOUND_CODES.contains(&c)) || status == Some(404) {
        Class::NotFound
    } else if status.is_some_and(|s| (400..500).contains(&s)) {
        Class::Rejected
    } else {
        Class::Other
    }
}

/// Shorthand: an SDK error as a store error.
pub(crate) fn store_err<E>(err: &SdkError<E, HttpResponse>, what: &str) -> StoreError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    AwsFailure::of(err).into_store(what)
}

/// Shorthand: an SDK error as a stream error.
pub(crate) fn stream_err<E>(err: &SdkError<E, HttpResponse>, what: &str) -> StreamError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    AwsFailure::of(err).into_stream(what)
}

/// Shorthand: an SDK error as a lake error.
pub(crate) fn lake_err<E>(err: &SdkError<E, HttpResponse>, what: &str) -> LakeError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    AwsFailure::of(err).into_lake(what)
}

/// A value the service returned that the adapter cannot decode, as a store error.
pub(crate) fn corrupt(what: impl Into<String>, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_map_to_the_classes_callers_act_on() {
        assert_eq!(
            classify_code(Some("ProvisionedThroughputExceededException"), Some(400)),
            Class::Retryable
        );
        assert_eq!(classify_code(None, Some(503)), Class::Retryable);
        assert_eq!(
            classify_code(Some("ResourceNotFoundException"), Some(400)),
            Class::NotFound
        );
        assert_eq!(classify_code(Some("NoSuchKey"), Some(404)), Class::NotFound);
        assert_eq!(
            classify_code(Some("ValidationException"), Some(400)),
            Class::Rejected
        );
        assert_eq!(classify_code(Some("Weird"), Some(302)), Class::Other);
    }
}
