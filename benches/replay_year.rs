//! One simulated year (2016: 252 sessions, every tag of the seed schedule plus three scan
//! times) through the whole runtime — clock, job actors, run ledger, supervisor — with
//! placeholder job bodies, so it measures the runtime itself. Target: under 5 s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use kobe::config::{Config, EMBEDDED_DEFAULT};
use kobe::jobs::placeholder::Placeholder;
use kobe::runner::ReplayRange;
use kobe_actors::clock::{SimClock, Speed};
use kobe_actors::job::{Job, JobFactory};
use kobe_actors::ledger::{Durability, RunLedger};
use kobe_actors::supervisor::{Exit, RestartLimit, Runtime, RuntimeConfig};

fn replay_year(c: &mut Criterion) {
    let mut config = Config::parse(EMBEDDED_DEFAULT, "default").expect("the default config");
    config
        .set_scan_times("09:35,10:30,15:55")
        .expect("valid times");
    let schedule = Arc::new(config.schedule().expect("a valid schedule"));
    let range = ReplayRange::parse("2016-01-01..2016-12-31").expect("a valid range");
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.bench_function("year_2016_all_tags_placeholder_jobs", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp home"),
            |home| {
                let ledger = Arc::new(
                    RunLedger::open(
                        &home.path().join("state"),
                        &home.path().join("logs"),
                        Durability::ProcessCrash,
                    )
                    .expect("ledger"),
                );
                let jobs: BTreeMap<String, JobFactory> = schedule
                    .plans()
                    .map(|p| {
                        let tag: &'static str = Box::leak(p.tag.clone().into_boxed_str());
                        let factory: JobFactory =
                            Arc::new(move || Arc::new(Placeholder { tag }) as Arc<dyn Job>);
                        (p.tag.clone(), factory)
                    })
                    .collect();
                let config = RuntimeConfig {
                    clock: Arc::new(SimClock::new(range.start(), Speed::Max)),
                    schedule: schedule.clone(),
                    ledger,
                    jobs,
                    until: Some(range.end()),
                    restart_limit: RestartLimit::default(),
                    grace: Duration::from_secs(5),
                    ops: None,
                };
                let exit = actix_rt::System::new()
                    .block_on(async move {
                        Runtime::start(config)
                            .expect("starts")
                            .run_until(std::future::pending())
                            .await
                    })
                    .expect("runs");
                assert_eq!(exit, Exit::Finished);
                home
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, replay_year);
criterion_main!(benches);
