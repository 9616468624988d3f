//! A finished replay's backtest report, `reports/replay_FROMYYYYMMDD_TOYYYYMMDD.{md,json,svg}`:
//! the figures of `backtest` on the trading ledger's equity and trades over the range, beside
//! an equal-weight buy-and-hold of the replay's universe read from the bar store.
//!
//! Everything in it is read back from the ledger and the bars, never from the run that just
//! ended (no elapsed time, no wall clock): a replay killed and resumed writes the same bytes as
//! an uninterrupted one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use kobe_actors::atomic_file::{write_atomic, Durability};
use kobe_actors::calendar::NyseCalendar;
use serde::Serialize;

use super::{
    benchmark, by_strategy, exposure, monthly_returns, ClosedTrade, Drawdown, Point, SeriesStats,
    StrategyStats, TradeStats, YearRow,
};
use crate::app::App;
use crate::data::universe::UniverseError;
use crate::trading::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("backtest report: {0}")]
    Ledger(#[from] LedgerError),
    #[error("backtest report: the universe for the benchmark: {0}")]
    Universe(#[from] UniverseError),
    #[error("{path}: not written ({why}); the replay itself is recorded: run the same command again to write its report", path = .path.display())]
    Write { path: PathBuf, why: String },
}

/// How the benchmark is built, as the report says it.
pub const BENCHMARK_METHOD: &str = "equal-weight buy-and-hold of the replay's universe: each symbol with a bar on the first session is bought at that session's open with an equal share of the starting equity (fractional shares, no cash left over) and held to the end, marked at each session's close; a symbol without a bar on a session is marked at its last close; symbols listed later (no bar on the first session) are never bought";

/// The conventions behind the figures, as the report says them.
pub const METHOD: &[(&str, &str)] = &[
    ("equity", "the trading ledger's equity at each session's close; the range starts from the equity at the last close before it, else the config's starting equity"),
    ("daily_returns", "close-to-close returns of the equity series, the first against the starting equity"),
    ("cagr", "(final / start)^(252 / sessions) - 1"),
    ("sharpe", "mean daily return / its sample standard deviation x sqrt(252), risk-free rate 0"),
    ("sortino", "mean daily return / sqrt(mean of min(r, 0)^2 over all days) x sqrt(252), target 0"),
    ("max_drawdown", "deepest fall from a running peak of the equity series; its duration in sessions from the peak to the first close back at the peak, or to the end if not recovered"),
    ("exposure", "share of sessions on which at least one position was held (from its entry session to its exit session, both included)"),
    ("trades", "trades closed in the range (a position closed in several fills is one trade per exit); a win has pnl > 0; profit factor = gross profit / gross loss"),
    ("r", "a trade's pnl / (qty x |entry price - the stop set at entry|); avg R over the trades with such a stop"),
    ("monthly_returns", "each month's last close over the previous month's last close (the starting equity for the first month); the year total likewise from year ends"),
    ("benchmark", BENCHMARK_METHOD),
];

/// The buy-and-hold beside the account.
#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkReport {
    pub method: &'static str,
    pub symbols_bought: usize,
    /// Universe symbols without a bar on the first session (listed later, or no bars).
    pub not_bought: Vec<String>,
    /// Bar files that could not be read (their symbols are not bought).
    pub unreadable: Vec<String>,
    #[serde(flatten)]
    pub stats: SeriesStats,
}

/// One session of the chart: the account's and the benchmark's value at its close.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    pub session: NaiveDate,
    pub equity: f64,
    pub benchmark: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Sessions with an equity close in the range.
    pub sessions: usize,
    #[serde(flatten)]
    pub stats: SeriesStats,
    pub exposure: Option<f64>,
    #[serde(flatten)]
    pub trades: TradeStats,
    /// Positions still open at the end (marked in the final equity).
    pub open_positions: usize,
    pub by_strategy: Vec<StrategyStats>,
    pub monthly_returns: Vec<YearRow>,
    pub benchmark: Option<BenchmarkReport>,
    /// The close before the range (the starting equity), then each session's.
    pub curve: Vec<CurvePoint>,
    pub method: BTreeMap<&'static str, &'static str>,
}

/// The report's file name without extension: `replay_YYYYMMDD_YYYYMMDD`.
pub fn stem(from: NaiveDate, to: NaiveDate) -> String {
    format!("replay_{}_{}", from.format("%Y%m%d"), to.format("%Y%m%d"))
}

