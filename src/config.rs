//! `config/kobe.toml`: loading, checking, and turning it into the runtime's schedule.
//!
//! The shipped default is embedded in the binaries, so a fresh home needs no file at all. Every
//! error names the file, the line (for TOML errors) or the key, and the bad value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use chrono_tz::Tz;
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::schedule::{JobPlan, JobSpec, OneOrMany, Schedule, ScheduleError};
use serde::Deserialize;

use crate::data::polygon::PolygonSettings;
use crate::jobs::tag::{tag_names, JobTag};

/// The commented default configuration, as shipped in `config/kobe.toml`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/kobe.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin} line {line}: {message}")]
    Toml {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("{origin}: {source}")]
    Schedule {
        origin: String,
        source: ScheduleError,
    },
    #[error("{origin}: jobs.{tag}: unknown job tag (known: {known})")]
    UnknownJob {
        origin: String,
        tag: String,
        known: String,
    },
    #[error("{origin}: {why}")]
    Trading { origin: String, why: String },
    #[error("{origin}: every job is turned off (enabled = false): a runner with nothing to run would only look healthy")]
    NoJobs { origin: String },
    #[error("--scan-times: bad time {value:?}: {why}")]
    ScanTimes { value: String, why: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub runtime: RuntimeSection,
    #[serde(default)]
    pub data: DataSection,
    #[serde(default)]
    pub trading: TradingSection,
    #[serde(default)]
    pub backup: BackupSection,
    #[serde(default)]
    pub notify: crate::notify::NotifySettings,
    #[serde(default)]
    pub polygon: PolygonSettings,
    #[serde(default)]
    pub jobs: BTreeMap<String, JobSpec>,
    /// Where it came from, for error messages: a path, or "embedded default".
    #[serde(skip)]
    pub origin: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    pub heartbeat_secs: u64,
    pub health_addr: String,
    pub grace_secs: u64,
    pub restart_limit: usize,
    pub restart_window_secs: u64,
}

/// `[backup]`: how many archives DB_BACKUP keeps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSection {
    pub keep: usize,
}

impl Default for BackupSection {
    fn default() -> Self {
        Self { keep: 30 }
    }
}

/// `[trading]`: the rules the jobs trade by (DESIGN §8).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingSection {
    /// ET windows in which new entries may be made: `"HH:MM-HH:MM"`.
    pub entry_windows: Vec<String>,
    /// Signals in the pre-game blueprint, and how many of them are marked to execute.
    pub blueprint_top: usize,
    pub blueprint_execute: usize,
    /// The paper account's cash at its first run.
    pub starting_equity: f64,
    pub max_entries_per_session: usize,
    pub max_open_positions: usize,
    /// Risk per trade (entry to stop) and largest position, as fractions of equity.
    pub risk_per_trade: f64,
    pub max_notional: f64,
    /// A session's loss beyond this fraction of its starting equity engages the kill switch.
    pub daily_loss_limit: f64,
    /// Who executes orders in `--mode paper`: the embedded paper broker, or Alpaca's paper
    /// account (keys in `.env`). `--mode live` always trades through Alpaca; a replay always
    /// through the embedded broker.
    pub broker: BrokerKind,
    /// Entries as limit orders this fraction above the entry price (0.002 = 0.2 %), so a fast
    /// market cannot fill far from the price the size was computed on; absent: market orders.
    pub entry_limit: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerKind {
    Paper,
    Alpaca,
}

impl Default for TradingSection {
    fn default() -> Self {
        Self {
            entry_windows: vec!["10:00-11:30".into(), "14:30-15:30".into()],
            blueprint_top: 5,
            blueprint_execute: 2,
            starting_equity: 100_000.0,
            max_entries_per_session: 2,
            max_open_positions: 5,
            risk_per_trade: 0.01,
            max_notional: 0.10,
            daily_loss_limit: 0.03,
            broker: BrokerKind::Paper,
            entry_limit: None,
        }
    }
}

