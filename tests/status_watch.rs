//! `kobe status --watch`: the live view driven in a real pseudo-terminal (tmux) next to a
//! running runner, and printed once with `kobe status`'s exit code on a pipe.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::{eventually, RunningRunner, TempHome};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn watch_in_a_terminal_follows_the_runner_and_quits_on_q() {
    let home = TempHome::new();
    // A runner with only the jobs the screen lists: no scan or cycle runs at a live hour.
    common::jobs_only(home.path(), &["DB_BACKUP", "EOD_REPORT"]);
    let _runner = RunningRunner::start(home.path(), &[]);
    let tmux = Tmux::new("live", "watch", "drive `kobe status --watch`");
    let kobe = assert_cmd::cargo::cargo_bin("kobe");
    let command = format!(
        "env -u KOBE_HOME '{}' --home '{}' status --watch",
        kobe.display(),
        home.path().display()
    );
    tmux.start(&command, 120, 40);

    tmux.wait_for(WAIT, "status, jobs and heartbeats", |s| {
        s.contains("runner: ok (pid")
            && s.contains("kill switch: off")
            && s.contains("jobs (from health)")
            && s.contains("EOD_REPORT")
            && s.contains("heartbeat log (last 5)")
            && s.contains(" ok        #")
    });

    std::fs::write(home.path().join("state/KILL_SWITCH"), "drill").unwrap();
    tmux.wait_for(WAIT, "the kill switch on", |s| {
        s.contains("kill switch: ON since") && s.contains("runner: halted")
    });

    tmux.keys(&["q"]);
    assert!(
        eventually(WAIT, || !tmux.alive()),
        "the watch did not quit on q; screen:\n{}",
        tmux.screen()
    );
}

/// `kobe status --watch` with stdout captured (not a terminal): its exit code and output.
fn watch_on_a_pipe(home: &TempHome) -> (Option<i32>, String) {
    let out = home
        .kobe()
        .args(["status", "--watch"])
        .timeout(WAIT)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    (
        out.status.code(),
        text + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn on_a_pipe_the_view_is_printed_once_with_status_exit_code() {
    let home = TempHome::new();
    let status = home.kobe().arg("status").output().unwrap();
    let (code, text) = watch_on_a_pipe(&home);
    assert_eq!(code, Some(3), "{text}");
    assert_eq!(code, status.status.code());
    assert!(text.contains("runner: not running"), "{text}");
    assert!(text.contains("jobs (from jobs log)"), "{text}");
    assert!(text.contains("book: no trading ledger yet"), "{text}");
    assert!(
        text.contains("heartbeat log (last 5)\n  none yet"),
        "{text}"
    );
    // Printed once: the frame's title appears a single time.
    assert_eq!(text.matches("kobe status --watch").count(), 1, "{text}");

    common::jobs_only(home.path(), &["DB_BACKUP", "EOD_REPORT"]);
    let _runner = RunningRunner::start(home.path(), &[]);
    let (code, text) = watch_on_a_pipe(&home);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("jobs (from health)"), "{text}");
}

#[test]
fn while_a_replay_runs_its_ledger_is_said_to_be_held_not_waited_for() {
    let home = TempHome::with_sample();
    // A first replay makes the ledger; a second one, at real time, holds it while the view is
    // printed.
    home.replay("2017-11-20..2017-11-20", &[]);
    let _replay = RunningRunner::start(
        home.path(),
        &["--replay", "2017-11-21..2017-11-22", "--speed", "1"],
    );
    let (code, text) = watch_on_a_pipe(&home);
    assert!(text.contains("clock simulated"), "{text}");
    assert!(
        text.contains("book: trading ledger held by the running replay until it ends"),
        "{text}"
    );
    assert_eq!(code, Some(0), "{text}");
}
