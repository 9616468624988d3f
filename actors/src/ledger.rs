//! The run ledger: which (job, slot) has been dealt with, in `state/runs.sqlite`, mirrored one
//! line per slot in `logs/jobs.jsonl`.
//!
//! The ledger is what makes "no slot runs twice" hold across restarts. A record is appended to
//! the jobs log first and inserted into SQLite second; if the process dies between the two, the
//! log's last line is adopted into SQLite at the next open, so the log never gains a duplicate
//! and never loses a line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::db_check::{self, Found};
use crate::jsonl::{last_lines, JsonlWriter};

/// How a slot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

impl Status {
    /// Every outcome, so a counter per outcome can exist before its first slot.
    pub const ALL: [Status; 3] = [Status::Ok, Status::Failed, Status::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// How many slots of one job ended with one status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOutcomes {
    pub tag: String,
    pub status: Status,
    pub reason: Option<String>,
    pub count: usize,
}

/// One line of `logs/jobs.jsonl` (DESIGN §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub tag: String,
    pub session: NaiveDate,
    /// The slot's due instant, shown with its ET offset.
    pub slot_et: DateTime<FixedOffset>,
    /// On the runtime's clock: wall time in a live run, simulated time in a replay.
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    /// Real elapsed time of the run (the only field that differs between two replays).
    pub duration_ms: u64,
    pub status: Status,
    pub reason: Option<String>,
    pub detail: String,
}

/// How hard each record is pushed to disk (live runs fsync every record: a few an hour).
pub use crate::atomic_file::Durability;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{path}: not a readable run ledger ({reason}); the file is kept as it is: move it aside to start a new ledger")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("run ledger: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("run ledger: slot {tag} {slot} is already recorded")]
    AlreadyRecorded { tag: String, slot: String },
}

struct Inner {
    db: Connection,
    log: JsonlWriter,
    /// Records inserted since the open transaction began (batched ledgers only), and the
    /// bytes of their log lines.
    pending: usize,
    pending_bytes: usize,
    /// A batched ledger's recorded slots, (tag, slot_utc): the ledger has the home to itself,
    /// so "is it done" is answered here, not by a query (four per slot in a replay).
    known: Option<HashSet<(String, i64)>>,
}

impl Inner {
    fn exists(&self, tag: &str, slot_utc: i64) -> rusqlite::Result<bool> {
        match &self.known {
            Some(known) => Ok(known.contains(&(tag.to_string(), slot_utc))),
            None => exists(&self.db, tag, slot_utc),
        }
    }
}

/// A batched ledger commits once this many records are pending...
const BATCH_RECORDS: usize = 256;
/// ...and never holds log lines past this size: well inside the tail `adopt_logged` reads back.
const BATCH_BYTES: usize = 48 * 1024;

/// Called with each record once it is stored (the runtime view and metrics listen here).
pub type RecordObserver = Box<dyn Fn(&RunRecord) + Send + Sync>;

/// The run ledger. Cheap to share: one mutex serialises records, which are a few a minute.
pub struct RunLedger {
    inner: Mutex<Inner>,
    observers: Mutex<Vec<RecordObserver>>,
    durability: Durability,
    jobs_log: PathBuf,
    /// A replay's ledger: records go into one transaction committed every `BATCH_RECORDS`
    /// (a commit per slot was a tenth of a replay's time). The jobs log still gets each line
    /// before its row, and opening adopts every logged line the database lacks, so a replay
    /// killed with a batch uncommitted resumes exactly where its log says it was.
    batched: bool,
}

const SCHEMA_VERSION: i32 = 1;

