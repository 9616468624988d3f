//! The home folder every path hangs off (DESIGN §5): `--home`, else `KOBE_HOME`, else `.`.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn resolve(flag: Option<&Path>) -> Self {
        let root = flag
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("KOBE_HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."));
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
}
