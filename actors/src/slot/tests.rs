//! The slot protocol's gates and endings, each on a fresh ledger and a fixed simulated instant.

use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;

use chrono::{NaiveDate, NaiveTime};

use super::*;
use crate::clock::{SimClock, Speed};
use crate::ledger::Durability;
use crate::schedule::{et_instant, JobSpec, OneOrMany};

type Body = dyn Fn(&JobContext) -> Result<JobOutput, JobError> + Send + Sync;

/// A job that counts its runs.
struct Counted {
    runs: AtomicUsize,
    body: Box<Body>,
}

impl Job for Counted {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        (self.body)(ctx)
    }
}

fn counted(
    body: impl Fn(&JobContext) -> Result<JobOutput, JobError> + Send + Sync + 'static,
) -> Arc<Counted> {
    Arc::new(Counted {
        runs: AtomicUsize::new(0),
        body: Box::new(body),
    })
}

fn fine() -> Arc<Counted> {
    counted(|_| Ok(JobOutput::ok("done")))
}

fn runs(job: &Counted) -> usize {
    job.runs.load(Ordering::SeqCst)
}

const SESSION: (i32, u32, u32) = (2024, 11, 29);

fn slot(hour: u32, minute: u32) -> Slot {
    let session = NaiveDate::from_ymd_opt(SESSION.0, SESSION.1, SESSION.2).unwrap();
    Slot {
        tag: "JOB".into(),
        session,
        at: et_instant(session, NaiveTime::from_hms_opt(hour, minute, 0).unwrap()),
        skip: None,
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    protocol: SlotProtocol,
}

impl Fixture {
    fn new(policy: KillSwitchPolicy) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let ledger =
            RunLedger::open(&state, &dir.path().join("logs"), Durability::ProcessCrash).unwrap();
        let spec = JobSpec {
            at: OneOrMany::One("10:00".into()),
            kill_switch: policy,
            ..JobSpec::default()
        };
        let mut plan = JobPlan::compile("JOB", &spec).unwrap();
        plan.timeout = Duration::from_secs(5);
        let start = slot(10, 0).at.with_timezone(&Utc);
        let protocol = SlotProtocol {
            plan,
            ledger: Arc::new(ledger),
            clock: Arc::new(SimClock::new(start, Speed::Max)),
            kill_switch: Arc::new(AtomicBool::new(false)),
            running: Arc::new(AtomicBool::new(false)),
            locks_dir: Some(state.join("locks")),
            lock: LockPolicy::TryOnce,
            force: false,
        };
        Self { dir, protocol }
    }

    fn locks(&self) -> PathBuf {
        self.dir.path().join("state/locks")
    }

    fn run(&self, slot: Slot, job: &Arc<Counted>) -> SlotEnd {
        match self.protocol.admit(slot, false).unwrap() {
            Gate::Closed(end) => end,
            Gate::Open(admitted) => admitted.run_blocking(job.clone()).unwrap(),
        }
    }

    fn records(&self) -> Vec<RunRecord> {
        let from = slot(0, 0).at.with_timezone(&Utc);
        let to = slot(23, 59).at.with_timezone(&Utc);
        self.protocol.ledger.records_between(from, to).unwrap()
    }
}

/// The record a slot ended with, as "status reason".
fn recorded(end: &SlotEnd) -> String {
    match end {
        SlotEnd::Recorded(r) => {
            assert!(r.stored.is_ok(), "{:?}", r.stored);
            let reason = r.record.reason.as_deref().unwrap_or("-");
            format!("{} {reason}", r.record.status.as_str())
        }
        other => panic!("expected a record, got {other:?}"),
    }
}

#[test]
fn a_slot_runs_once_and_a_done_slot_is_not_looked_at_again() {
    let f = Fixture::new(KillSwitchPolicy::Run);
    let job = fine();
    assert_eq!(recorded(&f.run(slot(10, 0), &job)), "ok -");
    assert!(matches!(f.run(slot(10, 0), &job), SlotEnd::Done));
    assert_eq!((runs(&job), f.records().len()), (1, 1));
    assert!(!f.protocol.running.load(Ordering::SeqCst));
}

#[test]
fn a_slot_due_while_the_job_runs_is_an_overlap() {
    let f = Fixture::new(KillSwitchPolicy::Run);
    let Gate::Open(first) = f.protocol.admit(slot(10, 0), false).unwrap() else {
        panic!("the first slot should open");
    };
    let job = fine();
    let second = f.run(slot(10, 15), &job);
    assert_eq!(recorded(&second), "skipped overlap");
    assert_eq!(runs(&job), 0);
    // The first one's body ends: the job is free again.
    assert_eq!(recorded(&first.run_blocking(job.clone()).unwrap()), "ok -");
    assert_eq!(recorded(&f.run(slot(10, 30), &job)), "ok -");
}

#[test]
fn the_kill_switch_skips_a_skip_job_and_makes_the_others_manage_only() {
    let f = Fixture::new(KillSwitchPolicy::Skip);
    f.protocol.kill_switch.store(true, Ordering::SeqCst);
    let job = fine();
    assert_eq!(recorded(&f.run(slot(10, 0), &job)), "skipped kill_switch");
    assert_eq!(runs(&job), 0);

    let f = Fixture::new(KillSwitchPolicy::Run);
    f.protocol.kill_switch.store(true, Ordering::SeqCst);
    let entries = counted(|ctx| Ok(JobOutput::ok(format!("entries {}", ctx.entries_allowed()))));
    let end = f.run(slot(10, 0), &entries);
    assert_eq!(recorded(&end), "ok -");
    let SlotEnd::Recorded(r) = end else {
        unreachable!()
    };
    assert_eq!(r.record.detail, "entries false");
}

