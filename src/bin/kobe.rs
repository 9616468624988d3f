//! `kobe`: the operator's tool (thin: parse, call the library, print).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use kobe::commands;
use kobe::config::{Config, ET};
use kobe::home::Home;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kobe: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<String> {
    match cli.command {
        Command::Calendar { from, to, csv } => {
            anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
            Ok(commands::calendar::render(from, to, csv))
        }
        Command::Schedule {
            session,
            scan_times,
        } => {
            let home = Home::resolve(cli.home.as_deref());
            let mut config = Config::load(cli.config.as_deref(), home.root())?;
            if let Some(list) = scan_times {
                config.set_scan_times(&list)?;
            }
            let schedule = config.schedule()?;
            let date = match session {
                Some(d) => d,
                None => {
                    let today = LiveClock.now().with_timezone(&ET).date_naive();
                    let previous = today.pred_opt().context("date out of range")?;
                    schedule.calendar().next_session(previous).date
                }
            };
            Ok(commands::schedule::render(&schedule, date))
        }
    }
}
