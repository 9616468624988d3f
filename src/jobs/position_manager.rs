//! POSITION_MANAGER (every 15 minutes, to the close): brings the ledger up to the broker
//! (adopting what a dead run sent, reading fills and bracket legs back) and reconciles; takes
//! the strategy's exits and time stops (at the close tick on the embedded broker, which also
//! triggers its brackets there; live on Alpaca at the last cycle before the close, on the
//! provisional bar); records the day's equity; and inside the entry windows enters the
//! validated watchlist and the scans' hand-offs within the limits of DESIGN §8 — never while
//! the kill switch is on.

mod broker_sync;
mod candidates;
mod cycle;
mod entries;
mod exits;
pub mod outcome;
mod prices;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use crate::app::App;
use crate::broker::BrokerError;
use crate::broker::Fills;
use crate::data::bars::Bar;
use crate::trading::{KeptLedger, LedgerError, TradingLedger};
use cycle::{Cycle, Series};
use outcome::{CycleOutcome, Note};

/// One session's bars by symbol.
type SessionBars = (NaiveDate, BTreeMap<String, Vec<Bar>>);

pub struct PositionManager {
    pub app: Arc<App>,
    /// The session's bars, read once: the manager runs 25 times a session on the same bars.
    cache: std::sync::Mutex<Option<SessionBars>>,
    /// The trading ledger, kept open between cycles.
    ledger: KeptLedger,
}

impl PositionManager {
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            cache: std::sync::Mutex::new(None),
            ledger: KeptLedger::default(),
        }
    }
}

/// A cycle's error as the runtime takes it: the trading ledger failing (or a broker failing
/// to keep the paper book in it) stops the run; anything else fails this cycle, and the next
/// one tries again.
fn fail(e: impl Into<CycleError>) -> JobError {
    match e.into() {
        CycleError::Storage(why) => JobError::Storage(why),
        CycleError::Other(why) => JobError::Recoverable(why),
    }
}

/// What kind of failure a cycle met (see `fail`).
enum CycleError {
    Storage(String),
    Other(String),
}

impl From<LedgerError> for CycleError {
    fn from(e: LedgerError) -> Self {
        CycleError::Storage(e.to_string())
    }
}

impl From<BrokerError> for CycleError {
    fn from(e: BrokerError) -> Self {
        match e {
            BrokerError::Storage(_) | BrokerError::Ledger(_) => CycleError::Storage(e.to_string()),
            other => CycleError::Other(other.to_string()),
        }
    }
}

impl From<broker_sync::SyncError> for CycleError {
    fn from(e: broker_sync::SyncError) -> Self {
        match e {
            broker_sync::SyncError::Ledger(e) => e.into(),
            broker_sync::SyncError::Broker(e) => e.into(),
            e @ broker_sync::SyncError::NotFinite(_) => CycleError::Other(e.to_string()),
        }
    }
}

impl From<crate::app::AlpacaSetupError> for CycleError {
    fn from(e: crate::app::AlpacaSetupError) -> Self {
        CycleError::Other(e.to_string())
    }
}

impl Job for PositionManager {
    /// The cycle's outcome, its detail line rendered from it.
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let session = ctx.session;
        if !NyseCalendar.is_session(session) {
            return Ok(JobOutput::skipped(
                "no_session",
                format!("{session} is not a session"),
            ));
        }
        match self.cycle(ctx)? {
            // Its work is done; the slot fails so the log and health show what kobe does not
            // know.
            outcome if outcome.has_unknown_status() => {
                Err(JobError::Attention(outcome.to_string()))
            }
            outcome => Ok(JobOutput::ok(outcome.to_string())),
        }
    }
}

impl PositionManager {
    /// One cycle for `ctx`'s slot, as data.
    pub fn cycle(&self, ctx: &JobContext) -> Result<CycleOutcome, JobError> {
        let session = ctx.session;
        let hours = NyseCalendar
            .session(session)
            .ok_or_else(|| JobError::Recoverable(format!("{session} is not a session")))?;
        self.ledger
            .with(&self.app, |ledger| self.manage(ctx, hours, ledger))
    }

    /// One cycle: the stages of `Cycle`, in order, and which of them run when.
    fn manage(
        &self,
        ctx: &JobContext,
        hours: kobe_actors::calendar::Session,
        ledger: &TradingLedger,
    ) -> Result<CycleOutcome, JobError> {
        let app = &self.app;
        let at = ctx.started.to_rfc3339();
        let broker = app.broker(ledger, at.clone()).map_err(fail)?;
        // What a dead run left half-done at the broker is finished first.
        broker.settle().map_err(fail)?;
        let (own_book, fills) = (broker.keeps_own_book(), broker.fills());
        // Judged by the slot, not by when the run got to start: a 15:45 run that starts late
        // is still the last cycle before the close.
        let close = hours.close_at().with_timezone(&Utc);
        let slot = ctx.slot.with_timezone(&Utc);
        let close_tick = slot >= close;
        let last_cycle = !close_tick && slot + chrono::Duration::minutes(15) >= close;
        let market = app.market();
        let mut cycle = Cycle {
            manager: self,
            ctx,
            ledger,
            broker: broker.as_ref(),
            at,
            market: market.as_ref(),
            notes: Vec::new(),
            refusals: Vec::new(),
        };
        // Entries are good till cancelled at a broker with its own book (so their legs outlive
        // the day): what has not filled by the close is cancelled then, keeping what did fill.
        let caught = cycle.reconcile(own_book && close_tick)?;
        let account = cycle.account()?;
        cycle.protect(&caught.unprotected)?;

        // Who judges what, when. Where the ledger is the book, kobe holds the brackets: on
        // daily bars it triggers them on the final bar at the close tick (§7); intraday, every
        // cycle on today's bar so far. Strategy exits and time stops need the close: at the
        // close tick where orders fill at their decision's price; where they fill at the market,
        // an order sent at 16:00 would wait for tomorrow's open, so they are taken at the last
        // cycle before the close, on today's provisional bar.
        let bracket = !own_book && (close_tick || market.intraday());
        let strategy = match fills {
            Fills::AtDecisionPrice => close_tick,
            Fills::AtMarket => last_cycle,
        };
        let series = if bracket || strategy || close_tick {
            cycle.prices()?
        } else {
            Series::new()
        };
        if bracket || strategy {
            cycle.take_exits(&series, bracket, strategy)?;
        }
        if fills == Fills::AtMarket && last_cycle {
            let exits = cycle.exits_today()?;
            cycle.notes.push(Note::ExitsToday(exits));
        }
        if close_tick {
            return cycle.close_the_day(account.as_ref(), &series);
        }
        if cycle.daily_loss_now(account.as_ref(), &series)? {
            // The switch's flag follows the file a moment later: no entries this cycle.
            return Ok(cycle.finish());
        }
        cycle.enter(account.as_ref())
    }
}
