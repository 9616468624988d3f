//! The run ledger: which (job, slot) has been dealt with, in `state/runs.sqlite`, mirrored one
//! line per slot in `logs/jobs.jsonl`.
//!
//! The ledger is what makes "no slot runs twice" hold across restarts. A record is appended to
//! the jobs log first and inserted into SQLite second; if the process dies between the two, the
//! log's last line is adopted into SQLite at the next open, so the log never gains a duplicate
//! and never loses a line.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::db_check::{self, Found};
use crate::jsonl::{last_lines, JsonlWriter};

mod batch;

use batch::BatchWriter;

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
    #[error(
        "run ledger: its writer failed ({0}); the jobs log keeps every record for the next start"
    )]
    WriterFailed(String),
}

struct Inner {
    log: JsonlWriter,
    rows: Rows,
}

/// Where a record's row goes once its line is logged.
enum Rows {
    /// Inserted and committed before `record` returns.
    Direct(DirectRows),
    /// A replay's: inserted and committed in batches on a thread of their own (`batch`; a
    /// commit per slot was a tenth of a replay's time). The jobs log still gets each line
    /// before its row, and opening adopts every logged line the database lacks, so a replay
    /// killed with rows uncommitted resumes exactly where its log says it was.
    Batched {
        writer: BatchWriter,
        /// The recorded slots, their `slot_utc` by tag: the ledger has the home to itself, so
        /// "is it done" is answered here, not by a query (four per slot in a replay).
        known: HashMap<String, HashSet<i64>>,
    },
}

/// A connection that commits each row itself; one opened for a replay's durability (the
/// benches, tests) makes its last checkpoint durable as it closes, as a batched one does.
struct DirectRows {
    db: Connection,
    sync_on_close: bool,
}

impl std::ops::Deref for DirectRows {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.db
    }
}

impl Drop for DirectRows {
    fn drop(&mut self) {
        if self.sync_on_close {
            db_check::sync_before_close(&self.db, "run ledger");
        }
    }
}

impl Inner {
    fn exists(&self, tag: &str, slot_utc: i64) -> Result<bool, LedgerError> {
        match &self.rows {
            Rows::Batched { known, .. } => Ok(known
                .get(tag)
                .is_some_and(|slots| slots.contains(&slot_utc))),
            Rows::Direct(db) => Ok(exists(db, tag, slot_utc)?),
        }
    }

    /// `read` on the ledger's connection, which has every record stored before it.
    fn read<T: Send + 'static>(
        &mut self,
        read: impl FnOnce(&Connection) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        match &mut self.rows {
            Rows::Direct(db) => read(db),
            Rows::Batched { writer, .. } => writer.read(read),
        }
    }
}

/// Called with each record once it is stored (the runtime view and metrics listen here).
pub type RecordObserver = Box<dyn Fn(&RunRecord) + Send + Sync>;

/// The run ledger. Cheap to share: one mutex serialises records, which are a few a minute.
pub struct RunLedger {
    inner: Mutex<Inner>,
    observers: Mutex<Vec<RecordObserver>>,
    durability: Durability,
    jobs_log: PathBuf,
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

    /// `open` for a replay: rows are inserted and committed in batches on a thread of their
    /// own (see `Rows::Batched`). Only a process that has the home to itself (the runner holds
    /// its lock) may batch: another process writing the ledger would wait on the open
    /// transaction.
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
        db_check::set_synchronous(&db, durability)?;
        migrate(&db).map_err(corrupt)?;

