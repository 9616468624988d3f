//! A replay's run-ledger rows, inserted and committed on a thread of their own while the next
//! slots run: the jobs log, written first on the caller's thread, stays the record of what was
//! done, and the database follows it a few rows behind.
//!
//! Inserting and committing 17,580 rows was 15 % of the samples of a 2-year replay's one busy
//! thread (perf); on the second core it overlaps the jobs. What keeps a kill harmless is the same
//! as for a batch not yet committed: every line the database lacks is within the log's tail
//! that the next open adopts, because the caller makes room (waits for a commit) before it
//! logs a line that would take the uncommitted lines past `BATCH_BYTES`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::{insert, LedgerError, RunRecord};

/// Rows go to the writer in bunches of about this many bytes of log lines: handed over one at
/// a time (a wake-up of its thread each), the replay was no faster than inserting them itself.
const HAND_OFF_BYTES: usize = 8 * 1024;
/// The writer commits once this many rows are in its open transaction...
const BATCH_RECORDS: usize = 256;
/// ...or once their log lines pass this size: with a bunch queued and one being gathered, the
/// uncommitted lines stay below `BATCH_BYTES`, so a caller rarely waits.
const COMMIT_BYTES: usize = 24 * 1024;
/// Log lines whose rows are not committed never pass this size: well inside the 64 KiB tail
/// `adopt_logged` reads back at the next open.
pub(super) const BATCH_BYTES: usize = 48 * 1024;
/// Bunches the channel holds. `make_room` waits for a commit well before it fills (about six
/// bunches of 8 KiB reach `BATCH_BYTES`): it bounds memory, it is not what makes a caller wait.
const QUEUE: usize = 16;

type Read = Box<dyn FnOnce(&Connection) + Send>;

/// One record's row: the record and its log line.
struct Row {
    record: RunRecord,
    line: String,
}

enum Job {
    Rows(Vec<Row>),
    /// Commit what is open, then answer.
    Settle(SyncSender<()>),
    /// Runs on the writer's connection, after every row sent before it.
    Read(Read),
    /// A kill in a test: the connection goes without committing.
    #[cfg(test)]
    Abandon,
    /// A writer that falls behind, in a test: nothing is written until the sender drops.
    #[cfg(test)]
    Hold(Receiver<()>),
}

/// What the writer and its callers share.
#[derive(Default)]
struct Shared {
    /// Bytes of logged lines whose rows are not committed yet.
    unsettled: AtomicUsize,
    /// The first failure; from then on no row is inserted and every call returns it.
    failure: OnceLock<String>,
}

impl Shared {
    fn failed(&self) -> Result<(), LedgerError> {
        match self.failure.get() {
            Some(reason) => Err(LedgerError::WriterFailed(reason.clone())),
            None => Ok(()),
        }
    }
}

/// The handle to the writer thread; dropping it commits the last rows and joins the thread.
pub(super) struct BatchWriter {
    /// Rows not handed to the writer yet, and the bytes of their lines.
    gathered: Vec<Row>,
    gathered_bytes: usize,
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl BatchWriter {
    pub(super) fn spawn(db: Connection) -> Result<Self, LedgerError> {
        let shared = Arc::new(Shared::default());
        let (jobs, queue) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("run-ledger".into())
            .spawn({
                let shared = shared.clone();
                move || write_rows(db, queue, &shared)
            })
            .map_err(|e| LedgerError::WriterFailed(format!("cannot start its thread: {e}")))?;
        Ok(Self {
            gathered: Vec::new(),
            gathered_bytes: 0,
            jobs: Some(jobs),
            thread: Some(thread),
            shared,
        })
    }

    /// Before logging a line of `bytes`: an earlier failure is returned, and a commit is
    /// waited for if the line would take the uncommitted lines past `BATCH_BYTES`.
    pub(super) fn make_room(&mut self, bytes: usize) -> Result<(), LedgerError> {
        self.shared.failed()?;
        // A thread that has ended (a panic) set no failure: no row would be written again.
        if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            return Err(gone());
        }
        if self.shared.unsettled.load(Ordering::Acquire) + bytes > BATCH_BYTES {
            self.settle()?;
        }
        Ok(())
    }

    /// Queues the row of a logged line.
    pub(super) fn push(&mut self, record: &RunRecord, line: String) -> Result<(), LedgerError> {
        let bytes = line.len() + 1;
        self.shared.unsettled.fetch_add(bytes, Ordering::AcqRel);
        self.gathered.push(Row {
            record: record.clone(),
            line,
        });
        self.gathered_bytes += bytes;
        if self.gathered_bytes >= HAND_OFF_BYTES {
            self.hand_off()?;
        }
        Ok(())
    }

