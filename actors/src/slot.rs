//! One slot of one job, from "is it still to do" to its record: the gates that skip it (restart
//! limit, overlap, after the close, kill switch), the job lock, the ledger's "never twice"
//! checked again under that lock, the body on a thread of its own with a timeout and a panic
//! catch, and the record. The job actor and `kobe run-job` both run their slots through here;
//! what differs between them (wait for the lock or refuse, await or block, a forced rerun) is a
//! parameter.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::job::{Job, JobContext, JobError, JobOutput, Outcome, RunEnd};
use crate::ledger::{LedgerError, RunLedger, RunRecord, Status};
use crate::lock::JobLock;
use crate::messages::Tick;
use crate::reason::SkipReason;
use crate::schedule::{JobPlan, KillSwitchPolicy, Slot, SlotSkip};

/// The detail of an `after_close` skip found on time.
pub const AFTER_CLOSE_DETAIL: &str = "fixed time at or after the session's close";

/// How a caller takes the job's lock (`state/locks/TAG.lock`), which keeps the runner and
/// `kobe run-job` from running one job at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockPolicy {
    /// The runner, unattended: wait this long for the other holder, then record the slot
    /// `overlap` (a lock that cannot be taken at all is a recorded failure).
    Wait(Duration),
    /// `kobe run-job`, an operator watching: one try; a held lock is `SlotEnd::Busy` and a lock
    /// that cannot be taken is `SlotError::Lock`, with nothing recorded.
    TryOnce,
}

/// What the slots of one job run against: the job actor's for its whole life, or one
/// `kobe run-job`'s.
#[derive(Clone)]
pub struct SlotProtocol {
    /// The kill-switch policy and the timeout.
    pub plan: JobPlan,
    pub ledger: Arc<RunLedger>,
    /// Stamps the records and is the body's "now" (simulated in a replay or a past session).
    pub clock: Arc<dyn Clock>,
    /// The kill switch as it is now.
    pub kill_switch: Arc<AtomicBool>,
    /// True while a body of this job runs in this process. A body past its timeout keeps it
    /// set until it really ends, so the next slot is an overlap, not a second body.
    pub running: Arc<AtomicBool>,
    /// `state/locks`, or `None` when no other process shares the home (runtime tests).
    pub locks_dir: Option<PathBuf>,
    pub lock: LockPolicy,
    /// An operator's deliberate rerun (`kobe run-job --force`): the ledger's "done" does not
    /// stop it, and its record replaces the slot's.
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// Without the ledger "never twice" cannot be promised: the slot is not run.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot take the job lock: {0}")]
    Lock(std::io::Error),
}

/// How a slot was dealt with.
#[derive(Debug)]
pub enum SlotEnd {
    /// The ledger had it already: not run, nothing recorded.
    Done,
    /// Another process recorded it while this one waited for the job lock: not run.
    DoneMeanwhile,
    /// The job lock is held elsewhere and the policy is `TryOnce`: not run, nothing recorded.
    Busy,
    /// Skipped by a gate, or run: recorded.
    Recorded(Box<Recorded>),
}

