//! One actor per job tag: runs each tick's slot through the slot protocol (`slot`), one run at
//! a time, and restarts the job after a panic or an unrecoverable failure.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::clock::Clock;
use crate::job::{Job, JobFactory};
use crate::ledger::{RunLedger, Status};
use crate::messages::{Disable, JobCrashed, StorageFailed, Tick};
use crate::schedule::JobPlan;
use crate::slot::{Gate, LockPolicy, SlotEnd, SlotError, SlotProtocol};

/// Counts a tick as in flight until its outcome is recorded (dropped after `record`).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct JobActor {
    factory: JobFactory,
    job: Arc<dyn Job>,
    /// The plan, the ledger, the clock, the kill switch, the running flag (`Drain` waits on
    /// it at shutdown) and the job lock: how each tick's slot is run and recorded.
    protocol: SlotProtocol,
    /// Ticks accepted whose outcome is not recorded yet (shutdown drains them).
    in_flight: Arc<AtomicUsize>,
    /// Past the restart limit: slots are recorded as skipped.
    disabled: bool,
    crashes: Recipient<JobCrashed>,
    /// Told when a slot's state could not be kept: the run stops.
    storage: Recipient<StorageFailed>,
    /// See `JobActorSetup::inline`.
    inline: bool,
}

/// The state a job actor starts from, besides its plan and body.
pub struct JobActorSetup {
    pub running: Arc<AtomicBool>,
    pub ledger: Arc<RunLedger>,
    pub clock: Arc<dyn Clock>,
    pub crashes: Recipient<JobCrashed>,
    pub storage: Recipient<StorageFailed>,
    /// `state/locks`: a run holds its job's lock, so `kobe run-job` never runs it at once.
    pub locks_dir: Option<PathBuf>,
    /// Shared with the kill-switch actor, which sets it before telling anyone.
    pub kill_switch: Arc<AtomicBool>,
    /// Run bodies on the actor's own thread, to their end (a replay; see
    /// `Admitted::run_inline`), instead of on the blocking pool with a timeout.
    pub inline: bool,
}

impl JobActor {
    pub fn new(plan: JobPlan, factory: JobFactory, setup: JobActorSetup) -> Self {
        let job = factory();
        // `kobe run-job` holds the lock for one run: wait for it (half the timeout), then the
        // ledger is checked again under it.
        let lock = LockPolicy::Wait(plan.timeout / 2);
        Self {
            factory,
            job,
            protocol: SlotProtocol {
                plan,
                ledger: setup.ledger,
                clock: setup.clock,
                kill_switch: setup.kill_switch,
                running: setup.running,
                locks_dir: setup.locks_dir,
                lock,
                force: false,
            },
            in_flight: Arc::new(AtomicUsize::new(0)),
            disabled: false,
            crashes: setup.crashes,
            storage: setup.storage,
            inline: setup.inline,
        }
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;
}

impl Supervised for JobActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!(tag = %self.protocol.plan.tag, "restarting job actor with a fresh job");
        self.job = (self.factory)();
    }
}

/// Asks the actor to stop so that its actix supervisor restarts it.
#[derive(Message)]
#[rtype(result = "()")]
struct Restart;

impl Handler<Restart> for JobActor {
    type Result = ();
    fn handle(&mut self, _: Restart, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Disable> for JobActor {
    type Result = ();
    fn handle(&mut self, _: Disable, _ctx: &mut Context<Self>) {
        tracing::error!(tag = %self.protocol.plan.tag, "job past its restart limit: its slots are skipped until the runner restarts");
        self.disabled = true;
    }
}

/// Supervisor → job actor at shutdown: answers once every tick queued before it has its
/// outcome recorded (or the body is still running past the caller's patience).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

impl Handler<Drain> for JobActor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        let (running, in_flight) = (self.protocol.running.clone(), self.in_flight.clone());
        Box::pin(async move {
            while running.load(Ordering::SeqCst) || in_flight.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    }
}

impl Handler<Tick> for JobActor {
    type Result = ResponseActFuture<Self, Option<Status>>;

    fn handle(&mut self, tick: Tick, _ctx: &mut Context<Self>) -> Self::Result {
        let ready = |s: Option<Status>| -> Self::Result { Box::pin(actix::fut::ready(s)) };
        let tag = tick.tag.clone();
        let admitted = match self.protocol.admit(tick.into(), self.disabled) {
            Ok(Gate::Open(admitted)) => admitted,
            Ok(Gate::Closed(end)) => {
                // A gate's skip that could not be recorded stops the run like any other record.
                if let SlotEnd::Recorded(recorded) = &end {
                    if let Some(error) = recorded.halt.clone() {
                        self.storage.do_send(StorageFailed { error });
                    }
                }
                return ready(end.status());
            }
            Err(e) => {
                tracing::error!(tag = %tag, error = %e, "run ledger unreadable; slot not run");
                // Without the ledger no slot can be promised "never twice": the run stops.
                self.storage.do_send(StorageFailed {
                    error: format!("{tag}: {e}"),
                });
                return ready(None);
            }
        };
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let in_flight = InFlight(self.in_flight.clone());
        let run: std::pin::Pin<Box<dyn std::future::Future<Output = _>>> = if self.inline {
            Box::pin(actix::fut::ready(admitted.run_inline(self.job.clone())))
        } else {
            Box::pin(admitted.run(self.job.clone()))
        };
        Box::pin(run.into_actor(self).map(move |end, act, ctx| {
            let _in_flight = in_flight;
            let recorded = match end {
                Ok(SlotEnd::Recorded(recorded)) => recorded,
                Ok(_) => return None,
                Err(e) => {
                    tracing::error!(tag = %tag, error = %e, "slot not run");
                    // The ledger unreadable under the lock is the same doubt as before it.
                    if matches!(e, SlotError::Ledger(_)) {
                        act.storage.do_send(StorageFailed {
                            error: format!("{tag}: {e}"),
                        });
                    }
                    return None;
                }
            };
            if let Some(error) = recorded.halt.clone() {
                act.storage.do_send(StorageFailed { error });
            }
            if recorded.restart {
                act.crashes.do_send(JobCrashed {
                    tag: tag.clone(),
                    at: act.protocol.clock.now(),
                });
                ctx.notify(Restart);
            }
            Some(recorded.record.status)
        }))
    }
}
