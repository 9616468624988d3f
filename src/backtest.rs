//! A backtest's figures, as pure functions on plain data: an equity series (one close per
//! session, the first point being the equity the range starts from), closed trades, and daily
//! bars for the buy-and-hold benchmark. `backtest::report` reads these from the ledgers and the
//! bar store and writes `reports/replay_FROM_TO.{md,json,svg}`.
//!
//! Conventions (the report repeats them): daily returns are close-to-close returns of the
//! series, the first one against the starting equity; risk-free rate 0; a year is 252 sessions,
//! so ratios are annualised with √252 and CAGR takes `sessions / 252` years.

pub mod chart;
pub mod report;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::data::bars::Bar;
use crate::strategy::signals::Strategy;

/// Sessions in a trading year, for annualising.
pub const SESSIONS_PER_YEAR: f64 = 252.0;

/// One close of an equity series: the session and the account's equity at its close.
pub type Point = (NaiveDate, f64);

/// Close-to-close returns of `series`: one per point after the first.
pub fn daily_returns(series: &[Point]) -> Vec<f64> {
    series.windows(2).map(|w| w[1].1 / w[0].1 - 1.0).collect()
}

/// Last over first, minus one; 0 for a series with no session after its start.
pub fn total_return(series: &[Point]) -> f64 {
    match (series.first(), series.last()) {
        (Some(first), Some(last)) if series.len() > 1 => last.1 / first.1 - 1.0,
        _ => 0.0,
    }
}

/// The compound annual growth rate over `series.len() - 1` sessions of 1/252 year each;
/// `None` without a session, or when an end is not positive (no rate compounds to it).
pub fn cagr(series: &[Point]) -> Option<f64> {
    let (first, last) = (series.first()?.1, series.last()?.1);
    let sessions = series.len() - 1;
    (sessions > 0 && first > 0.0 && last > 0.0)
        .then(|| (last / first).powf(SESSIONS_PER_YEAR / sessions as f64) - 1.0)
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Mean daily return over its sample standard deviation (n − 1), times √252; `None` with fewer
/// than two returns or returns that never vary.
pub fn sharpe(returns: &[f64]) -> Option<f64> {
    if returns.len() < 2 {
        return None;
    }
    let m = mean(returns);
    let var = returns.iter().map(|r| (r - m).powi(2)).sum::<f64>() / (returns.len() - 1) as f64;
    let sd = var.sqrt();
    (sd > 0.0).then(|| m / sd * SESSIONS_PER_YEAR.sqrt())
}

/// Mean daily return over the downside deviation, times √252. The downside deviation is
/// √(Σ min(r, 0)² / n) over every return (target 0), the usual Sortino–Price form; `None`
/// without a losing day.
pub fn sortino(returns: &[f64]) -> Option<f64> {
    if returns.is_empty() {
        return None;
    }
    let downside =
        (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / returns.len() as f64).sqrt();
    (downside > 0.0).then(|| mean(returns) / downside * SESSIONS_PER_YEAR.sqrt())
}

/// The deepest fall from a running peak, and how long it lasted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drawdown {
    /// (peak − trough) / peak; 0 when the series never fell.
    pub depth: f64,
    /// The close it fell from (the series' first point if it fell from the start).
    pub peak: Option<NaiveDate>,
    pub trough: Option<NaiveDate>,
    /// The first close back at or above the peak; `None`: not recovered by the end.
    pub recovered: Option<NaiveDate>,
    /// Sessions from the peak to the recovery, or to the end if not recovered.
    pub duration_sessions: usize,
}

/// The maximum drawdown of `series` (the first, deepest one on a tie).
pub fn max_drawdown(series: &[Point]) -> Drawdown {
    let mut peak = 0;
    let mut worst: Option<(usize, usize, f64)> = None;
    for (i, p) in series.iter().enumerate() {
        if p.1 > series[peak].1 {
            peak = i;
        }
        let depth = (series[peak].1 - p.1) / series[peak].1;
        if depth > worst.map_or(0.0, |w| w.2) {
            worst = Some((peak, i, depth));
        }
    }
    let Some((peak, trough, depth)) = worst else {
        return Drawdown {
            depth: 0.0,
            peak: None,
            trough: None,
            recovered: None,
            duration_sessions: 0,
        };
    };
    let recovery = (trough + 1..series.len()).find(|&j| series[j].1 >= series[peak].1);
    Drawdown {
        depth,
        peak: Some(series[peak].0),
        trough: Some(series[trough].0),
        recovered: recovery.map(|j| series[j].0),
        duration_sessions: recovery.unwrap_or(series.len() - 1) - peak,
    }
}