/// Reads the ledger of `app`'s home and the bars of its universe, and computes the report of
/// the replay `from..=to`.
pub fn build(app: &App, from: NaiveDate, to: NaiveDate) -> Result<BacktestReport, ReportError> {
    let starting = app.config.trading.starting_equity;
    let (start_equity, curve, trades, positions) =
        app.with_trading_ledger(|ledger| -> Result<_, ReportError> {
            Ok((
                ledger.equity_before(from)?.unwrap_or(starting),
                ledger.equity_curve()?,
                ledger.closed_trades()?,
                ledger.positions()?,
            ))
        })?;
    let in_range = |d: &NaiveDate| (from..=to).contains(d);
    let start: Point = (NyseCalendar.previous_session(from).date, start_equity);
    let mut series = vec![start];
    series.extend(curve.into_iter().filter(|p| in_range(&p.0)));
    let sessions: Vec<NaiveDate> = series[1..].iter().map(|p| p.0).collect();
    let mut holdings: Vec<(NaiveDate, Option<NaiveDate>)> = trades
        .iter()
        .map(|t| (t.entry_session, Some(t.exit_session)))
        .collect();
    holdings.extend(positions.iter().map(|p| (p.entry_session, None)));
    let closed: Vec<ClosedTrade> = trades
        .into_iter()
        .filter(|t| in_range(&t.exit_session))
        .collect();

    let universe = app.universe()?;
    let store = app.store();
    // A universe symbol without a file has no bar on the first session: listed as not bought.
    // The bars are lent by the store (a replay's kept copy), not copied.
    let bench = store.with_series(&universe, None, |series| {
        let bars: BTreeMap<String, &[crate::data::bars::Bar]> = universe
            .iter()
            .map(|s| (s.clone(), series.up_to(s, to).unwrap_or_default()))
            .collect();
        benchmark(start, &sessions, &bars)
    });

    Ok(BacktestReport {
        from,
        to,
        sessions: sessions.len(),
        stats: SeriesStats::of(&series),
        exposure: exposure(&sessions, &holdings),
        trades: TradeStats::of(&closed),
        open_positions: positions.iter().filter(|p| p.entry_session <= to).count(),
        by_strategy: by_strategy(&closed),
        monthly_returns: monthly_returns(&series),
        curve: series
            .iter()
            .enumerate()
            .map(|(i, p)| CurvePoint {
                session: p.0,
                equity: p.1,
                benchmark: bench.as_ref().map(|b| b.series[i].1),
            })
            .collect(),
        benchmark: bench.map(|b| BenchmarkReport {
            method: BENCHMARK_METHOD,
            symbols_bought: b.bought.len(),
            not_bought: b.not_bought,
            unreadable: store.unreadable(&universe),
            stats: SeriesStats::of(&b.series),
        }),
        method: METHOD.iter().copied().collect(),
    })
}

impl BacktestReport {
    /// The account's series as the chart draws it.
    fn equity(&self) -> Vec<Point> {
        self.curve.iter().map(|c| (c.session, c.equity)).collect()
    }

    fn benchmark_series(&self) -> Option<Vec<Point>> {
        self.curve
            .iter()
            .map(|c| c.benchmark.map(|b| (c.session, b)))
            .collect()
    }

    /// One line for the replay's printed summary.
    pub fn summary_line(&self) -> String {
        let bench = match &self.benchmark {
            Some(b) => format!(
                "buy-and-hold total {} ({} symbols)",
                pct(b.stats.total_return),
                b.symbols_bought
            ),
            None => "buy-and-hold - (no symbol trades on the first session)".into(),
        };
        format!(
            "returns: total {}, CAGR {}, Sharpe {}; {bench}; report reports/{}.md",
            pct(self.stats.total_return),
            opt_pct(self.stats.cagr),
            opt_num(self.stats.sharpe),
            stem(self.from, self.to)
        )
    }

