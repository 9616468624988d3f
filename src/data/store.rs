//! The bar store: one `data/bars/SYMBOL.csv` per symbol, loaded in parallel, each file written
//! atomically so an interrupted update leaves it as before or fully updated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;

use kobe_actors::atomic_file::{write_atomic, Durability};

use super::bars::{self, Bar, Dropped};
use super::snapshot::{self, Stamp};

mod kept;
use kept::{cut, Kept};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} {source}", path = .path.display())]
    Corrupt {
        path: PathBuf,
        source: bars::ParseError,
    },
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0:?} is not a symbol (letters, digits, '.' and '-' only)")]
    BadSymbol(String),
}

/// Symbols become file names: nothing that could leave the folder.
pub fn valid_symbol(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 12
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// One symbol's valid bars and the bars dropped from its file.
pub type SymbolBars = (Vec<Bar>, Vec<Dropped>);

/// Bars of many symbols, plus what was dropped or could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub series: BTreeMap<String, Vec<Bar>>,
    pub dropped: Vec<Dropped>,
    /// Corrupt or unreadable files; every other symbol still loads.
    pub errors: Vec<String>,
    /// The symbol of each of `errors`, in the same order.
    pub unreadable: Vec<String>,
    /// The first and the last date of any bar of the files read, whatever window was kept.
    pub span: Option<(NaiveDate, NaiveDate)>,
}

/// Maps a file read-only: a scan touches only the pages of the bars it needs.
fn map_file(path: &Path) -> Option<memmap2::Mmap> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: the snapshot is only ever replaced by an atomic rename, which leaves this mapped
    // inode untouched; it is never written in place.
    unsafe { memmap2::Mmap::map(&file) }.ok()
}

/// Bars by symbol, cut at a date: what a scan reads.
pub trait BarsBySymbol {
    /// `symbol`'s valid bars dated up to `date` (`None`: the symbol has no bars here).
    fn up_to(&self, symbol: &str, date: NaiveDate) -> Option<&[Bar]>;
}

impl BarsBySymbol for BTreeMap<String, Vec<Bar>> {
    fn up_to(&self, symbol: &str, date: NaiveDate) -> Option<&[Bar]> {
        let bars = self.get(symbol)?;
        Some(&bars[..bars.partition_point(|b| b.date <= date)])
    }
}

#[derive(Debug, Clone)]
pub struct BarStore {
    dir: PathBuf,
    /// A replay's store: every bar read once, on first use, and kept for the run. The past
    /// does not change under a replay, and reading it again for each of a session's scans was
    /// most of a replay's time. `None`: every load reads the files (or their snapshot) as they
    /// are now, so a live run sees what DATA_UPDATE or `kobe data import` just wrote.
    frozen: Option<Arc<OnceLock<Kept>>>,
    /// A frozen store keeps bars up to this date only: a replay never shows a bar past its
    /// range, and decoding the years after it cost a 2-year replay a tenth of its CPU time.
    frozen_until: Option<NaiveDate>,
}

impl BarStore {
    pub fn new(home: &Path) -> Self {
        Self {
            dir: home.join("data/bars"),
            frozen: None,
            frozen_until: None,
        }
    }

    /// A store read once and kept for the run (see `frozen`); clones share the one copy.
    pub fn frozen(home: &Path) -> Self {
        Self {
            frozen: Some(Arc::new(OnceLock::new())),
            ..Self::new(home)
        }
    }

    /// A frozen store that keeps no bar dated after `until` (its `span` still tells the
    /// store's whole). Only before its first read: the copy is not cut again.
    pub fn frozen_until(home: &Path, until: NaiveDate) -> Self {
        Self {
            frozen_until: Some(until),
            ..Self::frozen(home)
        }
    }

    /// The kept copy of a frozen store, read (and its drops and errors logged) on first use.
    fn kept(&self) -> Option<&Kept> {
        let cell = self.frozen.as_ref()?;
        let window = self.frozen_until.map(|until| snapshot::Window {
            until,
            keep: usize::MAX,
        });
        Some(cell.get_or_init(|| Kept::new(self.read(None, window))))
    }

