//! The runtime end to end on a simulated clock, with fake jobs: supervision, overlap, timeouts,
//! misfires and "never twice".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use kobe_actors::calendar::NyseCalendar;
use kobe_actors::clock::{Clock, SimClock, Speed};
use kobe_actors::job::{Job, JobContext, JobError, JobFactory, JobOutput};
use kobe_actors::job_actor::{JobActor, JobActorSetup};
use kobe_actors::ledger::{Durability, RunLedger, RunRecord, Status};
use kobe_actors::messages::{JobCrashed, Tick};
use kobe_actors::schedule::{et_instant, JobPlan, JobSpec, OneOrMany, Schedule};
use kobe_actors::supervisor::{Exit, GetStatus, RestartLimit, Runtime, RuntimeConfig};

type Body = dyn Fn(&JobContext) -> Result<JobOutput, JobError> + Send + Sync;

struct FnJob(Arc<Body>);

impl Job for FnJob {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        (self.0)(ctx)
    }
}

/// A factory that counts how often it built a job (1 + restarts).
fn factory(built: Arc<AtomicUsize>, body: Arc<Body>) -> JobFactory {
    Arc::new(move || {
        built.fetch_add(1, Ordering::SeqCst);
        Arc::new(FnJob(body.clone())) as Arc<dyn Job>
    })
}

fn at(times: &[&str], catch_up: bool) -> JobSpec {
    JobSpec {
        at: OneOrMany::Many(times.iter().map(|s| s.to_string()).collect()),
        catch_up,
        ..Default::default()
    }
}

fn every_15m() -> JobSpec {
    JobSpec {
        every: Some("15m".into()),
        from: Some("10:00".into()),
        to: Some("close".into()),
        ..Default::default()
    }
}

fn et(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    et_instant(date, NaiveTime::from_hms_opt(h, m, 0).unwrap()).with_timezone(&Utc)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

struct Harness {
    dir: tempfile::TempDir,
    ledger: Arc<RunLedger>,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Self::open(dir.path()));
        Self { dir, ledger }
    }

    fn open(dir: &std::path::Path) -> RunLedger {
        RunLedger::open(
            &dir.join("state"),
            &dir.join("logs"),
            Durability::ProcessCrash,
        )
        .unwrap()
    }

    fn reopen(&mut self) {
        self.ledger = Arc::new(Self::open(self.dir.path()));
    }

    /// A runtime over `plans` and `jobs` on `clock`: no end, the default restart limit, a 5 s
    /// grace period, no operator-facing actors.
    fn config(
        &self,
        clock: Arc<dyn Clock>,
        plans: Vec<JobPlan>,
        jobs: BTreeMap<String, JobFactory>,
    ) -> RuntimeConfig {
        RuntimeConfig {
            clock,
            schedule: Arc::new(Schedule::new(plans, NyseCalendar)),
            ledger: self.ledger.clone(),
            jobs,
            until: None,
            restart_limit: RestartLimit::default(),
            grace: Duration::from_secs(5),
            ops: None,
        }
    }

    /// Runs `specs` with `jobs` on a simulated clock from `start` to `until`.
    async fn replay(
        &self,
        specs: &[(&str, JobSpec)],
        jobs: BTreeMap<String, JobFactory>,
        start: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: RestartLimit,
    ) {
        let plans = specs
            .iter()
            .map(|(tag, spec)| JobPlan::compile(tag, spec).unwrap())
            .collect();
        let runtime = Runtime::start(RuntimeConfig {
            until: Some(until),
            restart_limit: limit,
            ..self.config(Arc::new(SimClock::new(start, Speed::Max)), plans, jobs)
        })
        .unwrap();
        let exit = runtime.run_until(std::future::pending()).await.unwrap();
        assert_eq!(exit, Exit::Finished);
    }

    fn records(&self) -> Vec<RunRecord> {
        let from = DateTime::<Utc>::MIN_UTC;
        let to = DateTime::<Utc>::MAX_UTC;
        self.ledger.records_between(from, to).unwrap()
    }

    /// Each record as "`head` STATUS REASON" (the reason empty when there is none), in slot
    /// order.
    fn outcomes(&self, head: impl Fn(&RunRecord) -> String) -> Vec<String> {
        self.records()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    head(r),
                    r.status.as_str(),
                    r.reason.clone().unwrap_or_default()
                )
            })
            .collect()
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("logs/jobs.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn ok_body() -> Arc<Body> {
    Arc::new(|_ctx: &JobContext| Ok(JobOutput::ok("fine")))
}

