//! Scanning all 505 symbols of the shared set for one as-of date: the store read through its
//! snapshot window plus the rules of DESIGN §8, as `kobe scan --as-of D --json` does it.
//! Target: under 50 ms as a whole process, and 100x a pandas implementation
//! (`benches/pandas_scan.py`).

use criterion::{criterion_group, criterion_main, Criterion};
use kobe::data::import::import;
use kobe::data::store::BarStore;

const SHARED_SET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/bars/sp500_5yr.csv.gz"
);

fn scan_505(c: &mut Criterion) {
    let home = tempfile::tempdir().expect("temp home");
    let store = BarStore::new(home.path());
    import(&store, &[SHARED_SET.into()]).expect("the shared set imports");
    let symbols = store.symbols();
    let as_of = "2018-02-05".parse().expect("a date");
    store.load(None); // takes the snapshot, as the first run after an import does
    let mut group = c.benchmark_group("scan");
    group.sample_size(30);
    group.bench_function("505_symbols_one_date", |b| {
        b.iter(|| {
            let loaded = store.load_window(Some(&symbols), Some(kobe::scan::window(as_of)));
            let signals = kobe::scan::scan(&loaded.series, &symbols, as_of);
            kobe::scan::to_json(as_of, &signals)
        })
    });
    group.finish();
}

criterion_group!(benches, scan_505);
criterion_main!(benches);
