//! A frozen store's copy of its bars, kept for a replay: each symbol's bars with their dates
//! apart, cut at a date by the dates the whole store shares, and windows lent out of it.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{snapshot, BarsBySymbol, Loaded};
use crate::data::bars::Bar;

/// A frozen store's copy: every symbol's bars, and their dates apart. A scan cuts 500 series
/// at its date; searching 4-byte dates packed together stays in the processor's cache where
/// searching the 48-byte bars themselves went to memory for almost every step.
#[derive(Debug)]
pub(super) struct Kept {
    /// Each symbol's dates, apart, and its bars; hashed, so a scan's 500 lookups compare no
    /// strings.
    series: HashMap<String, Series>,
    /// Every date any symbol has a bar on, sorted: a few kilobytes that stay in cache.
    dates: Vec<NaiveDate>,
    /// The read's drops and unreadable files (`series` left empty).
    pub(super) loaded: Loaded,
}

#[derive(Debug)]
struct Series {
    dates: Vec<NaiveDate>,
    bars: Vec<Bar>,
    /// Where the symbol's first date sits in `Kept::dates`. A symbol with a bar on every date
    /// from its first on is cut where the store as a whole is; one with gaps is searched.
    first: usize,
}

impl Kept {
    pub(super) fn new(mut loaded: Loaded) -> Self {
        let dates = every_date(loaded.series.values());
        let series = std::mem::take(&mut loaded.series)
            .into_iter()
            .map(|(s, bars)| {
                let first = bars
                    .first()
                    .map_or(0, |b| dates.partition_point(|d| *d < b.date));
                let own = bars.iter().map(|b| b.date).collect();
                (
                    s,
                    Series {
                        dates: own,
                        bars,
                        first,
                    },
                )
            })
            .collect();
        Self {
            series,
            dates,
            loaded,
        }
    }

    /// Every symbol's bars, whole.
    pub(super) fn bars(&self) -> impl Iterator<Item = (&String, &Vec<Bar>)> + Clone {
        self.series.iter().map(|(s, series)| (s, &series.bars))
    }
}

/// Every date any of `series` has a bar on, sorted. Marked in a table of the days between the
/// first and the last rather than collected and sorted: a replay's store holds some 400,000
/// bars over about 1,100 days.
fn every_date<'a>(series: impl Iterator<Item = &'a Vec<Bar>> + Clone) -> Vec<NaiveDate> {
    // A series is date-sorted: its ends bound it.
    let ends = series.clone().filter_map(|bars| snapshot::span_of(bars));
    let Some((first, last)) = ends.reduce(|(a, b), (c, d)| (a.min(c), b.max(d))) else {
        return Vec::new();
    };
    let mut present = vec![false; (last - first).num_days() as usize + 1];
    for bar in series.flatten() {
        present[(bar.date - first).num_days() as usize] = true;
    }
    present
        .iter()
        .enumerate()
        .filter(|(_, here)| **here)
        .map(|(day, _)| first + chrono::TimeDelta::days(day as i64))
        .collect()
}

impl BarsBySymbol for Kept {
    fn up_to(&self, symbol: &str, date: NaiveDate) -> Option<&[Bar]> {
        let series = self.series.get(symbol)?;
        let own = &series.dates;
        // Without gaps, the symbol has as many bars up to `date` as the store has dates from
        // its first on: two neighbouring dates confirm it; else the symbol's dates are searched.
        let guess = self
            .dates
            .partition_point(|d| *d <= date)
            .saturating_sub(series.first)
            .min(own.len());
        let fits =
            (guess == 0 || own[guess - 1] <= date) && own.get(guess).is_none_or(|d| *d > date);
        let end = if fits {
            guess
        } else {
            own.partition_point(|d| *d <= date)
        };
        Some(&series.bars[..end])
    }
}

/// The window of `symbols` (all if `None`) out of a frozen store's kept copy: what `read` would
/// give for them, without the drops and errors logged again.
pub(super) fn cut(
    kept: &Kept,
    symbols: Option<&[String]>,
    window: Option<snapshot::Window>,
) -> Loaded {
    let window_of = |bars: &[Bar]| -> Vec<Bar> {
        match window {
            None => bars.to_vec(),
            Some(w) => {
                let end = bars.partition_point(|b| b.date <= w.until);
                bars[end.saturating_sub(w.keep)..end].to_vec()
            }
        }
    };
    let series = match symbols {
        None => kept
            .bars()
            .map(|(s, bars)| (s.clone(), window_of(bars)))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|s| {
                let series = kept.series.get(s)?;
                Some((s.clone(), window_of(&series.bars)))
            })
            .collect(),
    };
    let wanted = |symbol: &str| symbols.is_none_or(|w| w.iter().any(|s| s == symbol));
    let kept = &kept.loaded;
    let (unreadable, errors) = kept
        .unreadable
        .iter()
        .zip(&kept.errors)
        .filter(|(symbol, _)| wanted(symbol))
        .map(|(s, e)| (s.clone(), e.clone()))
        .unzip();
    Loaded {
        span: kept.span,
        series,
        dropped: kept
            .dropped
            .iter()
            .filter(|d| wanted(&d.symbol))
            .cloned()
            .collect(),
        errors,
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_kept_series_is_cut_where_a_search_of_its_own_dates_cuts_it() {
        let day =
            |d: u32| NaiveDate::from_ymd_opt(2018, 1, 1).unwrap() + chrono::Days::new(u64::from(d));
        let bars = |days: &[u32]| -> Vec<Bar> {
            days.iter()
                .map(|&d| Bar {
                    date: day(d),
                    open: 1.0,
                    high: 2.0,
                    low: 1.0,
                    close: 1.5,
                    volume: 10.0,
                })
                .collect()
        };
        let every: Vec<u32> = (2..40).collect();
        let gaps: Vec<u32> = every.iter().copied().filter(|d| d % 7 != 3).collect();
        let mut series = BTreeMap::new();
        series.insert("ALL".to_string(), bars(&every));
        series.insert("GAPS".to_string(), bars(&gaps));
        series.insert("LATE".to_string(), bars(&every[10..]));
        series.insert("EARLY".to_string(), bars(&every[..12]));
        series.insert("LATE_GAPS".to_string(), bars(&gaps[5..20]));
        series.insert("ONE".to_string(), bars(&[20]));
        let plain = series.clone();
        let kept = Kept::new(Loaded {
            series,
            ..Loaded::default()
        });
        let mut sorted: Vec<NaiveDate> = plain.values().flatten().map(|b| b.date).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(kept.dates, sorted);
        assert_eq!(every_date([Vec::new()].iter()), Vec::<NaiveDate>::new());
        for d in 0..45 {
            for symbol in ["ALL", "GAPS", "LATE", "EARLY", "LATE_GAPS", "ONE", "NONE"] {
                assert_eq!(
                    kept.up_to(symbol, day(d)).map(|b| b.len()),
                    plain.up_to(symbol, day(d)).map(|b| b.len()),
                    "{symbol} on {}",
                    day(d)
                );
            }
        }
    }
}
