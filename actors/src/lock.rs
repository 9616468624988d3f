//! Process locks: the single-instance lock `state/runner.lock` and per-job run locks.
//!
//! Both are OS advisory locks (flock through fs2): the OS releases them when the process dies,
//! even on SIGKILL, so a crash never leaves a lock that blocks the next start. The lock file
//! is never deleted to "clean up": its presence means nothing, only the lock on it does.
//! A link (or anything but a regular file) at a lock's path is refused, never written through:
//! the runner's JSON must not land in whatever file the link names.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::own_file::{open_regular, NotRegular, OpenError};

/// What the lock file says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub pid: u32,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub mode: String,
}

impl LockInfo {
    /// This process, started now in `mode`.
    pub fn this_process(mode: &str, started_at: DateTime<Utc>) -> Self {
        Self {
            pid: std::process::id(),
            host: sysinfo::System::host_name().unwrap_or_else(|| "unknown".into()),
            started_at,
            mode: mode.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another runner holds {path} (pid {pid}, started {started_at}): stop it first, or use another --home", path = .path.display(), pid = .holder.as_ref().map_or("unknown".to_string(), |h| h.pid.to_string()), started_at = .holder.as_ref().map_or("at an unknown time".to_string(), |h| h.started_at.to_rfc3339()))]
    Held {
        path: PathBuf,
        holder: Option<LockInfo>,
    },
    #[error("{path}: {source}", path = .path.display())]
    Io { path: PathBuf, source: io::Error },
    /// A bad state file: the operator removes what is at the lock's path.
    #[error(transparent)]
    NotRegular(#[from] NotRegular),
}

/// The held single-instance lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct PidLock {
    _file: File,
    pub path: PathBuf,
}

pub const RUNNER_LOCK: &str = "runner.lock";

impl PidLock {
    /// Takes `state_dir/runner.lock` and writes `info` into it, or says who holds it.
    pub fn acquire(state_dir: &Path, info: &LockInfo) -> Result<Self, LockError> {
        let path = state_dir.join(RUNNER_LOCK);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        let mut file = open_regular(&path, &mut options).map_err(|e| match e {
            OpenError::NotRegular(refusal) => LockError::NotRegular(refusal),
            OpenError::Io(source) => io(source),
        })?;
        if file.try_lock_exclusive().is_err() {
            return Err(LockError::Held {
                holder: read_info(&mut file),
                path,
            });
        }
        let text = serde_json::to_string(info).expect("lock info serialises");
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { _file: file, path })
    }
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// What a look at `state/runner.lock` finds, without taking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// No lock file: no runner has started in this home.
    Absent,
    /// A lock file nobody holds: the last runner exited or died.
    Stale(Option<LockInfo>),
    /// Held by a live process.
    Held(Option<LockInfo>),
}

/// Looks at the runner lock: a lock file is only "held" if the OS says someone holds its lock.
pub fn inspect(state_dir: &Path) -> io::Result<LockState> {
    let path = state_dir.join(RUNNER_LOCK);
    let mut file = match open_regular(&path, OpenOptions::new().read(true)).map_err(io::Error::from)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LockState::Absent),
        Err(e) => return Err(e),
    };
    let info = read_info(&mut file);
    if file.try_lock_shared().is_ok() {
        let _ = FileExt::unlock(&file);
        return Ok(LockState::Stale(info));
    }
    Ok(LockState::Held(info))
}

/// A per-job run lock (`state/locks/TAG.lock`), held while a job body runs, so the runner and
/// `kobe run-job` never run the same job at once.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

impl JobLock {
    /// Opens (creating it and its folder if need be) the job's lock file, unlocked.
    fn open(locks_dir: &Path, tag: &str) -> io::Result<File> {
        std::fs::create_dir_all(locks_dir)?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        Ok(open_regular(
            &locks_dir.join(format!("{tag}.lock")),
            &mut options,
        )?)
    }

    /// `Ok(None)` if another process runs this job right now.
    pub fn try_acquire(locks_dir: &Path, tag: &str) -> io::Result<Option<Self>> {
        let file = Self::open(locks_dir, tag)?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(_) => Ok(None),
        }
    }

    /// Like `try_acquire`, but waits up to `limit` for the other holder to finish: the file is
    /// opened once, only the lock is retried.
    pub fn acquire_within(
        locks_dir: &Path,
        tag: &str,
        limit: std::time::Duration,
    ) -> io::Result<Option<Self>> {
        let started = std::time::Instant::now();
        let file = Self::open(locks_dir, tag)?;
        loop {
            if file.try_lock_exclusive().is_ok() {
                return Ok(Some(Self { _file: file }));
            }
            if started.elapsed() >= limit {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::own_file::test_support::assert_refuses_a_link_at;
    use chrono::TimeZone;

    fn info(pid: u32) -> LockInfo {
        LockInfo {
            pid,
            host: "h".into(),
            started_at: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
            mode: "paper".into(),
        }
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(inspect(dir.path()).unwrap(), LockState::Absent);
        let lock = PidLock::acquire(dir.path(), &info(41)).unwrap();
        let err = PidLock::acquire(dir.path(), &info(42)).unwrap_err();
        assert!(err.to_string().contains("pid 41"), "{err}");
        assert_eq!(
            inspect(dir.path()).unwrap(),
            LockState::Held(Some(info(41)))
        );
        drop(lock);
        assert_eq!(
            inspect(dir.path()).unwrap(),
            LockState::Stale(Some(info(41)))
        );
        let _again = PidLock::acquire(dir.path(), &info(43)).unwrap();
    }

    #[test]
    fn a_symlink_at_the_runner_lock_is_refused_by_name_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RUNNER_LOCK);
        assert_refuses_a_link_at(&path, || PidLock::acquire(dir.path(), &info(41)));
        assert!(matches!(
            PidLock::acquire(dir.path(), &info(41)),
            Err(LockError::NotRegular(_))
        ));
    }

    #[test]
    fn job_locks_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let first = JobLock::try_acquire(dir.path(), "SCAN").unwrap();
        assert!(first.is_some());
        assert!(JobLock::try_acquire(dir.path(), "SCAN").unwrap().is_none());
        assert!(JobLock::try_acquire(dir.path(), "EOD_REPORT")
            .unwrap()
            .is_some());
        drop(first);
        assert!(JobLock::try_acquire(dir.path(), "SCAN").unwrap().is_some());
    }

    #[test]
    fn acquire_within_waits_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let limit = std::time::Duration::from_millis(120);
        let first = JobLock::try_acquire(dir.path(), "SCAN").unwrap().unwrap();
        assert!(JobLock::acquire_within(dir.path(), "SCAN", limit)
            .unwrap()
            .is_none());
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(60));
            drop(first);
        });
        let waited = JobLock::acquire_within(dir.path(), "SCAN", limit * 10).unwrap();
        assert!(waited.is_some());
        release.join().unwrap();
    }
}