impl TradingSection {
    /// Every trading rule checked: each number finite and in its range, the windows, the
    /// limit offset. The error names the key and the value.
    pub fn check(&self) -> Result<(), String> {
        if !(self.starting_equity.is_finite() && self.starting_equity > 0.0) {
            return Err(format!(
                "trading.starting_equity = {}: must be a positive amount",
                self.starting_equity
            ));
        }
        for (key, value) in [
            ("risk_per_trade", self.risk_per_trade),
            ("max_notional", self.max_notional),
            ("daily_loss_limit", self.daily_loss_limit),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(format!(
                    "trading.{key} = {value}: must be a fraction above 0 and at most 1"
                ));
            }
        }
        if self.blueprint_execute > self.blueprint_top {
            return Err(format!(
                "trading.blueprint_execute = {}: at most trading.blueprint_top ({})",
                self.blueprint_execute, self.blueprint_top
            ));
        }
        self.windows()?;
        if let Some(x) = self.entry_limit {
            if !(0.0..=0.05).contains(&x) {
                return Err(format!(
                    "trading.entry_limit: {x} is not a fraction between 0 and 0.05"
                ));
            }
        }
        Ok(())
    }

    /// The entry windows as (from, to) times, checked.
    pub fn windows(&self) -> Result<Vec<(NaiveTime, NaiveTime)>, String> {
        self.entry_windows
            .iter()
            .map(|w| {
                let (a, b) = w
                    .split_once('-')
                    .ok_or_else(|| format!("trading.entry_windows: {w:?} is not HH:MM-HH:MM"))?;
                let parse = |t: &str| {
                    kobe_actors::schedule::parse_hhmm(t.trim())
                        .map_err(|why| format!("trading.entry_windows: {w:?}: {why}"))
                };
                let (from, to) = (parse(a)?, parse(b)?);
                if from >= to {
                    return Err(format!(
                        "trading.entry_windows: {w:?} ends before it starts"
                    ));
                }
                Ok((from, to))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// A universe CSV, relative to the home folder (`--universe` wins); `None`: every symbol
    /// in the bar store.
    pub universe: Option<String>,
}

impl Default for RuntimeSection {
    fn default() -> Self {
        Self {
            heartbeat_secs: 30,
            health_addr: "127.0.0.1:5000".into(),
            grace_secs: 30,
            restart_limit: 5,
            restart_window_secs: 60,
        }
    }
}

impl Config {
    /// `--config PATH` if given, else `<home>/config/kobe.toml` if it exists, else the default.
    pub fn load(explicit: Option<&Path>, home: &Path) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(home.join("config/kobe.toml")).filter(|p| p.exists()),
        };
        let config = match path {
            None => Self::parse(EMBEDDED_DEFAULT, "embedded default config")?,
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::layered(&text, &path.display().to_string())?
            }
        };
        // Every command that loads the config gets checked numbers, not only the runner.
        config.trading.check().map_err(|why| ConfigError::Trading {
            origin: config.origin.clone(),
            why,
        })?;
        Ok(config)
    }

    /// A user's file over the embedded default, key by key: an empty or partial file means the
    /// defaults for everything it does not say. The file is first read on its own, so its
    /// unknown keys and wrong types are named with their line.
    pub fn layered(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse(text, origin)?;
        let toml_error = |e: toml::de::Error| ConfigError::Toml {
            origin: origin.to_string(),
            line: e
                .span()
                .map_or(1, |s| text[..s.start].matches('\n').count() + 1),
            message: e.message().replace('\n', " "),
        };
        let mut merged: toml::Table =
            toml::from_str(EMBEDDED_DEFAULT).expect("the embedded default is valid TOML");
        overlay(&mut merged, toml::from_str(text).map_err(toml_error)?);
        let mut config = Config::deserialize(toml::Value::Table(merged)).map_err(toml_error)?;
        config.origin = origin.to_string();
        Ok(config)
    }

    /// One whole document (the embedded default, or a file read on its own to check it).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Toml {
            origin: origin.to_string(),
            line: e
                .span()
                .map_or(1, |s| text[..s.start].matches('\n').count() + 1),
            message: e.message().replace('\n', " "),
        })?;
        config.origin = origin.to_string();
        for tag in config.jobs.keys() {
            if tag.parse::<JobTag>().is_err() {
                return Err(ConfigError::UnknownJob {
                    origin: origin.to_string(),
                    tag: tag.clone(),
                    known: tag_names().join(", "),
                });
            }
        }
        Ok(config)
    }

    /// `--scan-times 09:35,10:30` replaces the SCAN job's `at` list.
    pub fn set_scan_times(&mut self, list: &str) -> Result<(), ConfigError> {
        let times = parse_scan_times(list)?;
        let spec = self.jobs.entry(JobTag::Scan.to_string()).or_default();
        spec.at = OneOrMany::Many(
            times
                .iter()
                .map(|t| t.format("%H:%M").to_string())
                .collect(),
        );
        Ok(())
    }

    /// The checked schedule of every configured job (and the trading windows it relies on).
    pub fn schedule(&self) -> Result<Schedule, ConfigError> {
        self.trading.check().map_err(|why| ConfigError::Trading {
            origin: self.origin.clone(),
            why,
        })?;
        let plans = self
            .jobs
            .iter()
            .filter(|(_, spec)| spec.enabled != Some(false))
            .map(|(tag, spec)| JobPlan::compile(tag, spec))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ConfigError::Schedule {
                origin: self.origin.clone(),
                source,
            })?;
        if plans.is_empty() {
            return Err(ConfigError::NoJobs {
                origin: self.origin.clone(),
            });
        }
        Ok(Schedule::new(plans, NyseCalendar))
    }

    /// The jobs a config turns off (`enabled = false`), for the runner to say at start.
    pub fn disabled_jobs(&self) -> Vec<&str> {
        self.jobs
            .iter()
            .filter(|(_, spec)| spec.enabled == Some(false))
            .map(|(tag, _)| tag.as_str())
            .collect()
    }
}