impl RunLedger {
    /// Refuses a run ledger in doubt before anything opens it for writing: something other
    /// than a database at its path, a file that fails SQLite's quick check or carries a schema
    /// this kobe does not know, or an empty or missing database beside a jobs log that shows
    /// slots were recorded (the ledger is what keeps a slot from running twice).
    pub fn check(state_dir: &Path, logs_dir: &Path) -> Result<(), LedgerError> {
        let db_path = state_dir.join("runs.sqlite");
        let refuse = |reason: String| LedgerError::Corrupt {
            path: db_path.clone(),
            reason,
        };
        match db_check::inspect(&db_path).map_err(refuse)? {
            Found::Database => {
                let db = db_check::open_existing(&db_path).map_err(|e| refuse(e.to_string()))?;
                db_check::quick_check(&db).map_err(refuse)?;
                db_check::schema_version(&db, SCHEMA_VERSION).map_err(refuse)?;
                Ok(())
            }
            found => {
                let jobs_log = logs_dir.join("jobs.jsonl");
                // A log that cannot even be looked at is no proof that nothing was recorded.
                let logged = match std::fs::symlink_metadata(&jobs_log) {
                    Ok(meta) => meta.len() > 0 || !meta.is_file(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                    Err(_) => true,
                };
                if logged {
                    let what = if found == Found::Empty {
                        "empty"
                    } else {
                        "missing"
                    };
                    return Err(refuse(format!(
                        "{what}, but {} shows slots were recorded here: restore state/runs.sqlite from a backup (kobe restore FILE --to DIR)",
                        jobs_log.display()
                    )));
                }
                Ok(())
            }
        }
    }

    /// Whether `state_dir`'s run ledger records a run of `tag` that ended ok (read only; a
    /// missing ledger records none, an unreadable one is an error).
    pub fn has_ok_run(state_dir: &Path, tag: &str) -> Result<bool, LedgerError> {
        let db_path = state_dir.join("runs.sqlite");
        let unreadable = |e: rusqlite::Error| LedgerError::Corrupt {
            path: db_path.clone(),
            reason: e.to_string(),
        };
        match db_check::inspect(&db_path) {
            Ok(Found::Database) => {}
            Ok(Found::Missing | Found::Empty) => return Ok(false),
            // Something that is not a database where the run ledger should be: in doubt.
            Err(reason) => {
                return Err(LedgerError::Corrupt {
                    path: db_path,
                    reason,
                })
            }
        }
        let db = db_check::open_existing(&db_path).map_err(unreadable)?;
        db.query_row(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE tag = ?1 AND status = 'ok')",
            params![tag],
            |r| r.get(0),
        )
        .map_err(unreadable)
    }

    /// Opens (creating) `state_dir/runs.sqlite` and `logs_dir/jobs.jsonl`, repairing a torn last
    /// log line and adopting a record that reached the log but not the database.
    pub fn open(
        state_dir: &Path,
        logs_dir: &Path,
        durability: Durability,
    ) -> Result<Self, LedgerError> {
        Self::open_with(state_dir, logs_dir, durability, false)
    }

    /// `open` for a replay: records are committed in batches (see `batched`). Only a process
    /// that has the home to itself (the runner holds its lock) may batch: another process
    /// writing the ledger would wait on the open transaction.
    pub fn open_batched(
        state_dir: &Path,
        logs_dir: &Path,
        durability: Durability,
    ) -> Result<Self, LedgerError> {
        Self::open_with(state_dir, logs_dir, durability, true)
    }

