//! Scanning a universe on an as-of date: each symbol's bars up to that date, its signal, the
//! ranking, and the JSON that `kobe scan --json` and the scan jobs write.

use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::Serialize;

use crate::data::store::BarsBySymbol;
use crate::strategy::signals::{rank, signal, Signal};

/// Bars a scan reads per symbol: the 200 the rules need plus margin for the shorter windows.
pub const LOOKBACK: usize = 260;

/// The window to load for a scan on `as_of`.
pub fn window(as_of: NaiveDate) -> crate::data::snapshot::Window {
    crate::data::snapshot::Window {
        until: as_of,
        keep: LOOKBACK,
    }
}

/// Ranked signals of `universe` on `as_of`, from bars that may run past it.
pub fn scan(bars: &dyn BarsBySymbol, universe: &[String], as_of: NaiveDate) -> Vec<Signal> {
    let mut signals: Vec<Signal> = universe
        .iter()
        .filter_map(|symbol| signal(symbol, bars.up_to(symbol, as_of)?, as_of))
        .collect();
    rank(&mut signals);
    signals
}

/// Why a scan found nothing, when the store simply has no bar for the date: the latest bar
/// date it has up to `as_of`, if that is before it. Kept apart from `scan_noting_gaps`, which
/// the jobs call, as the reference its test checks it against.
#[cfg(test)]
fn missing_as_of(bars: &dyn BarsBySymbol, universe: &[String], as_of: NaiveDate) -> Option<String> {
    // Each universe symbol's latest bar up to `as_of`.
    let latest = universe
        .iter()
        .filter_map(|s| bars.up_to(s, as_of)?.last())
        .map(|b| b.date)
        .max();
    missing_line(latest, as_of)
}

/// `scan` and `missing_as_of` in one pass over the universe: each series is cut once.
pub fn scan_noting_gaps(
    bars: &dyn BarsBySymbol,
    universe: &[String],
    as_of: NaiveDate,
) -> (Vec<Signal>, Option<String>) {
    let mut latest: Option<NaiveDate> = None;
    let mut signals = Vec::new();
    for symbol in universe {
        let Some(cut) = bars.up_to(symbol, as_of) else {
            continue;
        };
        latest = latest.max(cut.last().map(|b| b.date));
        signals.extend(signal(symbol, cut, as_of));
    }
    rank(&mut signals);
    (signals, missing_line(latest, as_of))
}

/// What `missing_as_of` says, given the latest bar date up to `as_of`.
fn missing_line(latest: Option<NaiveDate>, as_of: NaiveDate) -> Option<String> {
    match latest {
        Some(d) if d == as_of => None,
        Some(d) => Some(format!(
            "no bar dated {as_of} in the store (its latest is {d}): nothing to scan"
        )),
        None => Some(format!(
            "no bars up to {as_of} in the store: nothing to scan"
        )),
    }
}

#[derive(Serialize)]
struct ScanJson<'a> {
    as_of: NaiveDate,
    signals: &'a [Signal],
}

/// `{"as_of": D, "signals": [...]}`: byte-identical for the same inputs.
pub fn to_json(as_of: NaiveDate, signals: &[Signal]) -> String {
    serde_json::to_string(&ScanJson { as_of, signals }).expect("signals serialise")
}

/// A table for a person.
pub fn to_table(as_of: NaiveDate, signals: &[Signal]) -> String {
    let mut out = format!("scan as of {as_of}: {} signals\n", signals.len());
    if signals.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:>3}  {:<7} {:<11} {:>5} {:>9} {:>9} {:>9} {:>5} {:>5}",
        "#", "symbol", "strategy", "conf", "close", "stop", "target", "ibs", "rsi2"
    );
    for (i, s) in signals.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>3}  {:<7} {:<11} {:>5.2} {:>9.2} {:>9.2} {:>9} {:>5.2} {:>5.1}",
            i + 1,
            s.symbol,
            s.strategy.as_str(),
            s.confidence,
            s.close,
            s.stop,
            crate::report::num_or_dash(s.target),
            s.ibs,
            s.rsi2
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::bars::{clean, Bar};
    use std::collections::BTreeMap;

    #[test]
    fn invalid_bars_in_the_window_are_skipped_not_counted() {
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let day = |i: i64| start + chrono::TimeDelta::days(i);
        let bar = |i: i64, open, high, low, close| Bar {
            date: day(i),
            open,
            high,
            low,
            close,
            volume: 1e6,
        };
        let mut raw: Vec<Bar> = (0..200).map(|i| bar(i, 50.0, 51.0, 49.0, 50.0)).collect();
        raw.push(bar(200, 60.0, 61.0, 59.5, 60.0));
        raw.push(bar(201, 60.0, 60.5, 58.0, 58.5));
        // A bad tick between the two down days: high below low. Counted, it would make the
        // last change +941 and RSI2 about 50: no signal.
        raw.push(bar(202, 1000.0, 10.0, 20.0, 1000.0));
        raw.push(bar(203, 58.5, 58.6, 56.0, 56.05));
        let as_of = day(203);
        let (valid, dropped) = clean("X", raw);
        assert_eq!(dropped.len(), 1);
        let series = BTreeMap::from([("X".to_string(), valid)]);
        let signals = scan(&series, &["X".into()], as_of);
        assert_eq!(signals.len(), 1, "the setup over the valid bars fires");
        // One pass gives the same signals and the same note as the two calls.
        for (universe, date) in [
            (vec!["X".to_string(), "Y".into()], as_of),
            (vec!["X".to_string()], day(204)),
            (vec!["Y".to_string()], as_of),
        ] {
            assert_eq!(
                scan_noting_gaps(&series, &universe, date),
                (
                    scan(&series, &universe, date),
                    missing_as_of(&series, &universe, date)
                )
            );
        }
        assert_eq!(signals[0].rsi2, 0.0);
        assert_eq!(
            to_json(as_of, &[]),
            format!("{{\"as_of\":\"{as_of}\",\"signals\":[]}}")
        );
    }
}
