//! `kobe schedule [--session D]`: one day's slots, in ET and in the machine's local time.

use std::fmt::Write as _;

use chrono::{Datelike, Local, NaiveDate};
use kobe_actors::schedule::{self, SlotSkip};

use super::{CommandError, Context, Done};
use crate::config::ET;

#[derive(Debug, clap::Args)]
pub struct Schedule {
    #[arg(long)]
    pub session: Option<NaiveDate>,
    /// Preview `runner --scan-times` (HH:MM,...).
    #[arg(long)]
    pub scan_times: Option<String>,
}

impl Schedule {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        let mut config = ctx.load_config()?;
        if let Some(list) = &self.scan_times {
            config.set_scan_times(list)?;
        }
        let schedule = config.schedule()?;
        let date = match self.session {
            Some(d) => d,
            None => {
                let today = ctx.wall.now().with_timezone(&ET).date_naive();
                let previous = today
                    .pred_opt()
                    .ok_or_else(|| CommandError::Refused("date out of range".into()))?;
                schedule.calendar().next_session(previous).date
            }
        };
        Ok(render(&schedule, date).into())
    }
}

pub fn render(schedule: &schedule::Schedule, date: NaiveDate) -> String {
    let mut out = String::new();
    let calendar = schedule.calendar();
    match calendar.session(date) {
        Some(s) => {
            let _ = writeln!(
                out,
                "{} {}: NYSE session {}-{} ET{}",
                date,
                date.weekday(),
                s.open.format("%H:%M"),
                s.close.format("%H:%M"),
                if s.early_close { " (early close)" } else { "" }
            );
        }
        None => {
            let why = calendar.closure_reason(date).unwrap_or("weekend");
            let _ = writeln!(out, "{} {}: no session ({why})", date, date.weekday());
        }
    }
    let slots = schedule.slots_on(date);
    if slots.is_empty() {
        let _ = writeln!(out, "no slots");
        return out;
    }
    let _ = writeln!(out, "{:<22} {:<22} {:<20} note", "ET", "local", "job");
    for slot in &slots {
        let note = match slot.skip {
            Some(SlotSkip::AfterClose) => "skipped: after_close",
            None => "",
        };
        let _ = writeln!(
            out,
            "{:<22} {:<22} {:<20} {note}",
            slot.at.format("%H:%M %:z").to_string(),
            slot.at
                .with_timezone(&Local)
                .format("%H:%M %:z")
                .to_string(),
            slot.tag
        );
    }
    out
}
