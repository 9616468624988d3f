//! A run that cannot keep its records stops: a replay whose logs folder fills up exits non-zero
//! naming the file and the OS error, instead of finishing "ok" with its records missing.
//! The full disk is a 32 KiB tmpfs over `logs/`, mounted in a private user and mount namespace
//! (`unshare`), so the test needs no privileges and touches nothing outside its home.

mod common;

use std::process::Command;

use common::TempHome;

#[test]
fn a_replay_on_a_full_disk_stops_naming_the_file_and_the_error() {
    let home = TempHome::with_sample();
    let logs = home.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=32k tmpfs "$0" && exec "$@""#)
        .arg(&logs)
        .arg(env!("CARGO_BIN_EXE_runner"))
        .arg("--home")
        .arg(home.path())
        .args(["--mode", "paper", "--replay", "2016-01-04..2016-06-30"])
        .env_remove("KOBE_FAILPOINT")
        .output()
        .expect("unshare (util-linux) runs");
    let err = common::stderr(&out);
    assert!(
        !err.contains("mount:") && !err.contains("unshare:"),
        "no private tmpfs: {err}"
    );
    assert!(!out.status.success(), "exit 0 on a full disk: {err}");
    assert_ne!(out.status.code(), Some(0));
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("runner: error:")
            && last.contains("jobs.jsonl")
            && last.contains("No space left on device"),
        "the last line names the file and the OS error: {err}"
    );
    assert!(
        out.stdout.is_empty(),
        "a summary was printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
