//! The small typed messages the runtime's actors exchange.

use actix::Message;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::ledger::Status;

/// Clock → job actor: the slot of `tag` due at `slot` is here. Answers how it ended, or `None`
/// if the ledger already had it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Status>")]
pub struct Tick {
    pub tag: String,
    pub session: NaiveDate,
    pub slot: DateTime<Tz>,
}

/// Kill switch → every subscriber: the switch changed (its new state).
pub type KillSwitchChanged = crate::view::KillSwitchStatus;

impl Message for crate::view::KillSwitchStatus {
    type Result = ();
}

/// Job actor → supervisor: the job panicked or failed unrecoverably and is restarting.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct JobCrashed {
    pub tag: String,
    pub at: DateTime<Utc>,
}

/// Job actor → supervisor: a slot's state could not be kept (its record, or the body's own
/// records): the run stops, non-zero, naming what failed.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct StorageFailed {
    pub error: String,
}

/// Supervisor → job actor: past its restart limit; record its slots as skipped from now on.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Disable;

/// Clock actor → supervisor: the simulated range is over (replay done), or the clock could not
/// go on (`error`: the run ledger failed during a replay).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ClockFinished {
    pub error: Option<String>,
}

/// Anyone → supervisor: stop gracefully (SIGINT/SIGTERM).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// What the runtime tells the application as it happens (for notifications): a plain callback,
/// so the runtime need not know who listens.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    KillSwitch(crate::view::KillSwitchStatus),
    JobGaveUp {
        tag: String,
        crashes: usize,
    },
    /// State could not be read or written: the run is stopping.
    StorageFailed {
        error: String,
    },
}

pub type EventHook = std::sync::Arc<dyn Fn(RuntimeEvent) + Send + Sync>;
