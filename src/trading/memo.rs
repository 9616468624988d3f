//! Answers to the reads a position-manager cycle repeats every 15 minutes, kept while the
//! ledger has not changed: a cycle with nothing to do costs a look at two counters, not a scan
//! of every decision and order ever made.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Mutex;

use super::{LedgerError, TradingLedger};

/// Answers by query and arguments, valid for one state of the database.
#[derive(Default)]
pub(super) struct ReadMemo(Mutex<Kept>, Mutex<SentMark>);

/// Every decision whose rowid is at or below `rowid` has an order. Decisions and orders are
/// never deleted and a new decision's rowid is above every earlier one, so the mark stays true
/// as rows are added. It is kept only while no other connection has committed (`data_version`
/// unchanged): whatever another writer did, the next read starts again from the first decision.
#[derive(Default)]
pub(super) struct SentMark {
    data_version: i64,
    rowid: i64,
}

impl ReadMemo {
    /// Where the search for unsent decisions may start, for a database at `data_version`.
    pub(super) fn sent_mark(&self, data_version: i64) -> i64 {
        let mark = self.1.lock().unwrap_or_else(|p| p.into_inner());
        if mark.data_version == data_version {
            mark.rowid
        } else {
            0
        }
    }

    pub(super) fn set_sent_mark(&self, data_version: i64, rowid: i64) {
        *self.1.lock().unwrap_or_else(|p| p.into_inner()) = SentMark {
            data_version,
            rowid,
        };
    }
}

#[derive(Default)]
struct Kept {
    /// The state the answers were read in: rows this connection has changed since it opened,
    /// and SQLite's `data_version`, which moves when another connection (`kobe run-job`, a
    /// second process) commits a change.
    state: Option<(u64, i64)>,
    answers: HashMap<String, Box<dyn Any + Send>>,
}

impl TradingLedger {
    /// SQLite's `data_version`: it moves when another connection commits.
    pub(super) fn data_version(&self) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }

    /// `read`'s answer for `key`: kept from the last time while neither this connection nor
    /// any other has written since; else read now and kept. Every write through this
    /// connection counts (even one rolled back), so a kept answer is never one a write could
    /// have changed.
    pub(super) fn remembered<T: Clone + Send + 'static>(
        &self,
        key: String,
        read: impl FnOnce() -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        self.remembered_at(key, |_| read())
    }

    /// `remembered`, with `read` told the `data_version` the answer is kept for.
    pub(super) fn remembered_at<T: Clone + Send + 'static>(
        &self,
        key: String,
        read: impl FnOnce(i64) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let version = self.data_version()?;
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
        let answer = read(version)?;
        let mut kept = self.memo.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.state == Some(state) {
            kept.answers.insert(key, Box::new(answer.clone()));
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kobe_actors::atomic_file::Durability;

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

    #[test]
    fn the_unsent_decisions_mark_never_hides_one_another_writer_or_a_rollback_left() {
        use crate::domain::ExitReason;
        use crate::strategy::signals::Strategy;
        let dir = tempfile::tempdir().unwrap();
        let open = || TradingLedger::open(dir.path(), 1000.0, Durability::ProcessCrash).unwrap();
        let ledger = open();
        let session = chrono::NaiveDate::from_ymd_opt(2016, 1, 5).unwrap();
        let decision = |symbol: &str| {
            let pos = super::super::OpenPosition {
                symbol: symbol.into(),
                qty: 10,
                entry_price: 100.0,
                stop: None,
                target: None,
                strategy: Strategy::IbsRsi,
                entry_session: session,
                entry_order: format!("{symbol}-buy"),
            };
            super::super::Decision::exit(&pos, session, 101.0, ExitReason::TimeStop)
        };
        let order_for = |ledger: &TradingLedger, d: &super::super::Decision| {
            ledger
                .conn
                .execute(
                    "INSERT INTO orders (client_order_id, session, symbol, side, qty, status, submitted_at)
                     VALUES (?1, '2016-01-05', ?2, 'sell', 10, 'filled', 't')",
                    rusqlite::params![d.client_order_id, d.symbol],
                )
                .unwrap();
        };
        let unsent = |ledger: &TradingLedger| -> Vec<String> {
            ledger
                .unsent_decisions()
                .unwrap()
                .into_iter()
                .map(|d| d.symbol)
                .collect()
        };
        let a = decision("AAA");
        ledger.record_decision(&a, "t").unwrap();
        assert_eq!(unsent(&ledger), ["AAA"]);
        order_for(&ledger, &a);
        assert!(
            unsent(&ledger).is_empty(),
            "every decision has its order: the mark moves up"
        );
        // Another connection's unsent decision is found past the mark.
        open().record_decision(&decision("BBB"), "t").unwrap();
        assert_eq!(unsent(&ledger), ["BBB"]);
        order_for(&ledger, &decision("BBB"));
        assert!(unsent(&ledger).is_empty());
        // A decision and its order rolled back: the mark read inside the transaction is not
        // kept, so the next decision, given the same rowid, is still found unsent.
        let c = decision("CCC");
        ledger.conn.execute_batch("BEGIN").unwrap();
        ledger.record_decision(&c, "t").unwrap();
        order_for(&ledger, &c);
        assert!(unsent(&ledger).is_empty());
        ledger.conn.execute_batch("ROLLBACK").unwrap();
        ledger.record_decision(&decision("DDD"), "t").unwrap();
        assert_eq!(unsent(&ledger), ["DDD"]);
    }

    #[test]
    fn the_unsent_decisions_read_searches_past_the_mark_only() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = TradingLedger::open(dir.path(), 1000.0, Durability::ProcessCrash).unwrap();
        let plan: Vec<String> = ledger
            .conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                super::super::UNSENT_AFTER
            ))
            .unwrap()
            .query_map([0], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("INTEGER PRIMARY KEY (rowid>?)")),
            "{plan:?}"
        );
    }
}
