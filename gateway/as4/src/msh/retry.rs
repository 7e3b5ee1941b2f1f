//! Reception-awareness retry schedule (AS4 digest §4.3): how many attempts and how long to
//! wait before each retry. The count and spacing of DIGG's federation declaration are not
//! published; DIGG's Domibus example is `12;4;CONSTANT`, our default is exponential backoff.

use std::time::Duration;

/// When to try again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (≥ 1).
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub initial_delay: Duration,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
    /// Factor between consecutive waits (1.0 = constant spacing).
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 12,
            initial_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempt`-th attempt (1-based) failed, or `None` when that was the
    /// last one.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts.max(1) {
            return None;
        }
        let factor = self
            .multiplier
            .max(1.0)
            .powi(i32::try_from(attempt - 1).unwrap_or(i32::MAX));
        let secs = (self.initial_delay.as_secs_f64() * factor).min(self.max_delay.as_secs_f64());
        Some(Duration::from_secs_f64(secs.max(0.0)))
    }

    /// The longest time from the first attempt until retries are exhausted (what the
    /// receiver's duplicate window must cover).
    pub fn total_span(&self) -> Duration {
        (1..self.max_attempts)
            .filter_map(|a| self.delay_after(a))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_stops_after_the_last_attempt() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(35),
            multiplier: 2.0,
        };
        let delays: Vec<_> = (1..=5).map(|a| p.delay_after(a)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(20)),
                Some(Duration::from_secs(35)),
                Some(Duration::from_secs(35)),
                None
            ]
        );
        assert_eq!(p.total_span(), Duration::from_secs(100));
    }

    #[test]
    fn digg_example_constant_spacing() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_secs(180),
            max_delay: Duration::from_secs(180),
            multiplier: 1.0,
        };
        assert_eq!(p.total_span(), Duration::from_secs(12 * 60));
        assert_eq!(
            RetryPolicy {
                max_attempts: 1,
                ..p
            }
            .delay_after(1),
            None
        );
    }
}