        let (log, repaired) = JsonlWriter::open(&jobs_log).map_err(|source| LedgerError::Io {
            path: jobs_log.clone(),
            source,
        })?;
        if repaired > 0 {
            tracing::warn!(path = %jobs_log.display(), bytes = repaired, "cut a torn last line from the jobs log");
        }
        adopt_logged(&db, &jobs_log)?;
        let rows = if batched {
            let known = recorded_slots(&db)?;
            Rows::Batched {
                writer: BatchWriter::spawn(db)?,
                known,
            }
        } else {
            Rows::Direct(DirectRows {
                db,
                sync_on_close: durability == Durability::ProcessCrash,
            })
        };
        Ok(Self {
            inner: Mutex::new(Inner { log, rows }),
            observers: Mutex::new(Vec::new()),
            durability,
            jobs_log,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave SQLite or the file half-written beyond
        // what the crash-recovery path already handles.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the slot of `tag` due at `slot` has been recorded (run, failed or skipped).
    pub fn is_done(&self, tag: &str, slot: DateTime<Utc>) -> Result<bool, LedgerError> {
        self.lock().exists(tag, slot.timestamp())
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
        let bytes = line.len() + 1;
        let mut inner = self.lock();
        let slot = record.slot_et.with_timezone(&Utc).timestamp();
        let exists = inner.exists(&record.tag, slot)?;
        // A replay's ledger records each slot once; only one that writes its own rows replaces
        // one (`kobe run-job --force`, which never runs in a replay).
        let batched = matches!(inner.rows, Rows::Batched { .. });
        if exists && (!replace || batched) {
            return Err(LedgerError::AlreadyRecorded {
                tag: record.tag.clone(),
                slot: record.slot_et.to_rfc3339(),
            });
        }
        // Never more uncommitted lines than a start reads back to adopt.
        if let Rows::Batched { writer, .. } = &mut inner.rows {
            writer.make_room(bytes)?;
        }
        let io = |source| LedgerError::Io {
            path: self.jobs_log.clone(),
            source,
        };
        inner.log.append(&line).map_err(io)?;
        if self.durability == Durability::PowerLoss {
            inner.log.sync().map_err(io)?;
        }
        match &mut inner.rows {
            Rows::Direct(db) => {
                if replace {
                    db.prepare_cached("DELETE FROM runs WHERE tag = ?1 AND slot_utc = ?2")?
                        .execute(params![record.tag, slot])?;
                }
                insert(db, record, &line)?;
            }
            Rows::Batched { writer, known } => {
                writer.push(record, line)?;
                match known.get_mut(&record.tag) {
                    Some(slots) => slots.insert(slot),
                    None => known.entry(record.tag.clone()).or_default().insert(slot),
                };
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

    /// Commits every record stored so far (a batched ledger's last rows), or says why not: a
    /// replay's end, before its summary is read.
    pub fn flush(&self) -> Result<(), LedgerError> {
        match &mut self.lock().rows {
            Rows::Direct(_) => Ok(()),
            Rows::Batched { writer, .. } => writer.settle(),
        }
    }

    /// The record of one slot, if any.
    pub fn get(&self, tag: &str, slot: DateTime<Utc>) -> Result<Option<RunRecord>, LedgerError> {
        let tag = tag.to_string();
        let text: Option<String> = self.lock().read(move |db| {
            Ok(db
                .query_row(
                    "SELECT record FROM runs WHERE tag = ?1 AND slot_utc = ?2",
                    params![tag, slot.timestamp()],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        // A stored record that does not parse is damage, never "no record".
        text.as_deref().map(parse_stored).transpose()
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
        let texts: Vec<String> = self.lock().read(move |db| {
            let mut stmt = db.prepare(
                "SELECT record FROM runs WHERE slot_utc >= ?1 AND slot_utc < ?2 ORDER BY slot_utc, tag",
            )?;
            let rows = stmt.query_map(params![from.timestamp(), to.timestamp()], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        texts.iter().map(|t| parse_stored(t)).collect()
    }

    /// How the slots in `[from, to)` ended, counted by job, status and reason: a replay's
    /// summary, without reading back its thousands of records.
    pub fn outcomes_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SlotOutcomes>, LedgerError> {
        type Counted = (String, String, Option<String>, usize);
        let counted: Vec<Counted> = self.lock().read(move |db| {
            let mut stmt = db.prepare(
                "SELECT tag, status, reason, COUNT(*) FROM runs WHERE slot_utc >= ?1 AND slot_utc < ?2
                 GROUP BY tag, status, reason ORDER BY tag, status, reason",
            )?;
            let rows = stmt.query_map(params![from.timestamp(), to.timestamp()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        let mut out = Vec::new();
        for (tag, status, reason, count) in counted {
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
        let last: Option<i64> = self
            .lock()
            .read(|db| Ok(db.query_row("SELECT MAX(slot_utc) FROM runs", [], |r| r.get(0))?))?;
        Ok(last.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)))
    }
}

/// A record as the ledger stored it; one that does not parse is the ledger's damage.
fn parse_stored(text: &str) -> Result<RunRecord, LedgerError> {
    serde_json::from_str(text).map_err(|e| LedgerError::Corrupt {
        path: PathBuf::from("runs.sqlite"),
        reason: format!("a stored record does not parse: {e}"),
    })
}

fn exists(db: &Connection, tag: &str, slot_utc: i64) -> rusqlite::Result<bool> {
    db.prepare_cached("SELECT 1 FROM runs WHERE tag = ?1 AND slot_utc = ?2")?
        .query_row(params![tag, slot_utc], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// Every slot the ledger holds, by tag.
fn recorded_slots(db: &Connection) -> rusqlite::Result<HashMap<String, HashSet<i64>>> {
    let mut known: HashMap<String, HashSet<i64>> = HashMap::new();
    let mut stmt = db.prepare("SELECT tag, slot_utc FROM runs")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
        let (tag, slot) = row?;
        known.entry(tag).or_default().insert(slot);
    }
    Ok(known)
}

/// A process that died after logging records but before inserting them (one record, or
/// batched rows not yet committed) left them as the log's last lines: insert them so their
/// slots are not run again. Every line of the log's tail is offered; those the database has
/// are ignored.
fn adopt_logged(db: &Connection, jobs_log: &Path) -> Result<(), LedgerError> {
    let lines = last_lines(jobs_log).map_err(|source| LedgerError::Io {
        path: jobs_log.to_path_buf(),
        source,
    })?;
    for line in lines {
        match serde_json::from_str::<RunRecord>(&line) {
            Ok(record) => insert(db, &record, &line)?,
            Err(e) => {
                tracing::warn!(path = %jobs_log.display(), error = %e, "a jobs-log line is not a run record; left as is");
            }
        }
    }
    Ok(())
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
mod tests;
