//! When an open position is closed, judged on the session's bar: the bracket's stop and target
//! as the market model of DESIGN §7 triggers them (only where kobe's own paper broker holds
//! the bracket — Alpaca triggers its legs itself), then the strategy's exits of §8.

use chrono::NaiveDate;
use kobe_actors::calendar::NyseCalendar;

use crate::data::bars::Bar;
use crate::strategy::exits::max_hold;
use crate::strategy::indicators::{ibs, rsi2};
use crate::strategy::signals::Strategy;
use crate::trading::OpenPosition;

/// The exit price and reason for `pos` on `session`, if any. `bars` end with the session's bar
/// (final in a replay, provisional live); without it nothing is judged.
pub fn exit_for(
    pos: &OpenPosition,
    bars: &[Bar],
    session: NaiveDate,
    simulate_bracket: bool,
) -> Option<(f64, &'static str)> {
    let held = NyseCalendar.sessions(pos.entry_session, session).len();
    let strategy = if pos.strategy == Strategy::TurtleSoup.as_str() {
        Strategy::TurtleSoup
    } else {
        Strategy::IbsRsi
    };
    let Some(bar) = bars.last().filter(|b| b.date == session) else {
        // Live without today's bar only the calendar can still speak: a time stop, referenced
        // to the last close known. (The market model always has the bar, or judges nothing.)
        let last = bars.last().map_or(pos.entry_price, |b| b.close);
        return (!simulate_bracket && held >= max_hold(strategy)).then_some((last, "time_stop"));
    };
    if simulate_bracket {
        // Both in one day → the stop (§7).
        if let Some(stop) = pos.stop.filter(|s| bar.low <= *s) {
            return Some((if bar.open <= stop { bar.open } else { stop }, "stop"));
        }
        if let Some(target) = pos.target.filter(|t| bar.high >= *t) {
            return Some((if bar.open >= target { bar.open } else { target }, "target"));
        }
    }
    if strategy == Strategy::IbsRsi
        && (ibs(bars).is_some_and(|v| v > 0.8) || rsi2(bars).is_some_and(|v| v > 70.0))
    {
        return Some((bar.close, "strategy_exit"));
    }
    (held >= max_hold(strategy)).then_some((bar.close, "time_stop"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn position(strategy: &str, entry_day: u32) -> OpenPosition {
        OpenPosition {
            symbol: "X".into(),
            qty: 10,
            entry_price: 100.0,
            stop: Some(95.0),
            target: Some(110.0),
            strategy: strategy.into(),
            entry_session: NaiveDate::from_ymd_opt(2018, 2, entry_day).unwrap(),
            entry_order: "e".into(),
        }
    }

    #[test]
    fn the_bracket_is_simulated_only_where_kobe_holds_it() {
        let day = NaiveDate::from_ymd_opt(2018, 2, 6).unwrap();
        let pos = position("TURTLE_SOUP", 5);
        // Gapped through the stop: filled at the open; both hit in one day: the stop.
        let bars = [bar(6, 94.0, 111.0, 93.0, 100.0)];
        assert_eq!(exit_for(&pos, &bars, day, true), Some((94.0, "stop")));
        let bars = [bar(6, 100.0, 111.0, 99.0, 105.0)];
        assert_eq!(exit_for(&pos, &bars, day, true), Some((110.0, "target")));
        // Alpaca holds the legs: no simulated exit, and a Turtle Soup held 2 sessions stays.
        assert_eq!(exit_for(&pos, &bars, day, false), None);
        // No bar for the session: the market model judges nothing; live, only a time stop
        // (entered Mon 02-05, Wed 02-07 is the third session held).
        let wednesday = NaiveDate::from_ymd_opt(2018, 2, 7).unwrap();
        assert_eq!(exit_for(&pos, &bars, wednesday, true), None);
        assert_eq!(
            exit_for(&pos, &bars, wednesday, false),
            Some((105.0, "time_stop"))
        );
    }

    #[test]
    fn time_stops_count_sessions_held() {
        // Entered Mon 2018-02-05; the 3rd session held is Wed 02-07.
        let pos = position("TURTLE_SOUP", 5);
        let quiet = |d| bar(d, 100.0, 101.0, 99.0, 100.5);
        let day = |d| NaiveDate::from_ymd_opt(2018, 2, d).unwrap();
        assert_eq!(exit_for(&pos, &[quiet(6)], day(6), false), None);
        assert_eq!(
            exit_for(&pos, &[quiet(7)], day(7), false),
            Some((100.5, "time_stop"))
        );
    }
}