impl SlotEnd {
    /// The recorded status, if anything was recorded.
    pub fn status(&self) -> Option<Status> {
        match self {
            SlotEnd::Recorded(r) => Some(r.record.status),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct Recorded {
    pub record: RunRecord,
    /// The body panicked or failed unrecoverably: the caller restarts the job.
    pub restart: bool,
    /// Whether the record reached the ledger (a failure is also logged).
    pub stored: Result<(), LedgerError>,
    /// The run must stop: the body could not keep its state, or this record was not kept.
    pub halt: Option<String>,
}

/// What the gates decided.
pub enum Gate {
    /// Not run: how the slot ended is known already.
    Closed(SlotEnd),
    /// Cleared to run; the job counts as running from now on.
    Open(Box<Admitted>),
}

impl From<Tick> for Slot {
    /// The clock records a slot due after the close itself, so a tick never carries a skip.
    fn from(tick: Tick) -> Self {
        Slot {
            tag: tick.tag,
            session: tick.session,
            at: tick.slot,
            skip: None,
        }
    }
}

impl SlotProtocol {
    /// The gates, in order: done already (unless forced), past the restart limit (`disabled`),
    /// still running, a fixed time after the close, the kill switch under a `skip` policy. A
    /// gate's skip is recorded here; an open gate marks the job running.
    pub fn admit(&self, slot: Slot, disabled: bool) -> Result<Gate, LedgerError> {
        if !self.force
            && self
                .ledger
                .is_done(&slot.tag, slot.at.with_timezone(&Utc))?
        {
            return Ok(Gate::Closed(SlotEnd::Done));
        }
        let kill_switch_active = self.kill_switch.load(Ordering::SeqCst);
        let skip = if disabled {
            Some((SkipReason::RestartLimit, "job is past its restart limit"))
        } else if self.running.load(Ordering::SeqCst) {
            Some((SkipReason::Overlap, "the previous run is still going"))
        } else if slot.skip == Some(SlotSkip::AfterClose) {
            Some((SkipReason::AfterClose, AFTER_CLOSE_DETAIL))
        } else if kill_switch_active && self.plan.kill_switch == KillSwitchPolicy::Skip {
            Some((SkipReason::KillSwitch, "kill switch is active"))
        } else {
            None
        };
        if let Some((reason, detail)) = skip {
            let now = self.clock.now();
            let recorded = self.record(&slot, now, Duration::ZERO, skipped(reason, detail));
            return Ok(Gate::Closed(SlotEnd::Recorded(Box::new(recorded))));
        }
        let context = JobContext {
            tag: slot.tag.clone(),
            session: slot.session,
            slot: slot.at,
            started: self.clock.now(),
            clock: self.clock.clone(),
            // Whatever the policy, no new entries while the switch is on.
            manage_only: kill_switch_active,
            kill_switch: self.kill_switch.clone(),
        };
        self.running.store(true, Ordering::SeqCst);
        Ok(Gate::Open(Box::new(Admitted {
            protocol: self.clone(),
            slot,
            context,
            running: RunningGuard(self.running.clone()),
        })))
    }

    /// Writes a slot's record (replacing the slot's when forced) and logs how it ended.
    fn record(
        &self,
        slot: &Slot,
        started: DateTime<Utc>,
        elapsed: Duration,
        outcome: Outcome,
    ) -> Recorded {
        let record = RunRecord {
            tag: slot.tag.clone(),
            session: slot.session,
            slot_et: slot.at.fixed_offset(),
            started,
            finished: self.clock.now(),
            duration_ms: elapsed.as_millis() as u64,
            status: outcome.status,
            reason: outcome.reason.map(String::from),
            detail: outcome.detail,
        };
        match record.status {
            Status::Failed => {
                tracing::warn!(tag = %record.tag, slot = %record.slot_et, reason = ?record.reason, detail = %record.detail, "job failed")
            }
            status => {
                tracing::info!(tag = %record.tag, slot = %record.slot_et, status = status.as_str(), reason = ?record.reason, "job slot done")
            }
        }
        let stored = if self.force {
            self.ledger.record_again(&record)
        } else {
            self.ledger.record(&record)
        };
        if let Err(e) = &stored {
            tracing::error!(tag = %record.tag, slot = %record.slot_et, error = %e, "could not record a job slot");
        }
        let halt = match &stored {
            Err(e) => Some(format!(
                "could not record {} {}: {e}",
                record.tag, record.slot_et
            )),
            Ok(()) if outcome.halt => Some(format!("{}: {}", record.tag, record.detail)),
            Ok(()) => None,
        };
        Recorded {
            record,
            restart: outcome.restart,
            stored,
            halt,
        }
    }
}

fn skipped(reason: SkipReason, detail: &str) -> Outcome {
    Outcome {
        status: Status::Skipped,
        reason: Some(reason.into()),
        detail: detail.to_string(),
        restart: false,
        halt: false,
    }
}

/// Clears the job's running flag when its body really ends, even after a timeout gave up
/// waiting for it or a panic unwound through it.
struct RunningGuard(Arc<AtomicBool>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// A slot cleared by the gates, its job not started yet.
pub struct Admitted {
    protocol: SlotProtocol,
    slot: Slot,
    context: JobContext,
    running: RunningGuard,
}

/// What happened on the body's thread.
enum Entered {
    Ran {
        result: Result<Result<JobOutput, JobError>, Box<dyn Any + Send>>,
        /// Held until the outcome is recorded, so the other process's re-check sees it.
        lock: Option<JobLock>,
    },
    /// Another process holds the job lock (past the wait, if any).
    Busy,
    LockFailed(std::io::Error),
    DoneMeanwhile,
    LedgerFailed(LedgerError),
}

/// How the wait for the body's thread ended.
enum Waited {
    Entered(Entered),
    TimedOut,
    /// The thread ended without a word (cannot happen short of a bug).
    Lost(String),
}

impl Admitted {
    /// Runs `job` on tokio's blocking pool and awaits it, at most the plan's timeout (the job
    /// actor: the body may outlive the wait, holding the running flag).
    pub async fn run(self, job: Arc<dyn Job>) -> Result<SlotEnd, SlotError> {
        let timeout = self.protocol.plan.timeout;
        let (finish, body) = self.split(job);
        let body = actix_rt::task::spawn_blocking(body);
        let waited = match tokio::time::timeout(timeout, body).await {
            Err(_) => Waited::TimedOut,
            Ok(Err(join)) => Waited::Lost(join.to_string()),
            Ok(Ok(entered)) => Waited::Entered(entered),
        };
        finish.finish(waited)
    }

    /// Runs `job` on the caller's thread, to its end: a replay's way. Its clock waits for each
    /// body anyway, and handing every body to another thread and back cost a replay a third of
    /// its time. The timeout is not enforced here: a body that never returned would stop the
    /// replay, which the same command resumes after a kill.
    pub fn run_inline(self, job: Arc<dyn Job>) -> Result<SlotEnd, SlotError> {
        let (finish, body) = self.split(job);
        finish.finish(Waited::Entered(body()))
    }

    /// Runs `job` on a thread of its own and blocks until it ends or the plan's timeout passes
    /// (`kobe run-job`: a body past its timeout ends with the process).
    pub fn run_blocking(self, job: Arc<dyn Job>) -> Result<SlotEnd, SlotError> {
        let timeout = self.protocol.plan.timeout;
        let (finish, body) = self.split(job);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(body());
        });
        let waited = match rx.recv_timeout(timeout) {
            Ok(entered) => Waited::Entered(entered),
            Err(RecvTimeoutError::Timeout) => Waited::TimedOut,
            Err(RecvTimeoutError::Disconnected) => {
                Waited::Lost("job thread ended without a result".into())
            }
        };
        finish.finish(waited)
    }

    /// The part that runs on the body's thread, and the part that records afterwards.
    fn split(self, job: Arc<dyn Job>) -> (Finish, impl FnOnce() -> Entered + Send + 'static) {
        let Admitted {
            protocol,
            slot,
            context,
            running,
        } = self;
        let lock = protocol.locks_dir.clone().map(|dir| (dir, protocol.lock));
        let (ledger, force) = (protocol.ledger.clone(), protocol.force);
        let finish = Finish {
            started: context.started,
            stopwatch: Instant::now(),
            protocol,
            slot,
        };
        let body = move || {
            let _running = running;
            enter(lock, &ledger, force, &context, &*job)
        };
        (finish, body)
    }
}

/// On the body's thread: the job lock, the ledger checked again under it (the other process
/// may have done the slot meanwhile), then the body, its panic caught.
fn enter(
    lock: Option<(PathBuf, LockPolicy)>,
    ledger: &RunLedger,
    force: bool,
    context: &JobContext,
    job: &dyn Job,
) -> Entered {
    let lock = match lock {
        None => None,
        Some((dir, policy)) => {
            let wait = match policy {
                LockPolicy::Wait(limit) => limit,
                LockPolicy::TryOnce => Duration::ZERO,
            };
            match JobLock::acquire_within(&dir, &context.tag, wait) {
                Ok(Some(held)) => Some(held),
                Ok(None) => return Entered::Busy,
                Err(e) => return Entered::LockFailed(e),
            }
        }
    };
    if !force {
        match ledger.is_done(&context.tag, context.slot.with_timezone(&Utc)) {
            Ok(true) => return Entered::DoneMeanwhile,
            Ok(false) => {}
            Err(e) => return Entered::LedgerFailed(e),
        }
    }
    let result = catch_unwind(AssertUnwindSafe(|| job.run(context)));
    Entered::Ran { result, lock }
}

/// Turns what the body's thread reported into the slot's end, recording it.
struct Finish {
    protocol: SlotProtocol,
    slot: Slot,
    started: DateTime<Utc>,
    stopwatch: Instant,
}

impl Finish {
    fn finish(self, waited: Waited) -> Result<SlotEnd, SlotError> {
        let try_once = self.protocol.lock == LockPolicy::TryOnce;
        let mut held = None;
        let outcome = match waited {
            Waited::TimedOut => Outcome::from(RunEnd::TimedOut(self.protocol.plan.timeout)),
            Waited::Lost(why) => Outcome::from(RunEnd::Returned(Err(JobError::Recoverable(why)))),
            Waited::Entered(Entered::Ran { result, lock }) => {
                held = lock;
                Outcome::from(match result {
                    Ok(returned) => RunEnd::Returned(returned),
                    Err(payload) => RunEnd::Panicked(payload),
                })
            }
            Waited::Entered(Entered::Busy) if try_once => return Ok(SlotEnd::Busy),
            Waited::Entered(Entered::Busy) => skipped(
                SkipReason::Overlap,
                "another process (kobe run-job) is running this job",
            ),
            Waited::Entered(Entered::LockFailed(e)) if try_once => return Err(SlotError::Lock(e)),
            Waited::Entered(Entered::LockFailed(e)) => Outcome::from(RunEnd::Returned(Err(
                JobError::Recoverable(SlotError::Lock(e).to_string()),
            ))),
            Waited::Entered(Entered::DoneMeanwhile) => return Ok(SlotEnd::DoneMeanwhile),
            Waited::Entered(Entered::LedgerFailed(e)) => return Err(e.into()),
        };
        let recorded =
            self.protocol
                .record(&self.slot, self.started, self.stopwatch.elapsed(), outcome);
        drop(held);
        Ok(SlotEnd::Recorded(Box::new(recorded)))
    }
}

#[cfg(test)]
mod tests;
