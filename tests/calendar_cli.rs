//! `kobe calendar --csv` against the independent reference calendar, byte for byte.

mod common;

const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/calendar/xnys_sessions_2000_2030.csv"
);

#[test]
fn calendar_csv_equals_the_reference_2000_to_2030() {
    let home = common::TempHome::new();
    let out = home
        .kobe()
        .args([
            "calendar",
            "--from",
            "2000-01-01",
            "--to",
            "2030-12-31",
            "--csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let reference = std::fs::read(REFERENCE).expect("shared reference calendar");
    if out.stdout != reference {
        let ours = String::from_utf8_lossy(&out.stdout);
        let theirs = String::from_utf8_lossy(&reference);
        let diff = ours
            .lines()
            .zip(theirs.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b);
        panic!(
            "differs (ours {} bytes, reference {}): first difference {diff:?}",
            out.stdout.len(),
            reference.len()
        );
    }
}

#[test]
fn a_reversed_range_is_refused() {
    let home = common::TempHome::new();
    let out = home
        .kobe()
        .args(["calendar", "--from", "2024-02-01", "--to", "2024-01-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("--from 2024-02-01 is after --to 2024-01-01"));
}
