//! The clock actor: walks the schedule on its `Clock` and sends each due slot to its job actor.
//!
//! It is the one place that decides when a slot is due, and it consults the run ledger so that
//! no slot runs twice and none is dropped silently: a slot found in the past (start-up, a
//! suspend) is caught up once or recorded as `skipped`/`missed`, per the job's policy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use crate::calendar::EXCHANGE_TZ;
use crate::clock::{Clock, ClockKind};
use crate::ledger::{LedgerError, RunLedger, RunRecord, Status};
use crate::messages::{ClockFinished, Tick};
use crate::reason::SkipReason;
use crate::schedule::{et_instant, Schedule, Slot, SlotSkip};
use crate::slot::AFTER_CLOSE_DETAIL;
use crate::view::RuntimeView;

/// A slot is "missed" only when found later than this: jobs due at the same instant are sent one
/// after the other, and the second must not count as missed for the microseconds that took.
const MISFIRE_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

pub struct ClockActor {
    driver: Option<Driver>,
    finished: Recipient<ClockFinished>,
}

/// The state the clock's loop runs on, moved into its future.
struct Driver {
    clock: Arc<dyn Clock>,
    schedule: Arc<Schedule>,
    ledger: Arc<RunLedger>,
    jobs: BTreeMap<String, Recipient<Tick>>,
    /// End of a replay: slots at or after it are not run and the clock reports it finished.
    until: Option<DateTime<Utc>>,
    view: Arc<RuntimeView>,
}

impl ClockActor {
    pub fn new(
        clock: Arc<dyn Clock>,
        schedule: Arc<Schedule>,
        ledger: Arc<RunLedger>,
        jobs: BTreeMap<String, Recipient<Tick>>,
        until: Option<DateTime<Utc>>,
        view: Arc<RuntimeView>,
        finished: Recipient<ClockFinished>,
    ) -> Self {
        Self {
            driver: Some(Driver {
                clock,
                schedule,
                ledger,
                jobs,
                until,
                view,
            }),
            finished,
        }
    }
}

impl Actor for ClockActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(driver) = self.driver.take() else {
            return;
        };
        let drive = async move { driver.run().await };
        ctx.spawn(drive.into_actor(self).map(|result, act, ctx| {
            let error = result.err().map(|e| e.to_string());
            if let Some(e) = &error {
                tracing::error!(error = %e, "clock stopped: the run ledger failed");
            }
            act.finished.do_send(ClockFinished { error });
            ctx.stop();
        }));
    }
}

/// Stops the clock: no further slot is sent (a running job is left to finish).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopClock;

