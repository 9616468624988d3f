//! What the two binaries share at the edge: one-line usage errors with exit code 2.

use std::process::ExitCode;

/// Prints clap's answer: help and version as they are (exit 0), a usage error as one line
/// naming the flag and the bad value (exit 2).
pub fn usage_error(program: &str, error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let text = error.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .collect();
    let line = parts.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("{program}: error: {line}");
    ExitCode::from(2)
}
