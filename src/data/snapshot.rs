//! A binary snapshot of the bar store (`data/bars/.snapshot`): the valid bars of every symbol,
//! with the size and modification time of the CSV each came from. Loading it takes a fraction
//! of parsing 500 CSVs; any CSV that changed since makes it stale, and it is rebuilt.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use chrono::{Datelike as _, NaiveDate};

use super::bars::{Bar, Dropped, Invalid};

pub const FILE: &str = ".snapshot";
const MAGIC: &[u8; 8] = b"KOBEBAR2";
const BAR_BYTES: usize = 44;
const DROP_BYTES: usize = 5;

/// Identifies a CSV's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub mtime_ns: i64,
    /// Every atomic rewrite makes a new inode: this catches a same-size rewrite within one
    /// timestamp tick.
    pub inode: u64,
}

impl Stamp {
    pub fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        use std::os::unix::fs::MetadataExt as _;
        Some(Self {
            len: meta.len(),
            mtime_ns: i64::try_from(mtime.as_nanos()).ok()?,
            inode: meta.ino(),
        })
    }
}

pub struct Entry {
    pub stamp: Stamp,
    pub bars: Vec<Bar>,
    pub dropped: Vec<Dropped>,
    /// The file could not be read as bars (kept, so it is not re-parsed at every load).
    pub error: Option<String>,
    /// The dates of the first and the last of all its bars, whatever window was decoded.
    pub span: Option<(NaiveDate, NaiveDate)>,
}

/// The first and the last date of date-sorted `bars`.
pub fn span_of(bars: &[Bar]) -> Option<(NaiveDate, NaiveDate)> {
    Some((bars.first()?.date, bars.last()?.date))
}

const INVALID: [Invalid; 5] = [
    Invalid::MissingOhlc,
    Invalid::NonPositivePrice,
    Invalid::NegativeVolume,
    Invalid::HighBelowLow,
    Invalid::RangeExcludesOpenOrClose,
];

