//! `kobe run-job --tag TAG [--session D] [--force]`: one slot of one job, now, for cron or a
//! task scheduler — recorded in the same run ledger as the runner's, under the same job lock.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use kobe_actors::calendar::EXCHANGE_TZ;
use kobe_actors::clock::{Clock, SimClock, Speed};
use kobe_actors::kill_switch;
use kobe_actors::ledger::{Durability, LedgerError, RunLedger, RunRecord, Status};
use kobe_actors::schedule::{Schedule, Slot, SlotSkip};
use kobe_actors::slot::{Gate, LockPolicy, SlotEnd, SlotError, SlotProtocol};

use super::{operator_app, CommandError, Context, Done};
use crate::app::{App, MarketSource};
use crate::jobs::{self, JobTag};
use crate::notify::Notifier;
use crate::secrets::Secrets;

#[derive(Debug, clap::Args)]
pub struct RunJob {
    #[arg(long)]
    pub tag: String,
    /// Secrets file (else <home>/.env if present).
    #[arg(long, value_name = "PATH")]
    pub dotenv: Option<PathBuf>,
    /// The session whose slot to run (default: today, ET).
    #[arg(long)]
    pub session: Option<NaiveDate>,
    /// Run it even if the ledger shows the slot done.
    #[arg(long)]
    pub force: bool,
}

