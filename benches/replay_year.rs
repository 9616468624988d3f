//! One simulated year (2016: 252 sessions, every tag, placeholder jobs) replayed through the
//! whole runtime, as `runner --mode paper --replay 2016-01-01..2016-12-31` does it.
//! Target: under 5 s.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use kobe::runner::{self, Mode, Outcome, Plan, RunnerArgs};

fn replay_year(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.bench_function("year_2016_all_tags", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp home"),
            |home| {
                let args = RunnerArgs {
                    mode: Mode::Paper,
                    approve_live: false,
                    scan_times: Some("09:35,10:30,15:55".into()),
                    home: Some(home.path().to_path_buf()),
                    config: None,
                    replay: Some("2016-01-01..2016-12-31".into()),
                    speed: None,
                    dotenv: None,
                    health_addr: None,
                    health_allow_remote: false,
                    heartbeat_secs: None,
                    universe: None,
                    cap: None,
                };
                let plan = Plan::check(&args).expect("valid flags");
                match runner::run(plan).expect("replay runs") {
                    Outcome::Replay(summary) => assert_eq!(summary.sessions, 252),
                    Outcome::Stopped { .. } => panic!("a replay must finish"),
                }
                home
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, replay_year);
criterion_main!(benches);
