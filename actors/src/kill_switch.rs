//! The kill switch: `state/KILL_SWITCH` present = active. The actor watches the folder
//! (inotify via `notify`, plus a slow poll as a safety net) and broadcasts every change.
//!
//! The file may be JSON `{reason, activated_at, activated_by}`, plain text (the reason) or
//! empty: an operator in a panic types `touch state/KILL_SWITCH`, and that must work. Anything
//! else found there (a link, a directory, a FIFO) engages it too: the switch fails closed.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use notify::{RecursiveMode, Watcher};
use serde::{Deserialize, Serialize};

use crate::atomic_file::write_atomic;
use crate::clock::Clock;
use crate::jsonl::{last_line, JsonlWriter};
use crate::messages::KillSwitchChanged;
use crate::view::RuntimeView;

mod file;
pub use file::{read, MAX_READ};

pub const KILL_SWITCH_FILE: &str = "KILL_SWITCH";
pub const HISTORY_FILE: &str = "kill_switch_history.jsonl";
/// A safety net under inotify (which notices within a millisecond): re-read the file this often
/// anyway. Rare, because every wake-up of an idle runner costs CPU.
const POLL_EVERY: Duration = Duration::from_secs(5);

/// The JSON form of `state/KILL_SWITCH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitchFile {
    pub reason: String,
    pub activated_at: DateTime<Utc>,
    pub activated_by: String,
}

/// One line of `state/kill_switch_history.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// `engage` or `release`.
    pub action: String,
    pub at: DateTime<Utc>,
    pub by: String,
    pub reason: Option<String>,
    /// For a release: when the switch had been engaged.
    pub activated_at: Option<DateTime<Utc>>,
}

fn append_history(state_dir: &Path, entry: &HistoryEntry) -> io::Result<()> {
    let (mut log, _) = JsonlWriter::open(&state_dir.join(HISTORY_FILE))?;
    log.append(&serde_json::to_string(entry).expect("history entry serialises"))?;
    log.sync()
}

/// Engages the switch: logs the engagement, then writes the file atomically (in that order, so
/// a watcher that sees the file finds its history line already there).
pub fn engage(state_dir: &Path, reason: &str, by: &str, now: DateTime<Utc>) -> io::Result<()> {
    let file = KillSwitchFile {
        reason: reason.to_string(),
        activated_at: now,
        activated_by: by.to_string(),
    };
    append_history(
        state_dir,
        &HistoryEntry {
            action: "engage".into(),
            at: now,
            by: by.into(),
            reason: Some(reason.into()),
            activated_at: Some(now),
        },
    )?;
    write_atomic(
        &state_dir.join(KILL_SWITCH_FILE),
        serde_json::to_string_pretty(&file)
            .expect("serialises")
            .as_bytes(),
        // Rare, and it must outlive a power cut whatever the run.
        crate::atomic_file::Durability::PowerLoss,
    )
}

/// Releases the switch: logs the release with who and when, then removes the file.
/// Returns whether it was active.
pub fn release(state_dir: &Path, by: &str, now: DateTime<Utc>) -> io::Result<bool> {
    let current = read(state_dir)?;
    if !current.active {
        return Ok(false);
    }
    append_history(
        state_dir,
        &HistoryEntry {
            action: "release".into(),
            at: now,
            by: by.into(),
            reason: current.reason,
            activated_at: current.since,
        },
    )?;
    std::fs::remove_file(state_dir.join(KILL_SWITCH_FILE))?;
    std::fs::File::open(state_dir)?.sync_all()?;
    Ok(true)
}

/// The action of the history's last line: a vanished file whose last line is not a release was
/// removed by hand; a file whose last line is not an engage was created by hand.
fn last_history_action(state_dir: &Path) -> Option<String> {
    last_line(&state_dir.join(HISTORY_FILE))
        .ok()
        .flatten()
        .and_then(|l| serde_json::from_str::<HistoryEntry>(&l).ok())
        .map(|e| e.action)
}

pub struct KillSwitchActor {
    state_dir: PathBuf,
    subscribers: Vec<Recipient<KillSwitchChanged>>,
    /// Holds the switch's last known state (set by the supervisor at start, then only here).
    view: Arc<RuntimeView>,
    wall: Arc<dyn Clock>,
    /// Read by job actors at every tick and by job bodies before every entry: set here first,
    /// before any message goes out.
    flag: Arc<AtomicBool>,
    on_event: Option<crate::messages::EventHook>,
    /// Kept alive for as long as the actor: dropping it stops the watch.
    watcher: Option<notify::RecommendedWatcher>,
    /// See `KillSwitchSetup::watch`.
    watch: bool,
}

