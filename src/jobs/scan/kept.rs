//! A replay's scans, kept: its bars and universe do not change for the run, so a scan is a
//! function of its date alone, made once, and the next session's is made ahead on another core.

use std::sync::Arc;

use chrono::NaiveDate;
use kobe_actors::calendar::NyseCalendar;

use super::{scan_store, Scanned};
use crate::data::store::BarStore;

/// A replay's last two scans: its bars and universe are kept for the run, so a scan is a
/// function of its date alone. A session's scans ask for the previous session (the first, the
/// timed ones), except the overnight watchlist, which asks for the session itself — and the
/// next session's scans ask for that again.
#[derive(Default)]
pub struct LastScan {
    kept: std::sync::Mutex<Vec<(NaiveDate, Arc<Scanned>)>>,
    /// The scan of the session after the latest one, made on another core while this core
    /// runs the session's other jobs (a scan of a date reads only the kept bars, so it is the
    /// same wherever it is made). Not taken if another date is asked for first.
    ahead: std::sync::Mutex<Option<Ahead>>,
}

impl LastScan {
    /// The scan of `as_of`: kept, made ahead, or made now from `store`'s bars of `universe`.
    pub fn scan<E>(
        &self,
        as_of: NaiveDate,
        universe: impl FnOnce() -> Result<Arc<Vec<String>>, E>,
        store: impl FnOnce() -> BarStore,
    ) -> Result<Arc<Scanned>, E> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, scanned)) = kept.iter().find(|(date, _)| *date == as_of) {
            return Ok(scanned.clone());
        }
        let universe = universe()?;
        let store = store();
        let mut ahead = self.ahead.lock().unwrap_or_else(|p| p.into_inner());
        let made_ahead = ahead.as_mut().and_then(|a| a.take(as_of));
        let scanned = Arc::new(made_ahead.unwrap_or_else(|| scan_store(&store, &universe, as_of)));
        if kept.len() == 2 {
            kept.remove(0);
        }
        kept.push((as_of, scanned.clone()));
        if ahead.is_none() {
            *ahead = Ahead::start(store, universe);
        }
        // Without the thread the next scan is simply made when it is asked for.
        let next = NyseCalendar.next_session(as_of).date;
        if !ahead.as_mut().is_some_and(|a| a.ask(next)) {
            *ahead = None;
        }
        Ok(scanned)
    }
}

/// A thread that scans the dates it is sent, for the whole replay.
struct Ahead {
    dates: std::sync::mpsc::Sender<NaiveDate>,
    /// One answer per date sent, in order: at most one date is out at a time.
    scans: std::sync::mpsc::Receiver<Scanned>,
    /// The date sent and not yet received.
    pending: Option<NaiveDate>,
}

impl Ahead {
    fn start(store: BarStore, universe: Arc<Vec<String>>) -> Option<Self> {
        let (dates, asked) = std::sync::mpsc::channel::<NaiveDate>();
        let (made, scans) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("scan-ahead".into())
            .spawn(move || {
                // Ends when the replay drops its sender, or stops listening.
                for date in asked {
                    if made.send(scan_store(&store, &universe, date)).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Self {
            dates,
            scans,
            pending: None,
        })
    }

    /// The scan of `date` if it was the one sent (waiting for it to be done); `None` if
    /// another date was sent (its answer is received all the same, so the next one is in step)
    /// or the thread is gone.
    fn take(&mut self, date: NaiveDate) -> Option<Scanned> {
        let sent = self.pending.take()?;
        let scanned = self.scans.recv().ok()?;
        (sent == date).then_some(scanned)
    }

    fn ask(&mut self, date: NaiveDate) -> bool {
        let sent = self.dates.send(date).is_ok();
        self.pending = sent.then_some(date);
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_made_ahead_is_taken_only_for_its_own_date() {
        let home = tempfile::tempdir().unwrap();
        let bars = home.path().join("data/bars");
        std::fs::create_dir_all(&bars).unwrap();
        let rows: String = (2..=9)
            .map(|d| format!("2024-01-0{d},10,11,9,10.5,1000\n"))
            .collect();
        std::fs::write(
            bars.join("AAA.csv"),
            format!("date,open,high,low,close,volume\n{rows}"),
        )
        .unwrap();
        let store = BarStore::frozen(home.path());
        let universe = Arc::new(vec!["AAA".to_string(), "ZZZ".to_string()]);
        let day = |d: u32| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
        let mut ahead = Ahead::start(store.clone(), universe.clone()).unwrap();
        // Asked for another date first: not taken (the caller scans itself).
        assert!(ahead.ask(day(8)));
        assert!(ahead.take(day(5)).is_none());
        assert!(ahead.take(day(5)).is_none(), "nothing is pending any more");
        // Its own date: the same scan as one made here.
        assert!(ahead.ask(day(10)));
        let made = ahead.take(day(10)).expect("made ahead");
        assert_eq!(
            format!("{made:?}"),
            format!("{:?}", scan_store(&store, &universe, day(10)))
        );
        assert!(made.1.is_some(), "no bar on the 10th is noted: {made:?}");
    }
}
