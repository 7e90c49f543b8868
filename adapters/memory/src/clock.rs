//! A clock that moves only when told: simulated days run in milliseconds.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use fashion_domain::ports::Clock;

use crate::lock;

/// A settable clock.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `start`.
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `t` (backwards too, for tests of clock skew).
    pub fn set(&self, t: DateTime<Utc>) {
        *lock(&self.now) = t;
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut now = lock(&self.now);
        *now = now.checked_add_signed(d).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}
