//! The runtime's own files (lock, heartbeat, logs, state) are used only as regular files.
//!
//! A link where one of them should be is never followed and a FIFO never blocks an `open`: a
//! stray or hostile entry is refused with its path named, instead of redirecting a write to
//! whatever the link points at or wedging the runner before it can hear a signal.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What an entry of the file system is, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    BlockDevice,
    CharDevice,
    Unknown,
}

impl EntryKind {
    pub fn of(file_type: FileType) -> Self {
        if file_type.is_symlink() {
            Self::Symlink
        } else if file_type.is_file() {
            Self::Regular
        } else if file_type.is_dir() {
            Self::Directory
        } else if file_type.is_fifo() {
            Self::Fifo
        } else if file_type.is_socket() {
            Self::Socket
        } else if file_type.is_block_device() {
            Self::BlockDevice
        } else if file_type.is_char_device() {
            Self::CharDevice
        } else {
            Self::Unknown
        }
    }

    /// For a sentence "PATH is …", told to a person.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Regular => "a regular file",
            Self::Directory => "a directory",
            Self::Symlink => "a symlink (not followed)",
            Self::Fifo => "a FIFO",
            Self::Socket => "a socket",
            Self::BlockDevice => "a block device",
            Self::CharDevice => "a character device",
            Self::Unknown => "an entry of unknown kind",
        }
    }
}

/// Something other than a regular file where the runtime keeps one of its own.
#[derive(Debug, thiserror::Error)]
#[error("{} is {}, not a regular file: refusing to use it (remove it)", .path.display(), .kind.describe())]
pub struct NotRegular {
    pub path: PathBuf,
    pub kind: EntryKind,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    NotRegular(#[from] NotRegular),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<OpenError> for io::Error {
    /// Callers that speak `io::Error` keep the refusal's text (which names the path) and can
    /// still tell `NotFound` apart.
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::NotRegular(refusal) => io::Error::new(io::ErrorKind::InvalidInput, refusal),
            OpenError::Io(e) => e,
        }
    }
}

/// `lstat`: what is at `path` itself, never a link's target; `None` when nothing is.
pub fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// What kind of entry is at `path`, without following a link; `None` when nothing is.
pub fn entry_kind(path: &Path) -> io::Result<Option<EntryKind>> {
    Ok(lstat(path)?.map(|meta| EntryKind::of(meta.file_type())))
}

/// Refuses anything but a regular file (or nothing) at `path`, before it is replaced.
pub fn ensure_regular_or_absent(path: &Path) -> Result<(), OpenError> {
    match entry_kind(path)? {
        None | Some(EntryKind::Regular) => Ok(()),
        Some(kind) => Err(NotRegular {
            path: path.to_path_buf(),
            kind,
        }
        .into()),
    }
}

/// Opens `path` with `options` only if it is (or, when created, becomes) a regular file.
///
/// The `lstat` first gives a refusal that says what is there; `O_NOFOLLOW | O_NONBLOCK` and the
/// `fstat` after close the window in which it could be swapped for a link or a FIFO.
pub fn open_regular(path: &Path, options: &mut OpenOptions) -> Result<File, OpenError> {
    let refuse = |kind| NotRegular {
        path: path.to_path_buf(),
        kind,
    };
    ensure_regular_or_absent(path)?;
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => OpenError::NotRegular(refuse(EntryKind::Symlink)),
            _ => OpenError::Io(e),
        })?;
    let kind = EntryKind::of(file.metadata()?.file_type());
    if kind != EntryKind::Regular {
        return Err(refuse(kind).into());
    }
    Ok(file)
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::ffi::CString;
    use std::fmt::Display;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    pub fn mkfifo(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        let made = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(made, 0, "mkfifo {}", path.display());
    }

    /// Checks that `op` refuses a link at `link`, naming it, and writes nothing through it:
    /// first with the link's target present (its text must stay), then with the link dangling
    /// (its target must not be created).
    pub fn assert_refuses_a_link_at<T, E: Display>(
        link: &Path,
        mut op: impl FnMut() -> Result<T, E>,
    ) {
        const KEPT: &str = "keep me";
        let target = link.with_extension("target");
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::fs::write(&target, KEPT).unwrap();
        std::os::unix::fs::symlink(&target, link).unwrap();
        let named = format!("{} is a symlink", link.display());
        match op() {
            Ok(_) => panic!("{} was used through the link", link.display()),
            Err(e) => assert!(e.to_string().contains(&named), "{e}"),
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), KEPT);
        std::fs::remove_file(&target).unwrap();
        assert!(
            op().is_err(),
            "{} was used through a dangling link",
            link.display()
        );
        assert!(!target.exists());
        assert!(std::fs::symlink_metadata(link)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{assert_refuses_a_link_at, mkfifo};
    use super::*;

    #[test]
    fn links_and_fifos_are_refused_by_name_and_regular_files_open() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        assert_refuses_a_link_at(&link, || {
            open_regular(&link, OpenOptions::new().append(true).create(true))
        });
        assert!(matches!(
            open_regular(&link, OpenOptions::new().read(true)),
            Err(OpenError::NotRegular(NotRegular { kind: EntryKind::Symlink, path })) if path == link
        ));

        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let err = open_regular(&fifo, OpenOptions::new().read(true)).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");

        let regular = dir.path().join("regular");
        let err = open_regular(&regular, OpenOptions::new().read(true)).unwrap_err();
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);
        std::fs::write(&regular, "").unwrap();
        assert!(open_regular(&regular, OpenOptions::new().read(true)).is_ok());
    }
}
