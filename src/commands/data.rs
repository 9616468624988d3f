//! `kobe data import FILE...` and `kobe data stats [--json]`: the bar store (`data/bars`).

use std::path::PathBuf;

use super::{CommandError, Context, Done};
use crate::data::import;
use crate::data::store::BarStore;

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
    /// What the bar store holds: symbols, first and last date, bars, dropped bars.
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
                Ok(import::import(&store, &files)?.to_string().into())
            }
            DataAction::Stats { json } => {
                let stats = import::stats(&store);
                if json {
                    return Ok((serde_json::to_string_pretty(&stats)? + "\n").into());
                }
                Ok(format!(
                    "{} symbols, {} bars, {}..{}, {} dropped bars, {} unreadable files\n",
                    stats.symbols,
                    stats.bars,
                    stats.first.map_or("-".into(), |d| d.to_string()),
                    stats.last.map_or("-".into(), |d| d.to_string()),
                    stats.dropped_bars,
                    stats.unreadable_files.len()
                )
                .into())
            }
        }
    }
}
