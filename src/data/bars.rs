//! Daily OHLCV bars: parsing a symbol's CSV, the validity rules of DESIGN §7, and writing.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};

/// One split-adjusted daily bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub date: NaiveDate,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// Why a bar is not used (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invalid {
    MissingOhlc,
    NonPositivePrice,
    NegativeVolume,
    HighBelowLow,
    RangeExcludesOpenOrClose,
}

impl Invalid {
    pub fn as_str(self) -> &'static str {
        match self {
            Invalid::MissingOhlc => "missing_ohlc",
            Invalid::NonPositivePrice => "non_positive_price",
            Invalid::NegativeVolume => "negative_volume",
            Invalid::HighBelowLow => "high_below_low",
            Invalid::RangeExcludesOpenOrClose => "range_excludes_open_or_close",
        }
    }
}

impl Bar {
    /// The first rule this bar breaks, if any.
    pub fn check(&self) -> Result<(), Invalid> {
        let prices = [self.open, self.high, self.low, self.close];
        if prices.iter().any(|p| p.is_nan()) {
            return Err(Invalid::MissingOhlc);
        }
        if prices.iter().any(|p| *p <= 0.0 || !p.is_finite()) {
            return Err(Invalid::NonPositivePrice);
        }
        if self.volume < 0.0 || !self.volume.is_finite() {
            return Err(Invalid::NegativeVolume);
        }
        if self.high < self.low {
            return Err(Invalid::HighBelowLow);
        }
        let (top, bottom) = (self.open.max(self.close), self.open.min(self.close));
        if self.high < top || self.low > bottom {
            return Err(Invalid::RangeExcludesOpenOrClose);
        }
        Ok(())
    }
}

/// A bar that was dropped, for the log and the import summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dropped {
    pub symbol: String,
    pub date: NaiveDate,
    pub why: Invalid,
}

/// A file that is not a bars CSV: names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ParseError {
    pub line: usize,
    pub why: String,
}

pub const HEADER: &str = "date,open,high,low,close,volume";

/// Parses `YYYY-MM-DD` by position (the hot path of every load).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// A price field: empty means missing (NaN, an invalid bar); anything else must be a number.
fn parse_field(s: &str, name: &str, line: usize) -> Result<f64, ParseError> {
    if s.is_empty() {
        return Ok(f64::NAN);
    }
    s.parse::<f64>().map_err(|_| ParseError {
        line,
        why: format!("{name} {s:?} is not a number"),
    })
}

/// Parses a per-symbol file (`date,open,high,low,close,volume`), in file order, invalid bars
/// included: the caller decides what to keep.
pub fn parse_csv(text: &str) -> Result<Vec<Bar>, ParseError> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("").trim_end_matches('\r');
    if header != HEADER {
        return Err(ParseError {
            line: 1,
            why: format!("header is {header:?}, expected {HEADER:?}"),
        });
    }
    let mut bars = Vec::with_capacity(text.len() / 48);
    for (i, raw) in lines.enumerate() {
        let line = i + 2;
        let raw = raw.trim_end_matches('\r');
        if raw.is_empty() {
            continue;
        }
        let mut f = raw.split(',');
        let mut next = |name: &str| {
            f.next().ok_or_else(|| ParseError {
                line,
                why: format!("missing {name}"),
            })
        };
        let date_text = next("date")?;
        let date = parse_date(date_text).ok_or_else(|| ParseError {
            line,
            why: format!("date {date_text:?} is not YYYY-MM-DD"),
        })?;
        let open = parse_field(next("open")?, "open", line)?;
        let high = parse_field(next("high")?, "high", line)?;
        let low = parse_field(next("low")?, "low", line)?;
        let close = parse_field(next("close")?, "close", line)?;
        let volume = parse_field(next("volume")?, "volume", line)?;
        if f.next().is_some() {
            return Err(ParseError {
                line,
                why: "more than 6 fields".into(),
            });
        }
        bars.push(Bar {
            date,
            open,
            high,
            low,
            close,
            volume,
        });
    }
    Ok(bars)
}

/// Keeps the valid bars, sorted by date, the last row winning for a repeated date.
pub fn clean(symbol: &str, bars: Vec<Bar>) -> (Vec<Bar>, Vec<Dropped>) {
    let mut dropped = Vec::new();
    let mut kept: Vec<(usize, Bar)> = Vec::with_capacity(bars.len());
    for (i, bar) in bars.into_iter().enumerate() {
        match bar.check() {
            Ok(()) => kept.push((i, bar)),
            Err(why) => dropped.push(Dropped {
                symbol: symbol.to_string(),
                date: bar.date,
                why,
            }),
        }
    }
    let sorted = kept.windows(2).all(|w| w[0].1.date < w[1].1.date);
    if !sorted {
        // Stable by date then row: the later row of a duplicate date comes last, and wins.
        kept.sort_by_key(|(i, b)| (b.date, *i));
        let mut deduped: Vec<(usize, Bar)> = Vec::with_capacity(kept.len());
        for item in kept {
            match deduped.last_mut() {
                Some(last) if last.1.date == item.1.date => *last = item,
                _ => deduped.push(item),
            }
        }
        kept = deduped;
    }
    (kept.into_iter().map(|(_, b)| b).collect(), dropped)
}

