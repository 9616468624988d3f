//! The heartbeat: every interval of real time, the runtime's state written atomically to
//! `state/heartbeat.json` and appended to `logs/heartbeat.jsonl`, with its memory and CPU.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::atomic_file::write_atomic;
use crate::calendar::EXCHANGE_TZ;
use crate::jsonl::JsonlWriter;
use crate::view::{Health, KillSwitchStatus, LastJob, NextJob, RuntimeView};

pub const HEARTBEAT_FILE: &str = "heartbeat.json";

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
        if let Err(e) = write_atomic(
            &self.state_dir.join(HEARTBEAT_FILE),
            line.as_bytes(),
            self.view.durability(),
        ) {
            tracing::error!(error = %e, "cannot write state/heartbeat.json");
        }
        if self.log.is_none() {
            match JsonlWriter::open(&self.logs_dir.join("heartbeat.jsonl")) {
                Ok((w, _)) => self.log = Some(w),
                Err(e) => tracing::error!(error = %e, "cannot open logs/heartbeat.jsonl"),
            }
        }
        if let Some(log) = &mut self.log {
            if let Err(e) = log.append(&line) {
                tracing::error!(error = %e, "cannot append to logs/heartbeat.jsonl");
            }
        }
        self.view.heartbeat_written(self.seq, ts);
    }
}

impl Actor for HeartbeatActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.beat(false);
        ctx.run_interval(self.every, |act, _| act.beat(false));
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
    use chrono::TimeZone;

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
