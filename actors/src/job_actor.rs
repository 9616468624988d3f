//! One actor per job tag: runs a job's slots one at a time, with a timeout, and records how
//! each ended in the run ledger.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use crate::clock::Clock;
use crate::job::{Job, JobContext, JobError, JobFactory, JobOutput};
use crate::ledger::{RunLedger, RunRecord, Status};
use crate::messages::{Disable, JobCrashed, KillSwitchChanged, Tick};
use crate::schedule::{JobPlan, KillSwitchPolicy};

/// Clears the job's running flag when its body really ends, even after a timeout gave up
/// waiting for it or a panic unwound through it.
struct RunningGuard(Arc<AtomicBool>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

pub struct JobActor {
    plan: JobPlan,
    factory: JobFactory,
    job: Arc<dyn Job>,
    /// True while a body runs; shared with the supervisor, which waits on it at shutdown.
    running: Arc<AtomicBool>,
    ledger: Arc<RunLedger>,
    clock: Arc<dyn Clock>,
    kill_switch_active: bool,
    /// Past the restart limit: slots are recorded as skipped.
    disabled: bool,
    crashes: Recipient<JobCrashed>,
}

impl JobActor {
    pub fn new(
        plan: JobPlan,
        factory: JobFactory,
        running: Arc<AtomicBool>,
        ledger: Arc<RunLedger>,
        clock: Arc<dyn Clock>,
        crashes: Recipient<JobCrashed>,
    ) -> Self {
        let job = factory();
        Self {
            plan,
            factory,
            job,
            running,
            ledger,
            clock,
            kill_switch_active: false,
            disabled: false,
            crashes,
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

impl Handler<KillSwitchChanged> for JobActor {
    type Result = ();
    fn handle(&mut self, msg: KillSwitchChanged, _ctx: &mut Context<Self>) {
        self.kill_switch_active = msg.active;
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
                "overlap",
                "the previous run is still going",
            )));
        }
        if self.kill_switch_active && self.plan.kill_switch == KillSwitchPolicy::Skip {
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
            manage_only: self.kill_switch_active,
        };
        self.running.store(true, Ordering::SeqCst);
        let guard = RunningGuard(self.running.clone());
        let job = self.job.clone();
        let timeout = self.plan.timeout;
        let stopwatch = Instant::now();
        let body = actix_rt::task::spawn_blocking(move || {
            let _guard = guard;
            job.run(&context)
        });
        let run = async move { tokio::time::timeout(timeout, body).await };

        Box::pin(run.into_actor(self).map(move |result, act, ctx| {
            let elapsed = stopwatch.elapsed();
            let mut restart = false;
            let (status, reason, detail) = match result {
                Err(_) => (
                    Status::Failed,
                    Some("timeout".to_string()),
                    format!("still running after {}s", timeout.as_secs()),
                ),
                Ok(Err(join)) => {
                    restart = join.is_panic();
                    let detail = if join.is_panic() {
                        panic_message(join.into_panic())
                    } else {
                        join.to_string()
                    };
                    (Status::Failed, Some("panic".to_string()), detail)
                }
                Ok(Ok(Err(JobError::Recoverable(m)))) => (Status::Failed, None, m),
                Ok(Ok(Err(JobError::Unrecoverable(m)))) => {
                    restart = true;
                    (Status::Failed, Some("unrecoverable".to_string()), m)
                }
                Ok(Ok(Ok(JobOutput {
                    skipped_reason: Some(r),
                    detail,
                }))) => (Status::Skipped, Some(r), detail),
                Ok(Ok(Ok(JobOutput {
                    skipped_reason: None,
                    detail,
                }))) => (Status::Ok, None, detail),
            };
            let status = act.record(&tick, started, elapsed, status, reason, detail);
            if restart {
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

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_string());
    format!("panicked: {text}")
}
