//! The heartbeat: every interval of real time, the runtime's state written atomically to
//! `state/heartbeat.json` and appended to `logs/heartbeat.jsonl`, with its memory and CPU.
//!
//! Beats missed while the process could not run (SIGSTOP, a suspended machine) are skipped, not
//! replayed: a burst of beats written in one second would tell a reader nothing true.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::time::Instant;

use crate::atomic_file::write_atomic;
use crate::calendar::EXCHANGE_TZ;
use crate::jsonl::JsonlWriter;
use crate::view::{Health, KillSwitchStatus, LastJob, NextJob, RuntimeView};

pub const HEARTBEAT_FILE: &str = "heartbeat.json";
pub const HEARTBEAT_LOG: &str = "heartbeat.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    #[error("heartbeat not written: {0}")]
    State(#[source] io::Error),
    #[error("heartbeat not logged: {0}")]
    Log(#[source] io::Error),
}

/// One beat (DESIGN §5). `Deserialize` so that `kobe status` can read it back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Beat {
    pub ts: DateTime<Utc>,
    pub ts_et: DateTime<FixedOffset>,
    pub seq: u64,
    pub pid: u32,
    pub mode: String,
    pub clock: String,
    pub status: String,
    pub uptime_s: i64,
    pub kill_switch: KillSwitchStatus,
    pub next_job: Option<NextJob>,
    pub last_job: Option<LastJob>,
    pub rss_bytes: u64,
    pub cpu_pct: f32,
    /// Seconds between beats: a reader judges staleness by it.
    pub interval_s: i64,
    /// Where `/health` answers, so `kobe status` can ask it.
    pub health_addr: Option<String>,
    /// The simulated instant, in a replay.
    pub sim_now_et: Option<DateTime<FixedOffset>>,
}

pub struct HeartbeatActor {
    view: Arc<RuntimeView>,
    state_dir: PathBuf,
    log: Option<JsonlWriter>,
    logs_dir: PathBuf,
    every: Duration,
    seq: u64,
    system: System,
    health_addr: Option<String>,
}

impl HeartbeatActor {
    pub fn new(
        view: Arc<RuntimeView>,
        state_dir: PathBuf,
        logs_dir: PathBuf,
        every: Duration,
        health_addr: Option<String>,
    ) -> Self {
        Self {
            view,
            state_dir,
            log: None,
            logs_dir,
            every,
            seq: 0,
            system: System::new(),
            health_addr,
        }
    }

    /// Process memory and CPU since the previous beat.
    fn usage(&mut self) -> (u64, f32) {
        let pid = Pid::from_u32(self.view.pid);
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing().with_memory().with_cpu(),
        );
        self.system
            .process(pid)
            .map_or((0, 0.0), |p| (p.memory(), p.cpu_usage()))
    }

    fn beat(&mut self, stopping: bool) {
        self.seq += 1;
        let snap = self.view.snapshot();
        let (rss_bytes, cpu_pct) = self.usage();
        let ts = self.view.wall.now();
        let status = if stopping {
            Health::Stopping
        } else {
            snap.status
        };
        let beat = Beat {
            ts,
            ts_et: ts.with_timezone(&EXCHANGE_TZ).fixed_offset(),
            seq: self.seq,
            pid: snap.pid,
            mode: snap.mode,
            clock: snap.clock.as_str().into(),
            status: status.as_str().into(),
            uptime_s: snap.uptime_s,
            kill_switch: snap.kill_switch,
            next_job: snap.next_job,
            last_job: snap.last_job,
            rss_bytes,
            cpu_pct,
            interval_s: self.every.as_secs() as i64,
            health_addr: self.health_addr.clone(),
            sim_now_et: (snap.clock == crate::clock::ClockKind::Simulated).then_some(snap.now_et),
        };
        let line = serde_json::to_string(&beat).expect("a beat serialises");
        for result in [self.write_state(&line), self.append_log(&line)] {
            if let Err(e) = result {
                tracing::error!(error = %e, "heartbeat");
            }
        }
        self.view.heartbeat_written(self.seq, ts);
    }

    /// Replaces `state/heartbeat.json` (refusing a link there; the error names the path).
    fn write_state(&self, line: &str) -> Result<(), HeartbeatError> {
        write_atomic(
            &self.state_dir.join(HEARTBEAT_FILE),
            line.as_bytes(),
            self.view.durability(),
        )
        .map_err(HeartbeatError::State)
    }

    /// Appends to `logs/heartbeat.jsonl`, opening it at the first beat that can.
    fn append_log(&mut self, line: &str) -> Result<(), HeartbeatError> {
        let log = match &mut self.log {
            Some(log) => log,
            None => {
                let (w, _) = JsonlWriter::open(&self.logs_dir.join(HEARTBEAT_LOG))
                    .map_err(HeartbeatError::Log)?;
                self.log.insert(w)
            }
        };
        log.append(line).map_err(HeartbeatError::Log)
    }

    /// Beats at `due` and schedules the next one.
    fn schedule_after(&self, due: Instant, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let next = next_due(due, self.every, now);
        ctx.run_later(next.saturating_duration_since(now), move |act, ctx| {
            act.beat(false);
            act.schedule_after(next, ctx);
        });
    }
}

/// The beat after the one due at `due`: on the same grid while on time; after a stall longer
/// than a period, one period from now, so the missed beats are skipped rather than burst out.
fn next_due(due: Instant, every: Duration, now: Instant) -> Instant {
    let next = due + every;
    if next > now {
        next
    } else {
        now + every
    }
}

