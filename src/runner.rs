//! The 24/7 runner: checks its flags and config, then hands the schedule to the actor runtime,
//! on the live clock or (replay) on a simulated one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use clap::{Parser, ValueEnum};
use kobe_actors::clock::{Clock, LiveClock, SimClock, Speed};
use kobe_actors::ledger::{Durability, LedgerError, RunLedger};
use kobe_actors::schedule::et_instant;
use kobe_actors::supervisor::{Exit, RestartLimit, Runtime, RuntimeConfig, RuntimeError};

use crate::config::{Config, ConfigError};
use crate::home::Home;
use crate::jobs;
use crate::replay_summary::ReplaySummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Paper,
    Live,
}

#[derive(Debug, Parser)]
#[command(
    name = "runner",
    about = "kobe's 24/7 runner: the day's jobs on US-Eastern market time"
)]
pub struct RunnerArgs {
    /// paper (the embedded paper broker) or live (needs --approve-live).
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// The second key for live trading.
    #[arg(long)]
    pub approve_live: bool,
    /// Extra SCAN slots, ET: HH:MM,HH:MM,... (replaces jobs.SCAN.at).
    #[arg(long, value_name = "HH:MM,...")]
    pub scan_times: Option<String>,
    /// Home folder (else KOBE_HOME, else the current folder).
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// Config file (else <home>/config/kobe.toml, else the embedded default).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Replay the sessions of FROM..TO (inclusive) on a simulated clock, then exit.
    #[arg(long, value_name = "YYYY-MM-DD..YYYY-MM-DD")]
    pub replay: Option<String>,
    /// Replay speed: max (as fast as the jobs allow) or N times real time.
    #[arg(long, value_name = "max|N", requires = "replay")]
    pub speed: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot start the actor system: {0}")]
    System(std::io::Error),
}

impl RunnerError {
    /// DESIGN §6: 2 for anything the operator can fix in flags, files or config.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunnerError::Usage(_) | RunnerError::Config(_) => 2,
            RunnerError::Ledger(LedgerError::Corrupt { .. }) => 2,
            _ => 1,
        }
    }
}

/// A replay's date range, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl ReplayRange {
    pub fn parse(text: &str) -> Result<Self, RunnerError> {
        let bad = |why: &str| RunnerError::Usage(format!("--replay {text:?}: {why}"));
        let (from, to) = text
            .split_once("..")
            .ok_or_else(|| bad("expected FROM..TO, e.g. 2024-03-07..2024-03-12"))?;
        let date = |s: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| bad(&format!("{s:?} is not a date (YYYY-MM-DD)")))
        };
        let (from, to) = (date(from)?, date(to)?);
        if from > to {
            return Err(bad("FROM is after TO"));
        }
        Ok(Self { from, to })
    }

    pub fn start(&self) -> DateTime<Utc> {
        et_instant(self.from, NaiveTime::MIN).with_timezone(&Utc)
    }

    /// Midnight ET after TO: the replay's exclusive end.
    pub fn end(&self) -> DateTime<Utc> {
        let after = self.to.succ_opt().unwrap_or(self.to);
        et_instant(after, NaiveTime::MIN).with_timezone(&Utc)
    }
}

fn parse_speed(text: Option<&str>) -> Result<Speed, RunnerError> {
    match text {
        None | Some("max") => Ok(Speed::Max),
        Some(n) => match n.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Times(f)),
            _ => Err(RunnerError::Usage(format!(
                "--speed {n:?}: expected max or a positive number"
            ))),
        },
    }
}

/// What a finished run reports (a replay prints it).
pub enum Outcome {
    Replay(ReplaySummary),
    Stopped { jobs_finished: bool },
}

/// Everything checked before anything starts or is written: flags, config, schedule.
pub struct Plan {
    pub home: Home,
    pub config: Config,
    pub replay: Option<(ReplayRange, Speed)>,
}

