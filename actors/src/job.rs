//! What the runtime knows of a job: a tag, a body to run on a slot, and how it went.
//!
//! The application implements `Job`; the runtime never knows what a job does.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::clock::Clock;

/// Everything a job body may know about the slot it runs for.
#[derive(Clone)]
pub struct JobContext {
    pub tag: String,
    pub session: NaiveDate,
    pub slot: DateTime<Tz>,
    /// When the run started, on the runtime's clock (simulated in a replay).
    pub started: DateTime<Utc>,
    pub clock: Arc<dyn Clock>,
    /// The kill switch is active: the job may only manage what is open, never enter.
    pub manage_only: bool,
}

/// A finished run that did not fail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobOutput {
    /// Set when the job decided not to do its work (e.g. `no_api_key`): recorded as `skipped`.
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
}

/// A job body. `run` is called on a blocking thread, one run at a time per tag.
pub trait Job: Send + Sync + 'static {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError>;
}

/// Builds a fresh job: called at start and again each time the job actor restarts, so a job
/// that panicked starts over from clean state.
pub type JobFactory = Arc<dyn Fn() -> Arc<dyn Job> + Send + Sync>;
