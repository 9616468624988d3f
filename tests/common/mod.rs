//! Helpers for tests that drive the built binaries in a temporary home.

#![allow(dead_code)]

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

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
