//! `kobe status [--json | --watch]`: is a runner up in this home, and how is it doing.
//!
//! Works from files alone (lock, heartbeat, kill switch) and asks `/health` when the runner is
//! up. Exit 0 running and ok; 1 running but degraded, halted or stopping; 3 not running (no
//! lock holder, or a holder whose heartbeat went stale).

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kobe_actors::heartbeat::{Beat, HEARTBEAT_FILE};
use kobe_actors::kill_switch;
use kobe_actors::lock::{self, LockInfo, LockState};
use kobe_actors::view::STALE_HEARTBEATS;
use serde::Serialize;
use serde_json::Value;

use super::{CommandError, Context, Done};
use crate::home::Home;

mod terminal;
mod watch;

#[derive(Debug, clap::Args)]
pub struct Status {
    #[arg(long)]
    pub json: bool,
    /// A live view refreshed every second (q or Ctrl-C quits); printed once on a pipe.
    #[arg(long, conflicts_with = "json")]
    pub watch: bool,
}

impl Status {
    pub fn run(self, ctx: Context) -> Result<Done, CommandError> {
        if self.watch {
            return terminal::run(&ctx);
        }
        let report = gather(&ctx.home, ctx.wall.now());
        let text = if self.json {
            serde_json::to_string_pretty(&report)? + "\n"
        } else {
            report.render()
        };
        Ok(Done {
            text,
            code: report.exit_code(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// `running` or `not_running`.
    pub state: &'static str,
    /// ok, degraded, halted, stopping (or unknown) while running.
    pub status: Option<String>,
    pub pid: Option<u32>,
    pub mode: Option<String>,
    pub clock: Option<String>,
    pub uptime_s: Option<i64>,
    pub kill_switch: Value,
    pub last_job: Value,
    pub next_job: Value,
    pub heartbeat_seq: Option<u64>,
    pub heartbeat_age_s: Option<i64>,
    /// Where the answer came from: `health`, `heartbeat` or `files`.
    pub source: &'static str,
    pub note: Option<String>,
}

impl StatusReport {
    pub fn exit_code(&self) -> u8 {
        match (self.state, self.status.as_deref()) {
            ("running", Some("ok")) => 0,
            ("running", _) => 1,
            _ => 3,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let status = self.status.as_deref().unwrap_or("unknown");
        match self.state {
            "running" => {
                let _ = writeln!(
                    out,
                    "runner: {status} (pid {}, mode {}, clock {}, up {})",
                    self.pid.map_or("?".into(), |p| p.to_string()),
                    self.mode.as_deref().unwrap_or("?"),
                    self.clock.as_deref().unwrap_or("?"),
                    self.uptime_s.map_or("?".into(), human_duration)
                );
            }
            _ => {
                let _ = writeln!(out, "runner: not running");
            }
        }
        if let Some(note) = &self.note {
            let _ = writeln!(out, "  {note}");
        }
        let ks = &self.kill_switch;
        if ks["active"] == true {
            let _ = writeln!(
                out,
                "kill switch: ON since {} ({})",
                ks["since"].as_str().unwrap_or("?"),
                ks["reason"].as_str().unwrap_or("no reason")
            );
        } else {
            let _ = writeln!(out, "kill switch: off");
        }
        let job = |v: &Value, at: &str| -> String {
            if v.is_null() {
                return "none".into();
            }
            let status = v["status"]
                .as_str()
                .map(|s| format!(" {s}"))
                .unwrap_or_default();
            format!(
                "{} at {}{status}",
                v["tag"].as_str().unwrap_or("?"),
                v[at].as_str().unwrap_or("?")
            )
        };
        let _ = writeln!(out, "last job: {}", job(&self.last_job, "slot_et"));
        let _ = writeln!(out, "next job: {}", job(&self.next_job, "at_et"));
        if let (Some(seq), Some(age)) = (self.heartbeat_seq, self.heartbeat_age_s) {
            let _ = writeln!(out, "heartbeat: #{seq}, {age} s ago ({})", self.source);
        }
        out
    }
}

fn human_duration(secs: i64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn read_beat(home: &Home) -> Option<Beat> {
    let text = std::fs::read_to_string(home.state().join(HEARTBEAT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn ask_health(addr: &str) -> Option<Value> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let response = client.get(format!("http://{addr}/health")).send().ok()?;
    // 503 still carries the body: degraded is an answer, not a failure.
    response.json::<Value>().ok()
}

/// Looks at the home's files, then asks the runner itself if it is up.
pub fn gather(home: &Home, now: DateTime<Utc>) -> StatusReport {
    gather_with_health(home, now).0
}

/// [`gather`], with the runner's `/health` answer when it gave one (the watch shows its jobs).
fn gather_with_health(home: &Home, now: DateTime<Utc>) -> (StatusReport, Option<Value>) {
    let lock_state = lock::inspect(&home.state()).unwrap_or(LockState::Absent);
    // A switch that cannot be read is shown on, naming why: never "off" in doubt.
    let kill_switch = match kill_switch::read(&home.state()) {
        Ok(status) => serde_json::to_value(status).unwrap_or(Value::Null),
        Err(e) => serde_json::json!({
            "active": true,
            "reason": format!("state/KILL_SWITCH cannot be read: {e}"),
            "since": null,
        }),
    };
    let beat = read_beat(home);
    let mut report = StatusReport::from_files(kill_switch, beat.as_ref(), now);
    let holder = match lock_state {
        LockState::Absent => {
            report.note = Some("no runner has run in this home".into());
            return (report, None);
        }
        LockState::Stale(info) => {
            report.note = Some(stale_lock_note(info));
            return (report, None);
        }
        LockState::Held(info) => info,
    };
    report.pid = holder.as_ref().map(|h| h.pid);
    report.mode = holder.as_ref().map(|h| h.mode.clone());
    // A heartbeat from an earlier runner says nothing about this one.
    let beat = beat.filter(|b| holder.as_ref().is_none_or(|h| h.pid == b.pid));
    let mut health = None;
    if let Some(b) = &beat {
        let age = (now - b.ts).num_seconds();
        if age > b.interval_s * STALE_HEARTBEATS {
            report.note = Some(format!(
                "pid {} holds the lock but its heartbeat is {age} s old: hung or suspended",
                b.pid
            ));
            return (report, None);
        }
        report.take_heartbeat(b);
        health = b.health_addr.as_deref().and_then(ask_health);
        if let Some(health) = &health {
            report.take_health(health);
        }
    } else {
        report.state = "running";
        report.note = Some("the runner holds the lock but has not written a heartbeat yet".into());
    }
    (report, health)
}

/// Who held a lock nobody holds any more, when the lock file still says.
fn stale_lock_note(info: Option<LockInfo>) -> String {
    match info {
        Some(i) => format!(
            "last runner: pid {} started {} (its lock is stale: it is gone)",
            i.pid,
            i.started_at.to_rfc3339()
        ),
        None => "the lock file is stale: no process holds it".into(),
    }
}

impl StatusReport {
    /// What the files alone say: not running until the lock and heartbeat show otherwise.
    fn from_files(kill_switch: Value, beat: Option<&Beat>, now: DateTime<Utc>) -> Self {
        Self {
            state: "not_running",
            status: None,
            pid: None,
            mode: None,
            clock: None,
            uptime_s: None,
            kill_switch,
            last_job: Value::Null,
            next_job: Value::Null,
            heartbeat_seq: beat.map(|b| b.seq),
            heartbeat_age_s: beat.map(|b| (now - b.ts).num_seconds()),
            source: "files",
            note: None,
        }
    }

    /// A fresh heartbeat of the lock holder: the runner is up, as of its last beat.
    fn take_heartbeat(&mut self, b: &Beat) {
        self.state = "running";
        self.status = Some(b.status.clone());
        self.clock = Some(b.clock.clone());
        self.uptime_s = Some(b.uptime_s);
        self.last_job = serde_json::to_value(&b.last_job).unwrap_or(Value::Null);
        self.next_job = serde_json::to_value(&b.next_job).unwrap_or(Value::Null);
        self.source = "heartbeat";
    }

    /// The runner's own `/health` answer, newer than its heartbeat: it wins where it speaks.
    fn take_health(&mut self, health: &Value) {
        self.source = "health";
        self.status = health["status"]
            .as_str()
            .map(String::from)
            .or(self.status.take());
        self.uptime_s = health["uptime_s"].as_i64().or(self.uptime_s);
        self.kill_switch = health["kill_switch"].clone();
        self.last_job = health["last_job"].clone();
        self.next_job = health["next_job"].clone();
        if let Some(problems) = health["problems"].as_array().filter(|p| !p.is_empty()) {
            let list: Vec<&str> = problems.iter().filter_map(Value::as_str).collect();
            self.note = Some(list.join("; "));
        }
    }
}