/// Writes bars as a per-symbol CSV, numbers in their shortest exact form.
pub fn to_csv(bars: &[Bar]) -> String {
    let mut out = String::with_capacity(bars.len() * 48 + HEADER.len() + 1);
    out.push_str(HEADER);
    out.push('\n');
    for b in bars {
        let d = b.date;
        let _ = writeln!(
            out,
            "{:04}-{:02}-{:02},{},{},{},{},{}",
            d.year(),
            d.month(),
            d.day(),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(date: &str, o: f64, h: f64, l: f64, c: f64, v: f64) -> Bar {
        Bar {
            date: parse_date(date).unwrap(),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: v,
        }
    }

    #[test]
    fn validity_rules() {
        let cases = [
            (bar("2018-01-02", 10.0, 11.0, 9.0, 10.5, 100.0), None),
            (bar("2018-01-02", 10.0, 10.0, 10.0, 10.0, 0.0), None),
            (
                bar("2018-01-02", f64::NAN, 11.0, 9.0, 10.5, 100.0),
                Some(Invalid::MissingOhlc),
            ),
            (
                bar("2018-01-02", 0.0, 11.0, 9.0, 10.5, 100.0),
                Some(Invalid::NonPositivePrice),
            ),
            (
                bar("2018-01-02", 10.0, 11.0, -9.0, 10.5, 100.0),
                Some(Invalid::NonPositivePrice),
            ),
            (
                bar("2018-01-02", 10.0, 11.0, 9.0, 10.5, -1.0),
                Some(Invalid::NegativeVolume),
            ),
            // AOS 2014-05-19: high below low.
            (
                bar("2014-05-19", 23.93, 23.595, 23.85, 23.88, 1.0),
                Some(Invalid::HighBelowLow),
            ),
            // CHD 2014-05-19: low above the open.
            (
                bar("2014-05-19", 18.77, 36.0, 33.695, 35.0, 1.0),
                Some(Invalid::RangeExcludesOpenOrClose),
            ),
            (
                bar("2018-01-02", 10.0, 10.4, 9.0, 10.5, 1.0),
                Some(Invalid::RangeExcludesOpenOrClose),
            ),
        ];
        for (b, want) in cases {
            assert_eq!(b.check().err(), want, "{b:?}");
        }
    }

    #[test]
    fn duplicates_keep_the_last_row_and_order_is_restored() {
        let text = "date,open,high,low,close,volume\n2018-01-03,2,3,1,2,10\n2018-01-02,1,2,1,1,10\n2018-01-03,5,6,4,5,20\n2018-01-04,,,,5,0\n";
        let (bars, dropped) = clean("X", parse_csv(text).unwrap());
        let closes: Vec<_> = bars.iter().map(|b| (b.date.to_string(), b.close)).collect();
        assert_eq!(
            closes,
            [("2018-01-02".into(), 1.0), ("2018-01-03".into(), 5.0)]
        );
        assert_eq!(
            dropped,
            [Dropped {
                symbol: "X".into(),
                date: parse_date("2018-01-04").unwrap(),
                why: Invalid::MissingOhlc
            }]
        );
    }

    #[test]
    fn corrupt_files_name_the_line() {
        let bad_header = parse_csv("date,o,h,l,c,v\n").unwrap_err();
        assert_eq!(bad_header.line, 1);
        let bad_number = parse_csv(
            "date,open,high,low,close,volume\n2018-01-02,1,2,1,1,10\n2018-01-03,1,2,x,1,10\n",
        )
        .unwrap_err();
        assert_eq!(
            bad_number,
            ParseError {
                line: 3,
                why: "low \"x\" is not a number".into()
            }
        );
        let bad_date =
            parse_csv("date,open,high,low,close,volume\n2018-13-02,1,2,1,1,10\n").unwrap_err();
        assert_eq!(bad_date.line, 2);
        assert!(parse_csv("\u{0}\u{1}binary").is_err());
    }

    #[test]
    fn csv_round_trips_exactly() {
        let text = "date,open,high,low,close,volume\n2013-02-08,67.7142,68.4014,66.8928,67.8542,158168416\n";
        let bars = parse_csv(text).unwrap();
        assert_eq!(to_csv(&bars), text);
    }
}
