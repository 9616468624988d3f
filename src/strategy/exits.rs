//! How a signal's trade would have ended under its strategy's own exits and the daily-bar
//! market model of DESIGN §7: entry at the next session's open; at each close a stop is hit if
//! the low reaches it (filled at the stop, or at the open if the bar gapped through), a target if
//! the high reaches it, the stop first when both; then the strategy's exits at the close.

use chrono::NaiveDate;

use super::indicators::{ibs, rsi2};
use super::signals::{Signal, Strategy};
use crate::data::bars::Bar;
use crate::domain::ExitReason;

/// Sessions a trade is held at most.
pub fn max_hold(strategy: Strategy) -> usize {
    match strategy {
        Strategy::IbsRsi => 7,
        Strategy::TurtleSoup => 3,
    }
}

/// A bracket's exit on one daily bar: a stop is hit if the low reaches it (filled at the stop,
/// or at the open if the bar gapped through it), a target if the high reaches it; the stop
/// first when both.
pub fn bracket_fill(
    bar: &Bar,
    stop: Option<f64>,
    target: Option<f64>,
) -> Option<(f64, ExitReason)> {
    if let Some(stop) = stop.filter(|s| bar.low <= *s) {
        return Some((bar.open.min(stop), ExitReason::Stop));
    }
    let target = target.filter(|t| bar.high >= *t)?;
    Some((bar.open.max(target), ExitReason::Target))
}

/// The strategy's own exit at the close of the last bar of `window`, `held` sessions after
/// entry: IBS > 0.8 or RSI2 > 70 for IBS_RSI, then the time stop.
pub fn close_exit(strategy: Strategy, window: &[Bar], held: usize) -> Option<(f64, ExitReason)> {
    let close = window.last()?.close;
    let strong_close = match strategy {
        Strategy::IbsRsi => {
            ibs(window).is_some_and(|v| v > 0.8) || rsi2(window).is_some_and(|v| v > 70.0)
        }
        Strategy::TurtleSoup => false,
    };
    if strong_close {
        return Some((close, ExitReason::StrategyExit));
    }
    (held >= max_hold(strategy)).then_some((close, ExitReason::TimeStop))
}

#[derive(Debug, Clone, PartialEq)]
pub struct TradeResult {
    pub entry_date: NaiveDate,
    pub entry: f64,
    pub exit_date: NaiveDate,
    pub exit: f64,
    /// (exit − entry) / (entry − stop).
    pub r: f64,
    pub reason: ExitReason,
}

/// The trade of a signal raised on `bars[t]`, using only `bars` (so nothing past their end is
/// seen); `None` if it has not ended by then or the open leaves no risk to measure.
pub fn simulate(bars: &[Bar], t: usize, signal: &Signal) -> Option<TradeResult> {
    let entry_bar = bars.get(t + 1)?;
    let entry = entry_bar.open;
    let risk = entry - signal.stop;
    if risk <= 0.0 {
        return None;
    }
    let done = |d: usize, exit: f64, reason| TradeResult {
        entry_date: entry_bar.date,
        entry,
        exit_date: bars[d].date,
        exit,
        r: (exit - entry) / risk,
        reason,
    };
    for d in t + 1..bars.len() {
        if let Some((exit, reason)) = bracket_fill(&bars[d], Some(signal.stop), signal.target)
            .or_else(|| close_exit(signal.strategy, &bars[..=d], d - t))
        {
            return Some(done(d, exit, reason));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(day: u32, o: f64, h: f64, l: f64, c: f64) -> Bar {
        Bar {
            date: NaiveDate::from_ymd_opt(2020, 1, day).unwrap(),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: 1.0,
        }
    }

    fn signal(strategy: Strategy, stop: f64, target: Option<f64>) -> Signal {
        Signal {
            symbol: "X".into(),
            strategy,
            confidence: 1.0,
            score: 1.0,
            close: 10.0,
            stop,
            target,
            ibs: 0.0,
            rsi2: 0.0,
            atr14: 1.0,
            sma200: 1.0,
        }
    }

    #[test]
    fn stop_target_both_and_gaps() {
        let s = signal(Strategy::TurtleSoup, 9.0, Some(12.0));
        // Target day.
        let bars = [
            bar(1, 10.0, 10.0, 10.0, 10.0),
            bar(2, 10.0, 10.5, 9.5, 10.2),
            bar(3, 10.2, 12.5, 10.0, 12.2),
        ];
        let t = simulate(&bars, 0, &s).unwrap();
        assert_eq!((t.exit, t.reason, t.r), (12.0, ExitReason::Target, 2.0));
        // Both in one day: the stop.
        let bars = [
            bar(1, 10.0, 10.0, 10.0, 10.0),
            bar(2, 10.0, 12.5, 8.5, 10.0),
        ];
        assert_eq!(simulate(&bars, 0, &s).unwrap().reason, ExitReason::Stop);
        // Gap through the stop: filled at the open.
        let bars = [
            bar(1, 10.0, 10.0, 10.0, 10.0),
            bar(2, 10.0, 10.5, 9.5, 10.0),
            bar(3, 8.0, 8.5, 7.5, 8.0),
        ];
        let t = simulate(&bars, 0, &s).unwrap();
        assert_eq!((t.exit, t.r), (8.0, -2.0));
        // Time stop after 3 sessions held, at the close.
        let bars: Vec<Bar> = (1..=5).map(|d| bar(d, 10.0, 10.5, 9.5, 10.1)).collect();
        let t = simulate(&bars, 0, &s).unwrap();
        assert_eq!(
            (t.exit_date.to_string().as_str(), t.reason.as_str()),
            ("2020-01-04", "time_stop")
        );
        // Not finished within the bars given: no result.
        assert!(simulate(&bars[..3], 0, &s).is_none());
    }

    #[test]
    fn ibs_rsi_exits_on_a_strong_close() {
        let s = signal(Strategy::IbsRsi, 8.0, None);
        // Day 2 closes near its high: IBS > 0.8.
        let bars = [
            bar(1, 10.0, 10.0, 10.0, 10.0),
            bar(2, 10.0, 11.0, 9.9, 10.95),
        ];
        let t = simulate(&bars, 0, &s).unwrap();
        assert_eq!((t.exit, t.reason), (10.95, ExitReason::StrategyExit));
    }
}
