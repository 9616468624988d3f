//! `kobe data import FILE...`: long CSVs (one row per symbol and date, with a `symbol`, `Name`
//! or `ticker` column) or per-symbol CSVs, plain or gzip, merged into the bar store.
//!
//! Every file is parsed before anything is written: a malformed file names its line and
//! nothing changes. Invalid bars (DESIGN §7) are not errors: they are dropped and summarised.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use flate2::bufread::GzDecoder;
use serde::Serialize;

use super::bars::{self, parse_date, Bar, Dropped};
use super::store::{valid_symbol, BarStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {why}", path = .path.display())]
    Unreadable { path: PathBuf, why: String },
    #[error("{path} line {line}: {why}", path = .path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did, for the operator.
#[derive(Debug, Default, Serialize)]
pub struct ImportSummary {
    pub files: usize,
    pub rows: usize,
    pub symbols: usize,
    pub bars_added: usize,
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
    pub dropped_by_reason: BTreeMap<String, usize>,
    pub dropped: Vec<Dropped>,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "imported {} rows from {} file(s): {} symbols, {} new bars, {}..{}",
            self.rows,
            self.files,
            self.symbols,
            self.bars_added,
            self.first.map_or("-".into(), |d| d.to_string()),
            self.last.map_or("-".into(), |d| d.to_string())
        )?;
        if self.dropped.is_empty() {
            return writeln!(f, "no invalid bars");
        }
        let reasons: Vec<String> = self
            .dropped_by_reason
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        writeln!(
            f,
            "dropped {} invalid bars ({}):",
            self.dropped.len(),
            reasons.join(", ")
        )?;
        for d in &self.dropped {
            writeln!(f, "  {} {} {}", d.symbol, d.date, d.why.as_str())?;
        }
        Ok(())
    }
}

/// Counts the bytes taken from a file (before any gunzipping), for the import's progress.
struct Counted<'a, R> {
    inner: R,
    taken: &'a Cell<u64>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken.set(self.taken.get() + n as u64);
        Ok(n)
    }
}

/// A file as lines read one at a time, gunzipped if it starts with gzip's magic; whether it
/// was gzip, so a read error can say so. Read as a stream, not whole, so a progress display
/// can follow the bytes read, and a large file is never held twice in memory.
fn open_lines<'a>(
    path: &Path,
    taken: &'a Cell<u64>,
) -> Result<(Box<dyn BufRead + 'a>, bool), ImportError> {
    let unreadable = |e: std::io::Error| ImportError::Unreadable {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let file = File::open(path).map_err(unreadable)?;
    let mut reader = BufReader::with_capacity(1 << 16, Counted { inner: file, taken });
    let gzip = reader
        .fill_buf()
        .map_err(unreadable)?
        .starts_with(&[0x1f, 0x8b]);
    if gzip {
        let text = BufReader::with_capacity(1 << 16, GzDecoder::new(reader));
        Ok((Box::new(text), true))
    } else {
        Ok((Box::new(reader), false))
    }
}

/// The next line without its end (`\n` or `\r\n`), or `None` at the end of the file.
fn next_line<'b>(
    path: &Path,
    reader: &mut dyn BufRead,
    gzip: bool,
    buf: &'b mut Vec<u8>,
) -> Result<Option<&'b str>, ImportError> {
    let unreadable = |why: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        why,
    };
    buf.clear();
    let n = reader.read_until(b'\n', buf).map_err(|e| {
        unreadable(if gzip {
            format!("not a readable gzip file: {e}")
        } else {
            e.to_string()
        })
    })?;
    if n == 0 {
        return Ok(None);
    }
    let text =
        std::str::from_utf8(buf).map_err(|_| unreadable("not UTF-8 text (is it a CSV?)".into()))?;
    Ok(Some(
        text.strip_suffix('\n')
            .unwrap_or(text)
            .trim_end_matches('\r'),
    ))
}

/// The symbol a per-symbol file stands for: `AAPL.csv`, `AAPL_data.csv`, `aapl.csv.gz`.
fn symbol_from_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    let stem = stem.strip_suffix(".csv").unwrap_or(stem);
    let symbol = stem.split('_').next()?.to_ascii_uppercase();
    valid_symbol(&symbol).then_some(symbol)
}

