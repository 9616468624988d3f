//! Tracing to stderr for a person; `RUST_LOG` overrides the default level.

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber. `default_level` applies when `RUST_LOG` is unset.
pub fn init(default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