/// The share of `sessions` on which at least one position was held: a holding counts on every
/// session from its entry to its exit, both included (`None`: still open).
pub fn exposure(
    sessions: &[NaiveDate],
    holdings: &[(NaiveDate, Option<NaiveDate>)],
) -> Option<f64> {
    if sessions.is_empty() {
        return None;
    }
    let held = sessions
        .iter()
        .filter(|s| {
            holdings
                .iter()
                .any(|(entry, exit)| entry <= *s && exit.is_none_or(|x| **s <= x))
        })
        .count();
    Some(held as f64 / sessions.len() as f64)
}

/// A closed trade as the report needs it: the ledger's `trades` row and the stop its entry
/// decision carried.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedTrade {
    pub symbol: String,
    pub strategy: Strategy,
    pub qty: i64,
    pub entry_session: NaiveDate,
    pub entry_price: f64,
    pub exit_session: NaiveDate,
    pub pnl: f64,
    /// The stop set at entry (later stop moves do not change the trade's risk).
    pub initial_stop: Option<f64>,
}

impl ClosedTrade {
    /// pnl / (qty × |entry − initial stop|); `None` without a stop or with no risk at all.
    pub fn r(&self) -> Option<f64> {
        let risk = self.qty.unsigned_abs() as f64 * (self.entry_price - self.initial_stop?).abs();
        (risk > 0.0).then(|| self.pnl / risk)
    }
}

/// Counts and ratios of a set of closed trades.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeStats {
    pub trades: usize,
    pub wins: usize,
    /// Trades with a positive pnl over all trades.
    pub win_rate: Option<f64>,
    /// Gross profit over gross loss; `None` without a losing trade.
    pub profit_factor: Option<f64>,
    pub pnl: f64,
    /// Mean R over the trades whose initial risk is known.
    pub avg_r: Option<f64>,
    /// Trades left out of `avg_r` (no stop at entry).
    pub trades_without_r: usize,
}

impl TradeStats {
    pub fn of<'a>(trades: impl IntoIterator<Item = &'a ClosedTrade>) -> Self {
        let trades: Vec<&ClosedTrade> = trades.into_iter().collect();
        let wins = trades.iter().filter(|t| t.pnl > 0.0).count();
        let gross_win: f64 = trades.iter().map(|t| t.pnl.max(0.0)).sum();
        let gross_loss: f64 = trades.iter().map(|t| (-t.pnl).max(0.0)).sum();
        let rs: Vec<f64> = trades.iter().filter_map(|t| t.r()).collect();
        Self {
            trades: trades.len(),
            wins,
            win_rate: (!trades.is_empty()).then(|| wins as f64 / trades.len() as f64),
            profit_factor: (gross_loss > 0.0).then(|| gross_win / gross_loss),
            // `+ 0.0`: an empty sum is -0.0, which would print as "-0.00".
            pnl: trades.iter().map(|t| t.pnl).sum::<f64>() + 0.0,
            avg_r: (!rs.is_empty()).then(|| mean(&rs)),
            trades_without_r: trades.len() - rs.len(),
        }
    }
}

/// One strategy's trades.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyStats {
    pub strategy: Strategy,
    #[serde(flatten)]
    pub stats: TradeStats,
}

/// Every strategy, in declaration order, each with its trades (none is left out for having
/// no trade: the report shows it with 0).
pub fn by_strategy(trades: &[ClosedTrade]) -> Vec<StrategyStats> {
    Strategy::ALL
        .iter()
        .map(|&strategy| StrategyStats {
            strategy,
            stats: TradeStats::of(trades.iter().filter(|t| t.strategy == strategy)),
        })
        .collect()
}

