//! Port: the current time, so services can run on a simulated clock.

use chrono::{DateTime, Utc};

/// A source of "now".
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[auto_impl::auto_impl(Arc)]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
