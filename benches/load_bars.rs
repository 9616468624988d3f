//! Loading all 505 symbols of the shared set from the bar store (`data/bars/*.csv`, parsed and
//! validated on every core). Target: under 100 ms.

use criterion::{criterion_group, criterion_main, Criterion};
use kobe::data::import::import;
use kobe::data::store::BarStore;

const SHARED_SET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/bars/sp500_5yr.csv.gz"
);

fn load_all(c: &mut Criterion) {
    let home = tempfile::tempdir().expect("temp home");
    let store = BarStore::new(home.path());
    import(&store, &[SHARED_SET.into()]).expect("the shared set imports");
    let mut group = c.benchmark_group("bar_store");
    group.sample_size(20);
    group.bench_function("load_505_symbols", |b| {
        b.iter(|| {
            let loaded = store.load(None);
            assert_eq!(loaded.series.len(), 505);
            loaded
        })
    });
    group.finish();
}

criterion_group!(benches, load_all);
criterion_main!(benches);
