//! The job schedule on US-Eastern time: job specs from config, compiled into the day's slots.
//!
//! A spec is what an operator writes (`at = "close-30m"`, `every = "15m"`); a plan is the
//! checked, typed form; a slot is one due instant of one job on one date.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta};
use chrono_tz::Tz;
use serde::Deserialize;

/// A wall-clock time on an ET date as an instant (the calendar's conversion, under the name the
/// schedule's users know).
pub use crate::calendar::exchange_datetime as et_instant;
use crate::calendar::{is_weekend, NyseCalendar, EARLY_CLOSE, REGULAR_CLOSE, REGULAR_OPEN};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("{key}: bad time {value:?}: {why}")]
    BadTime {
        key: String,
        value: String,
        why: String,
    },
    #[error("{key}: {why}")]
    BadSpec { key: String, why: String },
}

/// Which days a job runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Days {
    /// NYSE trading sessions only.
    #[default]
    Sessions,
    /// Monday to Friday, holidays included.
    Weekdays,
    /// Every calendar day.
    Daily,
}

/// What a job does while the kill switch is active (DESIGN §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillSwitchPolicy {
    /// Runs as usual: its work is harmless (backup, data, reports, scans).
    #[default]
    Run,
    /// Runs, but may only manage what is open: exits and stops, no new entries.
    ManageOnly,
    /// Recorded as `skipped` with reason `kill_switch`.
    Skip,
}

/// `at = "09:45"` or `at = ["09:35", "10:30"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// One job's entry in `config/kobe.toml` (`[jobs.TAG]`), as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// `false` turns the job off (the runner says so at start); absent or `true`: on. Only an
    /// explicit key turns a job off: a table missing from a user's file keeps the default's.
    pub enabled: Option<bool>,
    /// Fixed times of day: `"HH:MM"`, `"open"`, `"close"`, `"open+15m"`, `"close-30m"`.
    #[serde(default)]
    pub at: OneOrMany,
    /// A repeating window instead of fixed times: `every = "15m"` from `from` to `to` inclusive.
    pub every: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    #[serde(default)]
    pub days: Days,
    /// Run a missed slot once at start-up if it is still the same session.
    #[serde(default)]
    pub catch_up: bool,
    /// Longest a run may take before it is recorded as failed, e.g. `"10m"`.
    pub timeout: Option<String>,
    #[serde(default)]
    pub kill_switch: KillSwitchPolicy,
    /// Allowed to run at or after the session's close (else such a slot is skipped).
    #[serde(default)]
    pub after_close: bool,
}

/// A time of day, fixed or relative to the session's open or close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOfDay {
    Fixed(NaiveTime),
    AfterOpen(TimeDelta),
    AfterClose(TimeDelta),
}

impl TimeOfDay {
    fn on(self, open: NaiveTime, close: NaiveTime) -> NaiveTime {
        self.checked_on(open, close).unwrap_or(NaiveTime::MIN)
    }

    fn is_fixed(self) -> bool {
        matches!(self, TimeOfDay::Fixed(_))
    }

    /// The time on a day with these hours, or `None` if an offset leaves the day.
    fn checked_on(self, open: NaiveTime, close: NaiveTime) -> Option<NaiveTime> {
        let (base, offset) = match self {
            TimeOfDay::Fixed(t) => return Some(t),
            TimeOfDay::AfterOpen(d) => (open, d),
            TimeOfDay::AfterClose(d) => (close, d),
        };
        let (t, wrapped) = base.overflowing_add_signed(offset);
        (wrapped == 0).then_some(t)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = |f: &mut fmt::Formatter<'_>, base: &str, d: &TimeDelta| {
            let m = d.num_minutes();
            match m {
                0 => write!(f, "{base}"),
                m if m > 0 => write!(f, "{base}+{m}m"),
                m => write!(f, "{base}-{}m", -m),
            }
        };
        match self {
            TimeOfDay::Fixed(t) => write!(f, "{}", t.format("%H:%M")),
            TimeOfDay::AfterOpen(d) => rel(f, "open", d),
            TimeOfDay::AfterClose(d) => rel(f, "close", d),
        }
    }
}

