//! PREGAME_BLUEPRINT: the day's trade thesis for the top picks, as
//! `reports/pregame_YYYYMMDD.{json,md}` — each pick's record under its own strategy in the
//! cache, its expected move, support and resistance, the bull and bear case. A page a trader
//! reads in a minute.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::NaiveDate;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};
use serde::Serialize;

use crate::app::App;
use crate::data::bars::Bar;
use crate::report::{num_or_dash, write_pair};
use crate::strategy::exits::simulate;
use crate::strategy::signals::{signal, Strategy};
use crate::watchlist::{self, GapStatus, NextDay, Pick, Validated};

pub struct PregameBlueprint {
    pub app: Arc<App>,
}

/// How the symbol's past signals of the same strategy ended (trades finished by the as-of date).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct History {
    pub signals: usize,
    pub trades: usize,
    pub win_rate: Option<f64>,
    pub avg_r: Option<f64>,
}

pub fn history(symbol: &str, bars: &[Bar], strategy: Strategy) -> History {
    let mut r_values = Vec::new();
    let mut signals = 0;
    let last = bars.len().saturating_sub(1);
    for t in 0..last {
        let Some(s) = signal(symbol, &bars[..=t], bars[t].date) else {
            continue;
        };
        if s.strategy != strategy {
            continue;
        }
        signals += 1;
        if let Some(trade) = simulate(bars, t, &s) {
            r_values.push(trade.r);
        }
    }
    let trades = r_values.len();
    History {
        signals,
        trades,
        win_rate: (trades > 0)
            .then(|| r_values.iter().filter(|r| **r > 0.0).count() as f64 / trades as f64),
        avg_r: (trades > 0).then(|| r_values.iter().sum::<f64>() / trades as f64),
    }
}