/// Panics on the runs whose 1-based number is in `panics`, counting across restarts.
fn panicking_body(panics: &'static [usize]) -> Arc<Body> {
    let runs = Arc::new(AtomicUsize::new(0));
    Arc::new(move |_ctx: &JobContext| {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        if panics.contains(&n) {
            panic!("run {n} blew up");
        }
        Ok(JobOutput::ok(format!("run {n}")))
    })
}

const SESSION: (i32, u32, u32) = (2024, 11, 26);

#[actix_rt::test]
async fn a_panicking_job_is_restarted_and_other_jobs_keep_their_slots() {
    let h = Harness::new();
    let date = day(SESSION.0, SESSION.1, SESSION.2);
    let (built_pm, built_other) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let jobs = BTreeMap::from([
        (
            "PM".to_string(),
            factory(built_pm.clone(), panicking_body(&[2, 5])),
        ),
        ("OTHER".to_string(), factory(built_other.clone(), ok_body())),
    ]);
    let specs = [
        ("PM", every_15m()),
        ("OTHER", at(&["09:45", "10:15", "12:00", "15:30"], false)),
    ];
    h.replay(
        &specs,
        jobs,
        et(date, 0, 0),
        et(date, 23, 59),
        RestartLimit::default(),
    )
    .await;

    let records = h.records();
    let pm: Vec<_> = records.iter().filter(|r| r.tag == "PM").collect();
    assert_eq!(pm.len(), 25, "every PM slot recorded once");
    let failed: Vec<_> = pm.iter().filter(|r| r.status == Status::Failed).collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|r| r.reason.as_deref() == Some("panic")));
    assert!(
        failed[0].detail.contains("run 2 blew up"),
        "{}",
        failed[0].detail
    );
    assert_eq!(pm.iter().filter(|r| r.status == Status::Ok).count(), 23);
    // Built once at start and once per restart.
    assert_eq!(built_pm.load(Ordering::SeqCst), 3);

    let other: Vec<_> = records.iter().filter(|r| r.tag == "OTHER").collect();
    let times: Vec<_> = other
        .iter()
        .map(|r| r.slot_et.format("%H:%M").to_string())
        .collect();
    assert_eq!(times, ["09:45", "10:15", "12:00", "15:30"]);
    assert!(other.iter().all(|r| r.status == Status::Ok));
    assert_eq!(built_other.load(Ordering::SeqCst), 1);
}

#[actix_rt::test]
async fn past_the_restart_limit_a_job_is_marked_failed_and_skipped() {
    let h = Harness::new();
    let date = day(SESSION.0, SESSION.1, SESSION.2);
    let always: Arc<Body> = Arc::new(|_ctx: &JobContext| panic!("always"));
    let jobs = BTreeMap::from([
        (
            "PM".to_string(),
            factory(Arc::new(AtomicUsize::new(0)), always),
        ),
        (
            "OTHER".to_string(),
            factory(Arc::new(AtomicUsize::new(0)), ok_body()),
        ),
    ]);
    let specs = [
        ("PM", every_15m()),
        ("OTHER", at(&["12:00", "15:30"], false)),
    ];
    // Two restarts allowed within an hour: the third crash inside an hour gives up.
    let limit = RestartLimit {
        max_restarts: 2,
        within: TimeDelta::hours(1),
    };
    h.replay(&specs, jobs, et(date, 0, 0), et(date, 11, 0), limit)
        .await;

    let pm: Vec<_> = h.records().into_iter().filter(|r| r.tag == "PM").collect();
    let outcome: Vec<_> = pm
        .iter()
        .map(|r| (r.status, r.reason.clone().unwrap_or_default()))
        .collect();
    let failed = (Status::Failed, "panic".to_string());
    let skipped = (Status::Skipped, "restart_limit".to_string());
    // 10:00, 10:15, 10:30 crash; then 10:45 and 11:00 -> the limit is passed after the 3rd.
    assert_eq!(outcome[..3], [failed.clone(), failed.clone(), failed]);
    assert!(outcome[3..].iter().all(|o| *o == skipped), "{outcome:?}");
}

