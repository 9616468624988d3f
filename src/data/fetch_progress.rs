//! How far DATA_UPDATE has fetched Polygon's grouped daily, in `data/fetched_sessions.json`:
//! the session it has fetched through, and the symbols the grouped answers stopped listing.
//!
//! Progress is kept by session, not read from the bars: a delisted or renamed symbol is never
//! in a grouped answer again, so its last bar would hold the fetch back for ever.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use kobe_actors::atomic_file::{write_atomic, Durability};
use serde::{Deserialize, Serialize};

/// Relative to the home folder, next to the bars it describes.
pub const FILE: &str = "data/fetched_sessions.json";

/// Consecutive grouped answers without a symbol after which it is taken as gone (delisted or
/// renamed) and stops holding the fetch back. A halt of a few days stays under it.
pub const INACTIVE_AFTER: u32 = 5;

const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error("{path} is corrupt ({why}): it is left as it is; fix or delete it (DATA_UPDATE then starts again from the bars it finds)", path = .path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A symbol the grouped answers stopped listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inactive {
    /// Its newest bar when it was declared inactive.
    pub last_bar: Option<NaiveDate>,
    /// The session of the answer that made it inactive.
    pub since: NaiveDate,
}

/// The first and last bar of a stored symbol, as the store and this run's answers know them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
}

