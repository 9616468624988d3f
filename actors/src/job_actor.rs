//! One actor per job tag: runs a job's slots one at a time, with a timeout, and records how
//! each ended in the run ledger.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use crate::clock::Clock;
use crate::job::{Job, JobContext, JobError, JobFactory, JobOutput, Outcome, RunEnd};
use crate::ledger::{RunLedger, RunRecord, Status};
use crate::lock::JobLock;
use crate::messages::{Disable, JobCrashed, Tick};
use crate::schedule::{JobPlan, KillSwitchPolicy};

/// The skip reason of a slot that found its job still running (here, or in `kobe run-job`).
pub const OVERLAP: &str = "overlap";

/// Clears the job's running flag when its body really ends, even after a timeout gave up
/// waiting for it or a panic unwound through it.
struct RunningGuard(Arc<AtomicBool>);

/// Counts a tick as in flight until its outcome is recorded (dropped after `record`).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

pub struct JobActor {
    plan: JobPlan,
    factory: JobFactory,
    job: Arc<dyn Job>,
    /// True while a body runs; `Drain` waits on it at shutdown.
    running: Arc<AtomicBool>,
    ledger: Arc<RunLedger>,
    clock: Arc<dyn Clock>,
    /// The kill switch as it is now (set by the kill-switch actor, read at every tick and by
    /// job bodies before every new entry).
    kill_switch: Arc<AtomicBool>,
    /// Ticks accepted whose outcome is not recorded yet (shutdown drains them).
    in_flight: Arc<AtomicUsize>,
    /// Past the restart limit: slots are recorded as skipped.
    disabled: bool,
    crashes: Recipient<JobCrashed>,
    /// `state/locks`: a run holds its job's lock, so `kobe run-job` never runs it at once.
    locks_dir: Option<PathBuf>,
}

/// The state a job actor starts from, besides its plan and body.
pub struct JobActorSetup {
    pub running: Arc<AtomicBool>,
    pub ledger: Arc<RunLedger>,
    pub clock: Arc<dyn Clock>,
    pub crashes: Recipient<JobCrashed>,
    pub locks_dir: Option<PathBuf>,
    /// Shared with the kill-switch actor, which sets it before telling anyone.
    pub kill_switch: Arc<AtomicBool>,
}

impl JobActor {
    pub fn new(plan: JobPlan, factory: JobFactory, setup: JobActorSetup) -> Self {
        let job = factory();
        Self {
            plan,
            factory,
            job,
            running: setup.running,
            ledger: setup.ledger,
            clock: setup.clock,
            kill_switch: setup.kill_switch,
            in_flight: Arc::new(AtomicUsize::new(0)),
            disabled: false,
            crashes: setup.crashes,
            locks_dir: setup.locks_dir,
        }
    }

    fn record(
        &self,
        tick: &Tick,
        started: chrono::DateTime<Utc>,
        elapsed: Duration,
        status: Status,
        reason: Option<String>,
        detail: String,
    ) -> Status {
        let record = RunRecord {
            tag: tick.tag.clone(),
            session: tick.session,
            slot_et: tick.slot.fixed_offset(),
            started,
            finished: self.clock.now(),
            duration_ms: elapsed.as_millis() as u64,
            status,
            reason,
            detail,
        };
        match status {
            Status::Failed => {
                tracing::warn!(tag = %record.tag, slot = %record.slot_et, reason = ?record.reason, detail = %record.detail, "job failed")
            }
            _ => {
                tracing::info!(tag = %record.tag, slot = %record.slot_et, status = status.as_str(), reason = ?record.reason, "job slot done")
            }
        }
        if let Err(e) = self.ledger.record(&record) {
            tracing::error!(tag = %record.tag, slot = %record.slot_et, error = %e, "could not record a job slot");
        }
        status
    }