#[actix_rt::test]
async fn the_supervisor_reports_failed_jobs() {
    let h = Harness::new();
    let date = day(SESSION.0, SESSION.1, SESSION.2);
    let always: Arc<Body> =
        Arc::new(|_ctx: &JobContext| Err(JobError::Unrecoverable("broken".into())));
    let jobs = BTreeMap::from([(
        "PM".to_string(),
        factory(Arc::new(AtomicUsize::new(0)), always),
    )]);
    let plans = vec![JobPlan::compile("PM", &every_15m()).unwrap()];
    let runtime = Runtime::start(RuntimeConfig {
        restart_limit: RestartLimit {
            max_restarts: 1,
            within: TimeDelta::hours(1),
        },
        ..h.config(
            Arc::new(SimClock::new(et(date, 0, 0), Speed::Max)),
            plans,
            jobs,
        )
    })
    .unwrap();
    let supervisor = runtime.supervisor.clone();
    // Without an end, poll until the job has been given up on, then shut down.
    let probe = async move {
        loop {
            let status = supervisor.send(GetStatus).await.unwrap();
            if status.failed_jobs.contains("PM") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let exit = runtime.run_until(probe).await.unwrap();
    assert!(matches!(
        exit,
        Exit::Shutdown {
            jobs_finished: true
        }
    ));
    let reasons: Vec<_> = h
        .records()
        .into_iter()
        .map(|r| r.reason.unwrap_or_default())
        .collect();
    assert_eq!(reasons[..2], ["unrecoverable", "unrecoverable"]);
    assert!(reasons[2..].iter().all(|r| r == "restart_limit"));
}

/// A job actor on its own: a tick that finds the job still running is recorded as overlap, and
/// a run past its timeout as failed/timeout.
#[actix_rt::test]
async fn overlap_and_timeout() {
    let h = Harness::new();
    let date = day(SESSION.0, SESSION.1, SESSION.2);
    let slow: Arc<Body> = Arc::new(|_ctx: &JobContext| {
        std::thread::sleep(Duration::from_millis(400));
        Ok(JobOutput::ok("slow but done"))
    });
    let mut spec = at(&["10:00"], false);
    spec.timeout = Some("1s".into());
    let plan = JobPlan::compile("SLOW", &spec).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SimClock::new(et(date, 10, 0), Speed::Max));
    let crashes = Sink.start().recipient::<JobCrashed>();
    let running = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let actor = actix::Supervisor::start({
        let (ledger, clock, running) = (h.ledger.clone(), clock.clone(), running.clone());
        move |_| {
            let setup = JobActorSetup {
                running,
                ledger,
                clock,
                crashes,
                storage: Sink.start().recipient(),
                locks_dir: None,
                kill_switch: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                inline: false,
            };
            JobActor::new(plan, factory(Arc::new(AtomicUsize::new(0)), slow), setup)
        }
    });
    let tick = |h: u32, m: u32| Tick {
        tag: "SLOW".into(),
        session: date,
        slot: et_instant(date, NaiveTime::from_hms_opt(h, m, 0).unwrap()),
    };
    let first = actor.send(tick(10, 0));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = actor.send(tick(10, 15)).await.unwrap();
    assert_eq!(second, Some(Status::Skipped));
    assert_eq!(first.await.unwrap(), Some(Status::Ok));
    // The same slot again: already in the ledger, not run.
    assert_eq!(actor.send(tick(10, 0)).await.unwrap(), None);

    let reasons: Vec<_> = h
        .records()
        .iter()
        .map(|r| (r.slot_et.format("%H:%M").to_string(), r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("10:00".into(), None),
            ("10:15".into(), Some("overlap".into()))
        ]
    );

    // Timeout: a 1 s limit on a 1.5 s body.
    let mut spec = at(&["11:00"], false);
    spec.timeout = Some("1s".into());
    let plan = JobPlan::compile("SLOWER", &spec).unwrap();
    let slower: Arc<Body> = Arc::new(|_ctx: &JobContext| {
        std::thread::sleep(Duration::from_millis(1500));
        Ok(JobOutput::ok("too late"))
    });
    let running = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let actor = actix::Supervisor::start({
        let (ledger, crashes) = (h.ledger.clone(), Sink.start().recipient());
        let flag = running.clone();
        move |_| {
            let setup = JobActorSetup {
                running: flag,
                ledger,
                clock,
                crashes,
                storage: Sink.start().recipient(),
                locks_dir: None,
                kill_switch: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                inline: false,
            };
            JobActor::new(plan, factory(Arc::new(AtomicUsize::new(0)), slower), setup)
        }
    });
    let mut t = tick(11, 0);
    t.tag = "SLOWER".into();
    assert_eq!(actor.send(t).await.unwrap(), Some(Status::Failed));
    // The body is still going after the timeout: the job counts as running until it ends.
    assert!(running.load(Ordering::SeqCst));
    let last = h.records().pop().unwrap();
    assert_eq!(
        (last.tag.as_str(), last.reason.as_deref()),
        ("SLOWER", Some("timeout"))
    );
    while running.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Sink;
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Handler<JobCrashed> for Sink {
    type Result = ();
    fn handle(&mut self, _: JobCrashed, _: &mut Context<Self>) {}
}
impl Handler<kobe_actors::messages::StorageFailed> for Sink {
    type Result = ();
    fn handle(&mut self, _: kobe_actors::messages::StorageFailed, _: &mut Context<Self>) {}
}

#[actix_rt::test]
async fn missed_slots_are_caught_up_once_or_recorded_missed() {
    let h = Harness::new();
    let date = day(SESSION.0, SESSION.1, SESSION.2);
    let counts = Arc::new(AtomicUsize::new(0));
    let jobs = BTreeMap::from([
        ("BACKUP".to_string(), factory(counts.clone(), ok_body())),
        ("REPORT".to_string(), factory(counts.clone(), ok_body())),
        ("SCAN".to_string(), factory(counts.clone(), ok_body())),
    ]);
    let specs = [
        ("BACKUP", at(&["05:30"], true)),
        // Two missed slots of a catch-up job collapse into one run: the later one.
        ("REPORT", at(&["08:00", "08:15", "15:30"], true)),
        ("SCAN", at(&["09:45", "11:30"], false)),
    ];
    // The runner "starts" at 10:00 ET.
    h.replay(
        &specs,
        jobs,
        et(date, 10, 0),
        et(date, 23, 0),
        RestartLimit::default(),
    )
    .await;
    let got = h.outcomes(|r| format!("{} {}", r.slot_et.format("%H:%M"), r.tag));
    assert_eq!(
        got,
        [
            "05:30 BACKUP ok ",
            "08:00 REPORT skipped missed",
            "08:15 REPORT ok ",
            "09:45 SCAN skipped missed",
            "11:30 SCAN ok ",
            "15:30 REPORT ok ",
        ]
    );
}

#[actix_rt::test]
async fn a_second_run_over_the_same_range_runs_nothing_again() {
    let mut h = Harness::new();
    let date = day(SESSION.0, SESSION.1, SESSION.2);
    let built = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let counting: Arc<Body> = {
        let runs = runs.clone();
        Arc::new(move |_ctx: &JobContext| {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(JobOutput::ok("counted"))
        })
    };
    let specs = [("PM", every_15m())];
    let jobs = || BTreeMap::from([("PM".to_string(), factory(built.clone(), counting.clone()))]);
    h.replay(
        &specs,
        jobs(),
        et(date, 0, 0),
        et(date, 12, 0),
        RestartLimit::default(),
    )
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 8); // 10:00..11:45: the end is exclusive
    h.reopen();
    h.replay(
        &specs,
        jobs(),
        et(date, 0, 0),
        et(date, 23, 0),
        RestartLimit::default(),
    )
    .await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        25,
        "the second run only did the rest"
    );
    assert_eq!(h.log_lines().len(), 25);
}

