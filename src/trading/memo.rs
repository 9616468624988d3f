//! Answers to the reads a position-manager cycle repeats every 15 minutes, kept while the
//! ledger has not changed: a cycle with nothing to do costs a look at two counters, not a scan
//! of every decision and order ever made.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;

use super::{LedgerError, TradingLedger};

/// Answers by query and arguments, valid for one state of the database.
#[derive(Default)]
pub(super) struct ReadMemo(Mutex<Kept>);

#[derive(Default)]
struct Kept {
    /// The state the answers were read in: rows this connection has changed since it opened,
    /// and SQLite's `data_version`, which moves when another connection (`kobe run-job`, a
    /// second process) commits a change.
    state: Option<(u64, i64)>,
    answers: HashMap<String, Box<dyn Any + Send>>,
}

impl TradingLedger {
    /// `read`'s answer for `key`: kept from the last time while neither this connection nor
    /// any other has written since; else read now and kept. Every write through this
    /// connection counts (even one rolled back), so a kept answer is never one a write could
    /// have changed.
    pub(super) fn remembered<T: Clone + Send + 'static>(
        &self,
        key: String,
        read: impl FnOnce() -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let version: i64 = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let state = (self.conn.total_changes(), version);
        {
            let mut kept = self.memo.0.lock().unwrap_or_else(|p| p.into_inner());
            if kept.state != Some(state) {
                kept.answers.clear();
                kept.state = Some(state);
            }
            if let Some(answer) = kept.answers.get(&key).and_then(|a| a.downcast_ref::<T>()) {
                return Ok(answer.clone());
            }
        }
        let answer = read()?;
        let mut kept = self.memo.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.state == Some(state) {
            kept.answers.insert(key, Box::new(answer.clone()));
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Durability;
    use super::*;

    #[test]
    fn a_kept_answer_lasts_until_any_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let open = || TradingLedger::open(dir.path(), 1000.0, Durability::ProcessCrash).unwrap();
        let ledger = open();
        let reads = std::cell::Cell::new(0);
        let cash = || -> f64 {
            ledger
                .remembered("test cash".into(), || {
                    reads.set(reads.get() + 1);
                    Ok(ledger
                        .conn
                        .query_row("SELECT cash FROM account WHERE id = 1", [], |r| r.get(0))?)
                })
                .unwrap()
        };
        assert_eq!((cash(), cash()), (1000.0, 1000.0));
        assert_eq!(reads.get(), 1, "the second answer was kept");
        // A write through this connection is seen...
        ledger.set_cash(900.0).unwrap();
        assert_eq!((cash(), reads.get()), (900.0, 2));
        // ...even one that leaves the value as it was (it is a write all the same)...
        ledger.set_cash(900.0).unwrap();
        assert_eq!((cash(), reads.get()), (900.0, 3));
        assert_eq!((cash(), reads.get()), (900.0, 3));
        // ...and so is another connection's commit.
        open().set_cash(800.0).unwrap();
        assert_eq!((cash(), reads.get()), (800.0, 4));
    }
}
