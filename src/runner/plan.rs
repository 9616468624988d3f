//! The runner's flags and what is checked of them, the config and the home before anything
//! starts or is written: a `Plan`, or the error that names what to fix (DESIGN §6).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::{Parser, ValueEnum};
use kobe_actors::clock::{Clock, LiveClock, Speed};
use kobe_actors::health::HealthError;
use kobe_actors::ledger::{LedgerError, RunLedger};
use kobe_actors::lock::LockError;
use kobe_actors::schedule::et_instant;
use kobe_actors::supervisor::RuntimeError;

use crate::app::{AlpacaSetupError, App, RunMode};
use crate::broker::alpaca::AlpacaError;
use crate::config::{Config, ConfigError};
use crate::home::Home;
use crate::secrets::{self, Secrets, SecretsError};

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
    /// Secrets file (else <home>/.env if present).
    #[arg(long, value_name = "PATH")]
    pub dotenv: Option<PathBuf>,
    /// Where /health, /live, /ready and /metrics answer (default from config: 127.0.0.1:5000).
    #[arg(long, value_name = "ADDR", value_parser = parse_socket_addr)]
    pub health_addr: Option<SocketAddr>,
    /// Allow --health-addr to be a non-loopback address.
    #[arg(long)]
    pub health_allow_remote: bool,
    /// Seconds between heartbeats (default from config: 30).
    #[arg(long, value_name = "N")]
    pub heartbeat_secs: Option<u64>,
    /// Universe CSV (a `symbol` column; default from config: data.universe).
    #[arg(long, value_name = "CSV")]
    pub universe: Option<PathBuf>,
    /// Trade only the universe's first N symbols.
    #[arg(long, value_name = "N")]
    pub cap: Option<usize>,
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
    TradingLedger(#[from] crate::trading::LedgerError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Health(#[from] HealthError),
    #[error("stopped: {0}")]
    Failed(String),
}

impl RunnerError {
    /// DESIGN §6: 2 for anything the operator can fix in flags, files or config.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunnerError::Usage(_) | RunnerError::Config(_) | RunnerError::Secrets(_) => 2,
            RunnerError::Ledger(LedgerError::Corrupt { .. }) | RunnerError::Health(_) => 2,
            // Held by a running replay: another runner has it, as with the lock.
            RunnerError::TradingLedger(crate::trading::LedgerError::Busy { .. }) => 3,
            RunnerError::TradingLedger(_) => 2,
            RunnerError::Lock(LockError::Held { .. }) => 3,
            // A link (or anything but a file) where the lock should be: a bad state file.
            RunnerError::Lock(LockError::NotRegular(_)) => 2,
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

/// `127.0.0.1:5000` or `localhost:5000`.
fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("{text:?} is not HOST:PORT (e.g. 127.0.0.1:5000)"))
}

fn parse_speed(text: Option<&str>) -> Result<Speed, RunnerError> {
    match text {
        None | Some("max") => Ok(Speed::Max),
        Some(n) => match n.parse::<f64>() {
            // Bounded so a simulated step never rounds to nothing or overflows a Duration.
            Ok(f) if (0.001..=1_000_000.0).contains(&f) => Ok(Speed::Times(f)),
            _ => Err(RunnerError::Usage(format!(
                "--speed {n:?}: expected max or a number from 0.001 to 1000000"
            ))),
        },
    }
}

/// Everything checked before anything starts or is written: flags, config, schedule, secrets.
pub struct Plan {
    pub mode: Mode,
    pub home: Home,
    pub config: Config,
    /// The config's schedule, checked.
    pub schedule: Arc<kobe_actors::schedule::Schedule>,
    pub secrets: Secrets,
    pub replay: Option<(ReplayRange, Speed)>,
    /// `None` in a replay without `--health-addr`: a replay must not take the live port.
    pub health_addr: Option<SocketAddr>,
    pub health_allow_remote: bool,
    pub heartbeat_every: Duration,
    pub universe: Option<PathBuf>,
    pub cap: Option<usize>,
}

