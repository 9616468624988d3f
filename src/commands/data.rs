//! `kobe data import FILE...` and `kobe data stats [--json]`: the bar store (`data/bars`).

use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Serialize;

use super::{CommandError, Context, Done};
use crate::data::fetch_progress::FetchProgress;
use crate::data::import::{self, StoreStats};
use crate::data::store::BarStore;
use crate::progress::ImportProgress;

#[derive(Debug, clap::Args)]
pub struct Data {
    #[command(subcommand)]
    pub action: DataAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum DataAction {
    /// Import long CSVs (a symbol, Name or ticker column) or per-symbol CSVs, plain or .gz.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// What the bar store holds: symbols, first and last date, bars, dropped bars; how far
    /// DATA_UPDATE has fetched and the symbols Polygon stopped listing.
    Stats {
        #[arg(long)]
        json: bool,
    },
}

impl Data {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        let store = BarStore::new(ctx.home.root());
        match self.action {
            DataAction::Import { files } => {
                // Dropped bars are in the summary; the log would repeat each one.
                crate::logging::init("error", None);
                let mut bar = ImportProgress::on_terminal();
                let summary = import::import_with_progress(&store, &files, &mut |step| {
                    if let Some(bar) = bar.as_mut() {
                        bar.show(step);
                    }
                });
                // Cleared before the summary or the error prints.
                drop(bar);
                Ok(summary?.to_string().into())
            }
            DataAction::Stats { json } => {
                let fetch = FetchProgress::load(ctx.home.root())
                    .map_err(|e| CommandError::Refused(e.to_string()))?
                    .unwrap_or_default();
                let stats = Stats {
                    store: import::stats(&store),
                    fetched_through: fetch.fetched_through,
                    inactive: fetch
                        .inactive
                        .into_iter()
                        .map(|(symbol, i)| InactiveSymbol {
                            symbol,
                            last_bar: i.last_bar,
                            since: i.since,
                        })
                        .collect(),
                };
                if json {
                    return Ok((serde_json::to_string_pretty(&stats)? + "\n").into());
                }
                Ok(stats.text().into())
            }
        }
    }
}

/// The store's figures and DATA_UPDATE's progress (`data/fetched_sessions.json`).
#[derive(Serialize)]
struct Stats {
    #[serde(flatten)]
    store: StoreStats,
    fetched_through: Option<NaiveDate>,
    inactive: Vec<InactiveSymbol>,
}

#[derive(Serialize)]
struct InactiveSymbol {
    symbol: String,
    last_bar: Option<NaiveDate>,
    since: NaiveDate,
}

impl Stats {
    fn text(&self) -> String {
        let store = &self.store;
        let date = |d: Option<NaiveDate>| d.map_or("-".into(), |d| d.to_string());
        let inactive: Vec<String> = self
            .inactive
            .iter()
            .map(|i| {
                format!(
                    "{} (last bar {}, since {})",
                    i.symbol,
                    date(i.last_bar),
                    i.since
                )
            })
            .collect();
        format!(
            "{} symbols, {} bars, {}..{}, {} dropped bars, {} unreadable files\n\
             fetched through {}; inactive: {}\n",
            store.symbols,
            store.bars,
            date(store.first),
            date(store.last),
            store.dropped_bars,
            store.unreadable_files.len(),
            date(self.fetched_through),
            if inactive.is_empty() {
                "none".to_string()
            } else {
                inactive.join(", ")
            }
        )
    }
}
