//! Whether a database file is one to write to, before anything does: what is at the path
//! (nothing, an empty file, a database, or something else), SQLite's own header, its quick
//! integrity check, and the schema version kobe wrote. A database in doubt is refused, never
//! recreated over.

use std::io::Read;
use std::path::Path;

use rusqlite::Connection;

use crate::atomic_file::Durability;

/// What is at a database's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Missing,
    /// A file of 0 bytes: SQLite would treat it as a new, empty database.
    Empty,
    /// A regular file with SQLite's header.
    Database,
}

/// The first 16 bytes of every SQLite 3 database file.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Looks at `path` without following a link or opening anything but a regular file.
pub fn inspect(path: &Path) -> Result<Found, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(e.to_string()),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err("is a symbolic link, not a database file (not followed)".into());
    }
    if !kind.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() == 0 {
        return Ok(Found::Empty);
    }
    let mut head = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|f| f.take(16).read(&mut head))
        .map_err(|e| e.to_string())?;
    if read < HEADER.len() || &head != HEADER {
        // A process killed while it checkpointed may leave the file grown but its first page
        // not yet copied from the write-ahead log: SQLite recovers that from the log, and the
        // quick check then judges the result.
        if has_write_ahead_log(path) {
            return Ok(Found::Database);
        }
        return Err("is not an SQLite database (its header is wrong)".into());
    }
    Ok(Found::Database)
}

/// Whether a non-empty `-wal` file (a regular file) lies beside the database.
fn has_write_ahead_log(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::symlink_metadata(Path::new(&wal)).is_ok_and(|m| m.is_file() && m.len() > 0)
}

/// Sets how `db` pushes its commits to disk for `durability`. Live and paper records survive a
/// power cut (`FULL`). A replay's need only survive a kill, which every commit handed to the
/// system does (`OFF`): the WAL checkpoints' fsyncs took 141 ms of the jobs' thread in the
/// one-year demo on ext4.
/// A power cut mid-replay may then lose its last commits or damage the file (the next open's
/// quick check refuses what it finds; it does not compare indexes with their tables);
/// `sync_before_close` makes the last checkpoint durable.
pub fn set_synchronous(db: &Connection, durability: Durability) -> rusqlite::Result<()> {
    let synchronous = match durability {
        Durability::PowerLoss => "FULL",
        Durability::ProcessCrash => "OFF",
    };
    db.pragma_update(None, "synchronous", synchronous)
}

/// Before a replay's connection closes: the checkpoint SQLite makes on close is synced, so what
/// a finished replay recorded survives a power cut after it. A failure is said, not returned:
/// the connection is going either way, and its commits are already with the system.
pub fn sync_before_close(db: &Connection, what: &str) {
    if let Err(e) = db.pragma_update(None, "synchronous", "FULL") {
        tracing::warn!(error = %e, "{what}: not set to sync for its last checkpoint");
    }
}

/// Opens a database that exists, for checking: read-write (never creating it), because a
/// database left by a killed process has a write-ahead log that only a writable connection can
/// recover — read-only, SQLite would call a sound database unreadable. Recovery is SQLite's own
/// bookkeeping; nothing of kobe's is written.
pub fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Another connection's lock is waited out, not taken for damage.
    db.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(db)
}

/// SQLite's quick check of every page and index: `Ok` only if it answers `ok`.
pub fn quick_check(db: &Connection) -> Result<(), String> {
    let mut stmt = db
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| e.to_string())?;
    let answers: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    match answers.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        [] => Err("the integrity check gave no answer".into()),
        // SQLite's report spans lines: one line for the operator, its headings left out.
        problems => {
            let lines: Vec<&str> = problems
                .iter()
                .flat_map(|p| p.lines())
                .filter(|l| !l.starts_with("*** in database"))
                .collect();
            Err(format!("failed its integrity check: {}", lines.join("; ")))
        }
    }
}

/// The schema version kobe stored (`PRAGMA user_version`): one newer than `known` was written
/// by a newer kobe; version 0 with tables in it is some other program's database.
pub fn schema_version(db: &Connection, known: i32) -> Result<i32, String> {
    let version: i32 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if version > known {
        return Err(format!(
            "has schema version {version}, newer than this kobe knows ({known})"
        ));
    }
    if version == 0 {
        let tables: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if tables > 0 {
            return Err(
                "is a database of some other program (it has tables but no kobe schema version)"
                    .into(),
            );
        }
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_at_the_path_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        assert_eq!(inspect(&path), Ok(Found::Missing));
        std::fs::write(&path, b"").unwrap();
        assert_eq!(inspect(&path), Ok(Found::Empty));
        std::fs::write(&path, b"random bytes, not a database at all").unwrap();
        assert!(inspect(&path)
            .unwrap_err()
            .contains("not an SQLite database"));
        // Grown but not yet written, its log beside it (a checkpoint cut short): SQLite's to judge.
        std::fs::write(&path, [0u8; 4096]).unwrap();
        let wal = dir.path().join("x.sqlite-wal");
        std::fs::write(&wal, b"a write-ahead log").unwrap();
        assert_eq!(inspect(&path), Ok(Found::Database));
        std::fs::remove_file(&wal).unwrap();
        assert!(inspect(&path).is_err());
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        assert!(inspect(&path).unwrap_err().contains("symbolic link"));
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(inspect(&path).unwrap_err().contains("not a regular file"));
    }

    #[test]
    fn a_healthy_database_passes_and_a_damaged_or_foreign_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sqlite");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(
                "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); CREATE INDEX tb ON t (b);",
            )
            .unwrap();
            for i in 0..2000 {
                db.execute(
                    "INSERT INTO t (b) VALUES (?1)",
                    [format!("row {i} {}", "x".repeat(100))],
                )
                .unwrap();
            }
            assert_eq!(inspect(&path), Ok(Found::Database));
            assert_eq!(quick_check(&db), Ok(()));
            // Tables and no version: somebody else's database.
            assert!(schema_version(&db, 3)
                .unwrap_err()
                .contains("other program"));
            db.pragma_update(None, "user_version", 9).unwrap();
            assert!(schema_version(&db, 3).unwrap_err().contains("newer"));
        }
        // Zero a run of pages in the middle, as a bad disk would.
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle..middle + 16384].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        let damaged = Connection::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|db| quick_check(&db));
        assert!(damaged.is_err(), "zeroed pages passed the check");
    }
}