/// Shutdown stops the clock and waits for a running job, up to the grace period.
#[actix_rt::test]
async fn shutdown_waits_for_running_jobs_within_the_grace_period() {
    for (job_ms, grace_ms, finished) in [(300, 5_000, true), (3_000, 200, false)] {
        let h = Harness::new();
        let date = day(SESSION.0, SESSION.1, SESSION.2);
        let body: Arc<Body> = Arc::new(move |_ctx: &JobContext| {
            std::thread::sleep(Duration::from_millis(job_ms));
            Ok(JobOutput::ok("done"))
        });
        let plans = vec![JobPlan::compile("SLOW", &at(&["10:00", "11:00"], false)).unwrap()];
        let runtime = Runtime::start(RuntimeConfig {
            grace: Duration::from_millis(grace_ms),
            // Speed 600: the 10:00 slot is reached at once, 11:00 six real seconds later.
            ..h.config(
                Arc::new(SimClock::new(et(date, 10, 0), Speed::Times(600.0))),
                plans,
                BTreeMap::from([(
                    "SLOW".to_string(),
                    factory(Arc::new(AtomicUsize::new(0)), body),
                )]),
            )
        })
        .unwrap();
        let exit = runtime
            .run_until(tokio::time::sleep(Duration::from_millis(100)))
            .await
            .unwrap();
        assert_eq!(
            exit,
            Exit::Shutdown {
                jobs_finished: finished
            }
        );
        let recorded: Vec<_> = h
            .records()
            .iter()
            .map(|r| r.slot_et.format("%H:%M").to_string())
            .collect();
        let want: &[&str] = if finished { &["10:00"] } else { &[] };
        assert_eq!(recorded, want, "the 11:00 slot never starts after shutdown");
    }
}

