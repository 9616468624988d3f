//! Opening the trading ledger: a file in doubt is refused before anything writes to it, an
//! older schema is migrated in place, and the connection is shared between statements or held
//! for a replay (`Locking`). A job keeps its connection between runs (`KeptLedger`).

use std::path::Path;

use kobe_actors::atomic_file::Durability;
use kobe_actors::db_check::{self, Found};
use kobe_actors::ledger::RunLedger;
use rusqlite::{params, Connection};

use super::schema::{self, MIGRATION_2, MIGRATION_3, MIGRATION_4, SCHEMA};
use super::{memo, rows, LedgerError, TradingLedger, SCHEMA_VERSION};

/// Whether SQLite said another connection holds the database locked.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// What shows that the home of `state_dir` has traded: the run ledger records a position
/// manager run that ended ok, or a backup holds a trading ledger. An unreadable run ledger
/// counts too: in doubt, no new account.
fn trading_history(state_dir: &Path) -> Option<String> {
    let tag = crate::jobs::JobTag::PositionManager.as_str();
    match RunLedger::has_ok_run(state_dir, tag) {
        Ok(true) => return Some(format!("state/runs.sqlite records {tag} runs")),
        Ok(false) => {}
        Err(e) => return Some(e.to_string()),
    }
    let home = state_dir.parent()?;
    // An archive that cannot be read may hold a ledger: in doubt, it counts.
    crate::backup::archives(home)
        .into_iter()
        .rev()
        .find_map(|a| match crate::backup::holds_ledger(&a) {
            Ok(true) => Some(format!("{} holds a trading ledger", a.display())),
            Ok(false) => None,
            Err(why) => Some(format!(
                "{} may hold a trading ledger (unreadable: {why})",
                a.display()
            )),
        })
}

/// A ledger that has traded and lost its account row (the paper account's cash): refused, as a
/// lost ledger is. Opening makes that row from the starting equity, which is right only for a
/// new account: over a ledger with history it would trade on money the account does not have.
fn lost_account(conn: &Connection, path: &Path) -> Result<(), LedgerError> {
    let accounts: i64 = conn.query_row("SELECT count(*) FROM account", [], |r| r.get(0))?;
    if accounts > 0 {
        return Ok(());
    }
    for table in rows::history_tables() {
        let rows: i64 =
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        if rows > 0 {
            return Err(LedgerError::Lost {
                path: path.to_path_buf(),
                what: "its account row (the cash) is missing",
                evidence: format!("its {table} table holds {rows} rows"),
            });
        }
    }
    Ok(())
}

/// A job's trading ledger, opened (and checked) at its first run and kept for the next ones —
/// a replay runs them thousands of times — and closed after any error, so the run after it
/// opens and checks it again.
#[derive(Default)]
pub struct KeptLedger(std::sync::Mutex<Option<TradingLedger>>);

impl KeptLedger {
    /// Runs `work` on the ledger of `app`'s home, opening it first if it is not open. In a
    /// replay every job shares the run's one connection (`App::with_trading_ledger`).
    pub fn with<T, E: From<LedgerError>>(
        &self,
        app: &crate::app::App,
        work: impl FnOnce(&TradingLedger) -> Result<T, E>,
    ) -> Result<T, E> {
        match app.shared_ledger() {
            Some(shared) => shared.with_opened(app, Locking::Exclusive, work),
            None => self.with_opened(app, Locking::Shared, work),
        }
    }

    pub(crate) fn with_opened<T, E: From<LedgerError>>(
        &self,
        app: &crate::app::App,
        locking: Locking,
        work: impl FnOnce(&TradingLedger) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let ledger = match kept.take() {
            Some(ledger) => ledger,
            None => TradingLedger::open_locking(
                &app.home.state(),
                app.config.trading.starting_equity,
                app.durability(),
                locking,
            )?,
        };
        let result = work(&ledger);
        if result.is_ok() {
            *kept = Some(ledger);
        }
        result
    }
}