fn days(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

pub fn encode(entries: &BTreeMap<String, Entry>) -> Vec<u8> {
    let total: usize = entries
        .values()
        .map(|e| e.bars.len() * BAR_BYTES + e.dropped.len() * DROP_BYTES + 64)
        .sum();
    let mut out = Vec::with_capacity(total + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (symbol, e) in entries {
        out.push(symbol.len() as u8);
        out.extend_from_slice(symbol.as_bytes());
        out.extend_from_slice(&e.stamp.len.to_le_bytes());
        out.extend_from_slice(&e.stamp.mtime_ns.to_le_bytes());
        out.extend_from_slice(&e.stamp.inode.to_le_bytes());
        out.extend_from_slice(&(e.bars.len() as u32).to_le_bytes());
        out.extend_from_slice(&(e.dropped.len() as u32).to_le_bytes());
        let error = e.error.as_deref().unwrap_or("").as_bytes();
        let error = &error[..error.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(error.len() as u16).to_le_bytes());
        out.extend_from_slice(error);
        for b in &e.bars {
            out.extend_from_slice(&days(b.date).to_le_bytes());
            for v in [b.open, b.high, b.low, b.close, b.volume] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for d in &e.dropped {
            out.extend_from_slice(&days(d.date).to_le_bytes());
            out.push(INVALID.iter().position(|w| *w == d.why).unwrap_or(0) as u8);
        }
    }
    out
}

/// A cursor over the snapshot bytes; every read is bounds-checked (a truncated file is stale,
/// never a panic).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

fn f64_at(b: &[u8], i: usize) -> f64 {
    f64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// Which bars to decode: those dated up to `until`, the last `keep` of them (a scan needs a few
/// hundred bars, not five years).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub until: NaiveDate,
    pub keep: usize,
}

/// Decodes the entries of `wanted` symbols (all when `None`), their bars limited to `window`;
/// `None` if the file is not a snapshot of this version or is cut short, or if it is stale for
/// `wanted`: a symbol missing, or recorded with another stamp than its CSV has now. A stale
/// snapshot is not decoded at all (a fresh home's first load would decode it only to drop it).
pub fn decode(
    bytes: &[u8],
    wanted: Option<&BTreeMap<&str, Stamp>>,
    window: Option<Window>,
) -> Option<BTreeMap<String, Entry>> {
    let records: Vec<Record> = index(bytes)?
        .into_iter()
        .filter(|r| wanted.is_none_or(|w| w.contains_key(r.symbol)))
        .collect();
    if let Some(wanted) = wanted {
        let fresh = records.len() == wanted.len()
            && records
                .iter()
                .all(|r| wanted.get(r.symbol) == Some(&r.stamp));
        if !fresh {
            return None;
        }
    }
    let bars: usize = records.iter().map(|r| r.n_bars).sum();
    let decode_all =
        |part: &[Record]| -> Option<Vec<_>> { part.iter().map(|r| r.decode(window)).collect() };
    // A replay's store is some 400,000 bars written into fresh memory at its start: both cores
    // share the work. A few symbols are not worth a thread.
    let (first, second) = records.split_at(records.len() / 2);
    let (first, second) = std::thread::scope(|scope| {
        // No thread to be had: the whole on this one.
        let helper = (bars >= PARALLEL_BARS)
            .then(|| std::thread::Builder::new().spawn_scoped(scope, || decode_all(second)))
            .and_then(Result::ok);
        let first = decode_all(first);
        let second = match helper {
            Some(helper) => helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => decode_all(second),
        };
        (first, second)
    });
    Some(first?.into_iter().chain(second?).collect())
}

/// Bars stored (before any window) from which the decode is split over two threads.
const PARALLEL_BARS: usize = 100_000;

/// One symbol's record, located but not decoded.
struct Record<'a> {
    symbol: &'a str,
    stamp: Stamp,
    n_bars: usize,
    error: &'a [u8],
    bar_bytes: &'a [u8],
    drop_bytes: &'a [u8],
}

/// Every record of the snapshot, in order; `None` if it is not one of this version, is cut
/// short or lists its symbols out of order.
fn index(bytes: &[u8]) -> Option<Vec<Record<'_>>> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(8)? != MAGIC {
        return None;
    }
    let count = r.u32()?;
    let mut out = Vec::with_capacity(count.min(100_000) as usize);
    for _ in 0..count {
        let name_len = usize::from(*r.take(1)?.first()?);
        let symbol = std::str::from_utf8(r.take(name_len)?).ok()?;
        let stamp = Stamp {
            len: r.u64()?,
            mtime_ns: r.i64()?,
            inode: r.u64()?,
        };
        let (n_bars, n_dropped) = (r.u32()? as usize, r.u32()? as usize);
        let error_len = usize::from(u16::from_le_bytes(r.take(2)?.try_into().ok()?));
        let error = r.take(error_len)?;
        let bar_bytes = r.take(n_bars.checked_mul(BAR_BYTES)?)?;
        let drop_bytes = r.take(n_dropped.checked_mul(DROP_BYTES)?)?;
        // `encode` writes them in name order: a symbol twice (or out of order) is no snapshot,
        // and could otherwise stand in for a wanted symbol the stale check expects.
        if out
            .last()
            .is_some_and(|last: &Record| last.symbol >= symbol)
        {
            return None;
        }
        out.push(Record {
            symbol,
            stamp,
            n_bars,
            error,
            bar_bytes,
            drop_bytes,
        });
    }
    Some(out)
}

impl Record<'_> {
    /// The symbol's entry, its bars limited to `window`; `None` for a date that is no date or
    /// a reason this version does not know.
    fn decode(&self, window: Option<Window>) -> Option<(String, Entry)> {
        let (bar_bytes, n_bars) = (self.bar_bytes, self.n_bars);
        // `n_bars` records were taken by `index`: both ends are there.
        let date_at = |i| NaiveDate::from_num_days_from_ce_opt(day_at(bar_bytes, i));
        let span = match n_bars {
            0 => None,
            n => Some((date_at(0)?, date_at(n - 1)?)),
        };
        let (start, end) = bars_in_window(bar_bytes, n_bars, window);
        let bars = decode_bars(&bar_bytes[start * BAR_BYTES..end * BAR_BYTES])?;
        let dropped = decode_dropped(self.symbol, self.drop_bytes)?;
        let error = String::from_utf8_lossy(self.error).into_owned();
        let error = (!error.is_empty()).then_some(error);
        Some((
            self.symbol.to_string(),
            Entry {
                stamp: self.stamp,
                bars,
                dropped,
                error,
                span,
            },
        ))
    }
}

