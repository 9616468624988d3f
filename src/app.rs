//! What every job of the application shares: the home, the config, the secrets, the universe.

use std::path::PathBuf;

use crate::config::Config;
use crate::data::store::BarStore;
use crate::data::universe::{self, UniverseError};
use crate::home::Home;
use crate::secrets::Secrets;

pub struct App {
    pub home: Home,
    pub config: Config,
    pub secrets: Secrets,
    /// A replay reveals bars by the visibility rule instead of fetching them.
    pub replay: bool,
    /// `--universe CSV` (else the config's `data.universe`).
    pub universe: Option<PathBuf>,
    /// `--cap N`: the universe's first N symbols.
    pub cap: Option<usize>,
}

impl App {
    pub fn universe_path(&self) -> PathBuf {
        let path = self
            .universe
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.config.data.universe));
        if path.is_absolute() {
            path
        } else {
            self.home.root().join(path)
        }
    }

    pub fn universe(&self) -> Result<Vec<String>, UniverseError> {
        universe::load(&self.universe_path(), self.cap)
    }

    pub fn store(&self) -> BarStore {
        BarStore::new(self.home.root())
    }
}
