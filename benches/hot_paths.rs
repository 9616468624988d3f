//! The replay's hot paths, one at a time, on the 505 symbols of the shared set: a scan step (the
//! whole universe cut at one date out of the replay's kept bar store, ranked), an idle
//! position-manager cycle (outside the entry windows, nothing open: what 13 of a session's 25
//! cycles are), and a slot's overhead around an empty body (gates, ledger checks, job lock,
//! record), run inline as a replay runs it and on a thread of its own as `kobe run-job` does.
//!
//!   cargo bench --bench hot_paths

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use kobe::app::App;
use kobe::config::{Config, EMBEDDED_DEFAULT};
use kobe::data::import::import;
use kobe::data::store::BarStore;
use kobe::home::Home;
use kobe::jobs::position_manager::PositionManager;
use kobe::secrets::Secrets;
use kobe_actors::calendar::EXCHANGE_TZ;
use kobe_actors::clock::{Clock, SimClock, Speed};
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};
use kobe_actors::ledger::{Durability, RunLedger};
use kobe_actors::mode::RunMode;
use kobe_actors::schedule::Slot;
use kobe_actors::slot::{Gate, LockPolicy, SlotProtocol};

const SHARED_SET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/bars/sp500_5yr.csv.gz"
);

/// A home with the shared set imported.
fn imported_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp home");
    import(&BarStore::new(home.path()), &[SHARED_SET.into()]).expect("the shared set imports");
    home
}

fn scan_step(c: &mut Criterion) {
    let home = imported_home();
    let store = BarStore::frozen(home.path());
    let universe = store.symbols();
    let as_of: NaiveDate = "2015-06-15".parse().expect("a date");
    let window = kobe::scan::window(as_of);
    store.with_series(&universe, Some(window), |_| ()); // the one read a replay makes
    let mut group = c.benchmark_group("replay");
    group.bench_function("scan_step_505_symbols", |b| {
        b.iter(|| {
            store.with_series(&universe, Some(window), |bars| {
                kobe::scan::scan(bars, &universe, as_of).len()
            })
        })
    });
    group.finish();
}

fn idle_cycle(c: &mut Criterion) {
    let home = imported_home();
    let config = Config::parse(EMBEDDED_DEFAULT, "default").expect("the default config");
    let app = App::new(
        RunMode::Replay,
        Home::resolve(Some(home.path())),
        config,
        Secrets::default(),
    );
    let manager = PositionManager::new(Arc::new(app));
    let session: NaiveDate = "2015-06-15".parse().expect("a session");
    // 09:45: outside both entry windows, not the last cycle, not the close.
    let slot = EXCHANGE_TZ
        .from_local_datetime(&session.and_hms_opt(9, 45, 0).expect("a time"))
        .single()
        .expect("one instant");
    let clock: Arc<dyn Clock> = Arc::new(SimClock::new(slot.with_timezone(&Utc), Speed::Max));
    let ctx = JobContext {
        tag: "POSITION_MANAGER".into(),
        session,
        slot,
        started: clock.now(),
        clock,
        manage_only: false,
        kill_switch: Arc::new(AtomicBool::new(false)),
    };
    manager.run(&ctx).expect("a first cycle opens the ledger");
    let mut group = c.benchmark_group("replay");
    group.bench_function("idle_position_manager_cycle", |b| {
        b.iter(|| manager.run(&ctx).expect("an idle cycle"))
    });
    group.finish();
}

/// A body that does nothing: what is measured is everything around it.
struct Empty;

impl Job for Empty {
    fn run(&self, _: &JobContext) -> Result<JobOutput, JobError> {
        Ok(JobOutput::ok("nothing"))
    }
}

fn slot_overhead(c: &mut Criterion) {
    let home = tempfile::tempdir().expect("temp home");
    let state = home.path().join("state");
    let ledger =
        RunLedger::open_batched(&state, &home.path().join("logs"), Durability::ProcessCrash)
            .expect("a ledger");
    let config = Config::parse(EMBEDDED_DEFAULT, "default").expect("the default config");
    let schedule = config.schedule().expect("the default schedule");
    let mut plan = schedule.plan("POSITION_MANAGER").expect("a plan").clone();
    plan.timeout = Duration::from_secs(60);
    let start = Utc.with_ymd_and_hms(2015, 6, 15, 0, 0, 0).unwrap();
    let protocol = SlotProtocol {
        plan,
        ledger: Arc::new(ledger),
        clock: Arc::new(SimClock::new(start, Speed::Max)),
        kill_switch: Arc::new(AtomicBool::new(false)),
        running: Arc::new(AtomicBool::new(false)),
        locks_dir: Some(state.join("locks")),
        lock: LockPolicy::Wait(Duration::from_secs(1)),
        force: false,
    };
    let job: Arc<dyn Job> = Arc::new(Empty);
    // Every iteration is a new slot (one a minute from the start): a slot runs once.
    let mut minute = 0i64;
    let mut next_slot = || {
        minute += 1;
        let at = (start + chrono::TimeDelta::minutes(minute)).with_timezone(&EXCHANGE_TZ);
        Slot {
            tag: "POSITION_MANAGER".into(),
            session: at.date_naive(),
            at,
            skip: None,
        }
    };
    let mut group = c.benchmark_group("replay");
    group.bench_function("slot_overhead_inline", |b| {
        b.iter(
            || match protocol.admit(next_slot(), false).expect("gates") {
                Gate::Open(admitted) => admitted.run_inline(job.clone()).expect("recorded"),
                Gate::Closed(end) => end,
            },
        )
    });
    group.bench_function("slot_overhead_own_thread", |b| {
        b.iter(
            || match protocol.admit(next_slot(), false).expect("gates") {
                Gate::Open(admitted) => admitted.run_blocking(job.clone()).expect("recorded"),
                Gate::Closed(end) => end,
            },
        )
    });
    group.finish();
}

criterion_group!(benches, scan_step, idle_cycle, slot_overhead);
criterion_main!(benches);