#[test]
fn a_slot_after_the_close_is_recorded_without_running() {
    let f = Fixture::new(KillSwitchPolicy::Run);
    let job = fine();
    let mut late = slot(13, 30);
    late.skip = Some(SlotSkip::AfterClose);
    assert_eq!(recorded(&f.run(late, &job)), "skipped after_close");
    assert_eq!(runs(&job), 0);
}

#[test]
fn a_job_past_its_restart_limit_is_skipped() {
    let f = Fixture::new(KillSwitchPolicy::Run);
    let Gate::Closed(end) = f.protocol.admit(slot(10, 0), true).unwrap() else {
        panic!("a disabled job must not open");
    };
    assert_eq!(recorded(&end), "skipped restart_limit");
}

/// The other process (here a thread) holds the lock, records the slot, then lets go: the
/// waiting side sees it done and never runs the body.
#[test]
fn a_slot_done_by_the_lock_holder_is_not_run_again() {
    let mut f = Fixture::new(KillSwitchPolicy::Run);
    f.protocol.lock = LockPolicy::Wait(Duration::from_secs(5));
    let held = JobLock::try_acquire(&f.locks(), "JOB").unwrap().unwrap();
    let ledger = f.protocol.ledger.clone();
    let other = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let at = slot(10, 0).at;
        let now = at.with_timezone(&Utc);
        ledger
            .record(&RunRecord {
                tag: "JOB".into(),
                session: at.date_naive(),
                slot_et: at.fixed_offset(),
                started: now,
                finished: now,
                duration_ms: 0,
                status: Status::Ok,
                reason: None,
                detail: "by the other process".into(),
            })
            .unwrap();
        drop(held);
    });
    let job = fine();
    assert!(matches!(f.run(slot(10, 0), &job), SlotEnd::DoneMeanwhile));
    other.join().unwrap();
    assert_eq!(runs(&job), 0);
    assert_eq!(f.records().len(), 1);
}

#[test]
fn a_held_lock_is_refused_once_or_waited_for_then_an_overlap() {
    let mut f = Fixture::new(KillSwitchPolicy::Run);
    let _held = JobLock::try_acquire(&f.locks(), "JOB").unwrap().unwrap();
    let job = fine();
    assert!(matches!(f.run(slot(10, 0), &job), SlotEnd::Busy));
    assert!(f.records().is_empty());

    f.protocol.lock = LockPolicy::Wait(Duration::from_millis(100));
    assert_eq!(recorded(&f.run(slot(10, 0), &job)), "skipped overlap");
    assert_eq!(runs(&job), 0);
}

#[test]
fn a_body_past_its_timeout_fails_and_keeps_the_job_running() {
    let mut f = Fixture::new(KillSwitchPolicy::Run);
    f.protocol.plan.timeout = Duration::from_millis(100);
    let (release, wait) = mpsc::channel::<()>();
    let wait = std::sync::Mutex::new(wait);
    let stuck = counted(move |_| {
        let _ = wait.lock().unwrap().recv();
        Ok(JobOutput::ok("too late"))
    });
    assert_eq!(recorded(&f.run(slot(10, 0), &stuck)), "failed timeout");
    assert!(f.protocol.running.load(Ordering::SeqCst));
    assert_eq!(recorded(&f.run(slot(10, 15), &stuck)), "skipped overlap");
    release.send(()).unwrap();
    while f.protocol.running.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_panic_is_a_recorded_failure_that_asks_for_a_restart() {
    let f = Fixture::new(KillSwitchPolicy::Run);
    let boom = counted(|_| panic!("boom"));
    let end = f.run(slot(10, 0), &boom);
    assert_eq!(recorded(&end), "failed panic");
    let SlotEnd::Recorded(r) = end else {
        unreachable!()
    };
    assert!(r.restart);
    assert_eq!(r.record.detail, "panicked: boom");
    assert!(!f.protocol.running.load(Ordering::SeqCst));
    assert!(JobLock::try_acquire(&f.locks(), "JOB").unwrap().is_some());
}

#[test]
fn a_forced_rerun_replaces_the_record() {
    let mut f = Fixture::new(KillSwitchPolicy::Run);
    let job = fine();
    f.run(slot(10, 0), &job);
    f.protocol.force = true;
    assert_eq!(recorded(&f.run(slot(10, 0), &job)), "ok -");
    assert_eq!((runs(&job), f.records().len()), (2, 1));
    let log = std::fs::read_to_string(f.dir.path().join("logs/jobs.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2);
}

#[actix_rt::test]
async fn the_async_run_times_out_and_catches_panics_too() {
    let mut f = Fixture::new(KillSwitchPolicy::Run);
    f.protocol.plan.timeout = Duration::from_millis(100);
    let open = |s| match f.protocol.admit(s, false).unwrap() {
        Gate::Open(admitted) => admitted,
        Gate::Closed(end) => panic!("closed: {end:?}"),
    };
    let slow = counted(|_| {
        std::thread::sleep(Duration::from_millis(300));
        Ok(JobOutput::ok("too late"))
    });
    let end = open(slot(10, 0)).run(slow).await.unwrap();
    assert_eq!(recorded(&end), "failed timeout");
    while f.protocol.running.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let boom = counted(|_| panic!("boom"));
    let end = open(slot(10, 15)).run(boom).await.unwrap();
    assert_eq!(recorded(&end), "failed panic");
}
