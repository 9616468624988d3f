//! Helpers for tests that drive the built binaries in a temporary home.

#![allow(dead_code)]

pub mod fake_alpaca;
pub mod http_server;
pub mod live;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

pub struct TempHome {
    pub dir: tempfile::TempDir,
}

impl TempHome {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A home holding the shipped sample (`data/bars`, `data/universe`), as a fresh clone does.
    pub fn with_sample() -> Self {
        let home = Self::new();
        copy_sample(home.path());
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn runner(&self) -> Command {
        let mut cmd = Command::cargo_bin("runner").unwrap();
        cmd.arg("--home")
            .arg(self.path())
            .env_remove("KOBE_HOME")
            .env_remove("RUST_LOG");
        cmd
    }

    pub fn kobe(&self) -> Command {
        let mut cmd = Command::cargo_bin("kobe").unwrap();
        cmd.arg("--home").arg(self.path()).env_remove("KOBE_HOME");
        cmd
    }

    pub fn jobs_log_path(&self) -> PathBuf {
        self.path().join("logs/jobs.jsonl")
    }

    pub fn jobs_log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.jobs_log_path())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Replays `range` in paper mode with `extra` arguments, which must succeed; the jobs log.
    pub fn replay(&self, range: &str, extra: &[&str]) -> Vec<Value> {
        let out = self
            .runner()
            .args(["--mode", "paper", "--replay", range])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        self.jobs_log()
    }

    /// Every file under the home, relative paths, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// The jobs log without its wall-clock field, for comparing two replays.
pub fn without_wall_clock(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("duration_ms");
            r
        })
        .collect()
}

/// A JSON file, parsed.
pub fn json(path: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A runner started in the background on the live clock, killed when dropped.
pub struct RunningRunner {
    pub child: std::process::Child,
    pub home: PathBuf,
}

impl RunningRunner {
    /// Starts `runner --mode paper` with a 1 s heartbeat and a port-0 health server, and waits
    /// until it has written a heartbeat naming its health address.
    pub fn start(home: &Path, extra: &[&str]) -> Self {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("runner"))
            .arg("--home")
            .arg(home)
            .args([
                "--mode",
                "paper",
                "--health-addr",
                "127.0.0.1:0",
                "--heartbeat-secs",
                "1",
            ])
            .args(extra)
            .env_remove("KOBE_HOME")
            .env_remove("RUST_LOG")
            .env_remove("APCA_API_BASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        loop {
            if let Some(beat) = read_heartbeat(home) {
                if beat["pid"] == child.id() && beat["health_addr"].is_string() {
                    break;
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("runner exited early: {status}");
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "runner never beat"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self {
            child,
            home: home.to_path_buf(),
        }
    }

    pub fn heartbeat(&self) -> Option<Value> {
        read_heartbeat(&self.home)
    }

    pub fn health_url(&self, path: &str) -> String {
        let beat = self.heartbeat().unwrap();
        format!("http://{}{path}", beat["health_addr"].as_str().unwrap())
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::blocking::get(self.health_url(path)).unwrap();
        (response.status().as_u16(), response.text().unwrap())
    }

    pub fn health(&self) -> (u16, Value) {
        let (code, body) = self.get("/health");
        (code, serde_json::from_str(&body).unwrap())
    }

    pub fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Waits for the process to exit (bounded), returning its status.
    pub fn wait(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "runner did not exit within {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for RunningRunner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 10 ms for up to `limit`.
pub fn eventually(limit: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    check()
}

pub fn read_heartbeat(home: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(home.join("state/heartbeat.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Copies the repository's shipped sample data into `home`.
pub fn copy_sample(home: &Path) {
    let repo = env!("CARGO_MANIFEST_DIR");
    for dir in ["data/bars", "data/universe"] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
        for entry in std::fs::read_dir(format!("{repo}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "csv") {
                std::fs::copy(&path, home.join(dir).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
}

/// Overwrites `len` bytes from the middle of `path` (from a page boundary) with zeros, or with
/// noise when `noise`: a database damaged as a bad disk would damage it.
pub fn damage(path: &Path, len: usize, noise: bool) {
    let mut bytes = std::fs::read(path).unwrap();
    let start = bytes.len() / 2 / 4096 * 4096;
    let end = (start + len).min(bytes.len());
    for (i, b) in bytes[start..end].iter_mut().enumerate() {
        *b = if noise { (i * 7919 % 251) as u8 } else { 0 };
    }
    std::fs::write(path, bytes).unwrap();
}

/// Folds a database's write-ahead log into the file itself, so what a test damages or copies
/// is the whole database.
pub fn checkpoint(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

/// A config that turns off every job but those in `keep`: a live runner that only serves its
/// pages and files reads the same whatever the day and hour.
pub fn jobs_only(home: &Path, keep: &[&str]) {
    let off: String = kobe::jobs::tag_names()
        .into_iter()
        .filter(|tag| !keep.contains(tag))
        .map(|tag| format!("[jobs.{tag}]\nenabled = false\n"))
        .collect();
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(home.join("config/kobe.toml"), off).unwrap();
}