impl Plan {
    pub fn check(args: &RunnerArgs) -> Result<Self, RunnerError> {
        if args.mode == Mode::Live && !args.approve_live {
            return Err(RunnerError::Usage(
                "--mode live needs --approve-live as well: add it if you mean to trade real money, or use --mode paper".into(),
            ));
        }
        if args.mode == Mode::Live {
            return Err(RunnerError::Usage(
                "--mode live: no live broker is available in this build yet; use --mode paper"
                    .into(),
            ));
        }
        let replay = match &args.replay {
            None => None,
            Some(text) => Some((
                ReplayRange::parse(text)?,
                parse_speed(args.speed.as_deref())?,
            )),
        };
        let home = Home::resolve(args.home.as_deref());
        let mut config = Config::load(args.config.as_deref(), home.root())?;
        if let Some(list) = &args.scan_times {
            config.set_scan_times(list)?;
        }
        config.schedule()?;
        Ok(Self {
            home,
            config,
            replay,
        })
    }
}

/// Runs the runner to its end: a replay's last slot, or SIGINT/SIGTERM.
pub fn run(plan: Plan) -> Result<Outcome, RunnerError> {
    let schedule = Arc::new(plan.config.schedule()?);
    let durability = match plan.replay {
        Some(_) => Durability::ProcessCrash,
        None => Durability::PowerLoss,
    };
    let ledger = Arc::new(RunLedger::open(
        &plan.home.state(),
        &plan.home.logs(),
        durability,
    )?);
    let (clock, until): (Arc<dyn Clock>, _) = match plan.replay {
        Some((range, speed)) => (
            Arc::new(SimClock::new(range.start(), speed)),
            Some(range.end()),
        ),
        None => (Arc::new(LiveClock), None),
    };
    let jobs: BTreeMap<_, _> = schedule
        .plans()
        .filter_map(|p| jobs::factory(&p.tag).map(|f| (p.tag.clone(), f)))
        .collect();
    let runtime = &plan.config.runtime;
    let config = RuntimeConfig {
        clock,
        schedule,
        ledger: ledger.clone(),
        jobs,
        until,
        restart_limit: RestartLimit {
            max_restarts: runtime.restart_limit,
            within: TimeDelta::seconds(runtime.restart_window_secs as i64),
        },
        grace: Duration::from_secs(runtime.grace_secs),
    };
    let stopwatch = Instant::now();
    let system = actix_rt::System::new();
    let exit = system.block_on(async move {
        let runtime = Runtime::start(config)?;
        runtime.run_until(shutdown_signal()).await
    })?;
    if matches!(
        exit,
        Exit::Shutdown {
            jobs_finished: false
        }
    ) {
        // Dropping the runtime would wait for the job thread that overran the grace period,
        // and the promise is to exit within it: the process ends right after this returns.
        std::mem::forget(system);
    }
    match (exit, plan.replay) {
        (Exit::Finished, Some((range, _))) => {
            let records = ledger.records_between(range.start(), range.end())?;
            Ok(Outcome::Replay(ReplaySummary::new(
                range,
                &records,
                stopwatch.elapsed(),
            )))
        }
        (Exit::Shutdown { jobs_finished }, _) => Ok(Outcome::Stopped { jobs_finished }),
        (Exit::Finished, None) => Ok(Outcome::Stopped {
            jobs_finished: true,
        }),
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_ranges() {
        let r = ReplayRange::parse("2024-03-07..2024-03-12").unwrap();
        assert_eq!(r.start().to_rfc3339(), "2024-03-07T05:00:00+00:00");
        assert_eq!(r.end().to_rfc3339(), "2024-03-13T04:00:00+00:00");
        for bad in [
            "2024-03-07",
            "2024-03-12..2024-03-07",
            "2024-02-30..2024-03-01",
            "x..y",
        ] {
            let err = ReplayRange::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("--replay"), "{err}");
        }
    }

    #[test]
    fn speeds() {
        assert_eq!(parse_speed(Some("max")).unwrap(), Speed::Max);
        assert_eq!(parse_speed(Some("60")).unwrap(), Speed::Times(60.0));
        for bad in ["0", "-1", "fast", "NaN", "inf"] {
            assert!(parse_speed(Some(bad)).is_err(), "{bad}");
        }
    }
}
