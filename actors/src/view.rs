//! The runtime's shared picture of itself, for the heartbeat, `/health` and `/metrics`.
//!
//! Actors write their part (the clock its next slot, the ledger each outcome, the kill switch its
//! state, the supervisor failed jobs); readers take a consistent snapshot under one lock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::atomic_file::Durability;
use crate::calendar::EXCHANGE_TZ;
use crate::clock::{Clock, ClockKind};
use crate::ledger::{RunRecord, Status};
use crate::mode::RunMode;
use crate::reason::{FailReason, SkipReason};
use crate::schedule::Schedule;

/// A job that failed this many runs in a row (or was found still running at its slots) turns
/// health `degraded`.
pub const FAILURES_DEGRADE: u32 = 3;
/// A heartbeat older than this many intervals turns health `degraded`.
pub const STALE_HEARTBEATS: i64 = 3;

/// The runtime's overall state (DESIGN §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Degraded,
    Halted,
    Stopping,
}

impl Health {
    /// The serialised name (`ok`, `degraded`, `halted`, `stopping`).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Degraded => "degraded",
            Health::Halted => "halted",
            Health::Stopping => "stopping",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitchStatus {
    pub active: bool,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobView {
    pub last_slot: Option<DateTime<chrono::FixedOffset>>,
    pub last_status: Option<Status>,
    pub next_slot: Option<DateTime<chrono::FixedOffset>>,
    /// Failed runs in a row (0 after any run that did not fail).
    pub failures: u32,
    pub restarts: usize,
    /// Past its restart limit: given up on until the runner restarts.
    pub gave_up: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastJob {
    pub tag: String,
    pub slot_et: DateTime<chrono::FixedOffset>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextJob {
    pub tag: String,
    pub at_et: DateTime<chrono::FixedOffset>,
}

#[derive(Debug, Default)]
struct State {
    kill_switch: KillSwitchStatus,
    next: Option<NextJob>,
    last: Option<LastJob>,
    failures: BTreeMap<String, u32>,
    last_by_tag: BTreeMap<String, (DateTime<chrono::FixedOffset>, Status)>,
    restarts: BTreeMap<String, usize>,
    gave_up: BTreeSet<String>,
    heartbeat: Option<(u64, DateTime<Utc>)>,
    ready: bool,
    stopping: bool,
    /// The run ledger failing: the clock is retrying a slot.
    ledger_problem: Option<String>,
    /// State could not be kept: the run is stopping.
    storage_failure: Option<String>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    tag: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TagLabel {
    tag: String,
}

struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    duration: Family<TagLabel, Histogram>,
    kill_switch: Gauge,
    heartbeat_seq: Gauge,
    uptime: Gauge,
}

impl Metrics {
    /// Every counter and histogram for every scheduled tag exists from the first scrape, at 0:
    /// a series that appears only at its first increment breaks alerts and `rate()`.
    fn new(schedule: &Schedule) -> Self {
        let mut registry = Registry::with_prefix("kobe");
        let runs = Family::<RunLabels, Counter>::default();
        let duration = Family::<TagLabel, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let (kill_switch, heartbeat_seq, uptime) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register("job_runs", "Job slots by tag and outcome", runs.clone());
        registry.register("job_duration_seconds", "Job run time", duration.clone());
        registry.register(
            "kill_switch_active",
            "1 while the kill switch is engaged",
            kill_switch.clone(),
        );
        registry.register(
            "heartbeat_seq",
            "Sequence number of the latest heartbeat",
            heartbeat_seq.clone(),
        );
        registry.register(
            "uptime_seconds",
            "Seconds since the runner started",
            uptime.clone(),
        );
        for plan in schedule.plans() {
            for status in Status::ALL {
                let _ = runs.get_or_create(&RunLabels {
                    tag: plan.tag.clone(),
                    status: status.as_str().into(),
                });
            }
            let _ = duration.get_or_create(&TagLabel {
                tag: plan.tag.clone(),
            });
        }
        Self {
            registry,
            runs,
            duration,
            kill_switch,
            heartbeat_seq,
            uptime,
        }
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 10))
}

/// Who is running, and the state everyone shares.
pub struct RuntimeView {
    /// `None`: the bare scheduler (tests of the runtime itself), no operator parts.
    pub mode: Option<RunMode>,
    pub clock_kind: ClockKind,
    pub pid: u32,
    /// The runtime's clock (simulated in a replay): what "now" is for the schedule.
    pub clock: Arc<dyn Clock>,
    /// Always a wall clock: uptime and heartbeat age are real time even in a replay.
    pub wall: Arc<dyn Clock>,
    pub started: DateTime<Utc>,
    pub heartbeat_every: TimeDelta,
    schedule: Arc<Schedule>,
    state: Mutex<State>,
    metrics: Metrics,
}

/// One consistent reading of the view.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub status: Health,
    pub mode: String,
    pub clock: ClockKind,
    pub pid: u32,
    pub uptime_s: i64,
    pub now_et: DateTime<chrono::FixedOffset>,
    pub kill_switch: KillSwitchStatus,
    pub heartbeat: HeartbeatAge,
    pub next_job: Option<NextJob>,
    pub last_job: Option<LastJob>,
    pub jobs: BTreeMap<String, JobView>,
    pub ready: bool,
    /// Why the status is `degraded`, for a person.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeartbeatAge {
    pub seq: Option<u64>,
    pub age_s: Option<i64>,
}

impl RuntimeView {
    pub fn new(
        mode: Option<RunMode>,
        clock: Arc<dyn Clock>,
        wall: Arc<dyn Clock>,
        schedule: Arc<Schedule>,
        heartbeat_every: TimeDelta,
    ) -> Arc<Self> {
        Arc::new(Self {
            mode,
            clock_kind: clock.kind(),
            pid: std::process::id(),
            started: wall.now(),
            clock,
            wall,
            heartbeat_every,
            metrics: Metrics::new(&schedule),
            schedule,
            state: Mutex::new(State::default()),
        })
    }

    /// How hard this run's state files are pushed to disk.
    pub fn durability(&self) -> Durability {
        self.mode
            .map_or(Durability::ProcessCrash, RunMode::durability)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot ended (run, failed or skipped): from the run ledger.
    pub fn observe(&self, record: &RunRecord) {
        self.metrics
            .runs
            .get_or_create(&RunLabels {
                tag: record.tag.clone(),
                status: record.status.as_str().into(),
            })
            .inc();
        if record.status != Status::Skipped {
            self.metrics
                .duration
                .get_or_create(&TagLabel {
                    tag: record.tag.clone(),
                })
                .observe(record.duration_ms as f64 / 1000.0);
        }
        let mut s = self.lock();
        let failures = s.failures.entry(record.tag.clone()).or_default();
        let skip = record.reason.as_deref().and_then(|r| r.parse().ok());
        let attention = record.reason.as_deref() == Some(FailReason::Attention.as_str());
        match (record.status, skip) {
            // Needs a person now: degraded at once, until the job runs ok again.
            (Status::Failed, _) if attention => *failures = (*failures + 1).max(FAILURES_DEGRADE),
            (Status::Failed, _) => *failures += 1,
            // The previous run is still going (a body hung past its timeout): the job is not
            // getting its work done, whatever the skip says.
            (Status::Skipped, Some(SkipReason::Overlap)) => *failures += 1,
            (Status::Ok, _) => *failures = 0,
            // Other skips say nothing about whether the job works.
            (Status::Skipped, _) => {}
        }
        s.last_by_tag
            .insert(record.tag.clone(), (record.slot_et, record.status));
        s.last = Some(LastJob {
            tag: record.tag.clone(),
            slot_et: record.slot_et,
            status: record.status,
        });
    }

    pub fn set_next(&self, tag: &str, at: DateTime<Tz>) {
        self.lock().next = Some(NextJob {
            tag: tag.to_string(),
            at_et: at.fixed_offset(),
        });
    }

    pub fn set_kill_switch(&self, status: KillSwitchStatus) {
        self.metrics.kill_switch.set(i64::from(status.active));
        self.lock().kill_switch = status;
    }

    pub fn kill_switch(&self) -> KillSwitchStatus {
        self.lock().kill_switch.clone()
    }

    pub fn job_restarted(&self, tag: &str, gave_up: bool) {
        let mut s = self.lock();
        *s.restarts.entry(tag.to_string()).or_default() += 1;
        if gave_up {
            s.gave_up.insert(tag.to_string());
        }
    }

    pub fn heartbeat_written(&self, seq: u64, at: DateTime<Utc>) {
        self.metrics.heartbeat_seq.set(seq as i64);
        self.lock().heartbeat = Some((seq, at));
    }

    pub fn set_ledger_problem(&self, problem: Option<String>) {
        let mut s = self.lock();
        if s.ledger_problem != problem {
            s.ledger_problem = problem;
        }
    }

    /// State could not be read or written: health is degraded from now on, whatever follows.
    pub fn set_storage_failure(&self, error: &str) {
        self.lock().storage_failure = Some(error.to_string());
    }

    pub fn set_ready(&self) {
        self.lock().ready = true;
    }

    pub fn set_stopping(&self) {
        self.lock().stopping = true;
    }

    /// Whether the runtime has finished starting: `/ready` without building a snapshot.
    pub fn is_ready(&self) -> bool {
        self.lock().ready
    }

    /// The next slot of each of `tags` after the runtime's now, looking a few weeks ahead:
    /// walks the days once and stops as soon as every tag has one.
    fn next_slots(
        &self,
        tags: &[String],
        now: DateTime<Utc>,
    ) -> BTreeMap<String, DateTime<chrono::FixedOffset>> {
        let mut next = BTreeMap::new();
        let today = now.with_timezone(&EXCHANGE_TZ).date_naive();
        for day in today.iter_days().take(21) {
            if next.len() == tags.len() {
                break;
            }
            for slot in self.schedule.slots_on(day) {
                if slot.skip.is_none() && slot.at.with_timezone(&Utc) > now {
                    next.entry(slot.tag)
                        .or_insert_with(|| slot.at.fixed_offset());
                }
            }
        }
        next
    }

    pub fn snapshot(&self) -> Snapshot {
        let wall_now = self.wall.now();
        let now = self.clock.now();
        let tags: Vec<String> = self.schedule.plans().map(|p| p.tag.clone()).collect();
        let next_slots = self.next_slots(&tags, now);
        let s = self.lock();
        let heartbeat_age = s.heartbeat.map(|(_, at)| (wall_now - at).num_seconds());
        let mut problems = Vec::new();
        for tag in &s.gave_up {
            problems.push(format!("{tag} is past its restart limit"));
        }
        for (tag, n) in &s.failures {
            if *n >= FAILURES_DEGRADE {
                problems.push(format!("{tag} failed its last {n} runs"));
            }
        }
        if let Some(problem) = &s.ledger_problem {
            problems.push(format!("run ledger failing: {problem}"));
        }
        if let Some(error) = &s.storage_failure {
            problems.push(format!("state could not be kept, stopping: {error}"));
        }
        let stale_after = self.heartbeat_every.num_seconds() * STALE_HEARTBEATS;
        if heartbeat_age.is_some_and(|age| age > stale_after) {
            problems.push(format!("heartbeat is older than {stale_after} s"));
        }
        let status = if s.stopping {
            Health::Stopping
        } else if !problems.is_empty() {
            Health::Degraded
        } else if s.kill_switch.active {
            Health::Halted
        } else {
            Health::Ok
        };
        let jobs = tags
            .iter()
            .map(|tag| {
                let last = s.last_by_tag.get(tag);
                let view = JobView {
                    last_slot: last.map(|l| l.0),
                    last_status: last.map(|l| l.1),
                    next_slot: next_slots.get(tag).copied(),
                    failures: s.failures.get(tag).copied().unwrap_or(0),
                    restarts: s.restarts.get(tag).copied().unwrap_or(0),
                    gave_up: s.gave_up.contains(tag),
                };
                (tag.clone(), view)
            })
            .collect();
        Snapshot {
            status,
            mode: self.mode.map_or("bare", RunMode::account).to_string(),
            clock: self.clock_kind,
            pid: self.pid,
            uptime_s: (wall_now - self.started).num_seconds(),
            now_et: now.with_timezone(&EXCHANGE_TZ).fixed_offset(),
            kill_switch: s.kill_switch.clone(),
            heartbeat: HeartbeatAge {
                seq: s.heartbeat.map(|h| h.0),
                age_s: heartbeat_age,
            },
            next_job: s.next.clone(),
            last_job: s.last.clone(),
            jobs,
            ready: s.ready,
            problems,
        }
    }

    /// Prometheus text exposition of the runtime's metrics.
    pub fn metrics_text(&self) -> String {
        self.metrics
            .uptime
            .set((self.wall.now() - self.started).num_seconds());
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.metrics.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::NyseCalendar;
    use crate::clock::{SimClock, Speed};
    use crate::schedule::{JobPlan, JobSpec, OneOrMany};

    #[test]
    fn every_job_counter_exists_at_zero_before_any_slot() {
        let plan = |tag: &str| {
            let spec = JobSpec {
                at: OneOrMany::One("09:45".into()),
                ..JobSpec::default()
            };
            JobPlan::compile(tag, &spec).unwrap()
        };
        let schedule = Schedule::new(vec![plan("FIRST_SCAN"), plan("EOD_REPORT")], NyseCalendar);
        let start = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .to_utc();
        let clock: Arc<dyn Clock> = Arc::new(SimClock::new(start, Speed::Max));
        let view = RuntimeView::new(
            Some(RunMode::Paper),
            clock.clone(),
            clock,
            Arc::new(schedule),
            TimeDelta::seconds(30),
        );
        // A failure that needs attention degrades at once; the job's next ok run clears it.
        let record = |status, reason: Option<&str>| RunRecord {
            // A tag of its own: the scheduled tags' counters are checked at 0 below.
            tag: "ELSEWHERE".into(),
            session: start.date_naive(),
            slot_et: start.fixed_offset(),
            started: start,
            finished: start,
            duration_ms: 0,
            status,
            reason: reason.map(String::from),
            detail: String::new(),
        };
        view.observe(&record(Status::Failed, Some("attention")));
        assert_eq!(view.snapshot().status, Health::Degraded);
        view.observe(&record(Status::Ok, None));
        assert_eq!(view.snapshot().status, Health::Ok);
        view.observe(&record(Status::Failed, None));
        assert_eq!(
            view.snapshot().status,
            Health::Ok,
            "one ordinary failure is not degraded"
        );
        view.observe(&record(Status::Ok, None));
        // A storage failure turns health degraded at once, with the error among the problems.
        assert_eq!(view.snapshot().status, Health::Ok);
        view.set_storage_failure("logs/jobs.jsonl: No space left on device");
        let snap = view.snapshot();
        assert_eq!(snap.status, Health::Degraded);
        assert!(
            snap.problems.iter().any(|p| p.contains("No space left")),
            "{:?}",
            snap.problems
        );
        let text = view.metrics_text();
        for tag in ["FIRST_SCAN", "EOD_REPORT"] {
            for status in Status::ALL {
                let series = format!(
                    "kobe_job_runs_total{{tag=\"{tag}\",status=\"{}\"}} 0",
                    status.as_str()
                );
                assert!(text.contains(&series), "{series} missing:\n{text}");
            }
            let count = format!("kobe_job_duration_seconds_count{{tag=\"{tag}\"}} 0");
            assert!(text.contains(&count), "{count} missing:\n{text}");
        }
    }

    #[test]
    fn names_match_the_serialised_form() {
        let json = |v: serde_json::Value| v.as_str().map(String::from);
        for h in [
            Health::Ok,
            Health::Degraded,
            Health::Halted,
            Health::Stopping,
        ] {
            assert_eq!(
                json(serde_json::to_value(h).unwrap()).as_deref(),
                Some(h.as_str())
            );
        }
        for c in [ClockKind::Live, ClockKind::Simulated] {
            assert_eq!(
                json(serde_json::to_value(c).unwrap()).as_deref(),
                Some(c.as_str())
            );
        }
    }
}