/// Parses `HH:MM` strictly: two digits each, hours 00–23, minutes 00–59.
pub fn parse_hhmm(value: &str) -> Result<NaiveTime, String> {
    let bytes = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| bytes[r].iter().all(u8::is_ascii_digit);
    if value.is_empty() {
        return Err("empty time: expected HH:MM".into());
    }
    if bytes.len() != 5 || bytes[2] != b':' || !digits(0..2) || !digits(3..5) {
        return Err("expected HH:MM with two digits each, e.g. 09:35".into());
    }
    let hours: u32 = value[0..2].parse().map_err(|_| "hours are not a number")?;
    let minutes: u32 = value[3..5]
        .parse()
        .map_err(|_| "minutes are not a number")?;
    if hours > 23 {
        return Err(format!("hour {hours} is past 23"));
    }
    if minutes > 59 {
        return Err(format!("minute {minutes} is past 59"));
    }
    NaiveTime::from_hms_opt(hours, minutes, 0).ok_or_else(|| "not a time of day".into())
}

/// Parses a duration such as `15m`, `2h`, `30s`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let unit_start = value.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = value.split_at(unit_start);
    let n: u64 = number
        .parse()
        .map_err(|_| "expected a number followed by s, m or h, e.g. 15m".to_string())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err("expected a number followed by s, m or h, e.g. 15m".into()),
    };
    let secs = n
        .checked_mul(scale)
        .filter(|s| *s <= 366 * 86_400)
        .ok_or_else(|| "longer than a year".to_string())?;
    if secs == 0 {
        return Err("must be longer than zero".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Parses `HH:MM`, `open`, `close`, `open+15m`, `close-30m`.
pub fn parse_time_of_day(value: &str) -> Result<TimeOfDay, String> {
    let value = value.trim();
    for (base, relative) in [("open", true), ("close", false)] {
        if let Some(rest) = value.strip_prefix(base) {
            let offset = match rest.chars().next() {
                None => TimeDelta::zero(),
                Some(sign @ ('+' | '-')) => {
                    let d = parse_duration(&rest[1..]).map_err(|e| format!("offset {e}"))?;
                    let d = TimeDelta::from_std(d).map_err(|_| "offset too large")?;
                    if d > TimeDelta::hours(12) {
                        return Err("offset longer than 12h".into());
                    }
                    if sign == '-' {
                        -d
                    } else {
                        d
                    }
                }
                Some(_) => return Err(format!("expected {base}, {base}+Nm or {base}-Nm")),
            };
            return Ok(if relative {
                TimeOfDay::AfterOpen(offset)
            } else {
                TimeOfDay::AfterClose(offset)
            });
        }
    }
    parse_hhmm(value).map(TimeOfDay::Fixed)
}

/// Parses a comma-separated list of `HH:MM` times, as given to `--scan-times`: no empty items,
/// no duplicates. Errors name the offending item.
pub fn parse_time_list(list: &str) -> Result<Vec<NaiveTime>, (String, String)> {
    let mut seen = BTreeSet::new();
    let mut times = Vec::new();
    for (i, item) in list.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            return Err((
                item.to_string(),
                format!("item {} is empty (no blank entries or stray commas)", i + 1),
            ));
        }
        let t = parse_hhmm(item).map_err(|why| (item.to_string(), why))?;
        if !seen.insert(t) {
            return Err((item.to_string(), "appears twice".into()));
        }
        times.push(t);
    }
    Ok(times)
}

/// The default run timeout, for jobs whose spec names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// A job's checked schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    pub tag: String,
    pub times: Vec<TimeOfDay>,
    pub window: Option<Window>,
    pub days: Days,
    pub catch_up: bool,
    pub timeout: Duration,
    pub kill_switch: KillSwitchPolicy,
    pub after_close: bool,
}

/// `every` minutes from `from` to `to`, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub every: TimeDelta,
    pub from: TimeOfDay,
    pub to: TimeOfDay,
}

/// The session hours a relative time must fit on: regular and early-close sessions alike.
const SESSION_HOURS: [(NaiveTime, NaiveTime); 2] =
    [(REGULAR_OPEN, REGULAR_CLOSE), (REGULAR_OPEN, EARLY_CLOSE)];