fn malformed(path: &Path, line: usize, why: String) -> ImportError {
    ImportError::Malformed {
        path: path.to_path_buf(),
        line,
        why,
    }
}

/// Where a row's symbol comes from.
enum SymbolSource {
    /// A `symbol`, `Name` or `ticker` column (a long file).
    Column(usize),
    /// The file's name (a per-symbol file).
    FileName(String),
}

impl SymbolSource {
    /// The symbol column if the header has one, else the file's name, which must be a symbol.
    fn find(path: &Path, column: Option<usize>) -> Result<Self, ImportError> {
        match column {
            Some(c) => Ok(SymbolSource::Column(c)),
            None => symbol_from_name(path)
                .map(SymbolSource::FileName)
                .ok_or_else(|| {
                    malformed(
                        path,
                        1,
                        "no symbol, Name or ticker column, and the file name is not a symbol"
                            .into(),
                    )
                }),
        }
    }
}

/// Where a file keeps each field, from its header.
struct Columns {
    /// How many fields the header has: every row must have as many.
    width: usize,
    date: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: usize,
    symbol: SymbolSource,
}

impl Columns {
    /// Reads the header; a missing column is an error on line 1 that shows the header.
    fn from_header(path: &Path, header_line: &str) -> Result<Self, ImportError> {
        let header: Vec<String> = header_line
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let col = |name: &str| header.iter().position(|h| h == name);
        let need = |name: &str| {
            col(name).ok_or_else(|| {
                malformed(
                    path,
                    1,
                    format!("no {name:?} column (header: {})", header.join(",")),
                )
            })
        };
        // Fields are set in order: a missing price column is reported before a missing symbol.
        Ok(Self {
            width: header.len(),
            date: need("date")?,
            open: need("open")?,
            high: need("high")?,
            low: need("low")?,
            close: need("close")?,
            volume: need("volume")?,
            symbol: SymbolSource::find(
                path,
                ["symbol", "name", "ticker"].iter().find_map(|n| col(n)),
            )?,
        })
    }

    /// One data row as its symbol and bar. An empty price or volume is kept as NaN: an
    /// invalid bar, dropped and reported later, not an error.
    fn parse_row(&self, path: &Path, line: usize, raw: &str) -> Result<(String, Bar), ImportError> {
        let fields: Vec<&str> = raw.split(',').collect();
        if fields.len() != self.width {
            return Err(malformed(
                path,
                line,
                format!("{} fields, the header has {}", fields.len(), self.width),
            ));
        }
        let number = |c: usize, name: &str| -> Result<f64, ImportError> {
            let s = fields[c].trim();
            if s.is_empty() {
                return Ok(f64::NAN);
            }
            s.parse()
                .map_err(|_| malformed(path, line, format!("{name} {s:?} is not a number")))
        };
        let bar = Bar {
            date: parse_date(fields[self.date].trim()).ok_or_else(|| {
                malformed(
                    path,
                    line,
                    format!("date {:?} is not YYYY-MM-DD", fields[self.date]),
                )
            })?,
            open: number(self.open, "open")?,
            high: number(self.high, "high")?,
            low: number(self.low, "low")?,
            close: number(self.close, "close")?,
            volume: number(self.volume, "volume")?,
        };
        let symbol = match &self.symbol {
            SymbolSource::FileName(s) => s.clone(),
            SymbolSource::Column(c) => {
                let s = fields[*c].trim().to_string();
                if !valid_symbol(&s) {
                    return Err(malformed(path, line, format!("{s:?} is not a symbol")));
                }
                s
            }
        };
        Ok((symbol, bar))
    }
}

/// How far an import has got, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStep {
    /// The files being read: bytes read so far (as on disk, so compressed for a .gz) of their
    /// total size, the rows parsed and the symbols seen.
    Reading {
        bytes: u64,
        total_bytes: u64,
        rows: usize,
        symbols: usize,
    },
    /// The store being updated: each symbol's existing file checked readable, then written.
    Storing {
        checked: usize,
        written: usize,
        symbols: usize,
    },
}