/// What one grouped answer changed about a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Inactive(String, Inactive),
    ActiveAgain(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchProgress {
    version: u32,
    /// Every session up to and including this one has been fetched; sessions are fetched
    /// oldest first, so one date says it all.
    pub fetched_through: Option<NaiveDate>,
    /// Symbols absent from the latest grouped answers, with how many answers in a row.
    pub missing: BTreeMap<String, u32>,
    pub inactive: BTreeMap<String, Inactive>,
}

impl Default for FetchProgress {
    fn default() -> Self {
        Self {
            version: VERSION,
            fetched_through: None,
            missing: BTreeMap::new(),
            inactive: BTreeMap::new(),
        }
    }
}

pub fn path(home: &Path) -> PathBuf {
    home.join(FILE)
}

impl FetchProgress {
    /// The recorded progress, `None` when nothing was recorded yet. A file that does not parse
    /// is an error naming it: starting over silently would fetch years again.
    pub fn load(home: &Path) -> Result<Option<Self>, ProgressError> {
        let path = path(home);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ProgressError::Io { path, source }),
        };
        let corrupt = |why: String| ProgressError::Corrupt {
            path: path.clone(),
            why,
        };
        let progress: Self = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if progress.version != VERSION {
            return Err(corrupt(format!(
                "version {}, this build reads {VERSION}",
                progress.version
            )));
        }
        Ok(Some(progress))
    }

    pub fn save(&self, home: &Path) -> Result<(), ProgressError> {
        let path = path(home);
        let mut bytes = serde_json::to_vec_pretty(self).expect("plain data serializes");
        bytes.push(b'\n');
        write_atomic(&path, &bytes, Durability::PowerLoss)
            .map_err(|source| ProgressError::Io { path, source })
    }

    /// The session the fetch goes on from: the recorded one; with nothing recorded yet, the
    /// stored symbol that lags most (the store alone cannot tell a gone symbol from a late one).
    pub fn anchor(&self, spans: &BTreeMap<String, Span>) -> Option<NaiveDate> {
        self.fetched_through.or_else(|| {
            spans
                .iter()
                .filter(|(s, _)| !self.inactive.contains_key(*s))
                .filter_map(|(_, span)| span.last)
                .min()
        })
    }

    /// Marks `session` fetched. Sessions come oldest first, so this is the new frontier.
    pub fn record(&mut self, session: NaiveDate) {
        self.fetched_through = self.fetched_through.max(Some(session));
    }

    /// Counts the answer for `session` (one that listed bars) against every stored symbol:
    /// listed resets a symbol, absent counts one more, and the `INACTIVE_AFTER`th absence in a
    /// row makes it inactive. `spans` follows the answers so a symbol's last bar stays known.
    pub fn observe(
        &mut self,
        session: NaiveDate,
        listed: &BTreeSet<&str>,
        spans: &mut BTreeMap<String, Span>,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        for (symbol, span) in spans.iter_mut() {
            if listed.contains(symbol.as_str()) {
                span.last = span.last.max(Some(session));
                span.first = span.first.or(Some(session));
                self.missing.remove(symbol);
                if self.inactive.remove(symbol).is_some() {
                    changes.push(Change::ActiveAgain(symbol.clone()));
                }
                continue;
            }
            // A session before a symbol's first bar says nothing about it (a listing to come).
            if self.inactive.contains_key(symbol) || span.first.is_some_and(|f| session <= f) {
                continue;
            }
            let count = self.missing.entry(symbol.clone()).or_default();
            *count += 1;
            if *count >= INACTIVE_AFTER {
                self.missing.remove(symbol);
                let inactive = Inactive {
                    last_bar: span.last,
                    since: session,
                };
                self.inactive.insert(symbol.clone(), inactive);
                changes.push(Change::Inactive(symbol.clone(), inactive));
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn spans(rows: &[(&str, &str, &str)]) -> BTreeMap<String, Span> {
        rows.iter()
            .map(|(s, first, last)| {
                let span = Span {
                    first: Some(d(first)),
                    last: Some(d(last)),
                };
                (s.to_string(), span)
            })
            .collect()
    }

    #[test]
    fn a_symbol_absent_five_answers_in_a_row_turns_inactive_once_and_back_when_listed() {
        let mut progress = FetchProgress::default();
        let mut spans = spans(&[
            ("AAA", "2018-01-02", "2018-01-31"),
            ("GONE", "2018-01-02", "2018-01-31"),
        ]);
        let only_aaa = BTreeSet::from(["AAA"]);
        let days = ["2018-02-01", "2018-02-02", "2018-02-05", "2018-02-06"];
        for day in days {
            assert!(progress.observe(d(day), &only_aaa, &mut spans).is_empty());
        }
        assert_eq!(progress.missing["GONE"], 4);
        let changes = progress.observe(d("2018-02-07"), &only_aaa, &mut spans);
        let gone = Inactive {
            last_bar: Some(d("2018-01-31")),
            since: d("2018-02-07"),
        };
        assert_eq!(changes, [Change::Inactive("GONE".into(), gone)]);
        assert!(progress.missing.is_empty());
        // Once inactive it is not counted again, and it no longer anchors the fetch.
        assert!(progress
            .observe(d("2018-02-08"), &only_aaa, &mut spans)
            .is_empty());
        assert_eq!(progress.anchor(&spans), Some(d("2018-02-08")));
        let both = BTreeSet::from(["AAA", "GONE"]);
        let changes = progress.observe(d("2018-02-09"), &both, &mut spans);
        assert_eq!(changes, [Change::ActiveAgain("GONE".into())]);
        assert_eq!(spans["GONE"].last, Some(d("2018-02-09")));
    }

    #[test]
    fn the_anchor_is_the_recorded_session_else_the_most_lagging_symbol() {
        let spans = spans(&[
            ("AAA", "2018-01-02", "2018-01-31"),
            ("OLD", "2018-01-02", "2018-01-10"),
        ]);
        let mut progress = FetchProgress::default();
        assert_eq!(progress.anchor(&spans), Some(d("2018-01-10")));
        progress.record(d("2018-02-07"));
        assert_eq!(progress.anchor(&spans), Some(d("2018-02-07")));
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it_and_is_left_alone() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(FetchProgress::load(home.path()).unwrap(), None);
        let mut progress = FetchProgress::default();
        progress.record(d("2018-02-07"));
        progress.save(home.path()).unwrap();
        assert_eq!(FetchProgress::load(home.path()).unwrap(), Some(progress));
        for bad in [
            "{\"version\": 1, \"fetched_thr",
            "{\"version\": 9, \"fetched_through\": null, \"missing\": {}, \"inactive\": {}}",
        ] {
            std::fs::write(path(home.path()), bad).unwrap();
            let err = FetchProgress::load(home.path()).unwrap_err().to_string();
            assert!(
                err.contains("data/fetched_sessions.json is corrupt"),
                "{err}"
            );
            assert_eq!(std::fs::read_to_string(path(home.path())).unwrap(), bad);
        }
    }
}