/// What the kill-switch actor starts from. The state at start is the view's.
pub struct KillSwitchSetup {
    pub state_dir: PathBuf,
    pub subscribers: Vec<Recipient<KillSwitchChanged>>,
    pub view: Arc<RuntimeView>,
    pub wall: Arc<dyn Clock>,
    pub flag: Arc<AtomicBool>,
    pub on_event: Option<crate::messages::EventHook>,
    /// Watch the state folder (a live or paper run). A replay polls instead, every tenth of a
    /// second: it writes its ledgers in that folder thousands of times a second, and each
    /// write woke the watcher's thread for an event about another file.
    pub watch: bool,
}

/// How often a replay looks at the file (see `KillSwitchSetup::watch`).
const REPLAY_POLL_EVERY: Duration = Duration::from_millis(100);

impl KillSwitchActor {
    pub fn new(setup: KillSwitchSetup) -> Self {
        Self {
            state_dir: setup.state_dir,
            subscribers: setup.subscribers,
            view: setup.view,
            wall: setup.wall,
            flag: setup.flag,
            on_event: setup.on_event,
            watcher: None,
            watch: setup.watch,
        }
    }

    fn recheck(&mut self) {
        let status = match read(&self.state_dir) {
            Ok(s) => s,
            Err(e) => {
                // Unreadable is not "off": keep the last known state and say so.
                tracing::error!(error = %e, "cannot read the kill switch file; keeping its last state");
                return;
            }
        };
        let previous = self.view.kill_switch();
        if status == previous {
            return;
        }
        self.flag.store(status.active, Ordering::SeqCst);
        if status.active {
            tracing::warn!(reason = ?status.reason, "kill switch ENGAGED: no new entries");
            if last_history_action(&self.state_dir).as_deref() != Some("engage") {
                // Engaged by hand (`touch state/KILL_SWITCH`): the history still gets a line.
                let entry = HistoryEntry {
                    action: "engage".into(),
                    at: self.wall.now(),
                    by: "unknown (file created by hand)".into(),
                    reason: status.reason.clone(),
                    activated_at: status.since,
                };
                if let Err(e) = append_history(&self.state_dir, &entry) {
                    tracing::error!(error = %e, "cannot write the kill switch history");
                }
            }
        } else {
            if last_history_action(&self.state_dir).as_deref() != Some("release") {
                tracing::warn!(
                    "kill switch file removed by hand: honoured, and logged in the history"
                );
                let entry = HistoryEntry {
                    action: "release".into(),
                    at: self.wall.now(),
                    by: "unknown (file removed by hand)".into(),
                    reason: previous.reason,
                    activated_at: previous.since,
                };
                if let Err(e) = append_history(&self.state_dir, &entry) {
                    tracing::error!(error = %e, "cannot write the kill switch history");
                }
            }
            tracing::warn!("kill switch released");
        }
        self.view.set_kill_switch(status.clone());
        if let Some(hook) = &self.on_event {
            hook(crate::messages::RuntimeEvent::KillSwitch(status.clone()));
        }
        for s in &self.subscribers {
            s.do_send(status.clone());
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Recheck;

impl Actor for KillSwitchActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Err(e) = std::fs::create_dir_all(&self.state_dir) {
            tracing::error!(error = %e, "cannot create the state folder");
        }
        // The state at start was read by the supervisor before any job started; catch a change
        // made since then.
        self.recheck();
        if !self.watch {
            ctx.run_interval(REPLAY_POLL_EVERY, |act, _| act.recheck());
            return;
        }
        let addr = ctx.address();
        let target = self.state_dir.join(KILL_SWITCH_FILE);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Editors and atomic writers replace by rename: any event naming the file counts.
            if let Ok(event) = event {
                if event
                    .paths
                    .iter()
                    .any(|p| p.file_name() == target.file_name())
                {
                    addr.do_send(Recheck);
                }
            }
        });
        match watcher {
            Ok(mut w) => match w.watch(&self.state_dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watcher = Some(w),
                Err(e) => tracing::warn!(error = %e, "cannot watch the state folder; polling only"),
            },
            Err(e) => tracing::warn!(error = %e, "no file watcher; polling only"),
        }
        ctx.run_interval(POLL_EVERY, |act, _| act.recheck());
    }
}

impl Handler<Recheck> for KillSwitchActor {
    type Result = ();
    fn handle(&mut self, _: Recheck, _ctx: &mut Context<Self>) {
        self.recheck();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn release_logs_who_and_when_then_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let at = Utc.with_ymd_and_hms(2024, 11, 29, 15, 0, 0).unwrap();
        assert!(!release(dir.path(), "ops", at).unwrap());
        engage(dir.path(), "test", "alice", at).unwrap();
        assert!(release(dir.path(), "bob", at + chrono::TimeDelta::minutes(5)).unwrap());
        assert!(!dir.path().join(KILL_SWITCH_FILE).exists());
        let lines: Vec<HistoryEntry> = std::fs::read_to_string(dir.path().join(HISTORY_FILE))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[1].action.as_str(), lines[1].by.as_str()),
            ("release", "bob")
        );
        assert_eq!(lines[1].activated_at, Some(at));
        assert_eq!(last_history_action(dir.path()).as_deref(), Some("release"));
    }
}
