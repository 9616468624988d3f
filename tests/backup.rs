//! Backups through the built binaries: backup → restore gives back the same ledger row for row;
//! verify catches a truncated archive and a corrupted database inside one; no secret is ever
//! archived; a failed backup leaves no archive under its final name.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::TempHome;

fn traded_home() -> TempHome {
    let home = TempHome::with_sample();
    std::fs::write(
        home.path().join(".env"),
        "POLYGON_API_KEY=pk_never_archived_42\n",
    )
    .unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/kobe.toml"),
        kobe::config::EMBEDDED_DEFAULT,
    )
    .unwrap();
    home.replay("2016-01-04..2016-02-12", &[]);
    home
}

fn backup(home: &TempHome) -> PathBuf {
    let out = home.kobe().arg("backup").output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn verify(home: &TempHome, archive: &Path) -> Output {
    home.kobe()
        .args(["backup", "verify"])
        .arg(archive)
        .output()
        .unwrap()
}

fn restore(home: &TempHome, archive: &Path, target: &Path) -> Output {
    home.kobe()
        .arg("restore")
        .arg(archive)
        .arg("--to")
        .arg(target)
        .output()
        .unwrap()
}

fn rows(db: &Path, table: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
        .unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        let cols: Vec<String> = (0..n)
            .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
            .collect();
        Ok(cols.join("|"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn backup_then_restore_gives_back_the_ledger_row_for_row() {
    let home = traded_home();
    let archive = backup(&home);
    assert!(archive
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("backup_"));
    let verify = verify(&home, &archive);
    assert!(verify.status.success(), "{}", common::stderr(&verify));

    let target = tempfile::tempdir().unwrap().path().join("restored");
    let out = restore(&home, &archive, &target);
    assert!(out.status.success(), "{}", common::stderr(&out));
    for table in [
        "decisions",
        "orders",
        "fills",
        "positions",
        "trades",
        "equity",
        "account",
    ] {
        let (a, b) = (
            rows(&home.path().join("state/ledger.sqlite"), table),
            rows(&target.join("state/ledger.sqlite"), table),
        );
        assert_eq!(a, b, "{table}");
    }
    assert!(!rows(&target.join("state/ledger.sqlite"), "orders").is_empty());
    assert_eq!(
        rows(&home.path().join("state/runs.sqlite"), "runs"),
        rows(&target.join("state/runs.sqlite"), "runs")
    );
    assert!(target.join("config/kobe.toml").exists());
    // Never a secret: no .env, and no file holding the key.
    let mut names = Vec::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&archive).unwrap(),
    ));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("pk_never_archived_42"),
            "{name} holds the key"
        );
        names.push(name);
    }
    assert!(!names.iter().any(|n| n.ends_with(".env")), "{names:?}");

    // A non-empty target is refused, and left as it was.
    let again = restore(&home, &archive, &target);
    assert_eq!(again.status.code(), Some(2));
    assert!(common::stderr(&again).contains("not empty"));
}

#[test]
fn verify_fails_on_a_truncated_archive_and_a_corrupted_database() {
    let home = traded_home();
    let archive = backup(&home);
    let bytes = std::fs::read(&archive).unwrap();
    let truncated = home.path().join("truncated.tar.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = verify(&home, &truncated);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        common::stderr(&out).lines().count(),
        1,
        "{}",
        common::stderr(&out)
    );

    // Rebuild the archive with the ledger's pages scrambled in the middle.
    let scratch = tempfile::tempdir().unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&archive).unwrap(),
    ))
    .unpack(scratch.path())
    .unwrap();
    let db = scratch.path().join("state/ledger.sqlite");
    let mut data = std::fs::read(&db).unwrap();
    let (middle, len) = (data.len() / 2, data.len());
    for b in &mut data[middle..middle + 4096.min(len - middle)] {
        *b = 0xA5;
    }
    std::fs::write(&db, data).unwrap();
    let corrupted = home.path().join("corrupted.tar.gz");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&corrupted).unwrap(),
        flate2::Compression::default(),
    ));
    builder.append_dir_all(".", scratch.path()).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
    let out = verify(&home, &corrupted);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("ledger.sqlite failed its check"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn keeps_the_newest_and_a_failed_backup_leaves_no_archive() {
    let home = traded_home();
    let config = home.path().join("config/kobe.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("keep = 30", "keep = 2");
    std::fs::write(&config, text).unwrap();
    for session in ["2016-02-16", "2016-02-17", "2016-02-18"] {
        let out = home
            .kobe()
            .args(["run-job", "--tag", "DB_BACKUP", "--session", session])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
    }
    let mut kept: Vec<String> = std::fs::read_dir(home.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tar.gz"))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "backup_20160217_053000.tar.gz",
            "backup_20160218_053000.tar.gz"
        ]
    );

    // An unwritable backups folder (here: a file in its place): a clear failure, nothing written.
    let blocked = TempHome::with_sample();
    std::fs::write(blocked.path().join("backups"), "not a folder").unwrap();
    let out = blocked.kobe().arg("backup").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("backups"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(blocked.path().join("backups")).unwrap(),
        "not a folder"
    );
}

#[test]
fn a_corrupt_database_fails_the_backup_and_the_good_archive_is_kept() {
    let home = traded_home();
    let good = backup(&home);
    let ledger = home.path().join("state/ledger.sqlite");
    common::checkpoint(&ledger);
    common::damage(&ledger, 3 * 4096, false);
    // Archived, a corrupt copy would push good archives out as they age.
    let out = home.kobe().arg("backup").output().unwrap();
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ledger.sqlite") && err.contains("no backup was written"),
        "{err}"
    );
    let archives: Vec<_> = std::fs::read_dir(home.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        archives,
        std::slice::from_ref(&good),
        "only the good archive is left"
    );
    assert!(verify(&home, &good).status.success());
}

#[test]
fn restore_refuses_links_and_devices_in_an_archive() {
    let home = TempHome::new();
    let outside = home.path().join("outside.txt");
    std::fs::write(&outside, "keep me\n").unwrap();
    let kinds = [
        (
            "state/runner.lock",
            tar::EntryType::Symlink,
            "symbolic link",
        ),
        ("logs/jobs.jsonl", tar::EntryType::Link, "hard link"),
        ("state/dev", tar::EntryType::Char, "device"),
    ];
    for (name, kind, said) in kinds {
        let archive = home
            .path()
            .join(format!("crafted_{}.tar.gz", said.replace(' ', "_")));
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&archive).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        let text = b"{}\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "state/heartbeat.json", &text[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(kind);
        link.set_size(0);
        link.set_mode(0o644);
        tar.append_link(&mut link, name, &outside).unwrap();
        tar.into_inner().unwrap().finish().unwrap();

        let target = home
            .path()
            .join(format!("restored_{}", said.replace(' ', "_")));
        let out = restore(&home, &archive, &target);
        let err = common::stderr(&out);
        assert!(!out.status.success(), "{name} restored: {err}");
        assert!(err.contains(name) && err.contains(said), "{err}");
        assert!(!target.join(name).exists(), "{name} was planted");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me\n");
    }
}