/// Rows between two progress reports while reading: often enough for a bar to move smoothly,
/// rarely enough to cost nothing beside the parsing.
const REPORT_EVERY_ROWS: usize = 4096;

/// What the reading of all the files has done so far, and where it reports it.
struct Reading<'p> {
    /// Bytes of the files read before the current one.
    bytes_before: u64,
    total_bytes: u64,
    rows: usize,
    report: &'p mut dyn FnMut(ImportStep),
}

impl Reading<'_> {
    fn report(&mut self, taken: u64, symbols: usize) {
        (self.report)(ImportStep::Reading {
            bytes: self.bytes_before + taken,
            total_bytes: self.total_bytes,
            rows: self.rows,
            symbols,
        });
    }
}

/// Parses one file into rows per symbol.
fn parse_file(
    path: &Path,
    rows: &mut BTreeMap<String, Vec<Bar>>,
    reading: &mut Reading<'_>,
) -> Result<(), ImportError> {
    let taken = Cell::new(0);
    let (mut reader, gzip) = open_lines(path, &taken)?;
    let mut buf = Vec::new();
    let header = next_line(path, &mut reader, gzip, &mut buf)?.unwrap_or("");
    let columns = Columns::from_header(path, header)?;
    let mut line = 1;
    while let Some(raw) = next_line(path, &mut reader, gzip, &mut buf)? {
        line += 1;
        if raw.is_empty() {
            continue;
        }
        let (symbol, bar) = columns.parse_row(path, line, raw)?;
        rows.entry(symbol).or_default().push(bar);
        reading.rows += 1;
        if reading.rows.is_multiple_of(REPORT_EVERY_ROWS) {
            reading.report(taken.get(), rows.len());
        }
    }
    reading.report(taken.get(), rows.len());
    reading.bytes_before += taken.get();
    Ok(())
}

pub fn import(store: &BarStore, files: &[PathBuf]) -> Result<ImportSummary, ImportError> {
    import_with_progress(store, files, &mut |_| {})
}

/// [`import`], telling `report` how far it has got as it goes.
pub fn import_with_progress(
    store: &BarStore,
    files: &[PathBuf],
    report: &mut dyn FnMut(ImportStep),
) -> Result<ImportSummary, ImportError> {
    let mut rows: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
    let mut summary = ImportSummary {
        files: files.len(),
        ..Default::default()
    };
    // A size that cannot be read only makes the bar's total short: opening the file says why.
    let total_bytes = files
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let mut reading = Reading {
        bytes_before: 0,
        total_bytes,
        rows: 0,
        report,
    };
    for path in files {
        parse_file(path, &mut rows, &mut reading)?;
    }
    summary.rows = reading.rows;
    let report = reading.report;
    let symbols = rows.len();
    let storing = |checked, written| ImportStep::Storing {
        checked,
        written,
        symbols,
    };
    // Existing files must all be readable before any is rewritten.
    for (i, symbol) in rows.keys().enumerate() {
        store.load_symbol(symbol)?;
        report(storing(i + 1, 0));
    }
    for (i, (symbol, bars)) in rows.into_iter().enumerate() {
        let (valid, dropped) = bars::clean(&symbol, bars);
        summary.dropped.extend(dropped);
        if let (Some(first), Some(last)) = (valid.first(), valid.last()) {
            summary.first = Some(summary.first.map_or(first.date, |d| d.min(first.date)));
            summary.last = Some(summary.last.map_or(last.date, |d| d.max(last.date)));
        }
        summary.bars_added += store.merge_symbol(&symbol, &valid)?;
        summary.symbols += 1;
        report(storing(symbols, i + 1));
    }
    for d in &summary.dropped {
        *summary
            .dropped_by_reason
            .entry(d.why.as_str().to_string())
            .or_default() += 1;
    }
    // The store's snapshot is retaken here, once, so the first replay or scan after an import
    // reads it instead of every CSV.
    store.retake_snapshot();
    Ok(summary)
}

/// `kobe data stats`: what the store holds.
#[derive(Debug, Serialize)]
pub struct StoreStats {
    pub symbols: usize,
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
    pub bars: usize,
    pub dropped_bars: usize,
    pub unreadable_files: Vec<String>,
}

