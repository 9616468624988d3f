//! Crash points for the crash tests: `KOBE_FAILPOINT=NAME:N` sends the process SIGKILL (nothing
//! is flushed or cleaned up) the Nth time it passes the point `NAME`. Unset, as in every real
//! run, a point costs one atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

fn armed() -> Option<&'static (String, u64)> {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("KOBE_FAILPOINT").ok()?;
            let (name, n) = spec.split_once(':')?;
            Some((name.to_string(), n.parse().ok()?))
        })
        .as_ref()
}

pub fn point(name: &str) {
    static PASSED: AtomicU64 = AtomicU64::new(0);
    if let Some((armed, n)) = armed() {
        if armed == name && PASSED.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            let pid = std::process::id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
            // The signal is on its way; never go past the point.
            std::process::abort();
        }
    }
}