impl RunJob {
    /// Exit 1 when the run failed, so cron mails it.
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        let secrets = Secrets::load(self.dotenv.as_deref(), ctx.home.root())?;
        let config = ctx.load_config()?;
        let notifier = Notifier::start(&config.notify, &secrets);
        let schedule = config.schedule()?;
        let app =
            operator_app(ctx.home, config, secrets, None, None).with_notifier(notifier.clone());
        app.check_universe().map_err(CommandError::Refused)?;
        if self.tag == JobTag::PositionManager.as_str() {
            // Only the runner trades live (behind --approve-live); a cron slot is paper.
            crate::secrets::check_mode(false, false, &app.secrets).map_err(|why| {
                CommandError::Refused(format!(
                    "kobe run-job --tag POSITION_MANAGER trades in paper mode only: {why}"
                ))
            })?;
            if app.broker_kind() == crate::config::BrokerKind::Alpaca {
                app.alpaca()?;
            }
        }
        let request = RunJobRequest {
            tag: &self.tag,
            session: self.session,
            force: self.force,
        };
        let report = run(app, &schedule, request, ctx.wall);
        // Queued notifications get a moment to go out before the process ends.
        notifier.flush(std::time::Duration::from_secs(3));
        let report = report?;
        Ok(Done {
            text: report.line + "\n",
            code: u8::from(report.status == Status::Failed),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunJobError {
    #[error("--tag {tag}: unknown job (known: {known})")]
    UnknownTag { tag: String, known: String },
    #[error("--tag {0}: not in the configured schedule; add [jobs.{0}] to config/kobe.toml")]
    NotConfigured(String),
    #[error("{tag}'s slot at {at} is not due yet: run-job runs slots that are due")]
    NotDue { tag: String, at: String },
    #[error("{0} is running in another process right now (the runner); not run")]
    Busy(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<SlotError> for RunJobError {
    fn from(e: SlotError) -> Self {
        match e {
            SlotError::Ledger(e) => RunJobError::Ledger(e),
            SlotError::Lock(e) => RunJobError::Io(e),
        }
    }
}

impl RunJobError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunJobError::UnknownTag { .. }
            | RunJobError::NotConfigured(_)
            | RunJobError::NotDue { .. } => 2,
            RunJobError::Ledger(LedgerError::Corrupt { .. }) => 2,
            _ => 1,
        }
    }
}

/// What happened, for the operator and for cron's exit status.
pub struct RunJobReport {
    pub line: String,
    pub status: Status,
}

pub struct RunJobRequest<'a> {
    pub tag: &'a str,
    pub session: Option<NaiveDate>,
    pub force: bool,
}

/// How early a cron line may fire and still count for its slot (clock skew between cron and
/// the wall clock).
const EARLY_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Which slot a run is for.
enum Pick {
    Slot(DateTime<chrono_tz::Tz>, Option<SlotSkip>),
    /// The job has no slot that day (a holiday, a weekend): nothing to do.
    NoSlot(String),
}

/// The job's latest slot on the session that is due by now (the last one of a past session).
/// A slot not yet due, or a future session, is refused: running it early would record it done.
fn pick_slot(
    schedule: &Schedule,
    tag: &str,
    session: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Pick, RunJobError> {
    let slots: Vec<_> = schedule
        .slots_on(session)
        .into_iter()
        .filter(|s| s.tag == tag)
        .collect();
    if let Some(slot) = slots
        .iter()
        .rev()
        .find(|s| s.at.with_timezone(&Utc) <= now + EARLY_TOLERANCE)
    {
        return Ok(Pick::Slot(slot.at, slot.skip));
    }
    match slots.first() {
        Some(first) => Err(RunJobError::NotDue {
            tag: tag.into(),
            at: first.at.fixed_offset().to_rfc3339(),
        }),
        None => {
            let why = match schedule.calendar().session(session) {
                None => schedule
                    .calendar()
                    .closure_reason(session)
                    .unwrap_or("weekend")
                    .to_string(),
                Some(_) => "no time configured for it".to_string(),
            };
            Ok(Pick::NoSlot(why))
        }
    }
}

/// Runs one slot of `request.tag`. The mode is the operator's: paper, never live. A past
/// session's slot runs as of that slot — a simulated clock at it, and the market as it was then
/// (the store by the visibility rule and the daily-bar market model) — for every job alike;
/// today's runs on the wall clock with today's market data.
pub fn run(
    app: App,
    schedule: &Schedule,
    request: RunJobRequest<'_>,
    wall: Arc<dyn Clock>,
) -> Result<RunJobReport, RunJobError> {
    let tag = request.tag;
    let home = &app.home.clone();
    if tag.parse::<JobTag>().is_err() {
        return Err(RunJobError::UnknownTag {
            tag: tag.into(),
            known: jobs::tag_names().join(", "),
        });
    }
    let plan = schedule
        .plan(tag)
        .ok_or_else(|| RunJobError::NotConfigured(tag.into()))?
        .clone();
    let now = wall.now();
    let today = now.with_timezone(&EXCHANGE_TZ).date_naive();
    let session = request.session.unwrap_or(today);
    let (slot, skip) = match pick_slot(schedule, tag, session, now)? {
        Pick::Slot(slot, skip) => (slot, skip),
        Pick::NoSlot(why) => {
            return Ok(RunJobReport {
                line: format!("{tag} has no slot on {session} ({why}): nothing to do"),
                status: Status::Skipped,
            })
        }
    };
    // A past session runs as of its slot: the job sees the world as it was then.
    let (clock, app): (Arc<dyn Clock>, App) = if session < today {
        let clock = Arc::new(SimClock::new(slot.with_timezone(&Utc), Speed::Max));
        (clock, app.with_market(MarketSource::History))
    } else {
        (wall.clone(), app)
    };
    let factory = jobs::factory(tag, Arc::new(app)).expect("a known tag has a body");

    let ledger = Arc::new(RunLedger::open(
        &home.state(),
        &home.logs(),
        Durability::PowerLoss,
    )?);
    let kill = kill_switch::read(&home.state())?;
    let protocol = SlotProtocol {
        plan,
        ledger: ledger.clone(),
        clock,
        kill_switch: Arc::new(AtomicBool::new(kill.active)),
        running: Arc::default(),
        locks_dir: Some(home.state().join("locks")),
        lock: LockPolicy::TryOnce,
        force: request.force,
    };
    let slot = Slot {
        tag: tag.to_string(),
        session,
        at: slot,
        skip,
    };
    let end = match protocol.admit(slot.clone(), false)? {
        Gate::Open(admitted) => admitted.run_blocking(factory())?,
        Gate::Closed(end) => end,
    };
    conclude(end, &ledger, &slot)
}

/// The operator's line for how the slot ended.
fn conclude(end: SlotEnd, ledger: &RunLedger, slot: &Slot) -> Result<RunJobReport, RunJobError> {
    let (tag, at) = (&slot.tag, slot.at.fixed_offset().to_rfc3339());
    let skipped = |line: String| RunJobReport {
        line,
        status: Status::Skipped,
    };
    match end {
        SlotEnd::Done => {
            let done = ledger
                .get(tag, slot.at.with_timezone(&Utc))?
                .map(|done| {
                    format!(
                        " ({}{})",
                        done.status.as_str(),
                        done.reason.map(|r| format!(": {r}")).unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            Ok(skipped(format!(
                "{tag} {at} already done{done}; --force runs it again"
            )))
        }
        // The runner finished this slot between the first look and the lock.
        SlotEnd::DoneMeanwhile => Ok(skipped(format!("{tag} {at} was just done by the runner"))),
        SlotEnd::Busy => Err(RunJobError::Busy(tag.clone())),
        SlotEnd::Recorded(r) => {
            r.stored?;
            Ok(report(&r.record))
        }
    }
}

fn report(r: &RunRecord) -> RunJobReport {
    RunJobReport {
        line: format!(
            "{} {} {}{}{}",
            r.tag,
            r.slot_et.to_rfc3339(),
            r.status.as_str(),
            r.reason
                .as_ref()
                .map(|x| format!(" ({x})"))
                .unwrap_or_default(),
            if r.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", r.detail)
            }
        ),
        status: r.status,
    }
}
