//! Reading `state/KILL_SWITCH`: whatever is there engages the switch, and reading it never
//! blocks, follows a link or takes time that grows with the file.
//!
//! Only a regular file's own text is ever shown as the reason: a link's target may be any file
//! on the machine, and its text must not reach `/health` or the status page.

use std::io::{self, Read as _};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::{KillSwitchFile, KILL_SWITCH_FILE};
use crate::own_file::{self, EntryKind, OpenError};
use crate::view::KillSwitchStatus;

/// At most this much of the file is read: a reason is a sentence, not a payload.
pub const MAX_READ: usize = 4096;

/// Reads the switch's state from the folder. An error means the folder itself could not be
/// looked at; anything found in it is an engaged switch.
pub fn read(state_dir: &Path) -> io::Result<KillSwitchStatus> {
    let path = state_dir.join(KILL_SWITCH_FILE);
    let Some(meta) = own_file::lstat(&path)? else {
        return Ok(KillSwitchStatus::default());
    };
    let kind = EntryKind::of(meta.file_type());
    if kind != EntryKind::Regular {
        return Ok(engaged(describe(kind), modified(&meta)));
    }
    let mut options = std::fs::OpenOptions::new();
    let file = match own_file::open_regular(&path, options.read(true)) {
        Ok(file) => file,
        // Swapped for something else since the lstat.
        Err(OpenError::NotRegular(refusal)) => {
            return Ok(engaged(describe(refusal.kind), modified(&meta)))
        }
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(KillSwitchStatus::default())
        }
        // Present but unreadable (permissions): still engaged, never "off".
        Err(OpenError::Io(e)) => {
            return Ok(engaged(
                format!("state/{KILL_SWITCH_FILE} cannot be read: {e}"),
                modified(&meta),
            ))
        }
    };
    let since = file.metadata().ok().as_ref().and_then(modified);
    let mut bytes = Vec::with_capacity(MAX_READ + 1);
    if let Err(e) = file.take(MAX_READ as u64 + 1).read_to_end(&mut bytes) {
        return Ok(engaged(
            format!("state/{KILL_SWITCH_FILE} cannot be read: {e}"),
            since,
        ));
    }
    Ok(from_text(&bytes, since))
}

fn modified(meta: &std::fs::Metadata) -> Option<DateTime<Utc>> {
    meta.modified().ok().map(DateTime::<Utc>::from)
}

fn describe(kind: EntryKind) -> String {
    format!("state/{KILL_SWITCH_FILE} is {}", kind.describe())
}

fn engaged(reason: String, since: Option<DateTime<Utc>>) -> KillSwitchStatus {
    KillSwitchStatus {
        active: true,
        reason: Some(reason),
        since,
    }
}

/// A regular file's first bytes (at most `MAX_READ + 1`): JSON, plain text or nothing.
fn from_text(bytes: &[u8], since: Option<DateTime<Utc>>) -> KillSwitchStatus {
    let truncated = bytes.len() > MAX_READ;
    if !truncated {
        if let Ok(parsed) = serde_json::from_slice::<KillSwitchFile>(bytes) {
            return KillSwitchStatus {
                active: true,
                reason: Some(parsed.reason),
                since: Some(parsed.activated_at),
            };
        }
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_READ)])
        .trim()
        .to_string();
    let reason = if text.is_empty() {
        "no reason given (empty KILL_SWITCH file)".into()
    } else if truncated {
        format!("{text} … (cut: state/{KILL_SWITCH_FILE} is over {MAX_READ} bytes)")
    } else {
        text
    };
    engaged(reason, since)
}

#[cfg(test)]
mod tests {
    use super::super::engage;
    use super::*;
    use crate::own_file::test_support::mkfifo;
    use chrono::TimeZone;
    use std::os::unix::fs::symlink;

    fn switch(dir: &Path) -> std::path::PathBuf {
        dir.join(KILL_SWITCH_FILE)
    }

    fn reason(dir: &Path) -> String {
        let status = read(dir).unwrap();
        assert!(status.active, "{status:?}");
        status.reason.unwrap()
    }

    #[test]
    fn a_regular_json_file_gives_its_reason_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let at = Utc.with_ymd_and_hms(2024, 11, 29, 15, 0, 0).unwrap();
        assert!(!read(dir.path()).unwrap().active);
        engage(dir.path(), "daily_loss", "kobe", at).unwrap();
        let s = read(dir.path()).unwrap();
        assert_eq!(
            (s.active, s.reason.as_deref(), s.since),
            (true, Some("daily_loss"), Some(at))
        );
    }

    #[test]
    fn plain_text_and_empty_files_count() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(switch(dir.path()), "going on holiday\n").unwrap();
        assert_eq!(reason(dir.path()), "going on holiday");
        std::fs::write(switch(dir.path()), "").unwrap();
        assert!(reason(dir.path()).contains("empty"));
    }

    #[test]
    fn a_directory_engages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(switch(dir.path())).unwrap();
        assert_eq!(reason(dir.path()), "state/KILL_SWITCH is a directory");
    }

    #[test]
    fn a_fifo_engages_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        mkfifo(&switch(dir.path()));
        assert_eq!(reason(dir.path()), "state/KILL_SWITCH is a FIFO");
    }

    #[test]
    fn a_unix_socket_engages() {
        let dir = tempfile::tempdir().unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(switch(dir.path())).unwrap();
        assert_eq!(reason(dir.path()), "state/KILL_SWITCH is a socket");
    }

    #[test]
    fn a_dangling_symlink_engages() {
        let dir = tempfile::tempdir().unwrap();
        symlink(dir.path().join("nowhere"), switch(dir.path())).unwrap();
        assert_eq!(
            reason(dir.path()),
            "state/KILL_SWITCH is a symlink (not followed)"
        );
    }

    #[test]
    fn a_symlink_to_a_readable_file_engages_without_showing_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("passwd");
        std::fs::write(&target, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        symlink(&target, switch(dir.path())).unwrap();
        let text = reason(dir.path());
        assert_eq!(text, "state/KILL_SWITCH is a symlink (not followed)");
        assert!(!text.contains("root"));
    }

    #[test]
    fn a_huge_file_is_read_only_up_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(switch(dir.path()), vec![b'x'; 10 * 1024 * 1024]).unwrap();
        let text = reason(dir.path());
        assert!(text.starts_with(&"x".repeat(MAX_READ)), "{}", &text[..40]);
        assert!(
            text.len() <= MAX_READ + 100,
            "reason is {} bytes",
            text.len()
        );
        assert!(
            text.ends_with("is over 4096 bytes)"),
            "{}",
            &text[MAX_READ..]
        );
    }
}
