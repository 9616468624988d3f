//! `kobe`: the operator's tool (thin: parse, dispatch to `kobe::commands`, print).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use kobe::commands::{self, CommandError, Context, Done};
use kobe::home::Home;
use kobe_actors::clock::LiveClock;

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
    Calendar(commands::calendar::Calendar),
    /// A day's job slots in ET and local time (default: the next session from today).
    Schedule(commands::schedule::Schedule),
    /// Is a runner up here, and how is it. Exit 0 ok, 1 degraded/halted, 3 not running.
    Status(commands::status::Status),
    /// Scan the universe for signals on a date (default: the last completed session).
    Scan(commands::scan::Scan),
    /// Back up the home now (backups/backup_YYYYMMDD_HHMMSS.tar.gz), or check an archive.
    Backup(commands::backup::Backup),
    /// Restore an archive into a new or empty folder.
    Restore(commands::backup::Restore),
    /// The trading ledger (state/ledger.sqlite).
    Ledger(commands::book::Ledger),
    /// Open positions.
    Positions(commands::book::Positions),
    /// Closed trades.
    Trades(commands::book::Trades),
    /// The bar store (data/bars): import files, show stats.
    Data(commands::data::Data),
    /// Engage, release or show the kill switch (state/KILL_SWITCH).
    KillSwitch(commands::kill_switch::KillSwitch),
    /// Run one slot of one job now (for cron), recorded in the runner's ledger.
    RunJob(commands::run_job::RunJob),
}

impl Command {
    fn run(self, ctx: Context) -> Result<Done, CommandError> {
        match self {
            Command::Calendar(c) => c.run(ctx),
            Command::Schedule(c) => c.run(ctx),
            Command::Status(c) => c.run(ctx),
            Command::Scan(c) => c.run(ctx),
            Command::Backup(c) => c.run(ctx),
            Command::Restore(c) => c.run(ctx),
            Command::Ledger(c) => c.run(ctx),
            Command::Positions(c) => c.run(ctx),
            Command::Trades(c) => c.run(ctx),
            Command::Data(c) => c.run(ctx),
            Command::KillSwitch(c) => c.run(ctx),
            Command::RunJob(c) => c.run(ctx),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return kobe::cli::usage_error("kobe", e),
    };
    let ctx = Context {
        home: Home::resolve(cli.home.as_deref()),
        config: cli.config,
        wall: Arc::new(LiveClock),
    };
    match cli.command.run(ctx) {
        Ok(done) => {
            print!("{}", done.text);
            ExitCode::from(done.code)
        }
        Err(e) => {
            let code = e.exit_code();
            eprintln!("kobe: error: {:#}", anyhow::Error::from(e));
            ExitCode::from(code)
        }
    }
}
