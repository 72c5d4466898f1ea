//! Retry backoff: how long a failed job waits before it can be claimed again.

use chrono::TimeDelta;

use crate::{DomainError, JobId, error::invalid};

/// Exponential backoff with a cap and jitter.
///
/// The n-th retry waits `min(base * 2^(n-1), max_delay)`, less up to `jitter` of it. The jitter is
/// derived from the job's id and the retry number, so it spreads jobs that failed together, yet the
/// same job and retry always get the same delay (tests need no random source).
///
/// ```
/// use chrono::TimeDelta;
/// use jobstore_domain::{JobId, RetryPolicy};
///
/// let policy = RetryPolicy { base: TimeDelta::seconds(1), max_delay: TimeDelta::seconds(60), jitter: 0.0 };
/// let job = JobId::new("j1").unwrap();
/// assert_eq!(policy.delay(&job, 1), TimeDelta::seconds(1));
/// assert_eq!(policy.delay(&job, 3), TimeDelta::seconds(4));
/// assert_eq!(policy.delay(&job, 30), TimeDelta::seconds(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The delay before the first retry.
    pub base: TimeDelta,
    /// The longest delay.
    pub max_delay: TimeDelta,
    /// The share of the delay taken off at random, from 0.0 (none) to 1.0 (up to all of it).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 1 s doubling to at most 10 min, with half the delay as jitter.
    fn default() -> Self {
        Self {
            base: TimeDelta::seconds(1),
            max_delay: TimeDelta::minutes(10),
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// Retries at once.
    pub const IMMEDIATE: RetryPolicy = RetryPolicy {
        base: TimeDelta::zero(),
        max_delay: TimeDelta::zero(),
        jitter: 0.0,
    };

    /// Checks the policy's numbers, and that it is stored exactly: delays in whole
    /// milliseconds, jitter in millionths.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.base < TimeDelta::zero() || self.max_delay < self.base {
            return Err(invalid("retry_policy", "needs 0 <= base <= max_delay"));
        }
        if self.max_delay > TimeDelta::days(3660) {
            return Err(invalid(
                "retry_policy",
                "max_delay may be at most 3660 days",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(invalid("retry_policy", "jitter must be between 0 and 1"));
        }
        if self.base.subsec_nanos() % 1_000_000 != 0
            || self.max_delay.subsec_nanos() % 1_000_000 != 0
        {
            return Err(invalid(
                "retry_policy",
                "delays must be whole milliseconds (as stored)",
            ));
        }
        if in_millionths(self.jitter) != self.jitter {
            return Err(invalid(
                "retry_policy",
                "jitter must be a multiple of 0.000001 (as stored)",
            ));
        }
        Ok(())
    }

    /// The policy moved into the limits of [`RetryPolicy::validate`]: delays between zero and
    /// 3660 days in whole milliseconds, `base <= max_delay`, jitter between 0 and 1 in
    /// millionths (0 when not a number).
    pub fn clamped(self) -> Self {
        let limit = TimeDelta::days(3660);
        let whole_ms = |d: TimeDelta| TimeDelta::milliseconds(d.num_milliseconds());
        let max_delay = whole_ms(self.max_delay.clamp(TimeDelta::zero(), limit));
        Self {
            base: whole_ms(self.base.clamp(TimeDelta::zero(), max_delay)),
            max_delay,
            jitter: if self.jitter.is_nan() {
                0.0
            } else {
                in_millionths(self.jitter.clamp(0.0, 1.0))
            },
        }
    }

    /// The wait before retry number `retry` (1 for the first) of `job`.
    pub fn delay(&self, job: &JobId, retry: i32) -> TimeDelta {
        let doublings = retry.saturating_sub(1).clamp(0, 40) as u32;
        let full = self
            .base
            .checked_mul(1_i32.checked_shl(doublings.min(30)).unwrap_or(i32::MAX))
            .filter(|d| doublings <= 30 && *d <= self.max_delay)
            .unwrap_or(self.max_delay);
        let micros = full.num_microseconds().unwrap_or(i64::MAX) as f64;
        let cut = micros * self.jitter * unit_interval(job.as_str(), retry);
        TimeDelta::microseconds((micros - cut) as i64)
    }

    /// The stored form: `base_ms,max_delay_ms,jitter`.
    pub fn encode(&self) -> String {
        format!(
            "{},{},{}",
            self.base.num_milliseconds(),
            self.max_delay.num_milliseconds(),
            self.jitter
        )
    }

    /// Reads the stored form back.
    pub fn decode(text: &str) -> Result<Self, DomainError> {
        let bad = || {
            invalid(
                "retry_policy",
                format!("{text:?} is not base_ms,max_ms,jitter"),
            )
        };
        let mut parts = text.split(',');
        let mut next = || parts.next().ok_or_else(bad);
        let base = next()?.parse::<i64>().map_err(|_| bad())?;
        let max = next()?.parse::<i64>().map_err(|_| bad())?;
        let jitter = next()?.parse::<f64>().map_err(|_| bad())?;
        let policy = RetryPolicy {
            base: TimeDelta::try_milliseconds(base).ok_or_else(bad)?,
            max_delay: TimeDelta::try_milliseconds(max).ok_or_else(bad)?,
            jitter,
        };
        policy.validate()?;
        Ok(policy)
    }
}

/// `x` rounded to the nearest millionth: the jitter's stored precision.
fn in_millionths(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A number in [0, 1) fixed by `key` and `n` (FNV-1a).
fn unit_interval(key: &str, n: i32) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain(n.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 11) as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn delay_stays_within_jitter_and_cap(
            base_ms in 0_i64..100_000,
            extra_ms in 0_i64..10_000_000,
            jitter in 0.0_f64..=1.0,
            retry in 1_i32..200,
            job in "[a-z0-9-]{1,36}",
        ) {
            let policy = RetryPolicy {
                base: TimeDelta::milliseconds(base_ms),
                max_delay: TimeDelta::milliseconds(base_ms + extra_ms),
                jitter,
            };
            let job = JobId::new(job).unwrap();
            let delay = policy.delay(&job, retry);
            prop_assert!(delay >= TimeDelta::zero());
            prop_assert!(delay <= policy.max_delay);
            prop_assert_eq!(delay, policy.delay(&job, retry));
        }

        #[test]
        fn delay_without_jitter_never_shrinks(base_ms in 1_i64..10_000, retry in 1_i32..100) {
            let policy = RetryPolicy {
                base: TimeDelta::milliseconds(base_ms),
                max_delay: TimeDelta::hours(1),
                jitter: 0.0,
            };
            let job = JobId::new("j").unwrap();
            prop_assert!(policy.delay(&job, retry + 1) >= policy.delay(&job, retry));
        }
    }

    proptest! {
        /// A policy that validates is stored exactly, in at most 64 characters.
        #[test]
        fn valid_policies_round_trip_exactly(
            base_ms in 0_i64..1_000_000_000,
            extra_ms in 0_i64..316_224_000_000 - 1_000_000_000,
            jitter_millionths in 0_u32..=1_000_000,
        ) {
            let policy = RetryPolicy {
                base: TimeDelta::milliseconds(base_ms),
                max_delay: TimeDelta::milliseconds(base_ms + extra_ms),
                jitter: f64::from(jitter_millionths) / 1e6,
            };
            prop_assert!(policy.validate().is_ok());
            prop_assert!(policy.encode().len() <= 64);
            prop_assert_eq!(RetryPolicy::decode(&policy.encode()).unwrap(), policy);
        }
    }

    #[test]
    fn policies_that_would_not_be_stored_exactly_are_refused() {
        let fine = RetryPolicy::default();
        let sub_ms = RetryPolicy {
            base: TimeDelta::microseconds(1500),
            ..fine
        };
        assert!(sub_ms.validate().is_err());
        let tiny_jitter = RetryPolicy {
            jitter: 1e-300,
            ..fine
        };
        assert!(tiny_jitter.validate().is_err());
        assert!(tiny_jitter.clamped().validate().is_ok());
        assert!(sub_ms.clamped().validate().is_ok());
    }

    #[test]
    fn encodes_and_decodes() {
        let policy = RetryPolicy::default();
        assert_eq!(RetryPolicy::decode(&policy.encode()).unwrap(), policy);
        assert!(RetryPolicy::decode("1,2").is_err());
        assert!(RetryPolicy::decode("5,1,0").is_err());
        assert!(RetryPolicy::decode(&format!("0,{},0", i64::MAX)).is_err());
        let forever = RetryPolicy {
            max_delay: TimeDelta::MAX,
            ..RetryPolicy::default()
        };
        assert!(forever.validate().is_err());
        assert!(forever.clamped().validate().is_ok());
        let odd = RetryPolicy {
            base: TimeDelta::hours(2),
            max_delay: TimeDelta::hours(1),
            jitter: f64::NAN,
        };
        assert!(odd.clamped().validate().is_ok());
    }
}