/// The config key of one field of a job's spec, as the operator wrote it in `config/kobe.toml`.
fn spec_key(tag: &str, field: &str) -> String {
    format!("jobs.{tag}.{field}")
}

/// Parses one time-of-day field of a spec; the error names the key and the value.
fn spec_time(tag: &str, field: &str, value: &str) -> Result<TimeOfDay, ScheduleError> {
    parse_time_of_day(value).map_err(|why| ScheduleError::BadTime {
        key: spec_key(tag, field),
        value: value.to_string(),
        why,
    })
}

/// The fixed `at` times, in the order written; a time given twice is refused.
fn compile_at(tag: &str, at: &OneOrMany) -> Result<Vec<TimeOfDay>, ScheduleError> {
    let mut times = Vec::new();
    for item in at.items() {
        let t = spec_time(tag, "at", &item)?;
        if times.contains(&t) {
            return Err(ScheduleError::BadTime {
                key: spec_key(tag, "at"),
                value: item,
                why: "appears twice".into(),
            });
        }
        times.push(t);
    }
    Ok(times)
}

/// The repeating window, if any: `every`, `from` and `to` are given all together or not at all.
fn compile_window(tag: &str, spec: &JobSpec) -> Result<Option<Window>, ScheduleError> {
    match (&spec.every, &spec.from, &spec.to) {
        (None, None, None) => Ok(None),
        (Some(every), Some(from), Some(to)) => {
            let every = parse_duration(every).map_err(|why| ScheduleError::BadTime {
                key: spec_key(tag, "every"),
                value: every.clone(),
                why,
            })?;
            Ok(Some(Window {
                every: TimeDelta::from_std(every).map_err(|_| ScheduleError::BadSpec {
                    key: spec_key(tag, "every"),
                    why: "too long".into(),
                })?,
                from: spec_time(tag, "from", from)?,
                to: spec_time(tag, "to", to)?,
            }))
        }
        _ => Err(ScheduleError::BadSpec {
            key: spec_key(tag, "every"),
            why: "`every`, `from` and `to` go together".into(),
        }),
    }
}

/// Refuses an `at`, `from` or `to` whose offset from the open or close leaves the day.
fn check_times_stay_in_the_day(
    tag: &str,
    times: &[TimeOfDay],
    window: Option<&Window>,
) -> Result<(), ScheduleError> {
    let all_times = times
        .iter()
        .map(|t| ("at", *t))
        .chain(window.iter().flat_map(|w| [("from", w.from), ("to", w.to)]));
    for (field, t) in all_times {
        if SESSION_HOURS
            .iter()
            .any(|(open, close)| t.checked_on(*open, *close).is_none())
        {
            return Err(ScheduleError::BadTime {
                key: spec_key(tag, field),
                value: t.to_string(),
                why: "falls outside the day (before 00:00 or after 23:59)".into(),
            });
        }
    }
    Ok(())
}

/// Refuses a window whose `from` falls after its `to` on either kind of session.
fn check_window_order(tag: &str, w: &Window) -> Result<(), ScheduleError> {
    if SESSION_HOURS
        .iter()
        .any(|(open, close)| w.from.on(*open, *close) > w.to.on(*open, *close))
    {
        return Err(ScheduleError::BadSpec {
            key: spec_key(tag, "from"),
            why: format!("`from` {} is after `to` {}", w.from, w.to),
        });
    }
    Ok(())
}

/// The run timeout, [`DEFAULT_TIMEOUT`] when the spec names none.
fn compile_timeout(tag: &str, timeout: Option<&String>) -> Result<Duration, ScheduleError> {
    match timeout {
        None => Ok(DEFAULT_TIMEOUT),
        Some(t) => parse_duration(t).map_err(|why| ScheduleError::BadTime {
            key: spec_key(tag, "timeout"),
            value: t.clone(),
            why,
        }),
    }
}

