//! Wall-clock time for the cache, injectable. Cache entries are persisted and certificate
//! validity is calendar time, so this is `OffsetDateTime` (UTC), not a monotonic instant.

use std::fmt;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// Now, in UTC.
pub trait WallClock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemWallClock;

impl WallClock for SystemWallClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told (tests, simulations).
#[derive(Debug)]
pub struct ManualWallClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualWallClock {
    /// A clock standing at `start`.
    pub fn at(start: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: OffsetDateTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl WallClock for ManualWallClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