/// `top` with `over` laid on it: tables merge key by key (recursively), anything else is
/// replaced.
fn overlay(top: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (top.get_mut(&key), value) {
            (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => overlay(mine, theirs),
            (_, value) => {
                top.insert(key, value);
            }
        }
    }
}

/// Parses the `--scan-times` flag: `HH:MM,HH:MM,...`, no blanks, no duplicates.
pub fn parse_scan_times(list: &str) -> Result<Vec<NaiveTime>, ConfigError> {
    kobe_actors::schedule::parse_time_list(list)
        .map_err(|(value, why)| ConfigError::ScanTimes { value, why })
}

/// The exchange's time zone, re-exported for the binaries.
pub const ET: Tz = kobe_actors::calendar::EXCHANGE_TZ;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_holds_the_seed_schedule() {
        let config = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
        let schedule = config.schedule().unwrap();
        let tags: Vec<_> = schedule.plans().map(|p| p.tag.as_str()).collect();
        let mut want = tag_names();
        want.sort();
        assert_eq!(tags, want);
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let text = "[runtime]\ngrace_secs = 5\n\n[jobs.SCAN]\nat = []\ntiemout = \"5m\"\n";
        let err = Config::parse(text, "kobe.toml").unwrap_err().to_string();
        assert!(
            err.starts_with("kobe.toml line 6: unknown field `tiemout`"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_users_file_lays_over_the_default_key_by_key() {
        let default = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
        let all = |c: &Config| -> Vec<String> {
            c.schedule()
                .unwrap()
                .plans()
                .map(|p| p.tag.clone())
                .collect()
        };
        // Empty, or cut off after its first lines: the defaults, every job scheduled.
        let cut: String = EMBEDDED_DEFAULT
            .lines()
            .take(12)
            .collect::<Vec<_>>()
            .join("\n");
        for text in ["", "\n# nothing\n", cut.as_str()] {
            let config = Config::layered(text, "kobe.toml").unwrap();
            assert_eq!(all(&config), all(&default), "{text:?}");
            assert_eq!(config.trading.starting_equity, 100_000.0);
        }
        // One key of one job changes that key only.
        let text = "[jobs.FIRST_SCAN]\nkill_switch = \"skip\"\n[trading]\nmax_open_positions = 3\n";
        let config = Config::layered(text, "kobe.toml").unwrap();
        let scan = &config.jobs["FIRST_SCAN"];
        assert_eq!(scan.at, default.jobs["FIRST_SCAN"].at);
        assert_eq!(config.trading.max_open_positions, 3);
        assert_eq!(config.trading.risk_per_trade, 0.01);
        // A job is off only by its own key, and the runner names it.
        let text = "[jobs.POSITION_MANAGER]\nenabled = false\n";
        let config = Config::layered(text, "kobe.toml").unwrap();
        assert!(!all(&config).contains(&"POSITION_MANAGER".to_string()));
        assert_eq!(config.disabled_jobs(), ["POSITION_MANAGER"]);
        // Every job off: refused.
        let every: String = all(&default)
            .iter()
            .map(|t| format!("[jobs.{t}]\nenabled = false\n"))
            .collect();
        let err = Config::layered(&every, "kobe.toml")
            .unwrap()
            .schedule()
            .unwrap_err();
        assert!(err.to_string().contains("every job is turned off"), "{err}");
        // The file's own mistakes are still named with their line.
        let err = Config::layered("[trading]\n\nrisk_per_trad = 0.5\n", "kobe.toml").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("kobe.toml line 3: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn numbers_out_of_range_are_refused_naming_the_key() {
        let cases = [
            ("starting_equity = nan", "trading.starting_equity"),
            ("starting_equity = -100000.0", "trading.starting_equity"),
            ("starting_equity = inf", "trading.starting_equity"),
            ("risk_per_trade = -5.0", "trading.risk_per_trade"),
            ("risk_per_trade = 0.0", "trading.risk_per_trade"),
            ("max_notional = 1.5", "trading.max_notional"),
            ("daily_loss_limit = -1.0", "trading.daily_loss_limit"),
            ("daily_loss_limit = nan", "trading.daily_loss_limit"),
            ("entry_limit = nan", "trading.entry_limit"),
            ("blueprint_execute = 9", "trading.blueprint_execute"),
        ];
        for (line, key) in cases {
            let text = format!("[trading]\n{line}\n");
            let config = Config::layered(&text, "kobe.toml").unwrap();
            let err = config.schedule().unwrap_err().to_string();
            assert!(
                err.starts_with("kobe.toml: ") && err.contains(key),
                "{line}: {err}"
            );
        }
    }

    #[test]
    fn unknown_tags_and_bad_times_are_refused() {
        let err = Config::parse("[jobs.SCNA]\nat = \"09:35\"\n", "f").unwrap_err();
        assert!(
            err.to_string().contains("jobs.SCNA: unknown job tag"),
            "{err}"
        );
        let config = Config::parse("[jobs.SCAN]\nat = \"9:35\"\n", "f").unwrap();
        let err = config.schedule().unwrap_err().to_string();
        assert!(
            err.contains("jobs.SCAN.at") && err.contains("\"9:35\""),
            "{err}"
        );
    }

    #[test]
    fn scan_times_replace_the_scan_list() {
        let mut config = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
        config.set_scan_times("09:35,10:30").unwrap();
        let plan = config.schedule().unwrap().plan("SCAN").unwrap().clone();
        assert_eq!(plan.times.len(), 2);
        let err = config
            .set_scan_times("09:35,,10:30")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--scan-times: bad time \"\""), "{err}");
    }
}