impl JobPlan {
    /// Checks a spec; errors name the key (`jobs.TAG.at`) and the bad value.
    pub fn compile(tag: &str, spec: &JobSpec) -> Result<Self, ScheduleError> {
        let times = compile_at(tag, &spec.at)?;
        let window = compile_window(tag, spec)?;
        check_times_stay_in_the_day(tag, &times, window.as_ref())?;
        if let Some(w) = &window {
            check_window_order(tag, w)?;
        }
        if window.is_some() && !times.is_empty() {
            return Err(ScheduleError::BadSpec {
                key: spec_key(tag, "at"),
                why: "use either `at` or `every`/`from`/`to`, not both".into(),
            });
        }
        let timeout = compile_timeout(tag, spec.timeout.as_ref())?;
        Ok(Self {
            tag: tag.to_string(),
            times,
            window,
            days: spec.days,
            catch_up: spec.catch_up,
            timeout,
            kill_switch: spec.kill_switch,
            after_close: spec.after_close,
        })
    }

    /// Whether this job runs on `date` at all (`is_session`: the exchange trades that day).
    fn runs_on(&self, date: NaiveDate, is_session: bool) -> bool {
        match self.days {
            Days::Sessions => is_session,
            Days::Weekdays => !is_weekend(date),
            Days::Daily => true,
        }
    }

    /// The times of day this job is due on a date with these hours; each with whether it was
    /// written as a fixed clock time (only those are "after the close" when at the close).
    fn times_on(&self, open: NaiveTime, close: NaiveTime) -> Vec<(NaiveTime, bool)> {
        let mut out: Vec<(NaiveTime, bool)> = self
            .times
            .iter()
            .map(|t| (t.on(open, close), t.is_fixed()))
            .collect();
        if let Some(w) = &self.window {
            let (from, to) = (w.from.on(open, close), w.to.on(open, close));
            let fixed = w.to.is_fixed();
            let mut t = from;
            while t <= to {
                out.push((t, fixed));
                let next = t + w.every;
                if next <= t {
                    break; // wrapped past midnight
                }
                t = next;
            }
        }
        out
    }
}

/// Why a slot is recorded without running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotSkip {
    /// A fixed time at or after the session's close (or a relative one past it).
    AfterClose,
}

/// One due instant of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub tag: String,
    /// The ET date the slot belongs to (the session, for session jobs).
    pub session: NaiveDate,
    pub at: DateTime<Tz>,
    pub skip: Option<SlotSkip>,
}

/// Every job's plan plus the calendar: answers "what is due on this date".
#[derive(Debug, Clone)]
pub struct Schedule {
    plans: BTreeMap<String, JobPlan>,
    calendar: NyseCalendar,
}

impl Schedule {
    pub fn new(plans: Vec<JobPlan>, calendar: NyseCalendar) -> Self {
        Self {
            plans: plans.into_iter().map(|p| (p.tag.clone(), p)).collect(),
            calendar,
        }
    }

    pub fn plan(&self, tag: &str) -> Option<&JobPlan> {
        self.plans.get(tag)
    }

    pub fn plans(&self) -> impl Iterator<Item = &JobPlan> {
        self.plans.values()
    }

    pub fn calendar(&self) -> &NyseCalendar {
        &self.calendar
    }

    /// The slots of `date`, in time order (ties by tag).
    pub fn slots_on(&self, date: NaiveDate) -> Vec<Slot> {
        let session = self.calendar.session(date);
        // Regular hours place open/close-relative times on days that are not sessions (for jobs
        // that run on weekdays or daily).
        let (open, close) = session
            .map(|s| (s.open, s.close))
            .unwrap_or((REGULAR_OPEN, REGULAR_CLOSE));
        let close_at = session.map(|s| s.close_at());
        let mut slots = Vec::new();
        for plan in self.plans.values() {
            if !plan.runs_on(date, session.is_some()) {
                continue;
            }
            for (time, fixed) in plan.times_on(open, close) {
                let at = et_instant(date, time);
                let after_close = match close_at {
                    Some(close_at) if !plan.after_close => {
                        at > close_at || (fixed && at == close_at)
                    }
                    _ => false,
                };
                slots.push(Slot {
                    tag: plan.tag.clone(),
                    session: date,
                    at,
                    skip: after_close.then_some(SlotSkip::AfterClose),
                });
            }
        }
        slots.sort_by(|a, b| (a.at, &a.tag).cmp(&(b.at, &b.tag)));
        slots.dedup_by(|a, b| a.at == b.at && a.tag == b.tag);
        slots
    }
}

#[cfg(test)]
mod tests;
