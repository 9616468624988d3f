//! Odd entries where the runtime keeps its own files, through the built binaries: a kill switch
//! that is not a regular file still halts, and a link at the lock is refused, not written through.

mod common;

use std::os::unix::fs::symlink;
use std::time::Duration;

use common::{RunningRunner, TempHome};
use serde_json::Value;

const LINK_REASON: &str = "state/KILL_SWITCH is a symlink (not followed)";

/// Starts a runner with a link to `target` at `state/KILL_SWITCH`; checks it started halted.
fn start_with_switch_link(home: &TempHome, target: &std::path::Path) -> RunningRunner {
    std::fs::create_dir_all(home.path().join("state")).unwrap();
    symlink(target, home.path().join("state/KILL_SWITCH")).unwrap();
    let runner = RunningRunner::start(home.path(), &[]);
    let (code, health) = runner.health();
    assert_eq!((code, health["status"].as_str()), (200, Some("halted")));
    assert_eq!(health["kill_switch"]["active"], true);
    assert_eq!(health["kill_switch"]["reason"], LINK_REASON);
    runner
}

#[test]
fn a_dangling_kill_switch_link_starts_the_runner_halted() {
    let home = TempHome::new();
    let _runner = start_with_switch_link(&home, &home.path().join("nowhere"));
    let out = home.kobe().args(["status", "--json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["status"], "halted", "{status}");
    assert_eq!(status["kill_switch"]["active"], true, "{status}");
}

#[test]
fn a_kill_switch_link_to_a_readable_file_halts_without_showing_its_text() {
    let home = TempHome::new();
    let secret = home.path().join("secret.txt");
    std::fs::write(&secret, "s3cr3t-passphrase\n").unwrap();
    let runner = start_with_switch_link(&home, &secret);
    let (_, page) = runner.get("/");
    assert!(page.contains("is a symlink (not followed)"), "{page}");
    for text in [page, runner.get("/health").1] {
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}

#[test]
fn a_link_at_the_runner_lock_is_refused_naming_it_and_its_target_kept() {
    let home = TempHome::new();
    std::fs::create_dir_all(home.path().join("state")).unwrap();
    let target = home.path().join("precious.txt");
    std::fs::write(&target, "keep me\n").unwrap();
    symlink(&target, home.path().join("state/runner.lock")).unwrap();
    let out = home
        .runner()
        .args(["--mode", "paper", "--health-addr", "127.0.0.1:0"])
        // Bounds only the failure: a runner that takes the lock would run until killed.
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let err = common::stderr(&out);
    // A bad state file: exit 2 (not 3, which says another runner holds the lock).
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("state/runner.lock is a symlink"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(!home.path().join("logs").exists(), "nothing is written");
}
