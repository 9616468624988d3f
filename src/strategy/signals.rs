//! The two setups of DESIGN §8 on a symbol's as-of bar, one signal per symbol, and the ranking.

use chrono::NaiveDate;
use serde::Serialize;

use super::indicators::{adv60, atr14, ibs, prior_low15, rsi2, sma200};
use crate::data::bars::Bar;

/// Bars a symbol needs up to the as-of date.
pub const MIN_BARS: usize = 200;
pub const MIN_CLOSE: f64 = 15.0;
pub const MIN_ADV60: f64 = 5_000_000.0;

crate::domain::text_enum!(
    /// The two setups of DESIGN §8 (ordered: a tie in confidence goes to IBS_RSI).
    Strategy, "strategy" {
        IbsRsi => "IBS_RSI",
        TurtleSoup => "TURTLE_SOUP",
    }
);

/// A setup found on the as-of bar (field order is the JSON contract of `kobe scan --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signal {
    pub symbol: String,
    pub strategy: Strategy,
    pub confidence: f64,
    pub score: f64,
    pub close: f64,
    pub stop: f64,
    pub target: Option<f64>,
    pub ibs: f64,
    pub rsi2: f64,
    pub atr14: f64,
    pub sma200: f64,
}

/// The indicators of the as-of bar, once the filters are known to apply.
struct Context {
    close: f64,
    low: f64,
    ibs: f64,
    rsi2: f64,
    atr14: f64,
    sma200: f64,
}

