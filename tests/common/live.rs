//! Job bodies run "live" in tests: a live clock stopped at a chosen instant, and a home holding
//! the 10-symbol sample up to a chosen day.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kobe_actors::clock::{Clock, ClockKind};
use kobe_actors::job::JobContext;

/// A live clock stopped at one instant.
pub struct StoppedLiveClock(DateTime<Utc>);

impl Clock for StoppedLiveClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
    fn kind(&self) -> ClockKind {
        ClockKind::Live
    }
    fn wait_step(&self, _due: DateTime<Utc>) -> Option<Duration> {
        None
    }
}

pub const SAMPLE_10: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/bars/sample_10.csv"
);

/// A home holding the 10-symbol sample up to `last` (inclusive), with those 10 as its universe.
pub fn sample_home(last: &str) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(SAMPLE_10).unwrap();
    let cut: String = text
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || &l[..10] <= last)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let file = dir.path().join("cut.csv");
    std::fs::write(&file, cut).unwrap();
    let store = kobe::data::store::BarStore::new(dir.path());
    kobe::data::import::import(&store, &[file]).unwrap();
    let symbols = store.symbols();
    std::fs::create_dir_all(dir.path().join("data/universe")).unwrap();
    std::fs::write(
        dir.path().join("data/universe/sample.csv"),
        format!("symbol\n{}\n", symbols.join("\n")),
    )
    .unwrap();
    (dir, symbols)
}

pub fn live_context(tag: &str, slot: DateTime<chrono_tz::Tz>) -> JobContext {
    let clock = Arc::new(StoppedLiveClock(slot.with_timezone(&Utc)));
    JobContext {
        tag: tag.into(),
        session: slot.date_naive(),
        slot,
        started: clock.now(),
        clock,
        manage_only: false,
        kill_switch: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    }
}