impl Actor for HeartbeatActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.beat(false);
        // Not `run_interval`: actix's interval fires once per missed period after a stall.
        self.schedule_after(Instant::now(), ctx);
    }
}

/// Supervisor → heartbeat at shutdown: write the last beat, with status `stopping`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FinalBeat;

impl Handler<FinalBeat> for HeartbeatActor {
    type Result = ();
    fn handle(&mut self, _: FinalBeat, ctx: &mut Context<Self>) {
        self.beat(true);
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::NyseCalendar;
    use crate::clock::{LiveClock, SimClock, Speed};
    use crate::own_file::test_support::assert_refuses_a_link_at;
    use crate::schedule::Schedule;
    use chrono::{TimeDelta, TimeZone};
    use std::path::Path;

    const EVERY: Duration = Duration::from_secs(30);

    fn actor(home: &Path) -> (HeartbeatActor, Arc<RuntimeView>) {
        let start = Utc.with_ymd_and_hms(2024, 11, 29, 15, 0, 0).unwrap();
        let view = RuntimeView::new(
            None,
            Arc::new(SimClock::new(start, Speed::Max)),
            Arc::new(LiveClock),
            Arc::new(Schedule::new(Vec::new(), NyseCalendar)),
            TimeDelta::seconds(30),
        );
        let beat = HeartbeatActor::new(
            view.clone(),
            home.join("state"),
            home.join("logs"),
            EVERY,
            None,
        );
        (beat, view)
    }

    fn beats_logged(home: &Path) -> usize {
        std::fs::read_to_string(home.join("logs").join(HEARTBEAT_LOG))
            .map_or(0, |text| text.lines().count())
    }

    /// Lets every task that is ready run, without letting the paused clock move.
    async fn settle() {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }

    /// A stall of an hour (SIGSTOP, then SIGCONT) gives one beat, then beats a period apart.
    #[test]
    fn a_long_stall_yields_one_beat_not_a_burst() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let paused = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap()
        };
        actix_rt::System::with_tokio_rt(paused).block_on(async move {
            let (beat, _view) = actor(&home);
            let _addr = beat.start();
            settle().await;
            assert_eq!(beats_logged(&home), 1, "the beat at start");
            tokio::time::advance(EVERY).await;
            settle().await;
            assert_eq!(beats_logged(&home), 2, "on time");
            tokio::time::advance(Duration::from_secs(3600)).await;
            settle().await;
            assert_eq!(beats_logged(&home), 3, "one beat after the stall");
            tokio::time::advance(EVERY - Duration::from_secs(1)).await;
            settle().await;
            assert_eq!(beats_logged(&home), 3, "not early");
            tokio::time::advance(Duration::from_secs(1)).await;
            settle().await;
            assert_eq!(beats_logged(&home), 4, "a period after the stall's beat");
        });
    }

    #[test]
    fn links_at_the_beat_files_are_refused_by_name_and_their_targets_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut beat, _view) = actor(dir.path());
        let state = dir.path().join("state").join(HEARTBEAT_FILE);
        assert_refuses_a_link_at(&state, || beat.write_state("{}"));
        let log = dir.path().join("logs").join(HEARTBEAT_LOG);
        assert_refuses_a_link_at(&log, || beat.append_log("{}"));
        beat.beat(false);
        assert!(!state.with_extension("target").exists());
        assert!(!log.with_extension("target").exists());
    }

    /// The beat's JSON shape, field by field, which `kobe status` and operators' scripts read.
    #[test]
    fn beat_json_shape() {
        let ts = Utc.with_ymd_and_hms(2024, 11, 29, 15, 0, 0).unwrap();
        let et = ts.with_timezone(&EXCHANGE_TZ).fixed_offset();
        let beat = Beat {
            ts,
            ts_et: et,
            seq: 7,
            pid: 42,
            mode: "paper".into(),
            clock: "live".into(),
            status: "halted".into(),
            uptime_s: 60,
            kill_switch: KillSwitchStatus {
                active: true,
                reason: Some("daily_loss".into()),
                since: Some(ts),
            },
            next_job: Some(NextJob {
                tag: "SCAN".into(),
                at_et: et,
            }),
            last_job: Some(LastJob {
                tag: "PM".into(),
                slot_et: et,
                status: crate::ledger::Status::Skipped,
            }),
            rss_bytes: 1024,
            cpu_pct: 0.5,
            interval_s: 30,
            health_addr: None,
            sim_now_et: None,
        };
        let json = serde_json::to_string(&beat).unwrap();
        assert_eq!(
            json,
            r#"{"ts":"2024-11-29T15:00:00Z","ts_et":"2024-11-29T10:00:00-05:00","seq":7,"pid":42,"mode":"paper","clock":"live","status":"halted","uptime_s":60,"kill_switch":{"active":true,"reason":"daily_loss","since":"2024-11-29T15:00:00Z"},"next_job":{"tag":"SCAN","at_et":"2024-11-29T10:00:00-05:00"},"last_job":{"tag":"PM","slot_et":"2024-11-29T10:00:00-05:00","status":"skipped"},"rss_bytes":1024,"cpu_pct":0.5,"interval_s":30,"health_addr":null,"sim_now_et":null}"#
        );
        let back: Beat = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
}
