//! The one seam through which kobe reads time: a live wall clock or a simulated one.
//!
//! Everything else in the workspace asks a `Clock` (clippy's `disallowed-methods` enforces it),
//! so a replay, a test or a DST table can drive the same actors as a live run.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// A live clock never sleeps longer than this without looking at the wall clock again, so a
/// suspend, an NTP step or a DST change is noticed within a second.
pub const MAX_LIVE_SLEEP: Duration = Duration::from_secs(1);

/// Which kind of clock drives the runtime; shown in the heartbeat and `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockKind {
    Live,
    Simulated,
}

impl ClockKind {
    /// The serialised name (`live`, `simulated`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::Live => "live",
            ClockKind::Simulated => "simulated",
        }
    }
}

pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    fn kind(&self) -> ClockKind;

    /// One step of waiting for `due`: `None` once `due` has arrived, else how long to sleep in
    /// real time before asking again. A simulated clock may move itself forward here.
    fn wait_step(&self, due: DateTime<Utc>) -> Option<Duration>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct LiveClock;

impl Clock for LiveClock {
    #[allow(clippy::disallowed_methods)] // the one place allowed to read the wall clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn kind(&self) -> ClockKind {
        ClockKind::Live
    }

    fn wait_step(&self, due: DateTime<Utc>) -> Option<Duration> {
        let remaining = (due - self.now()).to_std().ok()?;
        if remaining.is_zero() {
            return None;
        }
        Some(remaining.min(MAX_LIVE_SLEEP))
    }
}

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Jump straight to the next due instant: replay runs as fast as the jobs allow.
    Max,
    /// Simulated time runs this many times faster than real time.
    Times(f64),
}

/// A clock that starts at a given instant and only moves when it is waited on (or set).
#[derive(Debug)]
pub struct SimClock {
    now: Mutex<DateTime<Utc>>,
    speed: Speed,
}

impl SimClock {
    pub fn new(start: DateTime<Utc>, speed: Speed) -> Self {
        Self {
            now: Mutex::new(start),
            speed,
        }
    }

    /// Moves the clock to `to` (never backwards).
    pub fn advance_to(&self, to: DateTime<Utc>) {
        let mut now = self.lock();
        if to > *now {
            *now = to;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock only means a panic elsewhere while holding a plain timestamp.
        self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }

    fn kind(&self) -> ClockKind {
        ClockKind::Simulated
    }

    fn wait_step(&self, due: DateTime<Utc>) -> Option<Duration> {
        let mut now = self.lock();
        if *now >= due {
            return None;
        }
        match self.speed {
            Speed::Max => {
                *now = due;
                None
            }
            Speed::Times(factor) => {
                // Move simulated time in real-time steps of at most MAX_LIVE_SLEEP, so a stop
                // request is noticed as promptly as on a live clock.
                let max_sim_step = MAX_LIVE_SLEEP.mul_f64(factor);
                let remaining = (due - *now).to_std().unwrap_or_default();
                let sim_step = remaining.min(max_sim_step);
                *now += TimeDelta::from_std(sim_step).unwrap_or(TimeDelta::zero());
                Some(sim_step.div_f64(factor))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 8, h, m, 0).unwrap()
    }

    #[test]
    fn max_speed_jumps_to_the_due_instant() {
        let clock = SimClock::new(at(9, 0), Speed::Max);
        assert_eq!(clock.wait_step(at(10, 0)), None);
        assert_eq!(clock.now(), at(10, 0));
        // Never backwards.
        assert_eq!(clock.wait_step(at(9, 30)), None);
        assert_eq!(clock.now(), at(10, 0));
    }

    #[test]
    fn scaled_speed_moves_in_bounded_real_steps() {
        let clock = SimClock::new(at(9, 0), Speed::Times(60.0));
        // One real second = one simulated minute.
        assert_eq!(clock.wait_step(at(9, 5)), Some(Duration::from_secs(1)));
        assert_eq!(clock.now(), at(9, 1));
        let mut steps = 1;
        while clock.wait_step(at(9, 5)).is_some() {
            steps += 1;
        }
        assert_eq!(steps, 5);
        assert_eq!(clock.now(), at(9, 5));
    }

    #[test]
    fn live_clock_never_sleeps_more_than_a_second() {
        let clock = LiveClock;
        let far = clock.now() + TimeDelta::hours(5);
        assert_eq!(clock.wait_step(far), Some(MAX_LIVE_SLEEP));
        let past = clock.now() - TimeDelta::seconds(1);
        assert_eq!(clock.wait_step(past), None);
    }
}
