//! Wall clocks: the real one, and one that tests move by hand.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Where the scheduler reads the wall-clock time.
///
/// This is wall time, not monotonic time: schedules are written in wall
/// time, and the runner must notice when an operator or NTP moves the clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move, for tests.
///
/// Clones share one time: hand a clone to the code under test and move the
/// original.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Sets the time; backwards is allowed (that is what tests want).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.lock() = t;
    }

    /// Moves the time by `by`, which may be negative.
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }

    // A std mutex, not a tokio one: nothing awaits while holding it. A test
    // that panicked while holding it left a valid time behind, so poisoning
    // is ignored.
    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn clones_share_the_time() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let clock = ManualClock::new(t0);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        clock.advance(Duration::seconds(90));
        assert_eq!(shared.now(), t0 + Duration::seconds(90));
        clock.set(t0);
        assert_eq!(shared.now(), t0);
    }
}
