//! Indicators on the as-of bar t of a series of valid daily bars (`bars[t]` is the last one).
//! Each returns `None` when the series is too short for it.

use crate::data::bars::Bar;

/// Mean of the last 200 closes.
pub fn sma200(bars: &[Bar]) -> Option<f64> {
    mean_last(bars, 200, |b| b.close)
}

/// Mean of close × volume over the last 60 bars.
pub fn adv60(bars: &[Bar]) -> Option<f64> {
    mean_last(bars, 60, |b| b.close * b.volume)
}

fn mean_last(bars: &[Bar], n: usize, f: impl Fn(&Bar) -> f64) -> Option<f64> {
    (bars.len() >= n).then(|| bars[bars.len() - n..].iter().map(f).sum::<f64>() / n as f64)
}

/// True range of bar `i` (needs the previous close).
fn true_range(bars: &[Bar], i: usize) -> f64 {
    let (b, prev_close) = (&bars[i], bars[i - 1].close);
    (b.high - b.low)
        .max((b.high - prev_close).abs())
        .max((b.low - prev_close).abs())
}

/// Mean of the last 14 true ranges.
pub fn atr14(bars: &[Bar]) -> Option<f64> {
    if bars.len() < 15 {
        return None;
    }
    let t = bars.len() - 1;
    Some(((t - 13)..=t).map(|i| true_range(bars, i)).sum::<f64>() / 14.0)
}

/// RSI over the last two close changes.
pub fn rsi2(bars: &[Bar]) -> Option<f64> {
    if bars.len() < 3 {
        return None;
    }
    let t = bars.len() - 1;
    let changes = [
        bars[t].close - bars[t - 1].close,
        bars[t - 1].close - bars[t - 2].close,
    ];
    let gain = changes.iter().map(|c| c.max(0.0)).sum::<f64>() / 2.0;
    let loss = changes.iter().map(|c| (-c).max(0.0)).sum::<f64>() / 2.0;
    Some(if loss == 0.0 {
        if gain > 0.0 {
            100.0
        } else {
            50.0
        }
    } else {
        100.0 - 100.0 / (1.0 + gain / loss)
    })
}

/// Internal bar strength of the last bar.
pub fn ibs(bars: &[Bar]) -> Option<f64> {
    let b = bars.last()?;
    Some(if b.high == b.low {
        0.5
    } else {
        (b.close - b.low) / (b.high - b.low)
    })
}

/// The lowest low of the 15 bars before t, if its most recent occurrence is at least 3 bars
/// before t (so a fresh low is not a "prior" low).
pub fn prior_low15(bars: &[Bar]) -> Option<f64> {
    if bars.len() < 16 {
        return None;
    }
    let t = bars.len() - 1;
    let window = &bars[t - 15..t];
    let low = window.iter().map(|b| b.low).fold(f64::INFINITY, f64::min);
    let most_recent = window.iter().rposition(|b| b.low == low)? + (t - 15);
    (t - most_recent >= 3).then_some(low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// Bars from (high, low, close) with open = close and volume 1000, on consecutive days.
    pub fn bars(hlc: &[(f64, f64, f64)]) -> Vec<Bar> {
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        hlc.iter()
            .enumerate()
            .map(|(i, &(high, low, close))| Bar {
                date: start + chrono::TimeDelta::days(i as i64),
                open: close,
                high,
                low,
                close,
                volume: 1000.0,
            })
            .collect()
    }

    #[test]
    fn ibs_and_the_flat_bar() {
        assert_eq!(ibs(&bars(&[(10.0, 8.0, 8.5)])), Some(0.25));
        assert_eq!(ibs(&bars(&[(9.0, 9.0, 9.0)])), Some(0.5));
    }

    #[test]
    fn rsi2_edges() {
        // Two falls of 1 and 3: gain 0, loss 2 -> 0.
        assert_eq!(
            rsi2(&bars(&[
                (1.0, 1.0, 14.0),
                (1.0, 1.0, 13.0),
                (1.0, 1.0, 10.0)
            ])),
            Some(0.0)
        );
        // Up 2 then down 1: gain 1, loss 0.5 -> 100 - 100/3.
        let r = rsi2(&bars(&[
            (1.0, 1.0, 10.0),
            (1.0, 1.0, 12.0),
            (1.0, 1.0, 11.0),
        ]))
        .unwrap();
        assert!((r - (100.0 - 100.0 / 3.0)).abs() < 1e-12);
        // loss = 0 with a gain -> 100; no change at all -> 50.
        assert_eq!(
            rsi2(&bars(&[
                (1.0, 1.0, 10.0),
                (1.0, 1.0, 11.0),
                (1.0, 1.0, 11.0)
            ])),
            Some(100.0)
        );
        assert_eq!(
            rsi2(&bars(&[
                (1.0, 1.0, 10.0),
                (1.0, 1.0, 10.0),
                (1.0, 1.0, 10.0)
            ])),
            Some(50.0)
        );
        assert_eq!(rsi2(&bars(&[(1.0, 1.0, 10.0), (1.0, 1.0, 10.0)])), None);
    }

    #[test]
    fn atr14_uses_the_previous_close() {
        // 15 bars: each range 2, but a gap up of 5 from the previous close on the last bar.
        let mut hlc: Vec<(f64, f64, f64)> = (0..14).map(|_| (11.0, 9.0, 10.0)).collect();
        hlc.push((16.0, 14.0, 15.0));
        // TRs: 13 bars of 2 and one of max(2, 6, 4) = 6.
        assert_eq!(atr14(&bars(&hlc)), Some((13.0 * 2.0 + 6.0) / 14.0));
        assert_eq!(atr14(&bars(&hlc[..14])), None);
    }

    #[test]
    fn prior_low_ties_and_age() {
        // 15 prior bars with low 10, except the low of 8 placed k bars before t.
        let series = |k: usize| {
            let mut hlc: Vec<(f64, f64, f64)> = (0..16).map(|_| (12.0, 10.0, 11.0)).collect();
            hlc[15 - k].1 = 8.0;
            bars(&hlc)
        };
        assert_eq!(prior_low15(&series(3)), Some(8.0)); // exactly 3 bars old: accepted
        assert_eq!(prior_low15(&series(2)), None); // too fresh
        assert_eq!(prior_low15(&series(15)), Some(8.0)); // the oldest bar of the window
                                                         // A tie: the same low 10 and 2 bars old -> the most recent occurrence is too fresh.
        let flat = bars(&(0..16).map(|_| (12.0, 10.0, 11.0)).collect::<Vec<_>>());
        assert_eq!(prior_low15(&flat), None);
        // Tie where the most recent occurrence is 4 bars old.
        let mut hlc: Vec<(f64, f64, f64)> = (0..16).map(|_| (12.0, 10.0, 11.0)).collect();
        for i in [1, 5, 11] {
            hlc[i].1 = 7.0;
        }
        assert_eq!(prior_low15(&bars(&hlc)), Some(7.0));
    }

    #[test]
    fn means_need_their_length() {
        let hlc: Vec<(f64, f64, f64)> = (0..200).map(|i| (1.0, 1.0, i as f64 + 1.0)).collect();
        assert_eq!(sma200(&bars(&hlc)), Some(100.5));
        assert_eq!(sma200(&bars(&hlc[..199])), None);
        assert_eq!(
            adv60(&bars(&hlc)),
            Some((141..=200).map(|c| c as f64 * 1000.0).sum::<f64>() / 60.0)
        );
    }
}