    fn skip(&self, tick: &Tick, reason: &str, detail: &str) -> Status {
        let now = self.clock.now();
        self.record(
            tick,
            now,
            Duration::ZERO,
            Status::Skipped,
            Some(reason.into()),
            detail.into(),
        )
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;
}

impl Supervised for JobActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!(tag = %self.plan.tag, "restarting job actor with a fresh job");
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
        tracing::error!(tag = %self.plan.tag, "job past its restart limit: its slots are skipped until the runner restarts");
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
        let (running, in_flight) = (self.running.clone(), self.in_flight.clone());
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
        match self
            .ledger
            .is_done(&tick.tag, tick.slot.with_timezone(&Utc))
        {
            Ok(true) => return ready(None),
            Ok(false) => {}
            Err(e) => {
                // Without the ledger we cannot promise "never twice": do not run.
                tracing::error!(tag = %tick.tag, error = %e, "run ledger unreadable; slot not run");
                return ready(None);
            }
        }
        if self.disabled {
            return ready(Some(self.skip(
                &tick,
                "restart_limit",
                "job is past its restart limit",
            )));
        }
        if self.running.load(Ordering::SeqCst) {
            return ready(Some(self.skip(
                &tick,
                OVERLAP,
                "the previous run is still going",
            )));
        }
        let kill_switch_active = self.kill_switch.load(Ordering::SeqCst);
        if kill_switch_active && self.plan.kill_switch == KillSwitchPolicy::Skip {
            return ready(Some(self.skip(
                &tick,
                "kill_switch",
                "kill switch is active",
            )));
        }

        let started = self.clock.now();
        let context = JobContext {
            tag: tick.tag.clone(),
            session: tick.session,
            slot: tick.slot,
            started,
            clock: self.clock.clone(),
            // Whatever the policy, no new entries while the switch is on.
            manage_only: kill_switch_active,
            kill_switch: self.kill_switch.clone(),
        };
        self.running.store(true, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let in_flight = InFlight(self.in_flight.clone());
        let guard = RunningGuard(self.running.clone());
        let job = self.job.clone();
        let timeout = self.plan.timeout;
        let stopwatch = Instant::now();
        let locks_dir = self.locks_dir.clone();
        let ledger = self.ledger.clone();
        let slot_utc = tick.slot.with_timezone(&Utc);
        let body = actix_rt::task::spawn_blocking(move || {
            let _guard = guard;
            let _lock = match locks_dir {
                None => None,
                // `kobe run-job` holds it: wait for it (half the timeout), then re-check below.
                Some(dir) => match JobLock::acquire_within(&dir, &context.tag, timeout / 2) {
                    Ok(Some(lock)) => Some(lock),
                    Ok(None) => return Gated::Busy,
                    Err(e) => {
                        return Gated::Ran(Err(JobError::Recoverable(format!(
                            "cannot take the job lock: {e}"
                        ))))
                    }
                },
            };
            // Checked again under the lock: `kobe run-job` may have done the slot meanwhile.
            if ledger.is_done(&context.tag, slot_utc).unwrap_or(false) {
                return Gated::AlreadyDone;
            }
            Gated::Ran(job.run(&context))
        });
        let run = async move { tokio::time::timeout(timeout, body).await };

        Box::pin(run.into_actor(self).map(move |result, act, ctx| {
            let _in_flight = in_flight;
            let elapsed = stopwatch.elapsed();
            let end = match result {
                Err(_) => RunEnd::TimedOut(timeout),
                Ok(Err(join)) if join.is_panic() => RunEnd::Panicked(join.into_panic()),
                Ok(Err(join)) => RunEnd::Returned(Err(JobError::Recoverable(join.to_string()))),
                Ok(Ok(Gated::AlreadyDone)) => return None,
                Ok(Ok(Gated::Busy)) => RunEnd::Returned(Ok(JobOutput::skipped(
                    OVERLAP,
                    "another process (kobe run-job) is running this job",
                ))),
                Ok(Ok(Gated::Ran(result))) => RunEnd::Returned(result),
            };
            let outcome = Outcome::from(end);
            let status = act.record(
                &tick,
                started,
                elapsed,
                outcome.status,
                outcome.reason,
                outcome.detail,
            );
            if outcome.restart {
                act.crashes.do_send(JobCrashed {
                    tag: tick.tag.clone(),
                    at: act.clock.now(),
                });
                ctx.notify(Restart);
            }
            Some(status)
        }))
    }
}

/// What happened behind the job lock.
enum Gated {
    Ran(Result<JobOutput, JobError>),
    /// Another process holds the job's lock.
    Busy,
    /// Another process recorded the slot while this one waited.
    AlreadyDone,
}
