//! Backups of a home: `backups/backup_YYYYMMDD_HHMMSS.tar.gz` with `state/*.json(l)`,
//! `state/watchlist/`, a consistent copy of each `state/*.sqlite` taken with SQLite's online
//! backup (never a raw copy of a live database), `logs/*.jsonl` and `config/` — never `.env`.
//!
//! The archive is written under a temporary name and renamed once complete, so a full disk or
//! an unwritable folder leaves no partial archive under the final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use rusqlite::Connection;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {why}", path = .path.display())]
    Io { path: PathBuf, why: String },
    #[error("{path}: database {name} failed its check: {why}", path = .path.display())]
    BadDatabase {
        path: PathBuf,
        name: String,
        why: String,
    },
    #[error("--to {path}: the folder is not empty; restore into a new or empty folder", path = .path.display())]
    NotEmpty { path: PathBuf },
    /// A database of the home is corrupt: archiving it would let good backups age out behind
    /// a bad one.
    #[error("{path}: {why}; no backup was written (an archive of a corrupt database would push a good one out)", path = .path.display())]
    CorruptSource { path: PathBuf, why: String },
}

impl BackupError {
    /// 2 for what the operator asked wrongly (a non-empty target); 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            BackupError::NotEmpty { .. } | BackupError::CorruptSource { .. } => 2,
            _ => 1,
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// Files of `dir` (not recursing) whose names pass `keep`, sorted.
fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .collect();
    out.sort();
    out
}

/// Writes the archive for `home` named after `stamp` (`YYYYMMDD_HHMMSS`) and keeps the newest
/// `keep` archives. Returns the archive's path. Each database is copied and checked first: a
/// corrupt one fails the backup before any archive is written, so every archive that gets its
/// final name — and the newest ones pruning keeps — holds databases that passed the check.
pub fn create(home: &Path, stamp: &str, keep: usize) -> Result<PathBuf, BackupError> {
    let backups = home.join("backups");
    std::fs::create_dir_all(&backups).map_err(io(&backups))?;
    let name = format!("backup_{stamp}.tar.gz");
    let final_path = backups.join(&name);
    let partial = backups.join(format!(".{name}.partial"));
    let staging = tempfile::Builder::new()
        .prefix(".staging")
        .tempdir_in(&backups)
        .map_err(io(&backups))?;
    let result = (|| {
        let state = home.join("state");
        copy_databases(&state, staging.path())?;
        let file = File::create(&partial).map_err(io(&partial))?;
        let mut tar =
            tar::Builder::new(GzEncoder::new(BufWriter::new(file), Compression::default()));
        type Keep = fn(&str) -> bool;
        let plain: Keep = |n| {
            !n.starts_with('.')
                && (n.ends_with(".json") || n.ends_with(".jsonl") || n == "KILL_SWITCH")
        };
        // Each folder, which of its files go in, and under which folder of the archive.
        let watchlist = state.join("watchlist");
        let (logs, config) = (home.join("logs"), home.join("config"));
        let table: [(&Path, Keep, &str); 5] = [
            (staging.path(), |n| n.ends_with(".sqlite"), "state"),
            (&state, plain, "state"),
            (&watchlist, |n| !n.starts_with('.'), "state/watchlist"),
            (&logs, |n| n.ends_with(".jsonl"), "logs"),
            // Configuration, never secrets (a .env kept in config/ by mistake stays out too).
            (
                &config,
                |n| !n.starts_with('.') && !n.ends_with(".env"),
                "config",
            ),
        ];
        for (dir, keep, prefix) in table {
            for f in files(dir, keep) {
                let n = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                tar.append_path_with_name(&f, format!("{prefix}/{n}"))
                    .map_err(io(&partial))?;
            }
        }
        let gz = tar.into_inner().map_err(io(&partial))?;
        let mut writer = gz.finish().map_err(io(&partial))?;
        writer.flush().map_err(io(&partial))?;
        let file = writer.into_inner().map_err(|e| BackupError::Io {
            path: partial.clone(),
            why: e.to_string(),
        })?;
        file.sync_all().map_err(io(&partial))?;
        std::fs::rename(&partial, &final_path).map_err(io(&final_path))?;
        File::open(&backups)
            .and_then(|d| d.sync_all())
            .map_err(io(&backups))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result?;
    prune(home, keep)?;
    Ok(final_path)
}

/// Consistent copies of `state`'s databases into `into`, made with SQLite's online backup
/// while the runner may be writing them; each copy must pass SQLite's check.
fn copy_databases(state: &Path, into: &Path) -> Result<(), BackupError> {
    for db in files(state, |n| n.ends_with(".sqlite")) {
        let file_name = db.file_name().expect("a file name");
        let copy = into.join(file_name);
        let source = Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| BackupError::Io {
            path: db.clone(),
            why: e.to_string(),
        })?;
        source
            .backup(rusqlite::DatabaseName::Main, &copy, None)
            .map_err(|e| BackupError::Io {
                path: db.clone(),
                why: format!("online backup: {e}"),
            })?;
        // The copy is what the archive holds: it must pass SQLite's check.
        Connection::open_with_flags(&copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| e.to_string())
            .and_then(|c| kobe_actors::db_check::quick_check(&c))
            .map_err(|why| BackupError::CorruptSource {
                path: db.clone(),
                why,
            })?;
    }
    Ok(())
}

/// The home's archives, oldest first (names sort by time).
pub fn archives(home: &Path) -> Vec<PathBuf> {
    files(&home.join("backups"), |n| {
        n.starts_with("backup_") && n.ends_with(".tar.gz")
    })
}

/// Whether `archive` holds a trading ledger (`state/ledger.sqlite`), read from its index
/// (the archive's members are listed, not unpacked); an archive that cannot be read says why.
pub fn holds_ledger(archive: &Path) -> Result<bool, String> {
    let file = File::open(archive).map_err(|e| e.to_string())?;
    let mut tar = tar::Archive::new(GzDecoder::new(file));
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.path().map_err(|e| e.to_string())? == Path::new("state/ledger.sqlite") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Keeps the newest `keep` archives (names sort by time).
fn prune(home: &Path, keep: usize) -> Result<(), BackupError> {
    let archives = archives(home);
    for old in archives
        .iter()
        .take(archives.len().saturating_sub(keep.max(1)))
    {
        std::fs::remove_file(old).map_err(io(old))?;
    }
    Ok(())
}

/// What a sound archive holds.
#[derive(Debug)]
pub struct Verified {
    pub files: Vec<String>,
    pub databases: Vec<String>,
}

/// Unpacks `archive` into `into`, refusing any member that would land outside it.
fn unpack(archive: &Path, into: &Path) -> Result<Vec<String>, BackupError> {
    let file = File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(GzDecoder::new(file));
    let bad = |why: String| BackupError::Io {
        path: archive.to_path_buf(),
        why,
    };
    let mut names = Vec::new();
    for entry in tar
        .entries()
        .map_err(|e| bad(format!("not a readable archive: {e}")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("not a readable archive: {e}")))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(bad(format!(
                "member {} would land outside the folder",
                path.display()
            )));
        }
        // Only files and folders: a link or a device restored into a home would let the
        // runner write through it (its lock, its logs) to somewhere outside the home.
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(bad(format!(
                "member {} is a {}, not a file or folder: refused",
                path.display(),
                member_kind(kind)
            )));
        }
        let is_file = kind.is_file();
        entry
            .unpack_in(into)
            .map_err(|e| bad(format!("truncated or corrupt at {}: {e}", path.display())))?;
        if is_file {
            let name: PathBuf = path
                .components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .collect();
            names.push(name.display().to_string());
        }
    }
    Ok(names)
}