pub fn stats(store: &BarStore) -> StoreStats {
    let loaded = store.load(None);
    let (first, last) = loaded.span.unzip();
    StoreStats {
        symbols: loaded.series.len(),
        first,
        last,
        bars: loaded.series.values().map(Vec::len).sum(),
        dropped_bars: loaded.dropped.len(),
        unreadable_files: loaded.errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_per_symbol_files_merge_into_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        let long = dir.path().join("long.csv");
        std::fs::write(&long, "date,open,high,low,close,volume,Name\n2018-01-02,1,2,1,1.5,10,AAA\n2018-01-02,5,6,4,5,10,BBB\n2018-01-03,,,,5,0,BBB\n").unwrap();
        let per = dir.path().join("CCC_data.csv");
        std::fs::write(
            &per,
            "date,open,high,low,close,volume\n2018-01-02,3,4,2,3,7\n",
        )
        .unwrap();
        let summary = import(&store, &[long.clone(), per]).unwrap();
        assert_eq!(
            (summary.symbols, summary.bars_added, summary.dropped.len()),
            (3, 3, 1)
        );
        assert_eq!(store.symbols(), ["AAA", "BBB", "CCC"]);
        // The snapshot is retaken, holding all three: the next load reads it, not the CSVs.
        let bytes = std::fs::read(store.dir().join(crate::data::snapshot::FILE)).unwrap();
        let entries = crate::data::snapshot::decode(&bytes, None, None).expect("a snapshot");
        assert_eq!(entries.keys().collect::<Vec<_>>(), ["AAA", "BBB", "CCC"]);
        // Importing again adds nothing.
        assert_eq!(import(&store, &[long]).unwrap().bars_added, 0);
    }

    #[test]
    fn progress_reaches_the_files_size_then_every_symbol_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        let plain = dir.path().join("long.csv");
        let text = "symbol,date,open,high,low,close,volume\r\nAAA,2018-01-02,1,2,1,1.5,10\r\n\r\nBBB,2018-01-02,5,6,4,5,10\r\n";
        std::fs::write(&plain, text).unwrap();
        let gz = dir.path().join("CCC.csv.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(
            &mut encoder,
            b"date,open,high,low,close,volume\n2018-01-02,3,4,2,3,7\n2018-01-03,3,4,2,3,7",
        )
        .unwrap();
        std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        let total = size(&plain) + size(&gz);
        let mut steps = Vec::new();
        let summary = import_with_progress(&store, &[plain, gz], &mut |s| steps.push(s)).unwrap();
        assert_eq!((summary.rows, summary.symbols), (4, 3));
        assert_eq!(store.symbols(), ["AAA", "BBB", "CCC"]);
        let read: Vec<_> = steps
            .iter()
            .filter(|s| matches!(s, ImportStep::Reading { .. }))
            .collect();
        // Once at the end of each file: all of the first, then both.
        assert_eq!(read.len(), 2);
        assert!(
            matches!(read[1], ImportStep::Reading { bytes, total_bytes, rows: 4, symbols: 3 }
            if *bytes == total && *total_bytes == total)
        );
        assert_eq!(
            steps.last(),
            Some(&ImportStep::Storing {
                checked: 3,
                written: 3,
                symbols: 3
            })
        );
        assert_eq!(steps.len(), 2 + 3 + 3);
    }

    #[test]
    fn a_malformed_file_names_its_line_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        let good = dir.path().join("good.csv");
        std::fs::write(
            &good,
            "symbol,date,open,high,low,close,volume\nAAA,2018-01-02,1,2,1,1.5,10\n",
        )
        .unwrap();
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "symbol,date,open,high,low,close,volume\nBBB,2018-01-02,1,2,1,1.5,10\nBBB,2018-01-03,1,2,1,one,10\n").unwrap();
        let err = import(&store, &[good, bad]).unwrap_err().to_string();
        assert!(
            err.ends_with("bad.csv line 3: close \"one\" is not a number"),
            "{err}"
        );
        assert!(store.symbols().is_empty());
    }
}
