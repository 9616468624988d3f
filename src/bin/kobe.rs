//! `kobe`: the operator's tool (thin: parse, call the library, print).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use kobe::app::{App, RunMode};
use kobe::commands;
use kobe::config::{Config, ET};
use kobe::home::Home;
use kobe::secrets::Secrets;
use kobe_actors::clock::{Clock, LiveClock};

#[derive(Debug, Parser)]
#[command(name = "kobe", about = "kobe's operator tool")]
struct Cli {
    /// Home folder (else KOBE_HOME, else the current folder).
    #[arg(long, global = true)]
    home: Option<PathBuf>,
    /// Config file (else <home>/config/kobe.toml, else the embedded default).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// NYSE sessions in a range: date, open and close (ET), early close.
    Calendar {
        #[arg(long)]
        from: NaiveDate,
        #[arg(long)]
        to: NaiveDate,
        /// date,open_et,close_et,early_close rows
        #[arg(long)]
        csv: bool,
    },
    /// A day's job slots in ET and local time (default: the next session from today).
    Schedule {
        #[arg(long)]
        session: Option<NaiveDate>,
        /// Preview `runner --scan-times` (HH:MM,...).
        #[arg(long)]
        scan_times: Option<String>,
    },
    /// Is a runner up here, and how is it. Exit 0 ok, 1 degraded/halted, 3 not running.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Scan the universe for signals on a date (default: the last completed session).
    Scan {
        /// Use bars dated on or before D; signals need a bar dated D.
        #[arg(long, value_name = "YYYY-MM-DD")]
        as_of: Option<NaiveDate>,
        /// Universe CSV (default from config: data.universe).
        #[arg(long, value_name = "CSV")]
        universe: Option<PathBuf>,
        /// The universe's first N symbols.
        #[arg(long, value_name = "N")]
        cap: Option<usize>,
        /// Show the best N signals only.
        #[arg(long, value_name = "N")]
        top: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Back up the home now (backups/backup_YYYYMMDD_HHMMSS.tar.gz), or check an archive.
    Backup {
        #[command(subcommand)]
        action: Option<BackupAction>,
    },
    /// Restore an archive into a new or empty folder.
    Restore {
        file: PathBuf,
        #[arg(long)]
        to: PathBuf,
    },
    /// The trading ledger (state/ledger.sqlite).
    Ledger {
        #[command(subcommand)]
        action: LedgerAction,
    },
    /// Open positions.
    Positions,
    /// Closed trades.
    Trades,
    /// The bar store (data/bars): import files, show stats.
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
    /// Engage, release or show the kill switch (state/KILL_SWITCH).
    KillSwitch {
        #[command(subcommand)]
        action: KillSwitchAction,
    },
    /// Run one slot of one job now (for cron), recorded in the runner's ledger.
    RunJob {
        #[arg(long)]
        tag: String,
        /// Secrets file (else <home>/.env if present).
        #[arg(long, value_name = "PATH")]
        dotenv: Option<PathBuf>,
        /// The session whose slot to run (default: today, ET).
        #[arg(long)]
        session: Option<NaiveDate>,
        /// Run it even if the ledger shows the slot done.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BackupAction {
    /// Read the whole archive and run PRAGMA integrity_check on each database in it.
    Verify { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum LedgerAction {
    /// JSON {orders, fills, positions, trades, equity}.
    Export,
}

#[derive(Debug, Subcommand)]
enum DataAction {
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

#[derive(Debug, Subcommand)]
enum KillSwitchAction {
    /// Engage: no new entries from now on.
    On {
        #[arg(long)]
        reason: String,
        /// Who engages it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Release (needs --confirm).
    Off {
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        by: Option<String>,
    },
    /// Show it.
    Status,
}

/// What a subcommand printed and how the process should exit.
struct Done {
    text: String,
    code: u8,
}

impl From<String> for Done {
    fn from(text: String) -> Self {
        Self { text, code: 0 }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return kobe::cli::usage_error("kobe", e),
    };
    match run(cli) {
        Ok(done) => {
            print!("{}", done.text);
            ExitCode::from(done.code)
        }
        Err(e) => {
            let code = exit_code(&e);
            eprintln!("kobe: error: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn open_ledger(
    home: &Home,
    config: Option<&std::path::Path>,
) -> anyhow::Result<kobe::trading::TradingLedger> {
    let config = Config::load(config, home.root())?;
    anyhow::ensure!(
        home.state().join("ledger.sqlite").exists(),
        "no trading ledger in {} yet: nothing has traded here",
        home.state().display()
    );
    Ok(kobe::trading::TradingLedger::open(
        &home.state(),
        config.trading.starting_equity,
        kobe_actors::atomic_file::Durability::PowerLoss,
    )?)
}

/// 2 for what the operator can fix (flags, config, files); 1 for the rest.
fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(e) = e.downcast_ref::<commands::run_job::RunJobError>() {
        return e.exit_code();
    }
    if let Some(e) = e.downcast_ref::<kobe::backup::BackupError>() {
        return e.exit_code();
    }
    2
}

fn run(cli: Cli) -> anyhow::Result<Done> {
    let home = Home::resolve(cli.home.as_deref());
    let wall: Arc<dyn Clock> = Arc::new(LiveClock);
    match cli.command {
        Command::Calendar { from, to, csv } => {
            anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
            Ok(commands::calendar::render(from, to, csv).into())
        }
        Command::Scan {
            as_of,
            universe,
            cap,
            top,
            json,
        } => {
            anyhow::ensure!(cap != Some(0), "--cap 0: must be at least 1");
            let config = Config::load(cli.config.as_deref(), home.root())?;
            let app = App::new(RunMode::Paper, home, config, Secrets::default())
                .with_universe(universe, cap);
            let symbols = app
                .universe()
                .map_err(|e| anyhow::anyhow!("--universe {e}"))?;
            let as_of = as_of
                .unwrap_or_else(|| kobe::jobs::data_update::last_completed_session(wall.now()));
            let loaded = app
                .store()
                .load_window(Some(&symbols), Some(kobe::scan::window(as_of)));
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
            if let Some(why) = kobe::scan::missing_as_of(&loaded.series, as_of) {
                eprintln!("kobe: {why}");
            }
            let mut signals = kobe::scan::scan(&loaded.series, &symbols, as_of);
            signals.truncate(top.unwrap_or(usize::MAX));
            Ok(if json {
                kobe::scan::to_json(as_of, &signals) + "\n"
            } else {
                kobe::scan::to_table(as_of, &signals)
            }
            .into())
        }
        Command::Ledger {
            action: LedgerAction::Export,
        } => {
            let ledger = open_ledger(&home, cli.config.as_deref())?;
            Ok((serde_json::to_string_pretty(&ledger.export()?)? + "\n").into())
        }
        Command::Backup { action: None } => {
            let config = Config::load(cli.config.as_deref(), home.root())?;
            let stamp = wall
                .now()
                .with_timezone(&ET)
                .format("%Y%m%d_%H%M%S")
                .to_string();
            let path = kobe::backup::create(home.root(), &stamp, config.backup.keep)?;
            Ok(format!("{}\n", path.display()).into())
        }
        Command::Backup {
            action: Some(BackupAction::Verify { file }),
        } => {
            let v = kobe::backup::verify(&file)?;
            Ok(format!(
                "{}: ok, {} files, databases intact: {}\n",
                file.display(),
                v.files.len(),
                v.databases.join(", ")
            )
            .into())
        }
        Command::Restore { file, to } => {
            let v = kobe::backup::restore(&file, &to)?;
            Ok(format!("restored {} files into {}\n", v.files.len(), to.display()).into())
        }
        Command::Positions => {
            let ledger = open_ledger(&home, cli.config.as_deref())?;
            Ok(kobe::commands::book::positions(&ledger)?.into())
        }
        Command::Trades => {
            let ledger = open_ledger(&home, cli.config.as_deref())?;
            Ok(kobe::commands::book::trades(&ledger)?.into())
        }
        Command::Data { action } => {
            let store = kobe::data::store::BarStore::new(home.root());
            match action {
                DataAction::Import { files } => {
                    kobe::logging::init("error", None);
                    Ok(kobe::data::import::import(&store, &files)?
                        .to_string()
                        .into())
                }
                DataAction::Stats { json } => {
                    let stats = kobe::data::import::stats(&store);
                    Ok(if json {
                        serde_json::to_string_pretty(&stats)? + "\n"
                    } else {
                        format!(
                            "{} symbols, {} bars, {}..{}, {} dropped bars, {} unreadable files\n",
                            stats.symbols,
                            stats.bars,
                            stats.first.map_or("-".into(), |d| d.to_string()),
                            stats.last.map_or("-".into(), |d| d.to_string()),
                            stats.dropped_bars,
                            stats.unreadable_files.len()
                        )
                    }
                    .into())
                }
            }
        }
        Command::Status { json } => {
            let report = commands::status::gather(&home, wall.now());
            let text = if json {
                serde_json::to_string_pretty(&report)? + "\n"
            } else {
                report.render()
            };
            Ok(Done {
                text,
                code: report.exit_code(),
            })
        }
        Command::KillSwitch { action } => {
            use commands::kill_switch as ks;
            let text = match action {
                KillSwitchAction::On { reason, by } => ks::on(
                    &home,
                    &reason,
                    &by.unwrap_or_else(ks::default_actor),
                    wall.now(),
                )?,
                KillSwitchAction::Off { confirm, by } => ks::off(
                    &home,
                    confirm,
                    &by.unwrap_or_else(ks::default_actor),
                    wall.now(),
                )?,
                KillSwitchAction::Status => ks::status(&home)?,
            };
            Ok(text.into())
        }
        Command::RunJob {
            tag,
            dotenv,
            session,
            force,
        } => {
            let secrets = Secrets::load(dotenv.as_deref(), home.root())?;
            let config = Config::load(cli.config.as_deref(), home.root())?;
            let notifier = kobe::notify::Notifier::start(&config.notify);
            let schedule = config.schedule()?;
            // A cron slot is paper trading, never live (see `commands::run_job`).
            let app = Arc::new(
                App::new(RunMode::Paper, home, config, secrets).with_notifier(notifier.clone()),
            );
            if tag == kobe::jobs::JobTag::PositionManager.as_str() {
                // Only the runner trades live (behind --approve-live); a cron slot is paper.
                kobe::secrets::check_mode(false, false, &app.secrets).map_err(|why| {
                    anyhow::anyhow!(
                        "kobe run-job --tag POSITION_MANAGER trades in paper mode only: {why}"
                    )
                })?;
                if app.broker_kind() == kobe::config::BrokerKind::Alpaca {
                    app.alpaca()?;
                }
            }
            let request = commands::run_job::RunJobRequest {
                tag: &tag,
                session,
                force,
            };
            let report = commands::run_job::run(app, &schedule, request, wall);
            notifier.flush(std::time::Duration::from_secs(3));
            let report = report?;
            let code = u8::from(report.status == kobe_actors::ledger::Status::Failed);
            Ok(Done {
                text: report.line + "\n",
                code,
            })
        }
        Command::Schedule {
            session,
            scan_times,
        } => {
            let mut config = Config::load(cli.config.as_deref(), home.root())?;
            if let Some(list) = scan_times {
                config.set_scan_times(&list)?;
            }
            let schedule = config.schedule()?;
            let date = match session {
                Some(d) => d,
                None => {
                    let today = wall.now().with_timezone(&ET).date_naive();
                    let previous = today.pred_opt().context("date out of range")?;
                    schedule.calendar().next_session(previous).date
                }
            };
            Ok(commands::schedule::render(&schedule, date).into())
        }
    }
}
