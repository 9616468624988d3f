//! Logs: human lines on stderr, and JSON lines in `logs/events.YYYY-MM-DD.jsonl` (rotated
//! daily, 30 kept) with every structured field. `RUST_LOG` overrides the default level.

use std::io::IsTerminal;
use std::path::Path;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Keep the guard alive until the process ends: dropping it flushes the file writer.
pub fn init(default_level: &str, logs_dir: Option<&Path>) -> Option<WorkerGuard> {
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let stderr = fmt::layer()
        // Through the progress bar, when one is drawn, so a line never lands inside it.
        .with_writer(crate::progress::log_writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter());
    let (file, guard) = match logs_dir.map(events_appender) {
        Some(Ok(appender)) => {
            // Not lossy: a full buffer slows logging down rather than dropping lines. The
            // default 128,000-line buffer is allocated and zeroed up front (4 % of a one-year
            // replay's time); a burst past 8,192 lines waits for the writer instead.
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(false)
                .buffered_lines_limit(8_192)
                .finish(appender);
            let layer = fmt::layer()
                .json()
                .with_current_span(false)
                .with_writer(writer)
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        Some(Err(e)) => {
            eprintln!("warning: cannot open logs/events.*.jsonl ({e}); logging to stderr only");
            (None, None)
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    guard
}

fn events_appender(dir: &Path) -> Result<RollingFileAppender, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    Ok(RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("events")
        .filename_suffix("jsonl")
        .max_log_files(30)
        .build(dir)?)
}
