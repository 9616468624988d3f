//! How late the live clock fires slots: runs a one-second schedule on the real clock for a
//! minute and prints the lateness distribution. Measures, does not assert (shared machines are
//! noisy). Run with `cargo test -p kobe-actors --release --test live_lateness -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use kobe_actors::calendar::{NyseCalendar, EXCHANGE_TZ};
use kobe_actors::clock::{Clock, LiveClock};
use kobe_actors::job::{Job, JobContext, JobError, JobFactory, JobOutput};
use kobe_actors::ledger::{Durability, RunLedger};
use kobe_actors::schedule::{Days, JobPlan, JobSpec, Schedule};
use kobe_actors::supervisor::{RestartLimit, Runtime, RuntimeConfig};

struct Nothing;
impl Job for Nothing {
    fn run(&self, _ctx: &JobContext) -> Result<JobOutput, JobError> {
        Ok(JobOutput::ok(""))
    }
}

#[actix_rt::test]
#[ignore = "takes up to two minutes of real time; prints figures"]
async fn live_slot_lateness() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(
        RunLedger::open(
            &dir.path().join("state"),
            &dir.path().join("logs"),
            Durability::PowerLoss,
        )
        .unwrap(),
    );
    let clock = LiveClock;
    let now_et = clock.now().with_timezone(&EXCHANGE_TZ);
    let start = now_et + TimeDelta::minutes(1);
    let (from, to) = (start, start + TimeDelta::minutes(1));
    let hhmm = |t: DateTime<chrono_tz::Tz>| format!("{:02}:{:02}", t.hour(), t.minute());
    let spec = JobSpec {
        every: Some("1s".into()),
        from: Some(hhmm(from)),
        to: Some(hhmm(to)),
        days: Days::Daily,
        ..Default::default()
    };
    let plan = JobPlan::compile("TICK", &spec).unwrap();
    let factory: JobFactory = Arc::new(|| Arc::new(Nothing) as Arc<dyn Job>);
    let end = to.with_second(1).unwrap().with_timezone(&Utc);
    let runtime = Runtime::start(RuntimeConfig {
        clock: Arc::new(LiveClock),
        schedule: Arc::new(Schedule::new(vec![plan], NyseCalendar)),
        ledger: ledger.clone(),
        jobs: BTreeMap::from([("TICK".to_string(), factory)]),
        until: None,
        restart_limit: RestartLimit::default(),
        grace: Duration::from_secs(5),
        ops: None,
    })
    .unwrap();
    let wait = async move {
        while LiveClock.now() < end {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    runtime.run_until(wait).await.unwrap();

    let records = ledger
        .records_between(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        .unwrap();
    let mut late_us: Vec<i64> = records
        .iter()
        .map(|r| {
            (r.started - r.slot_et.with_timezone(&Utc))
                .num_microseconds()
                .unwrap()
        })
        .collect();
    late_us.sort_unstable();
    assert!(late_us.len() >= 60, "only {} slots fired", late_us.len());
    let pct = |p: f64| late_us[((late_us.len() - 1) as f64 * p).round() as usize];
    println!(
        "live lateness over {} slots: p50 {} us, p99 {} us, max {} us, min {} us",
        late_us.len(),
        pct(0.5),
        pct(0.99),
        late_us[late_us.len() - 1],
        late_us[0]
    );
}
