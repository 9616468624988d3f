//! What the runtime knows of a job: a tag, a body to run on a slot, and how it went.
//!
//! The application implements `Job`; the runtime never knows what a job does.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::clock::Clock;
use crate::reason::{FailReason, Reason};

/// Everything a job body may know about the slot it runs for.
#[derive(Clone)]
pub struct JobContext {
    pub tag: String,
    pub session: NaiveDate,
    pub slot: DateTime<Tz>,
    /// When the run started, on the runtime's clock (simulated in a replay).
    pub started: DateTime<Utc>,
    pub clock: Arc<dyn Clock>,
    /// The kill switch was active when the run started: manage what is open, never enter.
    pub manage_only: bool,
    /// The kill switch as it is now: a body checks it again right before each new entry, so
    /// a switch engaged mid-run stops entries at once.
    pub kill_switch: Arc<AtomicBool>,
}

impl JobContext {
    /// Whether a new entry may be sent now (never while the kill switch is on).
    pub fn entries_allowed(&self) -> bool {
        !self.manage_only && !self.kill_switch.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A finished run that did not fail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobOutput {
    /// Set when the job decided not to do its work (e.g. `no_api_key`): recorded as `skipped`
    /// with this text as it is (`Reason::Job`). The runtime's own reasons are `SkipReason`s.
    pub skipped_reason: Option<String>,
    pub detail: String,
}

impl JobOutput {
    pub fn ok(detail: impl Into<String>) -> Self {
        Self {
            skipped_reason: None,
            detail: detail.into(),
        }
    }

    pub fn skipped(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            skipped_reason: Some(reason.into()),
            detail: detail.into(),
        }
    }
}

/// How a run failed. A recoverable failure is recorded and the next slot runs as usual; an
/// unrecoverable one also restarts the job actor (counted against the restart limit).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JobError {
    #[error("{0}")]
    Recoverable(String),
    #[error("{0}")]
    Unrecoverable(String),
    /// State the run relies on could not be read or written (a database in doubt, a full
    /// disk): recorded, then the whole run stops — it never trades on without its records.
    #[error("{0}")]
    Storage(String),
    /// The run did its work, but found something a person must look at now (an answer kobe
    /// does not understand): recorded failed, and health turns degraded at once until the job
    /// runs ok again.
    #[error("{0}")]
    Attention(String),
}

/// A job body. `run` is called on a blocking thread, one run at a time per tag.
pub trait Job: Send + Sync + 'static {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError>;
}

/// Builds a fresh job: called at start and again each time the job actor restarts, so a job
/// that panicked starts over from clean state.
pub type JobFactory = Arc<dyn Fn() -> Arc<dyn Job> + Send + Sync>;

/// How a job body ended, whatever ran it (the job actor or `kobe run-job`).
#[derive(Debug)]
pub enum RunEnd {
    Returned(Result<JobOutput, JobError>),
    Panicked(Box<dyn std::any::Any + Send>),
    TimedOut(std::time::Duration),
}

/// What gets recorded for a run, and whether the job must be restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: crate::ledger::Status,
    pub reason: Option<Reason>,
    pub detail: String,
    /// Panics and unrecoverable errors restart the job (counted against the restart limit).
    pub restart: bool,
    /// A storage failure: the run must stop.
    pub halt: bool,
}

impl From<RunEnd> for Outcome {
    fn from(end: RunEnd) -> Self {
        use crate::ledger::Status;
        let halt = matches!(end, RunEnd::Returned(Err(JobError::Storage(_))));
        let (status, reason, detail, restart) = match end {
            RunEnd::TimedOut(limit) => (
                Status::Failed,
                Some(FailReason::Timeout.into()),
                format!("still running after {}s", limit.as_secs()),
                false,
            ),
            RunEnd::Panicked(payload) => (
                Status::Failed,
                Some(FailReason::Panic.into()),
                panic_message(payload),
                true,
            ),
            RunEnd::Returned(Err(JobError::Recoverable(m))) => (Status::Failed, None, m, false),
            RunEnd::Returned(Err(JobError::Attention(m))) => {
                (Status::Failed, Some(FailReason::Attention.into()), m, false)
            }
            RunEnd::Returned(Err(JobError::Storage(m))) => {
                (Status::Failed, Some(FailReason::Storage.into()), m, false)
            }
            RunEnd::Returned(Err(JobError::Unrecoverable(m))) => (
                Status::Failed,
                Some(FailReason::Unrecoverable.into()),
                m,
                true,
            ),
            RunEnd::Returned(Ok(JobOutput {
                skipped_reason: Some(r),
                detail,
            })) => (Status::Skipped, Some(Reason::Job(r)), detail, false),
            RunEnd::Returned(Ok(JobOutput {
                skipped_reason: None,
                detail,
            })) => (Status::Ok, None, detail, false),
        };
        Self {
            status,
            reason,
            detail,
            restart,
            halt,
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_string());
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Status;

    #[test]
    fn a_storage_failure_is_recorded_failed_and_stops_the_run() {
        let end = RunEnd::Returned(Err(JobError::Storage(
            "ledger.sqlite: disk I/O error".into(),
        )));
        let outcome = Outcome::from(end);
        assert_eq!(outcome.status, Status::Failed);
        assert_eq!(outcome.reason.map(String::from).as_deref(), Some("storage"));
        assert!(outcome.halt && !outcome.restart);
        let recoverable = Outcome::from(RunEnd::Returned(Err(JobError::Recoverable("x".into()))));
        assert!(!recoverable.halt);
    }
}
