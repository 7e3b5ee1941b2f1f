//! A per-peer circuit breaker: after `threshold` consecutive failed attempts to a receiving
//! access point, deliveries to it are held back for `open_for` (doubling while probes fail, up
//! to `max_open`), then exactly one probe goes through; its success closes the circuit.
//! Pure state, the caller passes the time (no clock inside).

use std::time::{Duration, Instant};

/// What the breaker says about the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Send.
    Go,
    /// Send, as the one probe of a half-open circuit.
    Probe,
    /// Hold back until then.
    Wait(Instant),
}

/// An attempt's result, as far as the peer's health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// The peer answered (receipt or error signal).
    Up,
    /// No usable answer (connection, timeout, 5xx).
    Down,
    /// Says nothing about the peer (local refusal, lost claim).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// One peer's breaker.
#[derive(Debug, Clone)]
pub(crate) struct Breaker {
    state: State,
    failures: u32,
    threshold: u32,
    open_for: Duration,
    current_open: Duration,
    max_open: Duration,
}

/// How long a held-back attempt waits for a probe in flight to finish.
const PROBE_WAIT: Duration = Duration::from_secs(1);

impl Breaker {
    pub(crate) fn new(threshold: u32, open_for: Duration, max_open: Duration) -> Self {
        Breaker {
            state: State::Closed,
            failures: 0,
            threshold: threshold.max(1),
            open_for,
            current_open: open_for,
            max_open: max_open.max(open_for),
        }
    }

    pub(crate) fn admit(&mut self, now: Instant) -> Admit {
        match self.state {
            State::Closed => Admit::Go,
            State::Open { until } if now < until => Admit::Wait(until),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                Admit::Probe
            }
            State::HalfOpen { probing: true } => Admit::Wait(now + PROBE_WAIT),
        }
    }

    /// Records the result of an admitted attempt (`probe`: it was the probe).
    pub(crate) fn record(&mut self, health: Health, probe: bool, now: Instant) {
        match health {
            Health::Up => {
                self.state = State::Closed;
                self.failures = 0;
                self.current_open = self.open_for;
            }
            Health::Down if probe => {
                self.current_open = (self.current_open * 2).min(self.max_open);
                self.state = State::Open {
                    until: now + self.current_open,
                };
            }
            Health::Down => {
                self.failures = self.failures.saturating_add(1);
                if self.failures >= self.threshold && self.state == State::Closed {
                    self.state = State::Open {
                        until: now + self.current_open,
                    };
                }
            }
            Health::Unknown if probe => self.state = State::HalfOpen { probing: false },
            Health::Unknown => {}
        }
    }

    /// Whether deliveries are held back now (for metrics and logs).
    pub(crate) fn is_open(&self, now: Instant) -> bool {
        match self.state {
            State::Open { until } => now < until,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(3, Duration::from_secs(10), Duration::from_secs(40))
    }

    #[test]
    fn opens_after_consecutive_failures_and_a_success_in_between_resets() {
        let t = Instant::now();
        let mut b = breaker();
        for _ in 0..2 {
            assert_eq!(b.admit(t), Admit::Go);
            b.record(Health::Down, false, t);
        }
        b.record(Health::Up, false, t);
        for _ in 0..2 {
            b.record(Health::Down, false, t);
        }
        assert!(!b.is_open(t), "two failures after a success do not open it");
        b.record(Health::Down, false, t);
        assert!(b.is_open(t));
        assert_eq!(b.admit(t), Admit::Wait(t + Duration::from_secs(10)));
    }

    #[test]
    fn one_probe_after_the_open_period_and_its_success_closes() {
        let t = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(Health::Down, false, t);
        }
        let later = t + Duration::from_secs(10);
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.admit(later), Admit::Wait(later + PROBE_WAIT));
        b.record(Health::Up, true, later);
        assert_eq!(b.admit(later), Admit::Go);
    }

    #[test]
    fn failing_probes_double_the_open_period_up_to_the_cap() {
        let t = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(Health::Down, false, t);
        }
        let mut now = t + Duration::from_secs(10);
        for expected in [20, 40, 40] {
            assert_eq!(b.admit(now), Admit::Probe);
            b.record(Health::Down, true, now);
            assert_eq!(
                b.admit(now),
                Admit::Wait(now + Duration::from_secs(expected))
            );
            now += Duration::from_secs(expected);
        }
    }

    #[test]
    fn a_probe_that_says_nothing_lets_the_next_attempt_probe() {
        let t = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.record(Health::Down, false, t);
        }
        let later = t + Duration::from_secs(10);
        assert_eq!(b.admit(later), Admit::Probe);
        b.record(Health::Unknown, true, later);
        assert_eq!(b.admit(later), Admit::Probe);
    }
}
