//! Progress bars: none on a pipe (the replay's and the import's output exactly as without
//! them), and a replay's bar in a real pseudo-terminal (tmux), cleared before the summary and
//! when Ctrl-C interrupts it.

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::TempHome;

const WAIT: Duration = Duration::from_secs(60);

/// What only a bar writes: carriage returns, escape sequences, its words.
fn assert_no_progress(what: &str, text: &str) {
    for mark in ["\r", "\x1b", "ETA", "elapsed", "sessions\n"] {
        assert!(!text.contains(mark), "{what} holds {mark:?}:\n{text}");
    }
}

#[test]
fn on_a_pipe_the_replay_and_the_import_print_their_summaries_alone() {
    let home = TempHome::with_sample();
    let out = home
        .runner()
        .args(["--mode", "paper", "--replay", "2017-11-20..2017-11-24"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(common::stderr(&out), "", "stdout:\n{stdout}");
    assert!(
        stdout.starts_with("replay 2017-11-20..2017-11-24: 4 sessions, "),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("  jobs log: logs/jobs.jsonl; run ledger: state/runs.sqlite\n"),
        "{stdout}"
    );
    assert_no_progress("the replay's stdout", &stdout);

    // A file of 12,000 rows, read in several steps of the progress it would show.
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/bars/sample_10.csv"
    );
    let home = TempHome::new();
    let out = home.kobe().args(["data", "import", file]).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stderr(&out), "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_no_progress("the import's stdout", &stdout);
    // Byte for byte what the library's summary says of the same import.
    let elsewhere = tempfile::tempdir().unwrap();
    let store = kobe::data::store::BarStore::new(elsewhere.path());
    let summary = kobe::data::import::import(&store, &[file.into()]).unwrap();
    assert_eq!(stdout, summary.to_string());
    assert!(stdout.starts_with("imported 12290 rows"), "{stdout}");
}

/// The replay in a new 100x40 terminal, which stays after it ends, with its exit code.
fn start(tmux: &Tmux, command: &str) {
    tmux.start(&format!("{command}; echo EXIT=$?; sleep 600"), 100, 40);
}

/// The runner in `home` replaying `range` at `speed` times real time, as a shell command.
fn replay_command(home: &TempHome, range: &str, speed: &str) -> String {
    format!(
        "env -u KOBE_HOME -u RUST_LOG '{}' --home '{}' --mode paper --replay {range} --speed {speed}",
        assert_cmd::cargo::cargo_bin("runner").display(),
        home.path().display()
    )
}

/// The bar's two rows, if the screen shows them: "replay [==>  ] 1/2 sessions" and
/// "  0 trades, equity 100000.00, 1s elapsed, ETA 1s".
fn bar(screen: &str, sessions: &str) -> Option<(String, String)> {
    let lines: Vec<&str> = screen.lines().collect();
    lines.windows(2).find_map(|pair| {
        let (top, below) = (pair[0].trim_end(), pair[1].trim_end());
        let shown = top.starts_with("replay [")
            && top.ends_with(&format!("/{sessions} sessions"))
            && below.starts_with("  ")
            && below.contains(" trades, equity ")
            && below.contains(" elapsed, ETA ");
        shown.then(|| (top.to_string(), below.to_string()))
    })
}

#[test]
fn in_a_terminal_a_replay_shows_its_bar_then_the_summary_alone() {
    let home = TempHome::with_sample();
    // Monday first, on a pipe: the terminal's replay resumes from it, its bar at 1 of 2 with
    // the equity of Monday's close from the start, whatever this machine's speed.
    home.replay("2017-11-20..2017-11-20", &[]);
    let tmux = Tmux::new("bar", "replay", "run the replay");
    // Two days of simulated time at 28800x: about 6 s on the screen.
    start(
        &tmux,
        &replay_command(&home, "2017-11-20..2017-11-21", "28800"),
    );

    let screen = tmux.wait_for(WAIT, "the replay's bar", |s| bar(s, "2").is_some());
    let (top, below) = bar(&screen, "2").unwrap();
    println!("{top}\n{below}");
    assert!(!top.ends_with(" 0/2 sessions"), "Monday is done: {top}");
    let equity = below
        .split(" equity ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    assert!(equity.parse::<f64>().is_ok(), "equity {equity:?}: {below}");

    let screen = tmux.wait_for(WAIT, "the end of the replay", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.contains("replay 2017-11-20..2017-11-21: 2 sessions, "),
        "{screen}"
    );
    assert!(bar(&screen, "2").is_none(), "the bar was left:\n{screen}");
    assert!(!screen.contains("elapsed, ETA"), "{screen}");
}

#[test]
fn ctrl_c_in_a_terminal_leaves_the_interruption_alone_on_the_screen() {
    let home = TempHome::with_sample();
    let tmux = Tmux::new("ctrl-c", "replay", "run the replay");
    // Five days at 28800x: 15 s, interrupted once the bar shows a session done (its signal
    // handlers are listening by then).
    start(
        &tmux,
        &replay_command(&home, "2017-11-20..2017-11-24", "28800"),
    );
    tmux.wait_for(WAIT, "the replay's bar past its first session", |s| {
        bar(s, "4").is_some_and(|(top, _)| !top.ends_with(" 0/4 sessions"))
    });
    tmux.keys(&["C-c"]);

    let screen = tmux.wait_for(WAIT, "the end of the replay", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=1"), "{screen}");
    assert!(
        screen.contains("runner: replay interrupted; the last slot recorded: "),
        "{screen}"
    );
    assert!(bar(&screen, "4").is_none(), "the bar was left:\n{screen}");
    for mark in ["replay [", "sessions", "elapsed, ETA"] {
        assert!(!screen.contains(mark), "{mark:?} was left:\n{screen}");
    }
}
