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
