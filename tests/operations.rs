//! What an operator touches, through the built binaries: the single-instance lock, the kill
//! switch, heartbeat and health, shutdown, the live gate, `kobe status`, `kobe run-job`.

mod common;

use std::time::Duration;

use common::{eventually, RunningRunner, TempHome};
use serde_json::Value;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_second_runner_exits_3_naming_the_pid_and_sigkill_leaves_nothing_blocking() {
    let home = TempHome::new();
    let mut first = RunningRunner::start(home.path(), &[]);
    let pid = first.child.id();
    let out = home
        .runner()
        .args(["--mode", "paper", "--health-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = common::stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");

    first.child.kill().unwrap(); // SIGKILL: no clean-up at all
    first.child.wait().unwrap();
    let second = RunningRunner::start(home.path(), &[]);
    assert_ne!(second.heartbeat().unwrap()["pid"], pid);
}

#[test]
fn the_kill_switch_file_reaches_health_and_off_confirm_logs_history() {
    let home = TempHome::new();
    let runner = RunningRunner::start(home.path(), &[]);
    let (code, health) = runner.health();
    assert_eq!((code, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(health["kill_switch"]["active"], false);

    std::fs::write(home.path().join("state/KILL_SWITCH"), "earnings week\n").unwrap();
    assert!(
        eventually(SECOND, || runner.health().1["kill_switch"]["active"]
            == true),
        "kill switch not seen within 1 s"
    );
    let (code, health) = runner.health();
    assert_eq!((code, health["status"].as_str()), (200, Some("halted")));
    assert_eq!(health["kill_switch"]["reason"], "earnings week");
    assert!(eventually(3 * SECOND, || runner.heartbeat().unwrap()
        ["status"]
        == "halted"));

    let refused = home.kobe().args(["kill-switch", "off"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(common::stderr(&refused).contains("--confirm"));
    assert!(home.path().join("state/KILL_SWITCH").exists());

    let off = home
        .kobe()
        .args(["kill-switch", "off", "--confirm", "--by", "alice"])
        .output()
        .unwrap();
    assert!(off.status.success(), "{}", common::stderr(&off));
    assert!(eventually(SECOND, || runner.health().1["kill_switch"]
        ["active"]
        == false));
    let history =
        std::fs::read_to_string(home.path().join("state/kill_switch_history.jsonl")).unwrap();
    let last: Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["action"].as_str(), last["by"].as_str()),
        (Some("release"), Some("alice"))
    );
    assert_eq!(last["reason"], "earnings week");

    // Engaged with the command, then removed by hand: honoured, and logged as such.
    let on = home
        .kobe()
        .args(["kill-switch", "on", "--reason", "test", "--by", "bob"])
        .output()
        .unwrap();
    assert!(on.status.success());
    assert!(eventually(SECOND, || runner.health().1["kill_switch"]
        ["active"]
        == true));
    std::fs::remove_file(home.path().join("state/KILL_SWITCH")).unwrap();
    assert!(eventually(SECOND, || runner.health().1["kill_switch"]
        ["active"]
        == false));
    let history =
        std::fs::read_to_string(home.path().join("state/kill_switch_history.jsonl")).unwrap();
    let actions: Vec<String> = history
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                v["action"].as_str().unwrap(),
                v["by"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "engage unknown (file created by hand)",
            "release alice",
            "engage bob",
            "release unknown (file removed by hand)"
        ]
    );
}

#[test]
fn a_kill_switch_active_at_start_starts_the_runner_halted() {
    let home = TempHome::new();
    let on = home
        .kobe()
        .args(["kill-switch", "on", "--reason", "vacation"])
        .output()
        .unwrap();
    assert!(on.status.success());
    let runner = RunningRunner::start(home.path(), &[]);
    let beat = runner.heartbeat().unwrap();
    assert_eq!(beat["status"], "halted");
    assert_eq!(beat["kill_switch"]["reason"], "vacation");
    let status = home.kobe().args(["status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&status.stdout).contains("kill switch: ON"));
}

#[test]
fn sigterm_exits_0_with_a_stopping_heartbeat_and_frees_the_lock() {
    stops_gracefully_on("-TERM");
}

#[test]
fn sighup_stops_gracefully_like_sigterm() {
    // A closed terminal or `systemctl reload` once killed the runner with 129, its heartbeat
    // left saying "ok".
    stops_gracefully_on("-HUP");
}

fn stops_gracefully_on(signal: &str) {
    let home = TempHome::new();
    let mut runner = RunningRunner::start(home.path(), &[]);
    assert_eq!(runner.get("/live").0, 200);
    assert_eq!(runner.get("/ready").0, 200);
    runner.signal(signal);
    let status = runner.wait(Duration::from_secs(35));
    assert_eq!(status.code(), Some(0));
    let beat = runner.heartbeat().unwrap();
    assert_eq!(beat["status"], "stopping");
    let last_line = std::fs::read_to_string(home.path().join("logs/heartbeat.jsonl")).unwrap();
    let last: Value = serde_json::from_str(last_line.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "stopping");
    // The lock is free: status says not running, and a new runner starts.
    assert_eq!(
        home.kobe().arg("status").output().unwrap().status.code(),
        Some(3)
    );
    drop(RunningRunner::start(home.path(), &[]));
}

#[test]
fn heartbeat_carries_the_design_fields() {
    let home = TempHome::new();
    let runner = RunningRunner::start(home.path(), &[]);
    assert!(eventually(3 * SECOND, || runner.heartbeat().unwrap()
        ["seq"]
        .as_u64()
        >= Some(2)));
    let beat = runner.heartbeat().unwrap();
    for field in [
        "ts",
        "ts_et",
        "seq",
        "pid",
        "mode",
        "clock",
        "status",
        "uptime_s",
        "kill_switch",
        "next_job",
        "last_job",
        "rss_bytes",
        "cpu_pct",
    ] {
        assert!(beat.get(field).is_some(), "heartbeat lacks {field}: {beat}");
    }
    assert_eq!(
        (beat["mode"].as_str(), beat["clock"].as_str()),
        (Some("paper"), Some("live"))
    );
    assert!(beat["rss_bytes"].as_u64().unwrap() > 1_000_000);
    assert!(beat["next_job"]["tag"].is_string());
    // heartbeat.json is replaced before the line is appended to heartbeat.jsonl: wait for it.
    let log = home.path().join("logs/heartbeat.jsonl");
    assert!(eventually(3 * SECOND, || std::fs::read_to_string(&log)
        .is_ok_and(|t| t.lines().count() >= 2)));
    let (code, metrics) = runner.get("/metrics");
    assert_eq!(code, 200);
    for name in [
        "kobe_heartbeat_seq",
        "kobe_uptime_seconds",
        "kobe_kill_switch_active",
        "kobe_job_runs_total",
        // The application's own: orders by the broker's answer, at 0 before any order.
        "kobe_orders_total{result=\"refused\"} 0",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
    // Structured events in the JSON log.
    let events = std::fs::read_dir(home.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.")
        })
        .expect("an events log");
    let first = std::fs::read_to_string(events).unwrap();
    let event: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert!(event["fields"]["message"].is_string(), "{event}");
}

#[test]
fn kobe_status_in_all_three_states() {
    let home = TempHome::new();
    let not_running = home.kobe().args(["status", "--json"]).output().unwrap();
    assert_eq!(not_running.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&not_running.stdout).unwrap();
    assert_eq!(report["state"], "not_running");

    let runner = RunningRunner::start(home.path(), &[]);
    let ok = home.kobe().args(["status", "--json"]).output().unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        (report["state"].as_str(), report["status"].as_str()),
        (Some("running"), Some("ok"))
    );
    assert_eq!(report["source"], "health");
    assert_eq!(report["pid"], runner.child.id());

    home.kobe()
        .args(["kill-switch", "on", "--reason", "x"])
        .output()
        .unwrap();
    assert!(eventually(SECOND, || runner.health().1["status"] == "halted"));
    let halted = home.kobe().arg("status").output().unwrap();
    assert_eq!(halted.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&halted.stdout).starts_with("runner: halted"));

    drop(runner); // SIGKILL: a stale lock file is left behind
    let stale = home.kobe().arg("status").output().unwrap();
    assert_eq!(stale.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&stale.stdout).contains("stale"));
}

#[test]
fn refusals_exit_2_with_one_line_and_write_nothing_under_state() {
    let live = "APCA_API_BASE_URL=https://api.alpaca.markets\n";
    let paper = "APCA_API_BASE_URL=https://paper-api.alpaca.markets\n";
    let keys = "APCA_API_KEY_ID=AKTESTKEY123\nAPCA_API_SECRET_KEY=supersecretvalue\n";
    let cases: Vec<(&[&str], String, &str)> = vec![
        (&["--mode", "live"], String::new(), "--approve-live"),
        (
            &["--mode", "live", "--approve-live"],
            String::new(),
            "APCA_API_KEY_ID",
        ),
        (
            &["--mode", "live", "--approve-live"],
            format!("APCA_API_KEY_ID=AKTESTKEY123\n{live}"),
            "APCA_API_SECRET_KEY",
        ),
        (
            &["--mode", "live", "--approve-live"],
            format!("{keys}{paper}"),
            "not the live endpoint",
        ),
        (
            &["--mode", "paper"],
            format!("{keys}{live}"),
            "--mode paper refuses a live broker URL",
        ),
        (
            &["--mode", "paper", "--health-addr", "0.0.0.0:0"],
            String::new(),
            "--health-allow-remote",
        ),
        (
            &["--mode", "paper", "--heartbeat-secs", "0"],
            String::new(),
            "--heartbeat-secs",
        ),
        (
            &["--mode", "paper", "--dotenv", "/nonexistent/.env"],
            String::new(),
            "--dotenv",
        ),
    ];
    for (args, dotenv, named) in cases {
        let home = TempHome::new();
        if !dotenv.is_empty() {
            std::fs::write(home.path().join(".env"), &dotenv).unwrap();
        }
        let out = home
            .runner()
            .env_remove("APCA_API_KEY_ID")
            .env_remove("APCA_API_SECRET_KEY")
            .env_remove("APCA_API_BASE_URL")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = common::stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
        assert!(
            !err.contains("supersecretvalue") && !err.contains("AKTESTKEY123"),
            "{err}"
        );
        assert!(
            !home.path().join("state").exists(),
            "{args:?} wrote under state/"
        );
    }
}

#[test]
fn secrets_never_appear_in_any_file_written() {
    let home = TempHome::new();
    let secret_values = ["AKSECRETID9876", "sk_live_secret_5555", "pk_polygon_7777"];
    std::fs::write(
        home.path().join(".env"),
        format!(
            "APCA_API_KEY_ID={}\nAPCA_API_SECRET_KEY={}\nPOLYGON_API_KEY={}\nAPCA_API_BASE_URL=https://paper-api.alpaca.markets\n",
            secret_values[0], secret_values[1], secret_values[2]
        ),
    )
    .unwrap();
    let runner = RunningRunner::start(home.path(), &[]);
    home.kobe()
        .args(["kill-switch", "on", "--reason", "grep test"])
        .output()
        .unwrap();
    assert!(eventually(SECOND, || runner.health().1["kill_switch"]
        ["active"]
        == true));
    let status = home.kobe().args(["status", "--json"]).output().unwrap();
    let health = runner.get("/health").1 + &runner.get("/metrics").1;
    drop(runner);
    let replay = home
        .runner()
        .args([
            "--mode",
            "paper",
            "--replay",
            "2024-11-25..2024-11-26",
            "--health-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", common::stderr(&replay));
    let mut shown = String::from_utf8_lossy(&status.stdout).into_owned() + &health;
    shown += &String::from_utf8_lossy(&replay.stdout);
    shown += &String::from_utf8_lossy(&replay.stderr);
    for file in home.files().iter().filter(|f| *f != ".env") {
        let bytes = std::fs::read(home.path().join(file)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in secret_values {
            assert!(!text.contains(secret), "{file} contains a secret");
        }
    }
    for secret in secret_values {
        assert!(!shown.contains(secret), "output contains a secret");
    }
}

#[test]
fn run_job_records_in_the_runner_ledger_once_unless_forced() {
    let home = TempHome::new();
    let run = |extra: &[&str]| {
        home.kobe()
            .args(["run-job", "--tag", "EOD_REPORT", "--session", "2024-11-29"])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    assert!(first.status.success(), "{}", common::stderr(&first));
    let line = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        line.starts_with("EOD_REPORT 2024-11-29T12:30:00-05:00 ok"),
        "{line}"
    );
    let again = run(&[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already done"));
    assert_eq!(home.jobs_log().len(), 1);
    let forced = run(&["--force"]);
    assert!(forced.status.success());
    assert_eq!(home.jobs_log().len(), 2);

    // The runner's replay of that day sees the slot done and does not run it again.
    let replay = home
        .runner()
        .args([
            "--mode",
            "paper",
            "--replay",
            "2024-11-29..2024-11-29",
            "--health-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", common::stderr(&replay));
    let eod: Vec<Value> = home
        .jobs_log()
        .into_iter()
        .filter(|r| r["tag"] == "EOD_REPORT")
        .collect();
    assert_eq!(eod.len(), 2);

    let unknown = home
        .kobe()
        .args(["run-job", "--tag", "NOPE"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(common::stderr(&unknown).contains("--tag NOPE: unknown job"));
    // A holiday has no slot: nothing to do, exit 0 (cron lines need no holiday logic).
    let holiday = home
        .kobe()
        .args(["run-job", "--tag", "EOD_REPORT", "--session", "2024-11-28"])
        .output()
        .unwrap();
    assert_eq!(holiday.status.code(), Some(0));
    let text = String::from_utf8_lossy(&holiday.stdout);
    assert!(
        text.contains("Thanksgiving") && text.contains("nothing to do"),
        "{text}"
    );
    // A slot not yet due is refused: running it early would mark it done.
    let future = home
        .kobe()
        .args(["run-job", "--tag", "EOD_REPORT", "--session", "2099-06-01"])
        .output()
        .unwrap();
    assert_eq!(future.status.code(), Some(2));
    assert!(common::stderr(&future).contains("not due yet"));
}

#[test]
fn run_job_never_runs_a_job_another_process_is_running() {
    let home = TempHome::new();
    let _held =
        kobe_actors::lock::JobLock::try_acquire(&home.path().join("state/locks"), "DB_BACKUP")
            .unwrap()
            .unwrap();
    let out = home
        .kobe()
        .args(["run-job", "--tag", "DB_BACKUP", "--session", "2024-11-29"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("running in another process"));
    assert!(!home.jobs_log_path().exists() || home.jobs_log().is_empty());
}

#[test]
fn run_job_honours_the_kill_switch_policy() {
    let home = TempHome::new();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/kobe.toml"),
        "[jobs.FIRST_SCAN]\nat = \"09:45\"\nkill_switch = \"skip\"\n",
    )
    .unwrap();
    home.kobe()
        .args(["kill-switch", "on", "--reason", "x"])
        .output()
        .unwrap();
    let out = home
        .kobe()
        .args(["run-job", "--tag", "FIRST_SCAN", "--session", "2024-11-29"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = home.jobs_log();
    assert_eq!(
        (log[0]["status"].as_str(), log[0]["reason"].as_str()),
        (Some("skipped"), Some("kill_switch"))
    );
}