/// A clock that oversleeps every wait by an hour: a machine suspended through each slot.
struct Oversleeping(SimClock);

impl Clock for Oversleeping {
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
    fn kind(&self) -> kobe_actors::clock::ClockKind {
        kobe_actors::clock::ClockKind::Simulated
    }
    fn wait_step(&self, due: DateTime<Utc>) -> Option<Duration> {
        self.0.advance_to(due + TimeDelta::hours(1));
        None
    }
}

#[actix_rt::test]
async fn a_slot_woken_late_is_a_misfire_not_an_on_time_run() {
    let h = Harness::new();
    let date = day(SESSION.0, SESSION.1, SESSION.2);
    let counts = Arc::new(AtomicUsize::new(0));
    let jobs = BTreeMap::from([
        ("REPORT".to_string(), factory(counts.clone(), ok_body())),
        ("SCAN".to_string(), factory(counts.clone(), ok_body())),
    ]);
    let plans = vec![
        JobPlan::compile("REPORT", &at(&["15:30"], true)).unwrap(),
        JobPlan::compile("SCAN", &at(&["09:45"], false)).unwrap(),
    ];
    let runtime = Runtime::start(RuntimeConfig {
        until: Some(et(date, 23, 0)),
        ..h.config(
            Arc::new(Oversleeping(SimClock::new(et(date, 0, 0), Speed::Max))),
            plans,
            jobs,
        )
    })
    .unwrap();
    assert_eq!(
        runtime.run_until(std::future::pending()).await.unwrap(),
        Exit::Finished
    );
    let got = h.outcomes(|r| r.tag.clone());
    // The scan may not run an hour late; the report catches up (same session).
    assert_eq!(got, ["SCAN skipped missed", "REPORT ok "]);
}