/// The day number of encoded bar `i` (the caller has checked it is there).
fn day_at(bar_bytes: &[u8], i: usize) -> i32 {
    i32::from_le_bytes(
        bar_bytes[i * BAR_BYTES..i * BAR_BYTES + 4]
            .try_into()
            .expect("4 bytes"),
    )
}

/// The range of a symbol's `n_bars` encoded bars that `window` keeps (all without one).
fn bars_in_window(bar_bytes: &[u8], n_bars: usize, window: Option<Window>) -> (usize, usize) {
    let day_at = |i| day_at(bar_bytes, i);
    match window {
        None => (0, n_bars),
        Some(w) => {
            let until = days(w.until);
            // Bars are date-sorted: binary search the end on the raw bytes.
            let (mut lo, mut hi) = (0, n_bars);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if day_at(mid) <= until {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            (lo.saturating_sub(w.keep), lo)
        }
    }
}

/// Bars from whole encoded records; `None` for a day number that is no date.
fn decode_bars(bar_bytes: &[u8]) -> Option<Vec<Bar>> {
    let mut bars = Vec::with_capacity(bar_bytes.len() / BAR_BYTES);
    for b in bar_bytes.chunks_exact(BAR_BYTES) {
        let day = i32::from_le_bytes(b[0..4].try_into().ok()?);
        bars.push(Bar {
            date: NaiveDate::from_num_days_from_ce_opt(day)?,
            open: f64_at(b, 4),
            high: f64_at(b, 12),
            low: f64_at(b, 20),
            close: f64_at(b, 28),
            volume: f64_at(b, 36),
        });
    }
    Some(bars)
}

/// A symbol's dropped bars; `None` for a bad date or a reason this version does not know.
fn decode_dropped(symbol: &str, drop_bytes: &[u8]) -> Option<Vec<Dropped>> {
    let mut dropped = Vec::with_capacity(drop_bytes.len() / DROP_BYTES);
    for d in drop_bytes.chunks_exact(DROP_BYTES) {
        let day = i32::from_le_bytes(d[0..4].try_into().ok()?);
        dropped.push(Dropped {
            symbol: symbol.to_string(),
            date: NaiveDate::from_num_days_from_ce_opt(day)?,
            why: *INVALID.get(usize::from(d[4]))?,
        });
    }
    Some(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let bar = Bar {
            date: NaiveDate::from_ymd_opt(2018, 2, 7).unwrap(),
            open: 163.085,
            high: 163.4,
            low: 159.0685,
            close: 159.54,
            volume: 51608580.0,
        };
        let dropped = Dropped {
            symbol: "AAPL".into(),
            date: bar.date,
            why: Invalid::HighBelowLow,
        };
        let entries = BTreeMap::from([(
            "AAPL".to_string(),
            Entry {
                stamp: Stamp {
                    len: 10,
                    mtime_ns: 123,
                    inode: 7,
                },
                bars: vec![bar],
                dropped: vec![dropped.clone()],
                error: None,
                span: None,
            },
        )]);
        let bytes = encode(&entries);
        let back = decode(&bytes, None, None).unwrap();
        assert_eq!(back["AAPL"].bars, vec![bar]);
        assert_eq!(back["AAPL"].dropped, vec![dropped]);
        assert_eq!(
            back["AAPL"].stamp,
            Stamp {
                len: 10,
                mtime_ns: 123,
                inode: 7
            }
        );
        for cut in [0, 5, 12, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], None, None).is_none(), "cut at {cut}");
        }
        let stamp = back["AAPL"].stamp;
        let aapl = BTreeMap::from([("AAPL", stamp)]);
        assert_eq!(decode(&bytes, Some(&aapl), None).unwrap().len(), 1);
        // Stale for what is wanted: a symbol it lacks, or a CSV changed since.
        let msft = BTreeMap::from([("MSFT", stamp)]);
        assert!(decode(&bytes, Some(&msft), None).is_none());
        let changed = BTreeMap::from([("AAPL", Stamp { len: 11, ..stamp })]);
        assert!(decode(&bytes, Some(&changed), None).is_none());
        let before = Window {
            until: NaiveDate::from_ymd_opt(2018, 2, 6).unwrap(),
            keep: 10,
        };
        assert!(decode(&bytes, None, Some(before)).unwrap()["AAPL"]
            .bars
            .is_empty());
        let on = Window {
            until: NaiveDate::from_ymd_opt(2018, 2, 7).unwrap(),
            keep: 10,
        };
        assert_eq!(
            decode(&bytes, None, Some(on)).unwrap()["AAPL"].bars.len(),
            1
        );
    }

    #[test]
    fn a_store_decoded_on_two_threads_is_the_store_decoded_on_one() {
        let first = NaiveDate::from_ymd_opt(2013, 1, 2).unwrap();
        let entries: BTreeMap<String, Entry> = (0..90u32)
            .map(|s| {
                let bars = (0..1_500)
                    .map(|d| Bar {
                        date: first + chrono::Days::new(d),
                        open: f64::from(s) + d as f64 / 7.0,
                        high: 200.0,
                        low: 1.0,
                        close: 100.0 + f64::from(s),
                        volume: d as f64,
                    })
                    .collect();
                let entry = Entry {
                    stamp: Stamp {
                        len: u64::from(s),
                        mtime_ns: 1,
                        inode: 2,
                    },
                    bars,
                    dropped: Vec::new(),
                    error: (s == 40).then(|| "not bars".to_string()),
                    span: None,
                };
                (format!("S{s:03}"), entry)
            })
            .collect();
        let bytes = encode(&entries);
        let whole = entries.values().map(|e| e.bars.len()).sum::<usize>();
        assert!(
            whole >= PARALLEL_BARS,
            "the test must take the two-thread path"
        );
        let back = decode(&bytes, None, None).unwrap();
        assert_eq!(back.len(), entries.len());
        for ((symbol, entry), (back_symbol, back_entry)) in entries.iter().zip(&back) {
            assert_eq!(symbol, back_symbol);
            assert_eq!(entry.bars, back_entry.bars);
            assert_eq!(entry.stamp, back_entry.stamp);
            assert_eq!(entry.error, back_entry.error);
        }
        // A symbol listed twice, in place of another the caller wants, is no snapshot.
        let twice: BTreeMap<String, Entry> = ["S001", "S002"]
            .into_iter()
            .map(|s| {
                let e = &entries[s];
                let entry = Entry {
                    stamp: e.stamp,
                    bars: e.bars.clone(),
                    dropped: Vec::new(),
                    error: None,
                    span: None,
                };
                (s.to_string(), entry)
            })
            .collect();
        let one = encode(&twice);
        let mut doubled = one.clone();
        let first_record = 8 + 4;
        let second_record = first_record + (one.len() - first_record) / 2;
        doubled.truncate(second_record);
        doubled.extend_from_slice(&one[first_record..second_record]);
        let wanted: BTreeMap<&str, Stamp> =
            twice.iter().map(|(s, e)| (s.as_str(), e.stamp)).collect();
        assert!(decode(&one, Some(&wanted), None).is_some());
        let mut fooled = wanted.clone();
        fooled.remove("S002");
        fooled.insert("S000", entries["S001"].stamp);
        assert!(decode(&doubled, Some(&fooled), None).is_none());
        assert!(decode(&doubled, None, None).is_none());
        // A record cut short anywhere, in either half, is no snapshot.
        for cut in [bytes.len() / 4, bytes.len() * 3 / 4, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], None, None).is_none(), "cut at {cut}");
        }
        // A day number that is no date, in the second half, is no snapshot either.
        let mut bad = bytes.clone();
        let last_bar = bad.len() - BAR_BYTES;
        bad[last_bar..last_bar + 4].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(decode(&bad, None, None).is_none());
    }
}
