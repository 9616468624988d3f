//! One simulated year (2016: 252 sessions, every tag) replayed through the whole runtime on the
//! shipped 50-symbol sample, as `runner --mode paper --replay 2016-01-01..2016-12-31` does it.
//! Target: under 5 s.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use kobe::runner::{self, Mode, Outcome, Plan, RunnerArgs};

fn replay_year(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.bench_function("year_2016_all_tags", |b| {
        b.iter_batched(
            || {
                let home = tempfile::tempdir().expect("temp home");
                copy_sample(home.path());
                home
            },
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

/// The repository's shipped sample, as a fresh clone has it.
fn copy_sample(home: &std::path::Path) {
    for dir in ["data/bars", "data/universe"] {
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        std::fs::create_dir_all(home.join(dir)).expect("data folder");
        for entry in std::fs::read_dir(from).expect("shipped sample").flatten() {
            std::fs::copy(entry.path(), home.join(dir).join(entry.file_name())).expect("copy");
        }
    }
}

criterion_group!(benches, replay_year);
criterion_main!(benches);