impl Plan {
    pub fn check(args: &RunnerArgs) -> Result<Self, RunnerError> {
        let home = Home::resolve(args.home.as_deref());
        let secrets = Secrets::load(args.dotenv.as_deref(), home.root())?;
        secrets::check_mode(args.mode == Mode::Live, args.approve_live, &secrets)
            .map_err(RunnerError::Usage)?;
        let replay = check_replay(args)?;
        let mut config = Config::load(args.config.as_deref(), home.root())?;
        if let Some(list) = &args.scan_times {
            config.set_scan_times(list)?;
        }
        let schedule = Arc::new(config.schedule()?);
        let rt = &config.runtime;
        if !(1..=86_400).contains(&rt.restart_window_secs) || rt.grace_secs > 3600 {
            return Err(RunnerError::Usage(format!(
                "{}: runtime.restart_window_secs must be 1..86400 and runtime.grace_secs at most 3600",
                config.origin
            )));
        }
        if args.cap == Some(0) {
            return Err(RunnerError::Usage("--cap 0: must be at least 1".into()));
        }
        if let Some(path) = &args.universe {
            crate::data::universe::load(path, args.cap)
                .map_err(|e| RunnerError::Usage(format!("--universe {e}")))?;
        }
        let heartbeat_secs = args.heartbeat_secs.unwrap_or(config.runtime.heartbeat_secs);
        if heartbeat_secs == 0 {
            return Err(RunnerError::Usage(
                "--heartbeat-secs 0: must be at least 1".into(),
            ));
        }
        let health_addr = match args.health_addr {
            Some(addr) => Some(addr),
            None if replay.is_some() => None,
            None => Some(config.runtime.health_addr.parse().map_err(|_| {
                RunnerError::Usage(format!(
                    "{}: runtime.health_addr {:?} is not an address like 127.0.0.1:5000",
                    config.origin, config.runtime.health_addr
                ))
            })?),
        };
        let plan = Self {
            mode: args.mode,
            home,
            config,
            schedule,
            secrets,
            replay,
            health_addr,
            health_allow_remote: args.health_allow_remote,
            heartbeat_every: Duration::from_secs(heartbeat_secs),
            universe: args.universe.clone(),
            cap: args.cap,
        };
        // Both databases are checked before anything starts or is written: a corrupt, foreign
        // or lost one stops the run here, named.
        plan.app().check_universe().map_err(RunnerError::Usage)?;
        let state = plan.home.state();
        RunLedger::check(&state, &plan.home.logs())?;
        crate::trading::TradingLedger::check(&state)?;
        let app = plan.app();
        if app.broker_kind() == crate::config::BrokerKind::Alpaca {
            check_alpaca(&app)?;
        }
        Ok(plan)
    }

    /// The run's mode: `--replay` is a replay (paper only), else `--mode` as passed the gate.
    pub fn run_mode(&self) -> RunMode {
        match (&self.replay, self.mode) {
            (Some(_), _) => RunMode::Replay,
            (None, Mode::Paper) => RunMode::Paper,
            (None, Mode::Live) => RunMode::Live,
        }
    }

    /// What the jobs share, for this run (notifications off until the run starts them).
    pub(super) fn app(&self) -> App {
        let app = App::new(
            self.run_mode(),
            self.home.clone(),
            self.config.clone(),
            self.secrets.clone(),
        )
        .with_universe(self.universe.clone(), self.cap);
        match self.replay {
            Some((range, _)) => app.with_replay_end(range.to),
            None => app,
        }
    }
}

/// `--replay FROM..TO [--speed]`: paper only, and wholly in the past — a replay shares the
/// home's run ledger, so slots of today or later that it marked done would be skipped by the
/// live runner.
fn check_replay(args: &RunnerArgs) -> Result<Option<(ReplayRange, Speed)>, RunnerError> {
    let Some(text) = &args.replay else {
        return Ok(None);
    };
    if args.mode == Mode::Live {
        return Err(RunnerError::Usage(
            "--replay runs in --mode paper only".into(),
        ));
    }
    let range = ReplayRange::parse(text)?;
    let today = LiveClock
        .now()
        .with_timezone(&crate::config::ET)
        .date_naive();
    if range.to >= today {
        return Err(RunnerError::Usage(format!(
            "--replay {text:?}: must end before today ({today}); replay past sessions only"
        )));
    }
    Ok(Some((range, parse_speed(args.speed.as_deref())?)))
}

/// Asks Alpaca for the account once before starting: missing keys, or keys it refuses, are a
/// configuration error (exit 2, nothing started); no answer is not — the position manager
/// asks again every cycle, and a runner must be able to start while the network is down.
fn check_alpaca(app: &App) -> Result<(), RunnerError> {
    let client = app.alpaca().map_err(|e| match e {
        AlpacaSetupError::MissingKey(key) => RunnerError::Usage(format!(
            "{}: trading.broker = \"alpaca\" needs {key} (put it in .env or pass --dotenv PATH), or set broker = \"paper\"",
            app.config.origin
        )),
        other => RunnerError::Usage(other.to_string()),
    })?;
    let redact = |e: AlpacaError| app.secrets.redact(&e.to_string());
    match client.account_balances() {
        Err(e @ (AlpacaError::Unauthorized { .. } | AlpacaError::EndpointNotFound { .. })) => {
            Err(RunnerError::Usage(redact(e)))
        }
        Err(e) => {
            eprintln!(
                "warning: Alpaca did not answer at start ({}); POSITION_MANAGER asks again every cycle",
                redact(e)
            );
            Ok(())
        }
        Ok(_) => Ok(()),
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
        for bad in ["0", "-1", "fast", "NaN", "inf", "1e20", "1e-12"] {
            assert!(parse_speed(Some(bad)).is_err(), "{bad}");
        }
    }
}