/// One year of monthly returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearRow {
    pub year: i32,
    /// January to December; `None` for a month outside the series.
    pub months: [Option<f64>; 12],
    /// The year's last close over the close before its first month, minus one.
    pub total: f64,
}

/// Monthly returns from month-end equity: each month's last close over the previous month's
/// last close (the series' first point for its first month), minus one.
pub fn monthly_returns(series: &[Point]) -> Vec<YearRow> {
    let Some(&(_, start)) = series.first() else {
        return Vec::new();
    };
    let mut month_end: BTreeMap<(i32, u32), f64> = BTreeMap::new();
    for &(date, equity) in &series[1..] {
        month_end.insert((date.year(), date.month()), equity);
    }
    let mut rows: Vec<YearRow> = Vec::new();
    let (mut prev_month, mut prev_year) = (start, start);
    for ((year, month), end) in month_end {
        if rows.last().is_none_or(|r| r.year != year) {
            // The close before the year's first month: the series' start for its first year.
            prev_year = prev_month;
            rows.push(YearRow {
                year,
                months: [None; 12],
                total: 0.0,
            });
        }
        let row = rows.last_mut().expect("pushed above");
        row.months[month as usize - 1] = Some(end / prev_month - 1.0);
        row.total = end / prev_year - 1.0;
        prev_month = end;
    }
    rows
}

/// The equal-weight buy-and-hold of a universe over the sessions of a backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct Benchmark {
    /// Its value at `start` and at each session's close.
    pub series: Vec<Point>,
    /// Symbols bought on the first session.
    pub bought: Vec<String>,
    /// Universe symbols with no bar on the first session (listed later, or missing): never
    /// bought.
    pub not_bought: Vec<String>,
}

/// Each symbol of `bars` with a bar on the first of `sessions` is bought at that bar's open
/// with an equal share of `start.1` (fractional shares, no cash left over) and marked at each
/// session's close; a symbol with no bar on a session is marked at its last close before it.
/// `bars` of each symbol are in date order. `None` when no symbol has a bar on the first
/// session (or there is no session).
pub fn benchmark<B: AsRef<[Bar]>>(
    start: Point,
    sessions: &[NaiveDate],
    bars: &BTreeMap<String, B>,
) -> Option<Benchmark> {
    let first = *sessions.first()?;
    let on_first = |b: &[Bar]| b.iter().find(|bar| bar.date == first).copied();
    let (bought, not_bought): (Vec<_>, Vec<_>) = bars
        .iter()
        .partition(|(_, b)| on_first(b.as_ref()).is_some());
    if bought.is_empty() {
        return None;
    }
    let share = start.1 / bought.len() as f64;
    let holdings: Vec<(f64, &[Bar])> = bought
        .iter()
        .filter_map(|(_, b)| on_first(b.as_ref()).map(|bar| (share / bar.open, b.as_ref())))
        .collect();
    let mut series = vec![start];
    // Each holding's first bar after the day: sessions ascend, so it only moves forward (a
    // binary search per holding and day was most of a 2-year replay's report).
    let mut after: Vec<usize> = vec![0; holdings.len()];
    let mut previous = None;
    for &day in sessions {
        if previous.is_some_and(|p| day < p) {
            after.fill(0);
        }
        previous = Some(day);
        let value = holdings
            .iter()
            .zip(after.iter_mut())
            .map(|((qty, b), after)| {
                while b.get(*after).is_some_and(|bar| bar.date <= day) {
                    *after += 1;
                }
                // Bought on the first session, so a close at or before `day` always exists.
                qty * b[after.saturating_sub(1)].close
            })
            .sum();
        series.push((day, value));
    }
    Some(Benchmark {
        series,
        bought: bought.into_iter().map(|(s, _)| s.clone()).collect(),
        not_bought: not_bought.into_iter().map(|(s, _)| s.clone()).collect(),
    })
}

/// The headline figures of one equity series (the account's, or the benchmark's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesStats {
    pub start_equity: f64,
    pub final_equity: f64,
    pub total_return: f64,
    pub cagr: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown: Drawdown,
}