/// The symbol's signal on `as_of`, if any. `bars` are its valid bars up to `as_of`.
pub fn signal(symbol: &str, bars: &[Bar], as_of: NaiveDate) -> Option<Signal> {
    let last = bars.last()?;
    if last.date != as_of || bars.len() < MIN_BARS {
        return None;
    }
    let (ibs, rsi2, atr14) = (ibs(bars)?, rsi2(bars)?, atr14(bars)?);
    // Most symbols fire neither setup, and the setups look at a few bars where the filters
    // read 200: the setups are tested first, which changes no answer, only its cost.
    let ibs_rsi_fires = ibs < 0.08 && rsi2 < 10.0;
    let l15 = prior_low15(bars);
    let turtle_fires = l15.is_some_and(|l15| {
        let sweep = l15 - last.low;
        atr14 > 0.0 && sweep >= 0.3 * atr14 && last.close > l15
    });
    if !ibs_rsi_fires && !turtle_fires {
        return None;
    }
    if last.close < MIN_CLOSE || adv60(bars)? < MIN_ADV60 {
        return None;
    }
    let c = Context {
        close: last.close,
        low: last.low,
        ibs,
        rsi2,
        atr14,
        sma200: sma200(bars)?,
    };
    if c.close <= c.sma200 {
        return None;
    }
    let make = |strategy, score: f64, confidence, stop, target| Signal {
        symbol: symbol.to_string(),
        strategy,
        confidence,
        score,
        close: c.close,
        stop,
        target,
        ibs: c.ibs,
        rsi2: c.rsi2,
        atr14: c.atr14,
        sma200: c.sma200,
    };
    let ibs_rsi = (c.ibs < 0.08 && c.rsi2 < 10.0).then(|| {
        let score = (0.08 - c.ibs) * 100.0 + (10.0 - c.rsi2);
        make(
            Strategy::IbsRsi,
            score,
            score / 18.0,
            c.close - 2.0 * c.atr14,
            None,
        )
    });
    let turtle = l15.and_then(|l15| {
        let sweep = l15 - c.low;
        (c.atr14 > 0.0 && sweep >= 0.3 * c.atr14 && c.close > l15).then(|| {
            let stop = c.low - 0.2 * c.atr14;
            let target = c.close + 0.75 * (c.close - stop);
            make(
                Strategy::TurtleSoup,
                100.0 * sweep / c.atr14,
                (sweep / c.atr14).min(1.0),
                stop,
                Some(target),
            )
        })
    });
    match (ibs_rsi, turtle) {
        // The higher confidence wins; a tie goes to IBS_RSI.
        (Some(a), Some(b)) => Some(if b.confidence > a.confidence { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Confidence descending, then symbol ascending: the same inputs always rank the same way.
pub fn rank(signals: &mut [Signal]) {
    signals.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.symbol.cmp(&b.symbol))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 200 quiet bars (close 50, range 49..51, volume 1e6) then the bars given as (o, h, l, c).
    fn series(tail: &[(f64, f64, f64, f64)]) -> Vec<Bar> {
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let quiet = (0..200).map(|_| (50.0, 51.0, 49.0, 50.0));
        quiet
            .chain(tail.iter().copied())
            .enumerate()
            .map(|(i, (open, high, low, close))| Bar {
                date: start + chrono::TimeDelta::days(i as i64),
                open,
                high,
                low,
                close,
                volume: 1_000_000.0,
            })
            .collect()
    }

    fn last_date(bars: &[Bar]) -> NaiveDate {
        bars.last().unwrap().date
    }

    #[test]
    fn ibs_rsi_fires_on_a_close_at_the_low_after_two_down_days() {
        // Uptrend so that the close stays above SMA200, then two down days closing on the low.
        let bars = series(&[
            (60.0, 61.0, 59.5, 60.0),
            (60.0, 60.5, 58.0, 58.5),
            (58.5, 58.6, 56.0, 56.05),
        ]);
        let s = signal("X", &bars, last_date(&bars)).expect("a signal");
        assert_eq!(s.strategy, Strategy::IbsRsi);
        let ibs = (56.05 - 56.0) / (58.6 - 56.0);
        assert!((s.ibs - ibs).abs() < 1e-12);
        assert_eq!(s.rsi2, 0.0);
        assert!((s.score - ((0.08 - ibs) * 100.0 + 10.0)).abs() < 1e-9);
        assert!((s.confidence - s.score / 18.0).abs() < 1e-12);
        assert!((s.stop - (56.05 - 2.0 * s.atr14)).abs() < 1e-12);
        assert_eq!(s.target, None);
    }

    #[test]
    fn filters_and_data_requirements() {
        let good = series(&[
            (60.0, 61.0, 59.5, 60.0),
            (60.0, 60.5, 58.0, 58.5),
            (58.5, 58.6, 56.0, 56.05),
        ]);
        let as_of = last_date(&good);
        // No bar on the as-of date.
        assert!(signal("X", &good, as_of.succ_opt().unwrap()).is_none());
        // Fewer than 200 bars.
        assert!(signal("X", &good[good.len() - 199..], as_of).is_none());
        // Below SMA200: the same pattern at lower prices.
        let below = series(&[
            (45.0, 45.5, 44.0, 44.5),
            (44.5, 44.6, 43.0, 43.1),
            (43.1, 43.2, 42.0, 42.05),
        ]);
        assert!(signal("X", &below, last_date(&below)).is_none());
        // Thin trading: ADV60 under 5M.
        let mut thin = good.clone();
        for b in thin.iter_mut() {
            b.volume = 10_000.0;
        }
        assert!(signal("X", &thin, as_of).is_none());
        // Cheap: close under 15.
        let mut cheap = good.clone();
        for b in cheap.iter_mut() {
            for p in [&mut b.open, &mut b.high, &mut b.low, &mut b.close] {
                *p /= 10.0;
            }
            b.volume *= 10.0;
        }
        assert!(signal("X", &cheap, as_of).is_none());
    }

    #[test]
    fn turtle_soup_on_a_swept_prior_low() {
        // Rising bars, a prior low 10 bars back, then a day that sweeps it and closes back above.
        let mut tail: Vec<(f64, f64, f64, f64)> = (0..15)
            .map(|i| {
                let base = 60.0 + i as f64 * 0.1;
                (base, base + 1.0, base - 1.0, base)
            })
            .collect();
        tail[5] = (58.0, 59.0, 57.0, 58.5); // the prior low 57, 10 bars before t
        tail.push((58.0, 61.0, 56.0, 60.9)); // t: low 56 sweeps 57 by 1, close 60.9 > 57
        let bars = series(&tail);
        let s = signal("Y", &bars, last_date(&bars)).expect("a signal");
        assert_eq!(s.strategy, Strategy::TurtleSoup);
        let atr = s.atr14;
        assert!((s.score - 100.0 / atr).abs() < 1e-9);
        assert!((s.confidence - (1.0 / atr).min(1.0)).abs() < 1e-12);
        assert!((s.stop - (56.0 - 0.2 * atr)).abs() < 1e-12);
        let target = 60.9 + 0.75 * (60.9 - s.stop);
        assert!((s.target.unwrap() - target).abs() < 1e-9);
    }

    #[test]
    fn ranking_is_confidence_then_symbol() {
        let mk = |symbol: &str, confidence| Signal {
            symbol: symbol.into(),
            strategy: Strategy::IbsRsi,
            confidence,
            score: 0.0,
            close: 0.0,
            stop: 0.0,
            target: None,
            ibs: 0.0,
            rsi2: 0.0,
            atr14: 0.0,
            sma200: 0.0,
        };
        let mut v = vec![mk("B", 0.5), mk("C", 0.9), mk("A", 0.5)];
        rank(&mut v);
        let order: Vec<_> = v.iter().map(|s| s.symbol.as_str()).collect();
        assert_eq!(order, ["C", "A", "B"]);
    }
}
