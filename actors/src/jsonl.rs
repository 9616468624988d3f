//! Append-only JSON-lines files that survive a crash mid-write.
//!
//! Each record is written with a single `write` of the line and its newline, so a crash can
//! only leave a torn *last* line; `repair_torn_tail` cuts it off before anything is appended.
//! Only regular files are opened (`own_file`): a link at a log's path is refused, not written
//! through.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::own_file::open_regular;

/// How far back from the end the last complete line is looked for.
const TAIL_WINDOW: u64 = 64 * 1024;

/// Cuts a last line that has no newline (a torn write). Returns the number of bytes removed.
pub fn repair_torn_tail(path: &Path) -> io::Result<u64> {
    let mut file = match open_regular(path, OpenOptions::new().read(true).write(true)) {
        Ok(f) => f,
        Err(e) => return not_found_as(e, 0),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    // The last byte alone says whether the tail is whole: the window is read only when not.
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last == *b"\n" {
        return Ok(0);
    }
    let tail = read_tail(&mut file, len)?;
    let keep = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => len - tail.len() as u64 + i as u64 + 1,
        // No newline in the window: the whole window is one torn line, or the file is one
        // line with no newline at all; cut back to the window start only if it is the file.
        None if (tail.len() as u64) == len => 0,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("last line is longer than {TAIL_WINDOW} bytes"),
            ))
        }
    };
    file.set_len(keep)?;
    file.sync_all()?;
    Ok(len - keep)
}

/// The last complete line of the file, if any (without its newline).
pub fn last_line(path: &Path) -> io::Result<Option<String>> {
    let mut file = match open_regular(path, OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) => return not_found_as(e, None),
    };
    let len = file.metadata()?.len();
    let tail = read_tail(&mut file, len)?;
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    if body.is_empty() {
        return Ok(None);
    }
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    Ok(Some(String::from_utf8_lossy(&body[start..]).into_owned()))
}

/// The complete lines of the file's last 64 KiB, oldest first (without their newlines): a
/// line cut by the window's start is left out.
pub fn last_lines(path: &Path) -> io::Result<Vec<String>> {
    let mut file = match open_regular(path, OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) => return not_found_as(e, Vec::new()),
    };
    let len = file.metadata()?.len();
    let tail = read_tail(&mut file, len)?;
    let whole_file = len <= TAIL_WINDOW;
    let mut lines: Vec<&[u8]> = tail.split(|b| *b == b'\n').collect();
    // After the last newline: empty, or a torn line (repaired before any write).
    lines.pop();
    if !whole_file && !lines.is_empty() {
        lines.remove(0);
    }
    Ok(lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect())
}

/// A missing file is `absent`; any other failure (a refused link included) is an error.
fn not_found_as<T>(e: crate::own_file::OpenError, absent: T) -> io::Result<T> {
    match io::Error::from(e) {
        e if e.kind() == io::ErrorKind::NotFound => Ok(absent),
        e => Err(e),
    }
}

fn read_tail(file: &mut File, len: u64) -> io::Result<Vec<u8>> {
    let start = len.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

/// An open JSON-lines file for appending.
#[derive(Debug)]
pub struct JsonlWriter {
    file: File,
}

impl JsonlWriter {
    /// Repairs a torn tail, then opens for append (creating the file and its folder).
    pub fn open(path: &Path) -> io::Result<(Self, u64)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let repaired = repair_torn_tail(path)?;
        let file = open_regular(path, OpenOptions::new().create(true).append(true))?;
        Ok((Self { file }, repaired))
    }

    /// Appends one line in a single write.
    pub fn append(&mut self, line: &str) -> io::Result<()> {
        self.append_all(std::iter::once(line))
    }

    /// Appends lines in a single write: a crash can tear only the last one written, which the
    /// next open cuts, and leaves the lines before it whole.
    pub fn append_all<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
        let mut buf = Vec::new();
        for line in lines {
            debug_assert!(!line.contains('\n'));
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&buf)
    }

    /// Makes appended lines durable (for live runs, where a power cut must not lose a record).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::own_file::test_support::assert_refuses_a_link_at;

    #[test]
    fn lines_appended_together_and_torn_keep_the_whole_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let (mut w, _) = JsonlWriter::open(&path).unwrap();
        w.append_all(["{\"a\":1}", "{\"b\":2}"]).unwrap();
        w.append_all([]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        // A crash inside the single write leaves a prefix of it: cut back to whole lines.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..11]).unwrap();
        let (_, cut) = JsonlWriter::open(&path).unwrap();
        assert_eq!(
            (cut, std::fs::read_to_string(&path).unwrap()),
            (3, "{\"a\":1}\n".into())
        );
    }

    #[test]
    fn torn_last_line_is_cut_and_complete_lines_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        assert_eq!(repair_torn_tail(&path).unwrap(), 5);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        assert_eq!(repair_torn_tail(&path).unwrap(), 0);
        assert_eq!(last_line(&path).unwrap().as_deref(), Some("{\"b\":2}"));
        assert_eq!(last_lines(&path).unwrap(), ["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn a_single_torn_line_empties_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, "{\"a\":").unwrap();
        assert_eq!(repair_torn_tail(&path).unwrap(), 5);
        assert_eq!(last_line(&path).unwrap(), None);
    }

    #[test]
    fn writer_appends_after_repair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/x.jsonl");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "1\n2").unwrap();
        let (mut w, repaired) = JsonlWriter::open(&path).unwrap();
        assert_eq!(repaired, 1);
        w.append("3").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n3\n");
    }

    #[test]
    fn a_symlink_at_the_log_is_refused_by_name_and_its_target_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/jobs.jsonl");
        assert_refuses_a_link_at(&path, || JsonlWriter::open(&path));
        assert!(last_line(&path).is_err());
    }
}