#[derive(Debug, Serialize)]
struct PlanLine {
    rank: usize,
    execute: bool,
    symbol: String,
    strategy: Strategy,
    confidence: f64,
    premarket_status: Option<String>,
    entry_ref: f64,
    stop: f64,
    target: Option<f64>,
    expected_move: ExpectedMove,
    support: Levels,
    history: History,
    bull_case: String,
    bear_case: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct ExpectedMove {
    atr14: f64,
    pct: f64,
}

#[derive(Debug, Serialize)]
struct Levels {
    low_20d: Option<f64>,
    high_20d: Option<f64>,
    sma200: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Blueprint {
    session: NaiveDate,
    generated_at: chrono::DateTime<chrono::Utc>,
    source: String,
    as_of: NaiveDate,
    picks: Vec<PlanLine>,
}

/// A pick of the day, with its pre-market check when that ran.
type DayPick = (Pick, Option<GapStatus>);

impl Job for PregameBlueprint {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let dir = watchlist::dir(&app.home.state());
        let unreadable = |e: watchlist::WatchlistError| JobError::Recoverable(e.to_string());
        let next: Option<NextDay> =
            watchlist::read(&dir.join(watchlist::NEXT_DAY)).map_err(unreadable)?;
        let validated: Option<Validated> =
            watchlist::read(&dir.join(watchlist::VALIDATED)).map_err(unreadable)?;
        let Some(next) = next.filter(|n| n.for_session == ctx.session) else {
            return Ok(JobOutput::skipped(
                "no_watchlist",
                format!("no watchlist for {}", ctx.session),
            ));
        };
        let (source, picks) = todays_picks(&next, validated, ctx.session);
        let trading = &app.config.trading;
        let picks: Vec<DayPick> = picks.into_iter().take(trading.blueprint_top).collect();
        let symbols: Vec<String> = picks.iter().map(|(p, _)| p.symbol.clone()).collect();
        let window = crate::data::snapshot::Window {
            until: next.as_of,
            keep: usize::MAX,
        };
        // Lent, not copied: a replay's kept store hands out each pick's whole history.
        let lines = app.store().with_series(&symbols, Some(window), |series| {
            picks
                .into_iter()
                .enumerate()
                .map(|(i, (pick, status))| {
                    let bars: &[Bar] = series.up_to(&pick.symbol, next.as_of).unwrap_or(&[]);
                    plan_line(i + 1, i < trading.blueprint_execute, pick, status, bars)
                })
                .collect()
        });
        let blueprint = Blueprint {
            session: ctx.session,
            generated_at: ctx.clock.now(),
            source,
            as_of: next.as_of,
            picks: lines,
        };
        write_blueprint(app, &blueprint)?;
        Ok(JobOutput::ok(summary(&blueprint)))
    }
}

/// The picks to plan, with where they came from: the validated picks minus the removed ones
/// when the pre-game check ran for today, else the watchlist's top 5 as they were.
fn todays_picks(
    next: &NextDay,
    validated: Option<Validated>,
    session: NaiveDate,
) -> (String, Vec<DayPick>) {
    match validated.filter(|v| v.for_session == session) {
        Some(v) => (
            "today_validated.json".into(),
            v.entries
                .into_iter()
                .filter(|e| e.status != GapStatus::Removed)
                .map(|e| (e.pick, Some(e.status)))
                .collect(),
        ),
        None => (
            "next_day.json (not validated)".into(),
            next.top5.iter().cloned().map(|p| (p, None)).collect(),
        ),
    }
}

/// One pick's plan: its levels over the last 20 sessions and the 200-day average, its record
/// under the same strategy, and the bull and bear case.
fn plan_line(
    rank: usize,
    execute: bool,
    pick: Pick,
    status: Option<GapStatus>,
    bars: &[Bar],
) -> PlanLine {
    let recent = &bars[bars.len().saturating_sub(20)..];
    let low_20d = recent.iter().map(|b| b.low).reduce(f64::min);
    let high_20d = recent.iter().map(|b| b.high).reduce(f64::max);
    let sma200 = crate::strategy::indicators::sma200(bars);
    let bull_case = bull_case(&pick);
    let bear_case = bear_case(&pick, low_20d);
    PlanLine {
        rank,
        execute,
        history: history(&pick.symbol, bars, pick.strategy),
        symbol: pick.symbol.clone(),
        strategy: pick.strategy,
        confidence: pick.confidence,
        premarket_status: status.map(|s| s.as_str().to_string()),
        entry_ref: pick.entry_ref,
        stop: pick.stop,
        target: pick.target,
        expected_move: ExpectedMove {
            atr14: pick.atr14,
            pct: pick.atr14 / pick.entry_ref * 100.0,
        },
        support: Levels {
            low_20d,
            high_20d,
            sma200,
        },
        bull_case,
        bear_case,
        reason: pick.reason,
    }
}

/// The target and its R when the pick has one; else the mean-reversion bounce it waits for.
fn bull_case(pick: &Pick) -> String {
    let risk = pick.entry_ref - pick.stop;
    match pick.target {
        Some(t) => format!("reaches the target {t:.2} ({:+.1}%, {:.2}R) within 3 sessions", (t / pick.entry_ref - 1.0) * 100.0, (t - pick.entry_ref) / risk),
        None => format!(
            "snaps back to a strong close (IBS > 0.8) within 7 sessions; one ATR up is {:.2} ({:+.1}%)",
            pick.entry_ref + pick.atr14,
            pick.atr14 / pick.entry_ref * 100.0
        ),
    }
}

fn bear_case(pick: &Pick, low_20d: Option<f64>) -> String {
    format!(
        "keeps falling to the stop {:.2} ({:+.1}%, -1R){}",
        pick.stop,
        (pick.stop / pick.entry_ref - 1.0) * 100.0,
        low_20d
            .map(|l| format!("; the 20-day low {l:.2} is the support to watch"))
            .unwrap_or_default()
    )
}

/// Writes `reports/pregame_YYYYMMDD.{json,md}`.
fn write_blueprint(app: &App, blueprint: &Blueprint) -> Result<(), JobError> {
    let stamp = blueprint.session.format("%Y%m%d");
    let reports = app.home.root().join("reports");
    let io = |e: std::io::Error| JobError::Recoverable(format!("reports/pregame_{stamp}: {e}"));
    write_pair(
        &reports,
        &format!("pregame_{stamp}"),
        blueprint,
        &markdown(blueprint),
        app.durability(),
    )
    .map_err(io)
}

/// The job's detail line: how many picks, and which are to be executed.
fn summary(blueprint: &Blueprint) -> String {
    let execute: Vec<&str> = blueprint
        .picks
        .iter()
        .filter(|p| p.execute)
        .map(|p| p.symbol.as_str())
        .collect();
    format!(
        "{} picks; execute {}",
        blueprint.picks.len(),
        if execute.is_empty() {
            "none".into()
        } else {
            execute.join(",")
        }
    )
}

fn markdown(b: &Blueprint) -> String {
    let mut md = format!("# Pre-game blueprint — {}\n\n", b.session);
    let _ = writeln!(
        md,
        "Signals as of {} from {}. Generated {}.\n",
        b.as_of,
        b.source,
        b.generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    if b.picks.is_empty() {
        md.push_str("No picks today: stand aside.\n");
        return md;
    }
    md.push_str("| # | | symbol | strategy | conf | entry ref | stop | target | move (ATR) | past trades | win rate | avg R |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for p in &b.picks {
        let _ = writeln!(
            md,
            "| {} | {} | **{}** | {} | {:.2} | {:.2} | {:.2} | {} | ${:.2} ({:.1}%) | {} | {} | {} |",
            p.rank,
            if p.execute { "EXECUTE" } else { "watch" },
            p.symbol,
            p.strategy,
            p.confidence,
            p.entry_ref,
            p.stop,
            num_or_dash(p.target),
            p.expected_move.atr14,
            p.expected_move.pct,
            p.history.trades,
            p.history.win_rate.map_or("-".into(), |w| format!("{:.0}%", w * 100.0)),
            p.history.avg_r.map_or("-".into(), |r| format!("{r:+.2}")),
        );
    }
    for p in &b.picks {
        let _ = writeln!(
            md,
            "\n## {}. {} — {}{}\n",
            p.rank,
            p.symbol,
            p.strategy,
            if p.execute { " (execute)" } else { "" }
        );
        let _ = writeln!(md, "- Why: {}.", p.reason);
        if let Some(s) = &p.premarket_status {
            let _ = writeln!(md, "- Pre-market: {s}.");
        }
        let _ = writeln!(md, "- Bull case: {}.", p.bull_case);
        let _ = writeln!(md, "- Bear case: {}.", p.bear_case);
        let lv = &p.support;
        let f = num_or_dash;
        let _ = writeln!(
            md,
            "- Levels: 20-day low {}, 20-day high {}, 200-day average {}.",
            f(lv.low_20d),
            f(lv.high_20d),
            f(lv.sma200)
        );
        let _ = writeln!(
            md,
            "- Record of this setup on {}: {} signals, {} finished trades.",
            p.symbol, p.history.signals, p.history.trades
        );
    }
    md
}
