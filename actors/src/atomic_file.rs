//! Whole-file state writes that a crash can never leave half-done: temp file in the same folder,
//! fsync, rename over the target, fsync the folder.
//!
//! A rename replaces a link rather than writing through it, but a link (or anything but a
//! regular file) at a state file's path is refused first: the operator learns it is there.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// How hard a write is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Survives the process being killed (replays, tests): rename alone guarantees that.
    ProcessCrash,
    /// Also survives a power cut: the file and its folder are fsynced.
    PowerLoss,
}

/// Replaces `path` with `bytes` atomically (readers see the old or the new file, never a mix).
pub fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::own_file::ensure_regular_or_absent(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    // Unique per call: two jobs of one process may write the same file at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
    let result = (|| {
        let durable = durability == Durability::PowerLoss;
        // `create_new`: never through a link planted at the temp name.
        let create = || OpenOptions::new().write(true).create_new(true).open(&tmp);
        // The folder is made only when it is missing: a replay writes thousands of files
        // into folders that are there.
        let mut file = match create() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
                create()?
            }
            other => other?,
        };
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::own_file::test_support::assert_refuses_a_link_at;

    #[test]
    fn replaces_whole_files_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/x.json");
        write_atomic(&path, b"{\"a\":1}", Durability::PowerLoss).unwrap();
        write_atomic(&path, b"{}", Durability::ProcessCrash).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.json"]);
    }

    #[test]
    fn a_symlink_at_the_path_is_refused_by_name_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert_refuses_a_link_at(&path, || {
            write_atomic(&path, b"{}", Durability::ProcessCrash)
        });
    }
}