/// Whether a connection lets others in between its statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// SQLite's normal locking: every statement takes and gives back its locks, so other
    /// connections and processes read and write in between.
    Shared,
    /// The file is locked when the connection opens and kept locked until it closes; WAL's
    /// index lives in the process, not in `-shm`. A replay's one connection: it spares the lock
    /// calls every statement made (over 100,000 in a one-year replay), and nothing else may
    /// read or write the ledger until the replay ends.
    Exclusive,
}

impl TradingLedger {
    /// Opens (creating) `state/ledger.sqlite`; a new account starts with `starting_equity` cash.
    /// `durability`: `PowerLoss` fsyncs every commit (paper and live runs); `ProcessCrash`, a
    /// replay's, commits without fsyncs and syncs once as it closes.
    pub fn open(
        state_dir: &Path,
        starting_equity: f64,
        durability: Durability,
    ) -> Result<Self, LedgerError> {
        Self::open_locking(state_dir, starting_equity, durability, Locking::Shared)
    }

    /// `open`, with the connection's `locking`. A ledger another process has open (`kobe
    /// status --watch`, say) cannot be locked for the run: it is then opened `Shared`, as every
    /// ledger was before, and the run says so in its log.
    pub fn open_locking(
        state_dir: &Path,
        starting_equity: f64,
        durability: Durability,
        locking: Locking,
    ) -> Result<Self, LedgerError> {
        match Self::open_with(state_dir, starting_equity, durability, locking) {
            Err(LedgerError::Busy { path }) if locking == Locking::Exclusive => {
                tracing::warn!(path = %path.display(), "trading ledger open in another process: this run shares it (slower) instead of locking it");
                Self::open_with(state_dir, starting_equity, durability, Locking::Shared)
            }
            other => other,
        }
    }