    fn open_with(
        state_dir: &Path,
        logs_dir: &Path,
        durability: Durability,
        batched: bool,
    ) -> Result<Self, LedgerError> {
        let db_path = state_dir.join("runs.sqlite");
        let jobs_log = logs_dir.join("jobs.jsonl");
        for dir in [state_dir, logs_dir] {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let corrupt = |e: rusqlite::Error| LedgerError::Corrupt {
            path: db_path.clone(),
            reason: e.to_string(),
        };
        Self::check(state_dir, logs_dir)?;
        let db = Connection::open(&db_path).map_err(corrupt)?;
        // Another process's lock (`kobe run-job` beside the runner) is waited out, not taken
        // for damage.
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(corrupt)?;
        let sync = match durability {
            Durability::ProcessCrash => "NORMAL",
            Durability::PowerLoss => "FULL",
        };
        db.pragma_update(None, "synchronous", sync)?;
        migrate(&db).map_err(corrupt)?;

        let (log, repaired) = JsonlWriter::open(&jobs_log).map_err(|source| LedgerError::Io {
            path: jobs_log.clone(),
            source,
        })?;
        if repaired > 0 {
            tracing::warn!(path = %jobs_log.display(), bytes = repaired, "cut a torn last line from the jobs log");
        }
        let ledger = Self {
            inner: Mutex::new(Inner {
                db,
                log,
                pending: 0,
                pending_bytes: 0,
                known: None,
            }),
            observers: Mutex::new(Vec::new()),
            durability,
            jobs_log,
            batched,
        };
        ledger.adopt_logged()?;
        if batched {
            let mut inner = ledger.lock();
            let known = recorded_slots(&inner.db)?;
            inner.known = Some(known);
        }
        Ok(ledger)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave SQLite or the file half-written beyond
        // what the crash-recovery path already handles.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A process that died after logging records but before inserting them (one record, or a
    /// batch not yet committed) left them as the log's last lines: insert them so their slots
    /// are not run again. Every line of the log's tail is offered; those the database has are
    /// ignored.
    fn adopt_logged(&self) -> Result<(), LedgerError> {
        let lines = last_lines(&self.jobs_log).map_err(|source| LedgerError::Io {
            path: self.jobs_log.clone(),
            source,
        })?;
        let inner = self.lock();
        for line in lines {
            match serde_json::from_str::<RunRecord>(&line) {
                Ok(record) => insert(&inner.db, &record, &line)?,
                Err(e) => {
                    tracing::warn!(path = %self.jobs_log.display(), error = %e, "a jobs-log line is not a run record; left as is");
                }
            }
        }
        Ok(())
    }

    /// Whether the slot of `tag` due at `slot` has been recorded (run, failed or skipped).
    pub fn is_done(&self, tag: &str, slot: DateTime<Utc>) -> Result<bool, LedgerError> {
        Ok(self.lock().exists(tag, slot.timestamp())?)
    }

    /// Records how a slot ended: one jobs-log line, then the ledger row.
    pub fn record(&self, record: &RunRecord) -> Result<(), LedgerError> {
        self.store(record, false)
    }

    /// Records a slot that an operator ran again on purpose (`kobe run-job --force`): another
    /// jobs-log line, and the ledger row replaced by the new outcome.
    pub fn record_again(&self, record: &RunRecord) -> Result<(), LedgerError> {
        self.store(record, true)
    }

    fn store(&self, record: &RunRecord, replace: bool) -> Result<(), LedgerError> {
        let line = serde_json::to_string(record).expect("a run record always serialises");
        let mut inner = self.lock();
        let slot = record.slot_et.with_timezone(&Utc).timestamp();
        let exists = inner.exists(&record.tag, slot)?;
        if exists && !replace {
            return Err(LedgerError::AlreadyRecorded {
                tag: record.tag.clone(),
                slot: record.slot_et.to_rfc3339(),
            });
        }
        let io = |source| LedgerError::Io {
            path: self.jobs_log.clone(),
            source,
        };
        inner.log.append(&line).map_err(io)?;
        if self.durability == Durability::PowerLoss {
            inner.log.sync().map_err(io)?;
        }
        // A batch never holds more log lines than a start reads back to adopt: one that would
        // pass the limit is committed first.
        if self.batched && inner.pending > 0 && inner.pending_bytes + line.len() + 1 > BATCH_BYTES {
            commit(&mut inner)?;
        }
        if self.batched && inner.pending == 0 {
            inner.db.execute_batch("BEGIN")?;
        }
        if replace {
            inner
                .db
                .prepare_cached("DELETE FROM runs WHERE tag = ?1 AND slot_utc = ?2")?
                .execute(params![record.tag, slot])?;
        }
        insert(&inner.db, record, &line)?;
        if let Some(known) = &mut inner.known {
            known.insert((record.tag.clone(), slot));
        }
        if self.batched {
            inner.pending += 1;
            inner.pending_bytes += line.len() + 1;
            if inner.pending >= BATCH_RECORDS {
                commit(&mut inner)?;
            }
        }
        drop(inner);
        for observe in self
            .observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            observe(record);
        }
        Ok(())
    }

    /// The record of one slot, if any.
    pub fn get(&self, tag: &str, slot: DateTime<Utc>) -> Result<Option<RunRecord>, LedgerError> {
        let inner = self.lock();
        let text: Option<String> = inner
            .db
            .query_row(
                "SELECT record FROM runs WHERE tag = ?1 AND slot_utc = ?2",
                params![tag, slot.timestamp()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Adds an observer of every record stored from now on.
    pub fn subscribe(&self, observer: RecordObserver) {
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(observer);
    }

    /// Records whose slots fall in `[from, to)`, in slot order (ties by tag).
    pub fn records_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RunRecord>, LedgerError> {
        let inner = self.lock();
        let mut stmt = inner.db.prepare(
            "SELECT record FROM runs WHERE slot_utc >= ?1 AND slot_utc < ?2 ORDER BY slot_utc, tag",
        )?;
        let rows = stmt.query_map(params![from.timestamp(), to.timestamp()], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for row in rows {
            let text = row?;
            let record = serde_json::from_str(&text).map_err(|e| LedgerError::Corrupt {
                path: PathBuf::from("runs.sqlite"),
                reason: format!("a stored record does not parse: {e}"),
            })?;
            out.push(record);
        }
        Ok(out)
    }

    /// How the slots in `[from, to)` ended, counted by job, status and reason: a replay's
    /// summary, without reading back its thousands of records.
    pub fn outcomes_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SlotOutcomes>, LedgerError> {
        let inner = self.lock();
        let mut stmt = inner.db.prepare(
            "SELECT tag, status, reason, COUNT(*) FROM runs WHERE slot_utc >= ?1 AND slot_utc < ?2
             GROUP BY tag, status, reason ORDER BY tag, status, reason",
        )?;
        let rows = stmt.query_map(params![from.timestamp(), to.timestamp()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, usize>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tag, status, reason, count) = row?;
            let status = Status::ALL
                .into_iter()
                .find(|s| s.as_str() == status)
                .ok_or_else(|| LedgerError::Corrupt {
                    path: PathBuf::from("runs.sqlite"),
                    reason: format!("a stored status is not one kobe knows: {status:?}"),
                })?;
            out.push(SlotOutcomes {
                tag,
                status,
                reason,
                count,
            });
        }
        Ok(out)
    }

    /// The latest slot recorded for any job.
    pub fn last_slot(&self) -> Result<Option<DateTime<Utc>>, LedgerError> {
        let inner = self.lock();
        let last: Option<i64> = inner
            .db
            .query_row("SELECT MAX(slot_utc) FROM runs", [], |r| r.get(0))?;
        Ok(last.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)))
    }
}

fn exists(db: &Connection, tag: &str, slot_utc: i64) -> rusqlite::Result<bool> {
    db.prepare_cached("SELECT 1 FROM runs WHERE tag = ?1 AND slot_utc = ?2")?
        .query_row(params![tag, slot_utc], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// Every (tag, slot_utc) the ledger holds.
fn recorded_slots(db: &Connection) -> rusqlite::Result<HashSet<(String, i64)>> {
    db.prepare("SELECT tag, slot_utc FROM runs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Commits a batch's open transaction.
fn commit(inner: &mut Inner) -> rusqlite::Result<()> {
    inner.db.execute_batch("COMMIT")?;
    inner.pending = 0;
    inner.pending_bytes = 0;
    Ok(())
}

impl Drop for RunLedger {
    /// The last batch is committed on the way out. Should that fail, nothing is lost: every
    /// record is in the jobs log, and the next open adopts it.
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        if inner.pending > 0 {
            if let Err(e) = commit(inner) {
                tracing::error!(error = %e, "run ledger: the last batch was not committed; the jobs log keeps it for the next start");
            }
        }
    }
}

fn migrate(db: &Connection) -> rusqlite::Result<()> {
    let version: i32 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 1 {
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS runs (
                tag      TEXT    NOT NULL,
                slot_utc INTEGER NOT NULL,
                session  TEXT    NOT NULL,
                status   TEXT    NOT NULL,
                reason   TEXT,
                record   TEXT    NOT NULL,
                PRIMARY KEY (tag, slot_utc)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS runs_by_slot ON runs (slot_utc);",
        )?;
        db.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

fn insert(db: &Connection, record: &RunRecord, line: &str) -> Result<(), LedgerError> {
    db.prepare_cached(
        "INSERT OR IGNORE INTO runs (tag, slot_utc, session, status, reason, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        record.tag,
        record.slot_et.with_timezone(&Utc).timestamp(),
        record.session.to_string(),
        record.status.as_str(),
        record.reason,
        line
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(tag: &str, hour: u32) -> RunRecord {
        let slot = FixedOffset::west_opt(5 * 3600)
            .unwrap()
            .with_ymd_and_hms(2024, 11, 29, hour, 0, 0)
            .unwrap();
        RunRecord {
            tag: tag.into(),
            session: NaiveDate::from_ymd_opt(2024, 11, 29).unwrap(),
            slot_et: slot,
            started: slot.with_timezone(&Utc),
            finished: slot.with_timezone(&Utc),
            duration_ms: 0,
            status: Status::Ok,
            reason: None,
            detail: "x".into(),
        }
    }

    fn open(dir: &Path) -> RunLedger {
        RunLedger::open(
            &dir.join("state"),
            &dir.join("logs"),
            Durability::ProcessCrash,
        )
        .unwrap()
    }

    #[test]
    fn a_slot_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(dir.path());
        let r = record("SCAN", 10);
        assert!(!ledger
            .is_done("SCAN", r.slot_et.with_timezone(&Utc))
            .unwrap());
        ledger.record(&r).unwrap();
        assert!(ledger
            .is_done("SCAN", r.slot_et.with_timezone(&Utc))
            .unwrap());
        assert!(matches!(
            ledger.record(&r),
            Err(LedgerError::AlreadyRecorded { .. })
        ));
        drop(ledger);
        let ledger = open(dir.path());
        assert!(ledger
            .is_done("SCAN", r.slot_et.with_timezone(&Utc))
            .unwrap());
        let log = std::fs::read_to_string(dir.path().join("logs/jobs.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 1);
    }

    #[test]
    fn a_record_logged_but_not_inserted_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        let r = record("EOD_REPORT", 12);
        let line = serde_json::to_string(&r).unwrap();
        let log = dir.path().join("logs/jobs.jsonl");
        std::fs::write(&log, format!("{line}\n{{\"tag\":\"SC")).unwrap();
        let ledger = open(dir.path());
        assert!(ledger
            .is_done("EOD_REPORT", r.slot_et.with_timezone(&Utc))
            .unwrap());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), format!("{line}\n"));
    }

    #[test]
    fn a_batch_killed_before_its_commit_is_adopted_whole_on_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let (state, logs) = (dir.path().join("state"), dir.path().join("logs"));
        let batched = RunLedger::open_batched(&state, &logs, Durability::ProcessCrash).unwrap();
        let records: Vec<RunRecord> = (1..=12).map(|h| record("POSITION_MANAGER", h)).collect();
        for r in &records {
            batched.record(r).unwrap();
            // Answered from memory, and the row is there for this connection.
            assert!(batched
                .is_done(&r.tag, r.slot_et.with_timezone(&Utc))
                .unwrap());
        }
        // A kill: the connection goes without committing (SQLite rolls the batch back), and
        // only the jobs log's lines are left.
        batched.inner.lock().unwrap().pending = 0;
        drop(batched);
        let db = Connection::open(state.join("runs.sqlite")).unwrap();
        let rows: i64 = db
            .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0, "the batch was rolled back");
        drop(db);
        let reopened = open(dir.path());
        for r in &records {
            assert!(reopened
                .is_done(&r.tag, r.slot_et.with_timezone(&Utc))
                .unwrap());
        }
        let from = records[0].slot_et.with_timezone(&Utc);
        let to = from + chrono::TimeDelta::days(1);
        assert_eq!(reopened.records_between(from, to).unwrap().len(), 12);
    }

    #[test]
    fn a_batched_ledger_commits_on_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let (state, logs) = (dir.path().join("state"), dir.path().join("logs"));
        let batched = RunLedger::open_batched(&state, &logs, Durability::ProcessCrash).unwrap();
        let r = record("EOD_REPORT", 15);
        batched.record(&r).unwrap();
        assert!(matches!(
            batched.record(&r),
            Err(LedgerError::AlreadyRecorded { .. })
        ));
        drop(batched);
        // Read without adopting anything: the row is in the database itself.
        std::fs::write(logs.join("jobs.jsonl"), "").unwrap();
        let reopened = open(dir.path());
        assert!(reopened
            .is_done("EOD_REPORT", r.slot_et.with_timezone(&Utc))
            .unwrap());
    }

    #[test]
    fn a_corrupt_database_is_named_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let garbage =
            b"this is not sqlite, it is a text file that is long enough........".repeat(10);
        std::fs::write(state.join("runs.sqlite"), &garbage).unwrap();
        let err = RunLedger::open(&state, &dir.path().join("logs"), Durability::ProcessCrash)
            .err()
            .unwrap();
        assert!(matches!(err, LedgerError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("runs.sqlite"));
        assert_eq!(std::fs::read(state.join("runs.sqlite")).unwrap(), garbage);
    }

    #[test]
    fn records_come_back_in_slot_order() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(dir.path());
        for (tag, hour) in [("B", 11), ("A", 11), ("C", 9)] {
            ledger.record(&record(tag, hour)).unwrap();
        }
        let from = Utc.with_ymd_and_hms(2024, 11, 29, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2024, 11, 30, 0, 0, 0).unwrap();
        let tags: Vec<_> = ledger
            .records_between(from, to)
            .unwrap()
            .into_iter()
            .map(|r| r.tag)
            .collect();
        assert_eq!(tags, ["C", "A", "B"]);
    }

    #[test]
    fn outcomes_are_counted_by_job_status_and_reason_in_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(dir.path());
        let with = |tag: &str, hour, status, reason: Option<&str>| RunRecord {
            status,
            reason: reason.map(String::from),
            ..record(tag, hour)
        };
        for r in [
            with("SCAN", 9, Status::Ok, None),
            with("SCAN", 10, Status::Ok, None),
            with("SCAN", 11, Status::Skipped, Some("no_data")),
            with("PM", 9, Status::Skipped, Some("no_data")),
            with("PM", 10, Status::Failed, Some("timeout")),
            with("PM", 23, Status::Ok, None),
        ] {
            ledger.record(&r).unwrap();
        }
        let from = Utc.with_ymd_and_hms(2024, 11, 29, 0, 0, 0).unwrap();
        // 23:00 ET is 04:00 UTC the next day: outside.
        let to = Utc.with_ymd_and_hms(2024, 11, 30, 0, 0, 0).unwrap();
        let counted: Vec<(String, Status, Option<String>, usize)> = ledger
            .outcomes_between(from, to)
            .unwrap()
            .into_iter()
            .map(|o| (o.tag, o.status, o.reason, o.count))
            .collect();
        let no_data = Some("no_data".to_string());
        assert_eq!(
            counted,
            [
                ("PM".into(), Status::Failed, Some("timeout".into()), 1),
                ("PM".into(), Status::Skipped, no_data.clone(), 1),
                ("SCAN".into(), Status::Ok, None, 2),
                ("SCAN".into(), Status::Skipped, no_data, 1),
            ]
        );
    }
}