/// A tar member's kind, for a person.
fn member_kind(kind: tar::EntryType) -> &'static str {
    if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_hard_link() {
        "hard link"
    } else if kind.is_character_special() || kind.is_block_special() {
        "device"
    } else if kind.is_fifo() {
        "FIFO"
    } else {
        "special member"
    }
}

/// Reads the whole archive and checks every database in it (`PRAGMA integrity_check`).
pub fn verify(archive: &Path) -> Result<Verified, BackupError> {
    let scratch = tempfile::tempdir().map_err(io(archive))?;
    let files = unpack(archive, scratch.path())?;
    let mut databases = Vec::new();
    for name in files.iter().filter(|n| n.ends_with(".sqlite")) {
        let check = Connection::open_with_flags(
            scratch.path().join(name),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)));
        match check {
            Ok(ok) if ok == "ok" => databases.push(name.clone()),
            Ok(report) => {
                return Err(BackupError::BadDatabase {
                    path: archive.into(),
                    name: name.clone(),
                    why: report,
                })
            }
            Err(e) => {
                return Err(BackupError::BadDatabase {
                    path: archive.into(),
                    name: name.clone(),
                    why: e.to_string(),
                })
            }
        }
    }
    Ok(Verified { files, databases })
}

/// Restores into a new or empty folder, after verifying the archive.
pub fn restore(archive: &Path, to: &Path) -> Result<Verified, BackupError> {
    if to.exists() && std::fs::read_dir(to).map_err(io(to))?.next().is_some() {
        return Err(BackupError::NotEmpty {
            path: to.to_path_buf(),
        });
    }
    let verified = verify(archive)?;
    std::fs::create_dir_all(to).map_err(io(to))?;
    unpack(archive, to)?;
    Ok(verified)
}
