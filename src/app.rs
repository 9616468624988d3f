//! What every job of the application shares: the home, the config, the secrets, the universe.

use std::path::PathBuf;

use std::time::Duration;

use crate::broker::alpaca::AlpacaClient;
use crate::config::{BrokerKind, Config};
use crate::data::store::BarStore;
use crate::data::universe::{self, UniverseError};
use crate::home::Home;
use crate::secrets::Secrets;

/// What keeps a run from reaching Alpaca.
#[derive(Debug, thiserror::Error)]
pub enum AlpacaSetupError {
    #[error(
        "[trading] broker = \"alpaca\": {0} is missing (put it in .env or pass --dotenv PATH)"
    )]
    MissingKey(&'static str),
    #[error(transparent)]
    Client(#[from] crate::broker::alpaca::AlpacaError),
}

/// How long one request to Alpaca may take before the client looks the order up instead.
const ALPACA_TIMEOUT: Duration = Duration::from_secs(10);

pub struct App {
    pub home: Home,
    pub config: Config,
    pub secrets: Secrets,
    /// A replay reveals bars by the visibility rule instead of fetching them.
    pub replay: bool,
    /// `--mode live` (passed the live gate): orders go to Alpaca's live account.
    pub live: bool,
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

    /// Who executes this run's orders (see `[trading] broker`).
    pub fn broker_kind(&self) -> BrokerKind {
        if self.replay {
            BrokerKind::Paper
        } else if self.live {
            BrokerKind::Alpaca
        } else {
            self.config.trading.broker
        }
    }

    /// The Alpaca client for this run: both keys from `.env`, the base URL from
    /// `APCA_API_BASE_URL` (paper runs default to Alpaca's paper host; the live gate has
    /// already required the live URL for a live run).
    pub fn alpaca(&self) -> Result<AlpacaClient, AlpacaSetupError> {
        let key = |k: &'static str| self.secrets.get(k).ok_or(AlpacaSetupError::MissingKey(k));
        let (id, secret) = (key("APCA_API_KEY_ID")?, key("APCA_API_SECRET_KEY")?);
        let paper = format!("https://{}", crate::secrets::ALPACA_PAPER_HOST);
        let url = self.secrets.get("APCA_API_BASE_URL").unwrap_or(&paper);
        Ok(AlpacaClient::new(id, secret, url, ALPACA_TIMEOUT)?)
    }

    pub fn store(&self) -> BarStore {
        BarStore::new(self.home.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EMBEDDED_DEFAULT;

    fn app(live: bool, replay: bool, broker: BrokerKind) -> App {
        let mut config = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
        config.trading.broker = broker;
        App {
            home: Home::resolve(Some(std::path::Path::new("/nonexistent"))),
            config,
            secrets: Secrets::default(),
            replay,
            live,
            universe: None,
            cap: None,
        }
    }

    #[test]
    fn who_executes_the_orders() {
        use BrokerKind::{Alpaca, Paper};
        // A replay always trades the embedded broker; live always Alpaca; paper as configured.
        assert_eq!(app(false, true, Alpaca).broker_kind(), Paper);
        assert_eq!(app(true, false, Paper).broker_kind(), Alpaca);
        assert_eq!(app(false, false, Paper).broker_kind(), Paper);
        assert_eq!(app(false, false, Alpaca).broker_kind(), Alpaca);
        // Without keys the Alpaca client is a one-line refusal naming the key.
        let err = app(false, false, Alpaca)
            .alpaca()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("APCA_API_KEY_ID is missing"), "{err}");
    }
}
