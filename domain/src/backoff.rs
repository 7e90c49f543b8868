//! The one backoff: how long to wait before retry number `n`, growing exponentially with
//! jitter. Callers sleep with their own runtime.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// Exponential backoff with jitter. The AWS adapters wait with it between their own retries
/// (partial failures of `PutRecords`/`PutRecordBatch`, unprocessed items of DynamoDB batch
/// calls; whole calls are retried by the SDK, so the two never multiply), provisioning between
/// polls of a resource's state, the command line between idle passes of a following loop.
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
}