    /// Sends the gathered rows to the writer.
    fn hand_off(&mut self) -> Result<(), LedgerError> {
        if self.gathered.is_empty() {
            return Ok(());
        }
        self.gathered_bytes = 0;
        let rows = std::mem::take(&mut self.gathered);
        self.send(Job::Rows(rows))
    }

    /// Waits until every row pushed so far is committed.
    pub(super) fn settle(&mut self) -> Result<(), LedgerError> {
        self.hand_off()?;
        let (done, wait) = sync_channel(1);
        self.send(Job::Settle(done))?;
        // No answer means the thread has ended: only a panic does that.
        wait.recv().map_err(|_| gone())?;
        self.shared.failed()
    }

    /// `read` on the writer's connection, which has every row pushed before it.
    pub(super) fn read<T: Send + 'static>(
        &mut self,
        read: impl FnOnce(&Connection) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.shared.failed()?;
        self.hand_off()?;
        let (answer, wait) = sync_channel(1);
        self.send(Job::Read(Box::new(move |db| {
            let _ = answer.send(read(db));
        })))?;
        let answer = wait.recv().map_err(|_| gone())?;
        // A row handed over with this read may have failed: then the answer lacks it.
        self.shared.failed()?;
        answer
    }

    fn send(&self, job: Job) -> Result<(), LedgerError> {
        self.jobs
            .as_ref()
            .expect("only drop takes the sender")
            .send(job)
            .map_err(|_| gone())
    }

    /// Holds the writer until the returned sender is dropped.
    #[cfg(test)]
    pub(super) fn hold(&mut self) -> SyncSender<()> {
        self.hand_off().unwrap();
        let (release, held) = sync_channel(0);
        self.send(Job::Hold(held)).unwrap();
        release
    }

    /// Ends the thread as a kill would: what is not committed is rolled back.
    #[cfg(test)]
    pub(super) fn abandon(mut self) {
        let _ = self.hand_off();
        let _ = self.send(Job::Abandon);
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn gone() -> LedgerError {
    LedgerError::WriterFailed("its thread has ended".into())
}

impl Drop for BatchWriter {
    /// The last rows are committed on the way out. Should that fail, nothing is lost: every
    /// record is in the jobs log, and the next open adopts it.
    fn drop(&mut self) {
        if let Err(e) = self.hand_off() {
            tracing::error!(error = %e, "run ledger: the last rows were not written; the jobs log keeps them for the next start");
        }
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The open transaction's rows and the bytes of their log lines.
#[derive(Default)]
struct Batch {
    rows: usize,
    bytes: usize,
}

fn write_rows(db: Connection, queue: Receiver<Job>, shared: &Shared) {
    let mut batch = Batch::default();
    let fail = |e: LedgerError| {
        tracing::error!(error = %e, "run ledger: a row was not written; the jobs log keeps it for the next start");
        let _ = shared.failure.set(e.to_string());
    };
    let failed = || shared.failed().is_err();
    for job in queue {
        match job {
            Job::Rows(rows) => {
                for row in rows {
                    if failed() {
                        break;
                    }
                    if let Err(e) = add(&db, &mut batch, &row) {
                        fail(e);
                        break;
                    }
                    if batch.rows >= BATCH_RECORDS || batch.bytes >= COMMIT_BYTES {
                        if let Err(e) = commit(&db, &mut batch, shared) {
                            fail(e);
                        }
                    }
                }
            }
            Job::Settle(done) => {
                if !failed() {
                    if let Err(e) = commit(&db, &mut batch, shared) {
                        fail(e);
                    }
                }
                let _ = done.send(());
            }
            Job::Read(read) => read(&db),
            #[cfg(test)]
            Job::Abandon => return,
            #[cfg(test)]
            Job::Hold(held) => while held.recv().is_ok() {},
        }
    }
    if !failed() {
        if let Err(e) = commit(&db, &mut batch, shared) {
            fail(e);
        }
    }
    crate::db_check::sync_before_close(&db, "run ledger");
}

/// Inserts `row` into the open transaction, beginning one if none is open.
fn add(db: &Connection, batch: &mut Batch, row: &Row) -> Result<(), LedgerError> {
    if batch.rows == 0 {
        db.execute_batch("BEGIN")?;
    }
    batch.rows += 1;
    batch.bytes += row.line.len() + 1;
    insert(db, &row.record, &row.line)
}

/// Commits the open transaction, if any, and counts its lines as settled.
fn commit(db: &Connection, batch: &mut Batch, shared: &Shared) -> Result<(), LedgerError> {
    if batch.rows > 0 {
        db.execute_batch("COMMIT")?;
        shared.unsettled.fetch_sub(batch.bytes, Ordering::AcqRel);
    }
    *batch = Batch::default();
    Ok(())
}
