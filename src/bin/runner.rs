//! `runner`: kobe's 24/7 daemon (thin: parse, check, run).

use std::process::ExitCode;

use clap::Parser;
use kobe::runner::{self, Outcome, Plan, RunnerArgs};

fn main() -> ExitCode {
    let args = match RunnerArgs::try_parse() {
        Ok(args) => args,
        Err(e) => return kobe::cli::usage_error("runner", e),
    };
    // Every refusal happens here, before anything is started or written.
    let plan = match Plan::check(&args) {
        Ok(plan) => plan,
        Err(e) => return fail(&e.to_string(), e.exit_code()),
    };
    let outcome = runner::run(plan);
    match outcome {
        Ok(Outcome::Replay(summary)) => match print(&summary) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("stdout: {e}"), 1),
        },
        Ok(Outcome::ReplayUnreported { summary, error }) => {
            let _ = print(&summary);
            fail(&error.to_string(), 1)
        }
        Ok(Outcome::ReplayInterrupted { last_slot }) => {
            let at = last_slot.unwrap_or_else(|| "before its first slot".into());
            eprintln!(
                "runner: replay interrupted; the last slot recorded: {at}; run the same command to resume"
            );
            ExitCode::from(1)
        }
        Ok(Outcome::Stopped { jobs_finished }) => {
            if !jobs_finished {
                eprintln!("runner: stopped before every running job finished (grace period over)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string(), e.exit_code()),
    }
}

/// Prints the replay's summary. A reader that has gone (`runner ... | head`) took what it
/// wanted: the replay is done and recorded either way, so that is not an error.
fn print(summary: &impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write as _;
    match writeln!(std::io::stdout().lock(), "{summary}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("runner: error: {message}");
    ExitCode::from(code)
}
