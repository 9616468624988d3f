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
mod exits;
mod prices;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use crate::app::App;
use crate::broker::alpaca::AlpacaClient;
use crate::broker::paper::PaperBroker;
use crate::broker::Broker;
use crate::config::BrokerKind;
use crate::data::bars::Bar;
use crate::trading::TradingLedger;
use cycle::{Cycle, Series};

/// One session's bars by symbol.
type SessionBars = (NaiveDate, BTreeMap<String, Vec<Bar>>);

pub struct PositionManager {
    pub app: Arc<App>,
    /// The session's bars, read once: the manager runs 25 times a session on the same bars.
    cache: std::sync::Mutex<Option<SessionBars>>,
    /// The trading ledger, opened once (and again after an error): a replay runs the manager
    /// thousands of times.
    ledger: std::sync::Mutex<Option<TradingLedger>>,
}

impl PositionManager {
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            cache: std::sync::Mutex::new(None),
            ledger: std::sync::Mutex::new(None),
        }
    }
}

fn fail(e: impl std::fmt::Display) -> JobError {
    JobError::Recoverable(e.to_string())
}

impl Job for PositionManager {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let trading = &app.config.trading;
        let session = ctx.session;
        let Some(hours) = NyseCalendar.session(session) else {
            return Ok(JobOutput::skipped(
                "no_session",
                format!("{session} is not a session"),
            ));
        };
        let mut cached = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if cached.is_none() {
            *cached = Some(
                TradingLedger::open(&app.home.state(), trading.starting_equity, app.durability())
                    .map_err(fail)?,
            );
        }
        let ledger = cached.as_ref().expect("just opened");
        let outcome = self.manage(ctx, hours, ledger);
        if outcome.is_err() {
            *cached = None;
        }
        outcome
    }
}

impl PositionManager {
    /// One cycle: the stages of `Cycle`, in order, and which of them run when.
    fn manage(
        &self,
        ctx: &JobContext,
        hours: kobe_actors::calendar::Session,
        ledger: &TradingLedger,
    ) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let at = ctx.started.to_rfc3339();
        let kind = app.broker_kind();
        let paper = PaperBroker::new(ledger, at.clone());
        let alpaca: Option<AlpacaClient> = match kind {
            BrokerKind::Paper => None,
            BrokerKind::Alpaca => Some(app.alpaca().map_err(fail)?),
        };
        let broker: &dyn Broker = match &alpaca {
            Some(client) => client,
            None => &paper,
        };
        if kind == BrokerKind::Paper {
            // The paper broker fills what a dead run left unfilled.
            paper.settle_pending().map_err(fail)?;
        }
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
            broker,
            external: alpaca.is_some(),
            at,
            market: market.as_ref(),
            notes: Vec::new(),
        };
        // Entries are good till cancelled on Alpaca (so their legs outlive the day): what has
        // not filled by the close is cancelled then, keeping what did fill.
        let caught = cycle.reconcile(alpaca.is_some() && close_tick)?;
        let account = cycle.account()?;
        cycle.protect(&caught.unprotected)?;

        // Who judges what, when. The paper broker holds its brackets: on daily bars it triggers
        // them on the final bar at the close tick (§7); intraday, every cycle on today's bar so far.
        // Strategy exits and time stops need the close: at the close tick on the paper broker,
        // which fills at the price its decision records; on Alpaca, an order sent at 16:00 would
        // wait for tomorrow's open, so they are taken at the last cycle before the close, on
        // today's provisional bar.
        let (bracket, strategy) = match kind {
            BrokerKind::Paper => (close_tick || market.intraday(), close_tick),
            BrokerKind::Alpaca => (false, last_cycle),
        };
        let series = if bracket || strategy || close_tick {
            cycle.prices()?
        } else {
            Series::new()
        };
        if bracket || strategy {
            cycle.take_exits(&series, bracket, strategy)?;
        }
        if kind == BrokerKind::Alpaca && last_cycle {
            let exits = cycle.exits_today()?;
            cycle.notes.push(format!("exits today {exits}"));
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
