//! The one clock: wall time and monotonic time, read through one injected value.
//!
//! Wall time dates the audit records, checks certificate validity, business hours and the
//! revocation list's age; monotonic time measures back-offs, time-outs and how long a pending
//! login may wait. Both come from the same [`Clock`] so that a test which moves time moves
//! both together, and no code reads `Instant::now()` or `OffsetDateTime::now_utc()` behind the
//! clock's back.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Where every part of cardgate gets the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, as a UTC date and time (for records, dates and business hours).
    fn wall(&self) -> OffsetDateTime;
    /// Now, on a clock that never goes backwards (for durations and deadlines).
    fn monotonic(&self) -> Instant;
}

/// The system's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told: both readings advance together.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    state: Mutex<ManualState>,
}

#[derive(Debug, Clone, Copy)]
struct ManualState {
    wall: OffsetDateTime,
    elapsed: Duration,
}

impl ManualClock {
    /// A clock standing at `wall`.
    pub fn new(wall: OffsetDateTime) -> Self {
        ManualClock {
            start: Instant::now(),
            state: Mutex::new(ManualState {
                wall,
                elapsed: Duration::ZERO,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut s = self.state();
        s.wall += by;
        s.elapsed += by;
    }

    /// Sets the wall reading (a date jump, as after a clock correction); the monotonic reading
    /// does not move.
    pub fn set_wall(&self, wall: OffsetDateTime) {
        self.state().wall = wall;
    }
}

impl Clock for ManualClock {
    fn wall(&self) -> OffsetDateTime {
        self.state().wall
    }

    fn monotonic(&self) -> Instant {
        self.start + self.state().elapsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_manual_clock_moves_both_readings_together() {
        let clock = ManualClock::new(datetime!(2026-12-01 09:00 UTC));
        let (w0, m0) = (clock.wall(), clock.monotonic());
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.wall() - w0, time::Duration::seconds(90));
        assert_eq!(clock.monotonic() - m0, Duration::from_secs(90));
        clock.set_wall(datetime!(2026-11-30 09:00 UTC));
        assert_eq!(clock.wall(), datetime!(2026-11-30 09:00 UTC));
        assert_eq!(clock.monotonic() - m0, Duration::from_secs(90));
    }

    #[test]
    fn the_system_clock_is_monotonic() {
        let a = SystemClock.monotonic();
        let b = SystemClock.monotonic();
        assert!(b >= a);
    }
}