impl SeriesStats {
    pub fn of(series: &[Point]) -> Self {
        let returns = daily_returns(series);
        Self {
            start_equity: series.first().map_or(0.0, |p| p.1),
            final_equity: series.last().map_or(0.0, |p| p.1),
            total_return: total_return(series),
            cagr: cagr(series),
            sharpe: sharpe(&returns),
            sortino: sortino(&returns),
            max_drawdown: max_drawdown(series),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2016, m, day).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Start 100 on Dec 31; then 110, 99, 121, 115.5 (+10 %, −10 %, +22.2… %, −4.545… %).
    fn series() -> Vec<Point> {
        vec![
            (NaiveDate::from_ymd_opt(2015, 12, 31).unwrap(), 100.0),
            (d(1, 4), 110.0),
            (d(1, 5), 99.0),
            (d(1, 6), 121.0),
            (d(1, 7), 115.5),
        ]
    }

    #[test]
    fn total_return_and_cagr() {
        assert!(close(total_return(&series()), 0.155));
        // 4 sessions = 4/252 year: 1.155^63 − 1.
        assert!(close(cagr(&series()).unwrap(), 1.155f64.powi(63) - 1.0));
        // 252 sessions of +0 % then one doubling: a year exactly, 100 %.
        let mut year: Vec<Point> = (0..252)
            .map(|i| (d(1, 1) + chrono::Days::new(i), 100.0))
            .collect();
        year.push((d(12, 31), 200.0));
        assert!(close(cagr(&year).unwrap(), 1.0));
        assert_eq!(cagr(&series()[..1]), None);
        assert_eq!(total_return(&series()[..1]), 0.0);
    }

    #[test]
    fn sharpe_and_sortino() {
        let r = daily_returns(&series());
        let expected = [0.1, -0.1, 22.0 / 99.0, 115.5 / 121.0 - 1.0];
        assert!(r.iter().zip(expected).all(|(a, b)| close(*a, b)), "{r:?}");
        // By hand: mean m = Σr/4; sample sd = √(Σ(r − m)²/3); Sharpe = m/sd·√252.
        let m = (0.1 - 0.1 + 22.0 / 99.0 + (115.5 / 121.0 - 1.0)) / 4.0;
        let ss: f64 = expected.iter().map(|x| (x - m) * (x - m)).sum();
        assert!(close(
            sharpe(&r).unwrap(),
            m / (ss / 3.0).sqrt() * 252f64.sqrt()
        ));
        // Downside deviation √((0.1² + (4.5/99)²)/4) with r4 = −5.5/121 = −1/22.
        let dd = ((0.01 + (1.0f64 / 22.0).powi(2)) / 4.0).sqrt();
        assert!(close(sortino(&r).unwrap(), m / dd * 252f64.sqrt()));
        // Numerically: m = 0.0441919, sd = 0.1456447, downside 0.0549229.
        assert!((sharpe(&r).unwrap() - 4.816688).abs() < 1e-6);
        assert!((sortino(&r).unwrap() - 12.772896).abs() < 1e-6);
        // Flat returns have no ratio; no losing day has no Sortino.
        assert_eq!(sharpe(&[0.01, 0.01, 0.01]), None);
        assert_eq!(sortino(&[0.01, 0.02]), None);
        assert_eq!(sharpe(&[0.01]), None);
    }

    #[test]
    fn max_drawdown_its_dates_and_duration() {
        // Peak 110 (Jan 4), trough 99 (Jan 5): 10 %; back above 110 on Jan 6: 2 sessions.
        let dd = max_drawdown(&series());
        assert!(close(dd.depth, 0.1));
        assert_eq!(
            (dd.peak, dd.trough, dd.recovered, dd.duration_sessions),
            (Some(d(1, 4)), Some(d(1, 5)), Some(d(1, 6)), 2)
        );
        // Not recovered: 100 → 90 → 80 → 95, from the start point to the end (3 sessions).
        let s = vec![
            (NaiveDate::from_ymd_opt(2015, 12, 31).unwrap(), 100.0),
            (d(1, 4), 90.0),
            (d(1, 5), 80.0),
            (d(1, 6), 95.0),
        ];
        let dd = max_drawdown(&s);
        assert!(close(dd.depth, 0.2));
        assert_eq!(
            (dd.peak, dd.trough, dd.recovered, dd.duration_sessions),
            (s[0].0.into(), Some(d(1, 5)), None, 3)
        );
        // A later, shallower fall does not replace the deepest one.
        let s = vec![
            (d(1, 4), 100.0),
            (d(1, 5), 80.0),
            (d(1, 6), 120.0),
            (d(1, 7), 110.0),
        ];
        let dd = max_drawdown(&s);
        assert!(close(dd.depth, 0.2));
        assert_eq!((dd.recovered, dd.duration_sessions), (Some(d(1, 6)), 2));
        // Never fell.
        assert_eq!(max_drawdown(&[(d(1, 4), 1.0), (d(1, 5), 2.0)]).depth, 0.0);
        assert_eq!(max_drawdown(&[]).duration_sessions, 0);
    }

    #[test]
    fn exposure_counts_sessions_with_a_position_held() {
        let sessions: Vec<NaiveDate> = (4..=8).map(|day| d(1, day)).collect();
        // Jan 5–6 (a closed trade) and Jan 8 onwards (still open): 3 of 5 sessions.
        let held = [(d(1, 5), Some(d(1, 6))), (d(1, 8), None)];
        assert!(close(exposure(&sessions, &held).unwrap(), 0.6));
        // A trade entered and left on the same session counts that session.
        assert!(close(
            exposure(&sessions, &[(d(1, 4), Some(d(1, 4)))]).unwrap(),
            0.2
        ));
        assert_eq!(exposure(&sessions, &[]), Some(0.0));
        assert_eq!(exposure(&[], &held), None);
    }

    fn trade(strategy: Strategy, pnl: f64, stop: Option<f64>) -> ClosedTrade {
        ClosedTrade {
            symbol: "AAA".into(),
            strategy,
            qty: 10,
            entry_session: d(1, 4),
            entry_price: 100.0,
            exit_session: d(1, 5),
            pnl,
            initial_stop: stop,
        }
    }

    #[test]
    fn trade_stats_win_rate_profit_factor_and_avg_r() {
        // Risk 10 × |100 − 95| = 50: +100 is 2R, −50 is −1R; risk 10 × 2 = 20: +30 is 1.5R.
        let trades = [
            trade(Strategy::IbsRsi, 100.0, Some(95.0)),
            trade(Strategy::IbsRsi, -50.0, Some(95.0)),
            trade(Strategy::TurtleSoup, 30.0, Some(98.0)),
            trade(Strategy::TurtleSoup, -10.0, None),
        ];
        let all = TradeStats::of(&trades);
        assert_eq!((all.trades, all.wins, all.trades_without_r), (4, 2, 1));
        assert!(close(all.win_rate.unwrap(), 0.5));
        assert!(close(all.profit_factor.unwrap(), 130.0 / 60.0));
        assert!(close(all.pnl, 70.0));
        assert!(close(all.avg_r.unwrap(), (2.0 - 1.0 + 1.5) / 3.0));
        let split = by_strategy(&trades);
        assert_eq!(split[0].strategy, Strategy::IbsRsi);
        assert!(close(split[0].stats.avg_r.unwrap(), 0.5));
        assert!(close(split[0].stats.profit_factor.unwrap(), 2.0));
        assert!(close(split[1].stats.pnl, 20.0));
        assert!(close(split[1].stats.avg_r.unwrap(), 1.5));
        // No trades; and no losing trade has no profit factor.
        let none = TradeStats::of(&[]);
        assert_eq!(
            (none.win_rate, none.profit_factor, none.avg_r),
            (None, None, None)
        );
        assert_eq!(none.pnl.to_string(), "0");
        assert_eq!(TradeStats::of(&trades[..1]).profit_factor, None);
        // A stop above the entry (a short's) still gives the risk's size.
        let mut t = trade(Strategy::IbsRsi, -40.0, Some(102.0));
        t.qty = -10;
        assert!(close(t.r().unwrap(), -2.0));
    }

    #[test]
    fn monthly_table_from_month_end_equity() {
        let s = vec![
            (NaiveDate::from_ymd_opt(2015, 12, 31).unwrap(), 100.0),
            (d(11, 30), 105.0),
            (d(12, 15), 120.0),
            (d(12, 30), 110.25),
            (NaiveDate::from_ymd_opt(2017, 1, 3).unwrap(), 99.225),
            (NaiveDate::from_ymd_opt(2017, 3, 31).unwrap(), 109.1475),
        ];
        let rows = monthly_returns(&s);
        assert_eq!(rows.len(), 2);
        // 2016: Nov 105/100 = +5 %, Dec 110.25/105 = +5 % (its month end, not its high);
        // the year 110.25/100.
        assert_eq!(rows[0].year, 2016);
        assert!(rows[0].months[..10].iter().all(Option::is_none));
        assert!(close(rows[0].months[10].unwrap(), 0.05));
        assert!(close(rows[0].months[11].unwrap(), 0.05));
        assert!(close(rows[0].total, 0.1025));
        // 2017: Jan 99.225/110.25 = −10 %, Mar 109.1475/99.225 = +10 %; the year −1 %.
        assert!(close(rows[1].months[0].unwrap(), -0.1));
        assert_eq!(rows[1].months[1], None);
        assert!(close(rows[1].months[2].unwrap(), 0.1));
        assert!(close(rows[1].total, -0.01));
        assert!(monthly_returns(&s[..1]).is_empty());
    }

    fn bar(date: NaiveDate, open: f64, close: f64) -> Bar {
        Bar {
            date,
            open,
            high: open.max(close),
            low: open.min(close),
            close,
            volume: 1.0,
        }
    }

    #[test]
    fn benchmark_buys_what_trades_on_the_first_session_and_marks_at_the_last_close() {
        let sessions = [d(1, 4), d(1, 5), d(1, 6)];
        let bars = BTreeMap::from([
            // 500 at open 10: 50 shares; closes 11, (none: 11), 12.
            (
                "AAA".to_string(),
                vec![bar(d(1, 4), 10.0, 11.0), bar(d(1, 6), 12.0, 12.0)],
            ),
            // 500 at open 50: 10 shares; closes 45, 40, 60.
            (
                "BBB".to_string(),
                vec![
                    bar(d(1, 1), 1.0, 1.0),
                    bar(d(1, 4), 50.0, 45.0),
                    bar(d(1, 5), 40.0, 40.0),
                    bar(d(1, 6), 60.0, 60.0),
                ],
            ),
            // Listed on the second session: never bought.
            ("CCC".to_string(), vec![bar(d(1, 5), 5.0, 9.0)]),
        ]);
        let start = (NaiveDate::from_ymd_opt(2015, 12, 31).unwrap(), 1000.0);
        let b = benchmark(start, &sessions, &bars).unwrap();
        assert_eq!(b.bought, ["AAA", "BBB"]);
        assert_eq!(b.not_bought, ["CCC"]);
        let values: Vec<f64> = b.series.iter().map(|p| p.1).collect();
        // 50·11 + 10·45 = 1000; 50·11 + 10·40 = 950; 50·12 + 10·60 = 1200.
        assert_eq!(values, [1000.0, 1000.0, 950.0, 1200.0]);
        assert_eq!(b.series[0], start);
        assert!(close(total_return(&b.series), 0.2));
        // Sessions out of order are marked as they come all the same.
        let back = benchmark(start, &[d(1, 4), d(1, 6), d(1, 5)], &bars).unwrap();
        let values: Vec<f64> = back.series.iter().map(|p| p.1).collect();
        assert_eq!(values, [1000.0, 1000.0, 1200.0, 950.0]);
        // Nothing trades on the first session: no benchmark.
        assert_eq!(
            benchmark(
                start,
                &sessions[1..2],
                &BTreeMap::from([("AAA".to_string(), vec![bar(d(1, 4), 1.0, 1.0)])])
            ),
            None
        );
        assert_eq!(benchmark(start, &[], &bars), None);
    }
}