    pub fn markdown(&self) -> String {
        let stem = stem(self.from, self.to);
        let s = &self.stats;
        let b = self.benchmark.as_ref().map(|b| &b.stats);
        let mut md = format!("# Backtest — replay {}..{}\n\n", self.from, self.to);
        let _ = writeln!(
            md,
            "{} sessions on the paper account, from {:.2} to {:.2}; beside it the equal-weight buy-and-hold of the same universe.\n",
            self.sessions, s.start_equity, s.final_equity
        );
        let _ = writeln!(
            md,
            "![equity (drawdowns shaded) and buy-and-hold]({stem}.svg)\n"
        );
        let _ = writeln!(md, "## Performance\n");
        let _ = writeln!(md, "| | account | buy-and-hold |");
        let _ = writeln!(md, "|---|---:|---:|");
        let row = |md: &mut String, name: &str, ours: String, theirs: Option<String>| {
            let _ = writeln!(md, "| {name} | {ours} | {} |", theirs.unwrap_or("-".into()));
        };
        row(
            &mut md,
            "final equity",
            format!("{:.2}", s.final_equity),
            b.map(|b| format!("{:.2}", b.final_equity)),
        );
        row(
            &mut md,
            "total return",
            pct(s.total_return),
            b.map(|b| pct(b.total_return)),
        );
        row(&mut md, "CAGR", opt_pct(s.cagr), b.map(|b| opt_pct(b.cagr)));
        row(
            &mut md,
            "Sharpe",
            opt_num(s.sharpe),
            b.map(|b| opt_num(b.sharpe)),
        );
        row(
            &mut md,
            "Sortino",
            opt_num(s.sortino),
            b.map(|b| opt_num(b.sortino)),
        );
        row(
            &mut md,
            "max drawdown",
            share(s.max_drawdown.depth),
            b.map(|b| share(b.max_drawdown.depth)),
        );
        row(
            &mut md,
            "drawdown duration",
            duration(&s.max_drawdown),
            b.map(|b| duration(&b.max_drawdown)),
        );
        row(&mut md, "exposure", opt_share(self.exposure), None);

        let t = &self.trades;
        let _ = writeln!(md, "\n## Trades\n");
        let _ = writeln!(
            md,
            "{} closed ({} won): win rate {}, profit factor {}, avg R {}, pnl {:+.2}; {} open at the end.{}\n",
            t.trades,
            t.wins,
            opt_share(t.win_rate),
            opt_num(t.profit_factor),
            opt_num(t.avg_r),
            t.pnl,
            self.open_positions,
            if t.trades_without_r > 0 {
                format!(" {} without a stop at entry are left out of avg R.", t.trades_without_r)
            } else {
                String::new()
            }
        );
        let _ = writeln!(md, "| strategy | trades | win rate | pnl | avg R |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|");
        for x in &self.by_strategy {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:+.2} | {} |",
                x.strategy,
                x.stats.trades,
                opt_share(x.stats.win_rate),
                x.stats.pnl,
                opt_num(x.stats.avg_r)
            );
        }

        let _ = writeln!(md, "\n## Monthly returns\n");
        let _ = writeln!(md, "| year | Jan | Feb | Mar | Apr | May | Jun | Jul | Aug | Sep | Oct | Nov | Dec | year |");
        let _ = writeln!(md, "|---|{}", "---:|".repeat(13));
        for y in &self.monthly_returns {
            let months: Vec<String> = y.months.iter().map(|m| opt_pct(*m)).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                y.year,
                months.join(" | "),
                pct(y.total)
            );
        }

        let _ = writeln!(md, "\n## Benchmark\n");
        match &self.benchmark {
            Some(bench) => {
                let _ = writeln!(md, "The {}.\n", BENCHMARK_METHOD);
                let _ = writeln!(
                    md,
                    "{} symbols bought on {}.",
                    bench.symbols_bought,
                    self.curve.get(1).map_or(self.from, |c| c.session)
                );
                if !bench.not_bought.is_empty() {
                    let _ = writeln!(
                        md,
                        "Not bought (no bar on the first session): {}.",
                        bench.not_bought.join(", ")
                    );
                }
                if !bench.unreadable.is_empty() {
                    let _ = writeln!(md, "Unreadable bar files: {}.", bench.unreadable.join("; "));
                }
            }
            None => {
                let _ = writeln!(
                    md,
                    "None: no symbol of the universe has a bar on the first session (the {}).",
                    BENCHMARK_METHOD
                );
            }
        }

        let _ = writeln!(md, "\n## Method\n");
        for (name, what) in METHOD.iter().filter(|(n, _)| *n != "benchmark") {
            let _ = writeln!(md, "- **{name}**: {what}");
        }
        md
    }
}

/// Writes the report's three files under `home/reports/`, each atomically; the first that
/// cannot be written is the error, naming it.
pub fn write(
    home: &Path,
    report: &BacktestReport,
    durability: Durability,
) -> Result<(), ReportError> {
    let dir = home.join("reports");
    let stem = stem(report.from, report.to);
    let path = |ext: &str| dir.join(format!("{stem}.{ext}"));
    let svg = super::chart::svg(&report.equity(), report.benchmark_series().as_deref()).map_err(
        |why| ReportError::Write {
            path: path("svg"),
            why: format!("chart: {why}"),
        },
    )?;
    let json = serde_json::to_string_pretty(report).map_err(|e| ReportError::Write {
        path: path("json"),
        why: e.to_string(),
    })? + "\n";
    let md = report.markdown();
    for (ext, bytes) in [
        ("svg", svg.as_bytes()),
        ("json", json.as_bytes()),
        ("md", md.as_bytes()),
    ] {
        let path = path(ext);
        write_atomic(&path, bytes, durability).map_err(|e| ReportError::Write {
            path,
            why: e.to_string(),
        })?;
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or("-".into(), pct)
}

/// A share (a rate, a depth): a percentage without a sign.
fn share(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn opt_share(x: Option<f64>) -> String {
    x.map_or("-".into(), share)
}

fn opt_num(x: Option<f64>) -> String {
    crate::report::num_or_dash(x)
}

fn duration(d: &Drawdown) -> String {
    match (d.peak, d.trough) {
        (Some(peak), Some(trough)) => format!(
            "{} sessions (peak {peak}, trough {trough}, {})",
            d.duration_sessions,
            d.recovered
                .map_or("not recovered".into(), |r| format!("recovered {r}"))
        ),
        _ => "-".into(),
    }
}
