//! When an open position is closed, judged on the session's bar: the bracket's stop and target
//! as the market model of DESIGN §7 triggers them (only where kobe's own paper broker holds
//! the bracket — Alpaca triggers its legs itself), and the strategy's exits of §8.

use chrono::NaiveDate;
use kobe_actors::calendar::NyseCalendar;

use crate::data::bars::Bar;
use crate::domain::ExitReason;
use crate::strategy::exits::{bracket_fill, close_exit, max_hold};
use crate::trading::OpenPosition;

/// The bracket's exit on the session's bar (final, or provisional so far today), where kobe's
/// paper broker holds the bracket.
pub fn bracket_exit(
    pos: &OpenPosition,
    bars: &[Bar],
    session: NaiveDate,
) -> Option<(f64, ExitReason)> {
    let bar = bars.last().filter(|b| b.date == session)?;
    bracket_fill(bar, pos.stop, pos.target)
}

/// The strategy's exit at the session's close (§8), sessions held counted on the calendar.
/// Without the session's bar only the calendar can speak — when `time_stop_without_bar`
/// (live), a time stop referenced to the last close known.
pub fn strategy_exit(
    pos: &OpenPosition,
    bars: &[Bar],
    session: NaiveDate,
    time_stop_without_bar: bool,
) -> Option<(f64, ExitReason)> {
    let held = NyseCalendar.sessions(pos.entry_session, session).len();
    let strategy = pos.strategy;
    if bars.last().is_some_and(|b| b.date == session) {
        return close_exit(strategy, bars, held);
    }
    let last = bars.last().map_or(pos.entry_price, |b| b.close);
    (time_stop_without_bar && held >= max_hold(strategy)).then_some((last, ExitReason::TimeStop))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::signals::Strategy;

    fn bar(day: u32, o: f64, h: f64, l: f64, c: f64) -> Bar {
        Bar {
            date: NaiveDate::from_ymd_opt(2018, 2, day).unwrap(),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: 1e6,
        }
    }

    fn position(strategy: Strategy, entry_day: u32) -> OpenPosition {
        OpenPosition {
            symbol: "X".into(),
            qty: 10,
            entry_price: 100.0,
            stop: Some(95.0),
            target: Some(110.0),
            strategy,
            entry_session: NaiveDate::from_ymd_opt(2018, 2, entry_day).unwrap(),
            entry_order: "e".into(),
        }
    }

    #[test]
    fn brackets_on_the_sessions_bar() {
        let day = NaiveDate::from_ymd_opt(2018, 2, 6).unwrap();
        let pos = position(Strategy::TurtleSoup, 5);
        // Gapped through the stop: filled at the open; both hit in one day: the stop.
        let bars = [bar(6, 94.0, 111.0, 93.0, 100.0)];
        assert_eq!(
            bracket_exit(&pos, &bars, day),
            Some((94.0, ExitReason::Stop))
        );
        let bars = [bar(6, 100.0, 111.0, 99.0, 105.0)];
        assert_eq!(
            bracket_exit(&pos, &bars, day),
            Some((110.0, ExitReason::Target))
        );
        let bars = [bar(6, 112.0, 113.0, 99.0, 105.0)];
        assert_eq!(
            bracket_exit(&pos, &bars, day),
            Some((112.0, ExitReason::Target))
        );
        let bars = [bar(6, 100.0, 109.0, 96.0, 105.0)];
        assert_eq!(bracket_exit(&pos, &bars, day), None);
        // No bar for the session: nothing.
        let wednesday = NaiveDate::from_ymd_opt(2018, 2, 7).unwrap();
        assert_eq!(bracket_exit(&pos, &bars, wednesday), None);
    }

    #[test]
    fn time_stops_count_sessions_held() {
        // Entered Mon 2018-02-05; the 3rd session held is Wed 02-07.
        let pos = position(Strategy::TurtleSoup, 5);
        let quiet = |d| bar(d, 100.0, 101.0, 99.0, 100.5);
        let day = |d| NaiveDate::from_ymd_opt(2018, 2, d).unwrap();
        assert_eq!(strategy_exit(&pos, &[quiet(6)], day(6), false), None);
        assert_eq!(
            strategy_exit(&pos, &[quiet(7)], day(7), false),
            Some((100.5, ExitReason::TimeStop))
        );
        // Without Wednesday's bar: live takes the time stop at the last close, the market
        // model judges nothing.
        assert_eq!(
            strategy_exit(&pos, &[quiet(6)], day(7), true),
            Some((100.5, ExitReason::TimeStop))
        );
        assert_eq!(strategy_exit(&pos, &[quiet(6)], day(7), false), None);
    }

    #[test]
    fn ibs_rsi_exits_on_a_strong_close() {
        let pos = position(Strategy::IbsRsi, 5);
        let day = NaiveDate::from_ymd_opt(2018, 2, 6).unwrap();
        // Closed at the high: IBS 1 > 0.8.
        let bars = [
            bar(5, 100.0, 101.0, 99.0, 100.0),
            bar(6, 100.0, 104.0, 99.0, 104.0),
        ];
        assert_eq!(
            strategy_exit(&pos, &bars, day, false),
            Some((104.0, ExitReason::StrategyExit))
        );
    }
}