    /// The first and the last date of any bar in the store (`None`: it holds none).
    pub fn span(&self) -> Option<(NaiveDate, NaiveDate)> {
        match self.kept() {
            Some(kept) => kept.loaded.span,
            None => self.read(None, None).span,
        }
    }

    /// Calls `f` with the bars of at least `symbols`, each holding its valid bars up to
    /// `window.until` (at least the last `window.keep` of them; all of them without a window),
    /// cut where `f` asks. A frozen
    /// store lends its kept copy, so a scan of the whole universe copies nothing.
    pub fn with_series<R>(
        &self,
        symbols: &[String],
        window: Option<snapshot::Window>,
        f: impl FnOnce(&dyn BarsBySymbol) -> R,
    ) -> R {
        match self.kept() {
            Some(kept) => f(kept),
            None => f(&self.read(Some(symbols), window).series),
        }
    }

    /// What `symbols`' files could not be read for: a frozen store's from its one read, else
    /// from reading them now.
    pub fn unreadable(&self, symbols: &[String]) -> Vec<String> {
        match self.kept() {
            Some(kept) => kept
                .loaded
                .unreadable
                .iter()
                .zip(&kept.loaded.errors)
                .filter(|(symbol, _)| symbols.contains(symbol))
                .map(|(_, error)| error.clone())
                .collect(),
            None => self.read(Some(symbols), None).errors,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, symbol: &str) -> PathBuf {
        self.dir.join(format!("{symbol}.csv"))
    }

    /// The symbols with a file in the store, sorted.
    pub fn symbols(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".csv"))
                    .map(String::from)
            })
            .filter(|s| valid_symbol(s))
            .collect();
        out.sort();
        out
    }

    /// One symbol's valid bars (`None` if it has no file).
    pub fn load_symbol(&self, symbol: &str) -> Result<Option<SymbolBars>, StoreError> {
        let path = self.path(symbol);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let raw = bars::parse_csv(&text).map_err(|source| StoreError::Corrupt { path, source })?;
        Ok(Some(bars::clean(symbol, raw)))
    }

    /// Loads `symbols` (all in the store if `None`): from the snapshot when every wanted CSV is
    /// unchanged since it was taken, else by parsing every CSV on every core and retaking it.
    /// Drops are logged per bar.
    pub fn load(&self, symbols: Option<&[String]>) -> Loaded {
        self.load_window(symbols, None)
    }

    /// Like `load`, keeping for each symbol only the last `window.keep` bars dated up to
    /// `window.until` (all a scan needs; decoded straight from the snapshot).
    pub fn load_window(
        &self,
        symbols: Option<&[String]>,
        window: Option<snapshot::Window>,
    ) -> Loaded {
        match self.kept() {
            Some(kept) => cut(kept, symbols, window),
            None => self.read(symbols, window),
        }
    }

    /// `load_window` from the files (or their snapshot) as they are now.
    fn read(&self, symbols: Option<&[String]>, window: Option<snapshot::Window>) -> Loaded {
        let wanted: Vec<String> = match symbols {
            Some(s) => s.to_vec(),
            None => self.symbols(),
        };
        // The symbols whose CSV is there, with its stamp now: a fresh snapshot has each so.
        let stamps: BTreeMap<&str, Stamp> = wanted
            .iter()
            .filter_map(|s| Stamp::of(&self.path(s)).map(|st| (s.as_str(), st)))
            .collect();
        let snapshot_path = self.dir.join(snapshot::FILE);
        let fresh = map_file(&snapshot_path)
            .and_then(|bytes| snapshot::decode(&bytes, Some(&stamps), window));
        let entries = match fresh {
            Some(entries) => entries,
            None => {
                let all = self.retake_snapshot();
                let mut kept: BTreeMap<String, snapshot::Entry> = all
                    .into_iter()
                    .filter(|(s, _)| stamps.contains_key(s.as_str()))
                    .collect();
                // The same window the snapshot read applies: callers get one shape either way.
                if let Some(w) = window {
                    for entry in kept.values_mut() {
                        let end = entry.bars.partition_point(|b| b.date <= w.until);
                        entry.bars.truncate(end);
                        entry.bars.drain(..end.saturating_sub(w.keep));
                    }
                }
                kept
            }
        };
        let mut loaded = Loaded::default();
        for (symbol, entry) in entries {
            if let Some(error) = entry.error {
                tracing::error!(error = %error, "bars file not loaded");
                loaded.errors.push(error);
                loaded.unreadable.push(symbol);
                continue;
            }
            for d in &entry.dropped {
                tracing::warn!(symbol = %d.symbol, date = %d.date, why = d.why.as_str(), "invalid bar dropped");
            }
            loaded.dropped.extend(entry.dropped);
            loaded.span = match (loaded.span, entry.span) {
                (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                (one, other) => one.or(other),
            };
            loaded.series.insert(symbol, entry.bars);
        }
        loaded
    }

    /// Parses every CSV of the store and writes the snapshot of them (a snapshot that cannot
    /// be written only costs the next load a parse: the CSVs are the store).
    pub fn retake_snapshot(&self) -> BTreeMap<String, snapshot::Entry> {
        let all = self.parse_all();
        let bytes = snapshot::encode(&all);
        let path = self.dir.join(snapshot::FILE);
        if let Err(e) = write_atomic(&path, &bytes, Durability::PowerLoss) {
            tracing::debug!(error = %e, "bar snapshot not written");
        }
        all
    }

    /// Parses every CSV of the store, on every core.
    fn parse_all(&self) -> BTreeMap<String, snapshot::Entry> {
        let symbols = self.symbols();
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(8);
        let chunk = symbols.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = symbols
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .filter_map(|s| {
                                // Stamp first: a file changed while being read looks stale next time.
                                let stamp = Stamp::of(&self.path(s))?;
                                let entry = match self.load_symbol(s) {
                                    Ok(Some((bars, dropped))) => snapshot::Entry {
                                        stamp,
                                        span: snapshot::span_of(&bars),
                                        bars,
                                        dropped,
                                        error: None,
                                    },
                                    Ok(None) => return None,
                                    Err(e) => snapshot::Entry {
                                        stamp,
                                        bars: Vec::new(),
                                        dropped: Vec::new(),
                                        error: Some(e.to_string()),
                                        span: None,
                                    },
                                };
                                Some((s.clone(), entry))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                // A parse that panicked is never "no symbols": its panic goes on.
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    /// Writes a symbol's bars, replacing its file atomically.
    pub fn write_symbol(&self, symbol: &str, bars: &[Bar]) -> Result<(), StoreError> {
        if !valid_symbol(symbol) {
            return Err(StoreError::BadSymbol(symbol.to_string()));
        }
        let path = self.path(symbol);
        write_atomic(&path, bars::to_csv(bars).as_bytes(), Durability::PowerLoss)
            .map_err(|source| StoreError::Io { path, source })
    }

    /// Adds `new` bars to a symbol's file (a new bar wins over a stored one of the same date).
    /// A corrupt existing file is an error and is left untouched. Returns the bars added.
    pub fn merge_symbol(&self, symbol: &str, new: &[Bar]) -> Result<usize, StoreError> {
        let existing = self
            .load_symbol(symbol)?
            .map(|(b, _)| b)
            .unwrap_or_default();
        let before = existing.len();
        let mut all = existing;
        all.extend_from_slice(new);
        let (merged, dropped) = bars::clean(symbol, all);
        for d in &dropped {
            tracing::warn!(symbol = %d.symbol, date = %d.date, why = d.why.as_str(), "invalid bar dropped");
        }
        let added = merged.len().saturating_sub(before);
        self.write_symbol(symbol, &merged)?;
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_that_could_escape_the_folder_are_refused() {
        for good in ["AAPL", "BRK.B", "BF-B", "A"] {
            assert!(valid_symbol(good), "{good}");
        }
        for bad in ["", "../etc", "a", "AA/PL", ".HIDDEN", "VERYLONGSYMBOLNAME"] {
            assert!(!valid_symbol(bad), "{bad}");
        }
    }

    #[test]
    fn a_window_is_the_same_from_csv_and_from_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        let rows: String = (1..=9)
            .map(|d| format!("2018-01-0{d},1,2,1,1.5,10\n"))
            .collect();
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(
            store.dir().join("AAA.csv"),
            format!("date,open,high,low,close,volume\n{rows}"),
        )
        .unwrap();
        let window = snapshot::Window {
            until: "2018-01-06".parse().unwrap(),
            keep: 3,
        };
        let dates = |l: Loaded| -> Vec<String> {
            l.series["AAA"].iter().map(|b| b.date.to_string()).collect()
        };
        let want = ["2018-01-04", "2018-01-05", "2018-01-06"];
        // No snapshot yet: parsed from the CSV, then windowed.
        assert_eq!(dates(store.load_window(None, Some(window))), want);
        // The snapshot the first load wrote, decoded directly, gives the same window.
        let bytes = std::fs::read(store.dir().join(snapshot::FILE)).unwrap();
        let entries = snapshot::decode(&bytes, None, Some(window)).expect("a snapshot");
        let from_snapshot: Vec<String> = entries["AAA"]
            .bars
            .iter()
            .map(|b| b.date.to_string())
            .collect();
        assert_eq!(from_snapshot, want);
        // And a load now (served from it while the CSV is unchanged) agrees.
        assert_eq!(dates(store.load_window(None, Some(window))), want);
    }

    #[test]
    fn a_snapshot_is_taken_again_when_a_csv_changes_appears_or_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        std::fs::create_dir_all(store.dir()).unwrap();
        let write = |symbol: &str, days: u32| {
            let rows: String = (1..=days)
                .map(|d| format!("2018-01-0{d},1,2,1,1.5,10\n"))
                .collect();
            let header = "date,open,high,low,close,volume\n";
            std::fs::write(
                store.dir().join(format!("{symbol}.csv")),
                format!("{header}{rows}"),
            )
            .unwrap();
        };
        let count = |symbol: &str| store.load(None).series.get(symbol).map(Vec::len);
        write("AAA", 3);
        assert_eq!(count("AAA"), Some(3));
        let snapshot = store.dir().join(snapshot::FILE);
        assert!(snapshot.exists(), "the first load takes the snapshot");
        // Changed: its stamp differs, so the new bars are read (and the snapshot taken again).
        write("AAA", 5);
        assert_eq!(count("AAA"), Some(5));
        // A CSV the snapshot lacks.
        write("BBB", 4);
        assert_eq!((count("AAA"), count("BBB")), (Some(5), Some(4)));
        // A CSV gone: its bars are gone too.
        std::fs::remove_file(store.dir().join("BBB.csv")).unwrap();
        assert_eq!(count("BBB"), None);
        // Served from the snapshot while nothing changes: the same answer.
        // (Taken again, it would be a new file: another inode.)
        let taken = Stamp::of(&snapshot).unwrap();
        assert_eq!(count("AAA"), Some(5));
        assert_eq!(Stamp::of(&snapshot).unwrap(), taken);
    }

    #[test]
    fn a_frozen_store_answers_as_a_fresh_read_did_and_keeps_its_first_read() {
        let dir = tempfile::tempdir().unwrap();
        let plain = BarStore::new(dir.path());
        std::fs::create_dir_all(plain.dir()).unwrap();
        for (symbol, days) in [("AAA", 9), ("BBB", 5)] {
            let rows: String = (1..=days)
                .map(|d| format!("2018-01-0{d},1,2,1,1.5,10\n"))
                .collect();
            std::fs::write(
                plain.dir().join(format!("{symbol}.csv")),
                format!("date,open,high,low,close,volume\n{rows}"),
            )
            .unwrap();
        }
        std::fs::write(plain.dir().join("BAD.csv"), "not,a,bars,file\n").unwrap();
        let frozen = BarStore::frozen(dir.path());
        let until: NaiveDate = "2018-01-06".parse().unwrap();
        let window = snapshot::Window { until, keep: 3 };
        let wanted = ["AAA".to_string(), "BAD".to_string(), "ZZZ".to_string()];
        for symbols in [None, Some(&wanted[..])] {
            let (a, b) = (
                plain.load_window(symbols, Some(window)),
                frozen.load_window(symbols, Some(window)),
            );
            assert_eq!(a.series, b.series, "{symbols:?}");
            assert_eq!(a.errors, b.errors, "{symbols:?}");
            assert_eq!(a.dropped, b.dropped, "{symbols:?}");
        }
        assert_eq!(frozen.unreadable(&wanted), plain.unreadable(&wanted));
        assert_eq!(frozen.unreadable(&wanted).len(), 1);
        assert_eq!(frozen.span(), plain.span());
        // Lent, not windowed: cut at the date asked, whatever the window said.
        let cut = |store: &BarStore, symbol: &str| {
            store.with_series(&wanted, Some(window), |bars| {
                bars.up_to(symbol, until).map(|b| b.len())
            })
        };
        assert_eq!(cut(&frozen, "AAA"), Some(6));
        assert_eq!(cut(&plain, "AAA"), Some(3));
        assert_eq!(cut(&frozen, "ZZZ"), None);
        // A file changed after the first read is not seen by the frozen store.
        std::fs::remove_file(plain.dir().join("AAA.csv")).unwrap();
        assert_eq!(cut(&frozen, "AAA"), Some(6));
        assert_eq!(cut(&plain, "AAA"), None);
    }

    #[test]
    fn a_store_frozen_until_a_date_keeps_no_later_bar_and_tells_its_whole_span() {
        let dir = tempfile::tempdir().unwrap();
        let plain = BarStore::new(dir.path());
        std::fs::create_dir_all(plain.dir()).unwrap();
        let rows: String = (1..=9)
            .map(|d| format!("2018-01-0{d},1,2,1,1.5,10\n"))
            .collect();
        std::fs::write(
            plain.dir().join("AAA.csv"),
            format!("date,open,high,low,close,volume\n{rows}"),
        )
        .unwrap();
        let day = |d: &str| -> NaiveDate { d.parse().unwrap() };
        // Twice: parsed from the CSV the first time, decoded from its snapshot the second.
        for _ in 0..2 {
            let frozen = BarStore::frozen_until(dir.path(), day("2018-01-05"));
            let last = |date| {
                frozen.with_series(&[], None, |bars| {
                    bars.up_to("AAA", day(date))
                        .and_then(|b| b.last())
                        .map(|b| b.date)
                })
            };
            assert_eq!(last("2018-01-03"), Some(day("2018-01-03")));
            assert_eq!(last("2018-01-09"), Some(day("2018-01-05")));
            assert_eq!(frozen.span(), Some((day("2018-01-01"), day("2018-01-09"))));
            assert_eq!(frozen.span(), plain.span());
        }
    }

    #[test]
    fn a_corrupt_file_is_named_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        std::fs::create_dir_all(store.dir()).unwrap();
        std::fs::write(
            store.dir().join("GOOD.csv"),
            "date,open,high,low,close,volume\n2018-01-02,1,2,1,1.5,10\n",
        )
        .unwrap();
        std::fs::write(
            store.dir().join("BAD.csv"),
            "date,open,high,low,close,volume\n2018-01-02,1,2,1,1.5,10\n2018-01-03,1,zz,1,1,1\n",
        )
        .unwrap();
        let loaded = store.load(None);
        assert_eq!(loaded.series.keys().collect::<Vec<_>>(), ["GOOD"]);
        assert_eq!(loaded.errors.len(), 1);
        assert!(
            loaded.errors[0].contains("BAD.csv line 3"),
            "{}",
            loaded.errors[0]
        );
        // Merging into the corrupt file refuses and leaves it as it was.
        let before = std::fs::read(store.dir().join("BAD.csv")).unwrap();
        assert!(store.merge_symbol("BAD", &[]).is_err());
        assert_eq!(std::fs::read(store.dir().join("BAD.csv")).unwrap(), before);
    }
}
