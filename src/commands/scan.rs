//! `kobe scan [--as-of D] [--universe CSV] [--cap N] [--top N] [--json]`: the day's signals
//! over a universe, as a table or as JSON.

use std::path::PathBuf;

use chrono::NaiveDate;

use super::{ensure, operator_app, CommandError, Context, Done};
use crate::secrets::Secrets;

#[derive(Debug, clap::Args)]
pub struct Scan {
    /// Use bars dated on or before D; signals need a bar dated D.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<NaiveDate>,
    /// Universe CSV (default from config: data.universe).
    #[arg(long, value_name = "CSV")]
    pub universe: Option<PathBuf>,
    /// The universe's first N symbols.
    #[arg(long, value_name = "N")]
    pub cap: Option<usize>,
    /// Show the best N signals only.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

impl Scan {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        ensure(self.cap != Some(0), || "--cap 0: must be at least 1".into())?;
        let config = ctx.load_config()?;
        let app = operator_app(
            ctx.home,
            config,
            Secrets::default(),
            self.universe,
            self.cap,
        );
        app.check_universe().map_err(CommandError::Refused)?;
        let symbols = app.universe().map_err(|e| {
            let named_by = app.universe_source().map_or(String::new(), |(_, by)| by);
            CommandError::Refused(format!("{named_by} {e}"))
        })?;
        let as_of = self
            .as_of
            .unwrap_or_else(|| crate::jobs::data_update::last_completed_session(ctx.wall.now()));
        let loaded = app
            .store()
            .load_window(Some(&symbols), Some(crate::scan::window(as_of)));
        let missing: Vec<&str> = symbols
            .iter()
            .filter(|s| !loaded.series.contains_key(*s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "kobe: {} universe symbols have no bars: {}",
                missing.len(),
                missing.join(",")
            );
        }
        let (mut signals, missing) = crate::scan::scan_noting_gaps(&loaded.series, &symbols, as_of);
        if let Some(why) = missing {
            eprintln!("kobe: {why}");
        }
        signals.truncate(self.top.unwrap_or(usize::MAX));
        Ok(if self.json {
            crate::scan::to_json(as_of, &signals) + "\n"
        } else {
            crate::scan::to_table(as_of, &signals)
        }
        .into())
    }
}