    fn open_with(
        state_dir: &Path,
        starting_equity: f64,
        durability: Durability,
        locking: Locking,
    ) -> Result<Self, LedgerError> {
        let path = state_dir.join("ledger.sqlite");
        Self::check_file(state_dir)?;
        std::fs::create_dir_all(state_dir).map_err(|e| LedgerError::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let corrupt = |e: rusqlite::Error| match is_busy(&e) {
            true => LedgerError::Busy { path: path.clone() },
            false => LedgerError::Corrupt {
                path: path.clone(),
                why: e.to_string(),
            },
        };
        let conn = Connection::open(&path).map_err(corrupt)?;
        // Waits out another connection's lock (a second job, a recovery after a kill) rather
        // than calling a busy ledger unreadable. Locking it for a run waits a moment only:
        // another process that has it open keeps it open.
        let wait = match locking {
            Locking::Shared => std::time::Duration::from_secs(10),
            Locking::Exclusive => std::time::Duration::from_millis(500),
        };
        conn.busy_timeout(wait)?;
        // Before the first access in WAL mode, or SQLite makes the shared-memory index anyway.
        if locking == Locking::Exclusive {
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
                .map_err(corrupt)?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(corrupt)?;
        // The position manager asks the same dozen questions every cycle.
        conn.set_prepared_statement_cache_capacity(64);
        // A replay's commits go without fsyncs, until it closes (`sync_on_close`).
        db_check::set_synchronous(&conn, durability)?;
        let version: i32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(corrupt)?;
        // Before anything is written: the account row below is made for a new ledger only.
        if version >= 1 {
            lost_account(&conn, &path).map_err(|e| match e {
                LedgerError::Sql(e) => corrupt(e),
                other => other,
            })?;
        }
        if version < 1 {
            conn.execute_batch(SCHEMA).map_err(corrupt)?;
            conn.pragma_update(None, "user_version", 1)?;
        }
        if version < 2 {
            conn.execute_batch(MIGRATION_2).map_err(corrupt)?;
        }
        if version < 3 {
            conn.execute_batch(MIGRATION_3).map_err(corrupt)?;
        }
        if version < 4 {
            conn.execute_batch(MIGRATION_4).map_err(corrupt)?;
        }
        conn.execute_batch(&schema::indexes()).map_err(corrupt)?;
        conn.prepare_cached("INSERT OR IGNORE INTO account (id, cash) VALUES (1, ?1)")?
            .execute(params![starting_equity])
            .map_err(corrupt)?;
        if locking == Locking::Exclusive {
            // Taken now, not at the run's first write: a process that opened it since would
            // otherwise stop the run half-way.
            conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
                .map_err(corrupt)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
        }
        let ledger = Self {
            conn,
            memo: memo::ReadMemo::default(),
            closed: Default::default(),
            sync_on_close: durability == Durability::ProcessCrash,
        };
        rows::check_rows(&ledger.conn)?;
        Ok(ledger)
    }

    /// Refuses a trading ledger in doubt before anything opens it for writing: something other
    /// than a database at its path, a file that fails SQLite's quick check or carries a schema
    /// this kobe does not know, history without an account row (`lost_account`), a row holding
    /// a value kobe does not know (`rows::check_rows`; of a ledger of the current schema: an
    /// older one is checked when its open has migrated it) — or none at all (or an empty file)
    /// in a home that has traded.
    pub fn check(state_dir: &Path) -> Result<(), LedgerError> {
        let Some((conn, version)) = Self::check_file(state_dir)? else {
            return Ok(());
        };
        let rows = || {
            if version >= 1 {
                lost_account(&conn, &state_dir.join("ledger.sqlite"))?;
            }
            if version < SCHEMA_VERSION {
                return Ok(());
            }
            rows::check_rows(&conn)
        };
        rows().map_err(|e| match e {
            // A replay that locked the file since the probe: in use, not unreadable.
            LedgerError::Sql(e) if is_busy(&e) => LedgerError::Busy {
                path: state_dir.join("ledger.sqlite"),
            },
            other => other,
        })
    }

    /// The file alone, without the account and row checks (an open makes those once its
    /// migrations are done): the database's connection and schema version when there is one
    /// that passes.
    fn check_file(state_dir: &Path) -> Result<Option<(Connection, i32)>, LedgerError> {
        let path = state_dir.join("ledger.sqlite");
        let corrupt = |why: String| LedgerError::Corrupt {
            path: path.clone(),
            why,
        };
        let what = match db_check::inspect(&path).map_err(corrupt)? {
            Found::Database => {
                let conn = db_check::open_existing(&path).map_err(|e| corrupt(e.to_string()))?;
                // Held by another process (a replay): said as such, not judged unreadable.
                conn.busy_timeout(std::time::Duration::from_secs(2))?;
                match conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                    r.get::<_, i64>(0)
                }) {
                    Err(e) if is_busy(&e) => return Err(LedgerError::Busy { path }),
                    Err(e) => return Err(corrupt(e.to_string())),
                    Ok(_) => conn.busy_timeout(std::time::Duration::from_secs(10))?,
                }
                db_check::quick_check(&conn).map_err(corrupt)?;
                let version = db_check::schema_version(&conn, SCHEMA_VERSION).map_err(corrupt)?;
                return Ok(Some((conn, version)));
            }
            Found::Empty => "empty (0 bytes)",
            Found::Missing => "missing",
        };
        match trading_history(state_dir) {
            Some(evidence) => Err(LedgerError::Lost {
                path,
                what,
                evidence,
            }),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_ledger_syncs_every_commit_and_a_replays_hands_them_to_the_system() {
        for (durability, want) in [(Durability::PowerLoss, 2), (Durability::ProcessCrash, 0)] {
            let dir = tempfile::tempdir().unwrap();
            let ledger = TradingLedger::open(dir.path(), 1000.0, durability).unwrap();
            let synchronous: i64 = ledger
                .conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap();
            assert_eq!(synchronous, want, "{durability:?}");
        }
    }

    #[test]
    fn a_version_1_ledger_is_migrated_in_place_and_keeps_its_rows() {
        // Version 1 as the first release wrote it, with one closed trade.
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("ledger.sqlite")).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO orders (client_order_id, session, symbol, side, qty, status, submitted_at)
                 VALUES ('2016-01-04-IBS_RSI-AAPL-buy', '2016-01-04', 'AAPL', 'buy', 10, 'filled', 't')",
                [],
            )
            .unwrap();
            conn.execute("INSERT INTO account (id, cash) VALUES (1, 5000.0)", [])
                .unwrap();
            conn.execute(
                "INSERT INTO trades VALUES ('2016-01-04-IBS_RSI-AAPL-buy', '2016-01-05-IBS_RSI-AAPL-sell',
                 'AAPL', 'IBS_RSI', 10, '2016-01-04', 100.0, '2016-01-05', 101.0, 'time_stop', 10.0, 0.2)",
                [],
            )
            .unwrap();
        }
        let ledger = TradingLedger::open(dir.path(), 100_000.0, Durability::ProcessCrash).unwrap();
        let version: i32 = ledger
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 4);
        assert_eq!(ledger.trades_json().unwrap()[0]["pnl"], 10.0);
        let orders = &ledger.export().unwrap()["orders"];
        assert_eq!(orders[0]["client_order_id"], "2016-01-04-IBS_RSI-AAPL-buy");
        assert_eq!(orders[0]["type"], "market");
        assert_eq!(orders[0]["broker_id"], serde_json::Value::Null);
        assert_eq!(ledger.cash().unwrap(), 5000.0);
        // Opening again changes nothing.
        drop(ledger);
        let again = TradingLedger::open(dir.path(), 100_000.0, Durability::ProcessCrash).unwrap();
        assert_eq!(again.export().unwrap()["orders"], *orders);
    }

    #[test]
    fn a_ledger_without_history_gets_its_account_row_and_one_with_history_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = || TradingLedger::open(dir.path(), 1000.0, Durability::ProcessCrash);
        let drop_account = || {
            Connection::open(dir.path().join("ledger.sqlite"))
                .unwrap()
                .execute("DELETE FROM account", [])
                .unwrap()
        };
        drop(open().unwrap());
        // Nothing traded yet (a first open that stopped before the row was made): made now.
        drop_account();
        assert_eq!(open().unwrap().cash().unwrap(), 1000.0);
        let ledger = open().unwrap();
        ledger.set_cash(800.0).unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap();
        ledger.record_equity(day, 800.0, 800.0).unwrap();
        drop(ledger);
        drop_account();
        match open() {
            Err(e @ LedgerError::Lost { .. }) => assert!(
                e.to_string()
                    .contains("its account row (the cash) is missing, but this home has traded before (its equity table holds 1 rows)"),
                "{e}"
            ),
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(matches!(
            TradingLedger::check(dir.path()),
            Err(LedgerError::Lost { .. })
        ));
    }

    #[test]
    fn a_locked_ledger_is_busy_not_corrupt_and_a_run_shares_one_another_process_has_open() {
        let dir = tempfile::tempdir().unwrap();
        let open = |locking| {
            TradingLedger::open_locking(dir.path(), 1000.0, Durability::ProcessCrash, locking)
        };
        // Locked for a run: another connection is told it is in use, never that it is unreadable.
        let locked = open(Locking::Exclusive).unwrap();
        locked.set_cash(900.0).unwrap();
        match open(Locking::Shared) {
            Err(e @ LedgerError::Busy { .. }) => {
                assert!(
                    e.to_string().contains("in use by another kobe process"),
                    "{e}"
                )
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(matches!(
            TradingLedger::check(dir.path()),
            Err(LedgerError::Busy { .. })
        ));
        drop(locked);
        // Open elsewhere (a watching `kobe status`): a run cannot lock it, so it shares it.
        let watching = open(Locking::Shared).unwrap();
        let run = open(Locking::Exclusive).expect("shared instead of locked");
        run.set_cash(800.0).unwrap();
        assert_eq!(watching.cash().unwrap(), 800.0);
    }
}
