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
    /// `--universe` as given (relative to where the command runs); the config's value
    /// relative to the home folder.
    pub fn universe_path(&self) -> PathBuf {
        match &self.universe {
            Some(flag) => flag.clone(),
            None => self.home.root().join(&self.config.data.universe),
        }
    }

    pub fn universe(&self) -> Result<Vec<String>, UniverseError> {
        universe::load(&self.universe_path(), self.cap)
    }

    pub fn store(&self) -> BarStore {
        BarStore::new(self.home.root())
    }
}
