//! `kobe calendar --from D --to D [--csv]`: the NYSE sessions in a range.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};
use kobe_actors::calendar::NyseCalendar;

use super::{ensure, CommandError, Context, Done};

#[derive(Debug, clap::Args)]
pub struct Calendar {
    #[arg(long)]
    pub from: NaiveDate,
    #[arg(long)]
    pub to: NaiveDate,
    /// date,open_et,close_et,early_close rows
    #[arg(long)]
    pub csv: bool,
}

impl Calendar {
    pub fn run(self, _: Context) -> Result<Done, CommandError> {
        let Calendar { from, to, csv } = self;
        ensure(from <= to, || format!("--from {from} is after --to {to}"))?;
        Ok(render(from, to, csv).into())
    }
}

/// The sessions from..=to, as the reference CSV (`date,open_et,close_et,early_close`) or as a
/// table for a person.
pub fn render(from: NaiveDate, to: NaiveDate, csv: bool) -> String {
    let sessions = NyseCalendar.sessions(from, to);
    let mut out = String::new();
    if csv {
        out.push_str("date,open_et,close_et,early_close\n");
        for s in &sessions {
            out.push_str(&s.csv_row());
            out.push('\n');
        }
        return out;
    }
    for s in &sessions {
        let _ = writeln!(
            out,
            "{} {}  {}-{} ET{}",
            s.date,
            s.date.weekday(),
            s.open.format("%H:%M"),
            s.close.format("%H:%M"),
            if s.early_close { "  early close" } else { "" }
        );
    }
    let _ = writeln!(out, "{} sessions", sessions.len());
    out
}