impl Handler<StopClock> for ClockActor {
    type Result = ();
    fn handle(&mut self, _: StopClock, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// How far back a restarted live runner looks for slots that passed while it was down.
const LOOK_BACK_DAYS: i64 = 7;
/// Pause before retrying a slot whose ledger read or write failed.
const LEDGER_RETRY: Duration = Duration::from_secs(1);

impl Driver {
    /// The first date to walk: the replay's start, or for a runner without an end the date of
    /// the last recorded slot (at most a week back), so slots that passed while it was down are
    /// recorded as missed rather than dropped.
    fn first_date(&self) -> Result<NaiveDate, LedgerError> {
        let today = self.clock.now().with_timezone(&EXCHANGE_TZ).date_naive();
        if self.until.is_some() {
            return Ok(today); // a replay starts where it is told
        }
        let floor = today - TimeDelta::days(LOOK_BACK_DAYS);
        Ok(match self.ledger.last_slot()? {
            Some(last) => last
                .with_timezone(&EXCHANGE_TZ)
                .date_naive()
                .clamp(floor, today),
            None => today,
        })
    }

    async fn run(self) -> Result<(), LedgerError> {
        let mut date = self.first_date()?;
        loop {
            let midnight = et_instant(date, NaiveTime::MIN).with_timezone(&Utc);
            if self.until.is_some_and(|until| midnight >= until) {
                return Ok(());
            }
            let slots = self.schedule.slots_on(date);
            for (i, slot) in slots.iter().enumerate() {
                if self
                    .until
                    .is_some_and(|until| slot.at.with_timezone(&Utc) >= until)
                {
                    return Ok(());
                }
                // A ledger that cannot be read or written must not make a slot run twice or
                // vanish: a live clock retries it (health shows why), a replay stops.
                loop {
                    match self.handle(slot, &slots[i + 1..]).await {
                        Ok(()) => {
                            self.view.set_ledger_problem(None);
                            break;
                        }
                        Err(e) if self.clock.kind() == ClockKind::Live => {
                            tracing::error!(tag = %slot.tag, error = %e, "run ledger failed; retrying the slot");
                            self.view.set_ledger_problem(Some(e.to_string()));
                            tokio::time::sleep(LEDGER_RETRY).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            date = date.succ_opt().expect("dates run out after year 262,000");
        }
    }

    async fn handle(&self, slot: &Slot, later: &[Slot]) -> Result<(), LedgerError> {
        let at = slot.at.with_timezone(&Utc);
        if self.ledger.is_done(&slot.tag, at)? {
            return Ok(());
        }
        let now = self.clock.now();
        if at + MISFIRE_GRACE < now {
            return self.misfire(slot, later, now).await;
        }
        self.publish_next(slot);
        self.wait_until(at).await;
        // Woken late (a suspend, an NTP step): the slot is a misfire, not an on-time run.
        let now = self.clock.now();
        if at + MISFIRE_GRACE < now {
            return self.misfire(slot, later, now).await;
        }
        match slot.skip {
            Some(SlotSkip::AfterClose) => {
                self.record_skip(slot, SkipReason::AfterClose, AFTER_CLOSE_DETAIL)
            }
            None => {
                self.dispatch(slot).await;
                Ok(())
            }
        }
    }

    /// A slot whose instant has passed without it being dealt with (the runner was down or the
    /// machine asleep): catch it up once if the job allows and it is still the same session,
    /// else record it as missed.
    async fn misfire(
        &self,
        slot: &Slot,
        later: &[Slot],
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let plan = self.schedule.plan(&slot.tag);
        let same_session = slot.session == now.with_timezone(&EXCHANGE_TZ).date_naive();
        // Several missed slots of one job collapse into one catch-up run: the latest.
        let superseded = later.iter().any(|s| {
            s.tag == slot.tag && s.at.with_timezone(&Utc) + MISFIRE_GRACE < now && s.skip.is_none()
        });
        if slot.skip.is_none() && same_session && !superseded && plan.is_some_and(|p| p.catch_up) {
            tracing::info!(tag = %slot.tag, slot = %slot.at, "catching up a missed slot");
            self.dispatch(slot).await;
            return Ok(());
        }
        let reason = if slot.skip == Some(SlotSkip::AfterClose) {
            SkipReason::AfterClose
        } else {
            SkipReason::Missed
        };
        self.record_skip(slot, reason, "due while the runner was not running")
    }

    fn record_skip(
        &self,
        slot: &Slot,
        reason: SkipReason,
        detail: &str,
    ) -> Result<(), LedgerError> {
        let now = self.clock.now();
        tracing::info!(tag = %slot.tag, slot = %slot.at, reason = reason.as_str(), "slot skipped");
        self.ledger.record(&RunRecord {
            tag: slot.tag.clone(),
            session: slot.session,
            slot_et: slot.at.fixed_offset(),
            started: now,
            finished: now,
            duration_ms: 0,
            status: Status::Skipped,
            reason: Some(reason.as_str().to_string()),
            detail: detail.to_string(),
        })
    }

    fn publish_next(&self, slot: &Slot) {
        self.view.set_next(&slot.tag, slot.at);
    }

    async fn wait_until(&self, at: DateTime<Utc>) {
        while let Some(step) = self.clock.wait_step(at) {
            tokio::time::sleep(step.max(Duration::from_micros(100))).await;
        }
    }

    /// Live: fire and go on, so jobs due together run together and a slow job cannot delay the
    /// next. Simulated: wait for the run to end, so a replay is deterministic.
    async fn dispatch(&self, slot: &Slot) {
        let Some(job) = self.jobs.get(&slot.tag) else {
            tracing::error!(tag = %slot.tag, "no job actor for a scheduled tag");
            return;
        };
        let tick = Tick {
            tag: slot.tag.clone(),
            session: slot.session,
            slot: slot.at,
        };
        match self.clock.kind() {
            ClockKind::Live => job.do_send(tick),
            ClockKind::Simulated => {
                if let Err(e) = job.send(tick).await {
                    tracing::error!(tag = %slot.tag, error = %e, "job actor did not answer a tick");
                }
            }
        }
    }
}