#[actix_rt::test]
async fn a_restarted_runner_records_the_days_it_was_down_as_missed() {
    let h = Harness::new();
    let monday = day(2024, 11, 25);
    let wednesday_noon = et(day(2024, 11, 27), 12, 0);
    // The ledger's last record: Monday's 15:30 report.
    let jobs = || {
        BTreeMap::from([(
            "REPORT".to_string(),
            factory(Arc::new(AtomicUsize::new(0)), ok_body()),
        )])
    };
    let plans = || vec![JobPlan::compile("REPORT", &at(&["15:30"], true)).unwrap()];
    h.replay(
        &[("REPORT", at(&["15:30"], true))],
        jobs(),
        et(monday, 0, 0),
        et(monday, 23, 0),
        RestartLimit::default(),
    )
    .await;
    // "Restart" on Wednesday at noon with no end, and stop once Wednesday's slot is done.
    let runtime = Runtime::start(RuntimeConfig {
        ..h.config(
            Arc::new(SimClock::new(wednesday_noon, Speed::Max)),
            plans(),
            jobs(),
        )
    })
    .unwrap();
    let ledger = h.ledger.clone();
    let wednesday_done = async move {
        let slot = et(day(2024, 11, 27), 15, 30);
        while !ledger.is_done("REPORT", slot).unwrap() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    runtime.run_until(wednesday_done).await.unwrap();
    let got = h.outcomes(|r| r.session.to_string());
    assert_eq!(
        got[..3],
        [
            "2024-11-25 ok ",
            "2024-11-26 skipped missed",
            "2024-11-27 ok "
        ]
    );
}

/// The application hears, through its hook, of a job given up on and of kill-switch changes.
#[actix_rt::test]
async fn the_event_hook_hears_a_job_given_up_on() {
    let h = Harness::new();
    let date = day(SESSION.0, SESSION.1, SESSION.2);
    let always: Arc<Body> = Arc::new(|_ctx: &JobContext| panic!("always"));
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook_heard = heard.clone();
    let plans = vec![JobPlan::compile("PM", &every_15m()).unwrap()];
    let runtime = Runtime::start(RuntimeConfig {
        until: Some(et(date, 11, 0)),
        restart_limit: RestartLimit {
            max_restarts: 1,
            within: TimeDelta::hours(1),
        },
        ops: Some(kobe_actors::supervisor::Operations {
            mode: kobe_actors::mode::RunMode::Paper,
            state_dir: h.dir.path().join("state"),
            logs_dir: h.dir.path().join("logs"),
            heartbeat_every: Duration::from_secs(30),
            health: None,
            wall: Arc::new(kobe_actors::clock::LiveClock),
            on_event: Some(Arc::new(move |e| hook_heard.lock().unwrap().push(e))),
            metrics: None,
            status_page: None,
        }),
        ..h.config(
            Arc::new(SimClock::new(et(date, 0, 0), Speed::Max)),
            plans,
            BTreeMap::from([(
                "PM".to_string(),
                factory(Arc::new(AtomicUsize::new(0)), always),
            )]),
        )
    })
    .unwrap();
    assert_eq!(
        runtime.run_until(std::future::pending()).await.unwrap(),
        Exit::Finished
    );
    let heard = heard.lock().unwrap().clone();
    assert!(
        heard.contains(&kobe_actors::messages::RuntimeEvent::JobGaveUp {
            tag: "PM".into(),
            crashes: 2
        }),
        "{heard:?}"
    );
}
