//! What every job and command of the application shares: the run's mode, the home, the config,
//! the secrets, the universe, and where notifications go — one value, built by a constructor.

use std::path::PathBuf;

use std::time::Duration;

use kobe_actors::atomic_file::Durability;
pub use kobe_actors::mode::RunMode;

use crate::broker::alpaca::AlpacaClient;
use crate::broker::paper::PaperBroker;
use crate::broker::Broker;
use crate::config::{BrokerKind, Config};
use crate::data::market::{History, MarketData, Polygon};
use crate::data::store::BarStore;
use crate::data::universe::{self, UniverseError};
use crate::home::Home;
use crate::metrics::OrderCounts;
use crate::notify::Notifier;
use crate::secrets::Secrets;
use crate::trading::{KeptLedger, LedgerError, Locking, TradingLedger};

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
    /// Replay, paper or live (live only past the live gate): decided once, read everywhere.
    pub mode: RunMode,
    pub home: Home,
    pub config: Config,
    pub secrets: Secrets,
    /// `--universe CSV` (else the config's `data.universe`).
    pub universe: Option<PathBuf>,
    /// `--cap N`: the universe's first N symbols.
    pub cap: Option<usize>,
    /// Where entries, exits, refusals and the EOD summary are announced (off by default).
    pub notifier: Notifier,
    /// Where the jobs' prices come from.
    pub market: MarketSource,
    /// Orders by the broker's answer, for `/metrics`.
    pub orders: OrderCounts,
    /// The bar store: read once and kept in a replay, read as it is now otherwise.
    store: BarStore,
    /// A replay's universe, read once: its file does not change the past being replayed.
    kept_universe: std::sync::OnceLock<std::sync::Arc<Vec<String>>>,
    /// A replay's last scans, for the session's other scans of the same date.
    pub(crate) last_scan: crate::jobs::scan::kept::LastScan,
    /// A replay's last session: drawings of the whole run (the equity chart) are made there
    /// once, not redrawn every session.
    pub replay_last_session: Option<chrono::NaiveDate>,
    /// A replay's one trading-ledger connection, shared by its jobs and its report and locked
    /// for the run (`Locking::Exclusive`); `None` outside a replay, where each job keeps its
    /// own and other processes read and write between statements.
    replay_ledger: Option<KeptLedger>,
}

/// Which `MarketData` the jobs ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketSource {
    /// The past, by the daily-bar market model: a replay, or a slot of a past session.
    History,
    /// Now: the store and Polygon's snapshots.
    Now,
}

impl App {
    /// A run in `mode` on the config's universe, notifications off.
    pub fn new(mode: RunMode, home: Home, config: Config, secrets: Secrets) -> Self {
        let store = if mode.is_replay() {
            BarStore::frozen(home.root())
        } else {
            BarStore::new(home.root())
        };
        Self {
            store,
            mode,
            home,
            config,
            secrets,
            universe: None,
            cap: None,
            notifier: Notifier::off(),
            orders: OrderCounts::default(),
            kept_universe: std::sync::OnceLock::new(),
            last_scan: Default::default(),
            replay_last_session: None,
            replay_ledger: mode.is_replay().then(KeptLedger::default),
            market: match mode {
                RunMode::Replay => MarketSource::History,
                RunMode::Paper | RunMode::Live => MarketSource::Now,
            },
        }
    }

    /// A slot of a past session (`kobe run-job --session D`) sees the market as it was then.
    pub fn with_market(mut self, market: MarketSource) -> Self {
        self.market = market;
        self
    }

    /// The market data this run's jobs ask.
    pub fn market(&self) -> Box<dyn MarketData> {
        match self.market {
            MarketSource::History => Box::new(History {
                store: self.store(),
            }),
            MarketSource::Now => Box::new(Polygon {
                key: self.secrets.get("POLYGON_API_KEY").map(str::to_string),
                settings: self.config.polygon.clone(),
            }),
        }
    }

    /// `--universe CSV` and `--cap N`, as given.
    pub fn with_universe(mut self, universe: Option<PathBuf>, cap: Option<usize>) -> Self {
        self.universe = universe;
        self.cap = cap;
        self
    }

    /// A replay ending at `to`: its last session is where the run's drawings are made.
    pub fn with_replay_end(mut self, to: chrono::NaiveDate) -> Self {
        let calendar = kobe_actors::calendar::NyseCalendar;
        let last = calendar
            .session(to)
            .unwrap_or_else(|| calendar.previous_session(to));
        self.replay_last_session = Some(last.date);
        self.store = BarStore::frozen_until(self.home.root(), to);
        self
    }

    /// Whether this session's EOD_REPORT draws the equity chart: every session, except in a
    /// replay, where only the last one does (the chart is the run's, and redrawing it each
    /// session cost a replay as much as all its scans).
    pub fn draws_equity_chart(&self, session: chrono::NaiveDate) -> bool {
        self.replay_last_session.is_none_or(|last| last == session)
    }

    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// How hard this run's state is pushed to disk (see `RunMode::durability`).
    pub fn durability(&self) -> Durability {
        self.mode.durability()
    }

    /// A replay's shared trading-ledger connection (`None` outside a replay).
    pub(crate) fn shared_ledger(&self) -> Option<&KeptLedger> {
        self.replay_ledger.as_ref()
    }

    /// Runs `work` on the home's trading ledger: a replay's shared connection, else one
    /// opened for the call.
    pub fn with_trading_ledger<T, E: From<LedgerError>>(
        &self,
        work: impl FnOnce(&TradingLedger) -> Result<T, E>,
    ) -> Result<T, E> {
        match &self.replay_ledger {
            Some(shared) => shared.with_opened(self, Locking::Exclusive, work),
            None => work(&TradingLedger::open(
                &self.home.state(),
                self.config.trading.starting_equity,
                self.durability(),
            )?),
        }
    }

    /// The universe's file and where it was named: `--universe` as given (relative to where
    /// the command runs), else the config's `data.universe` relative to the home folder;
    /// `None`: the universe is the bar store's symbols.
    pub fn universe_source(&self) -> Option<(PathBuf, String)> {
        match (&self.universe, &self.config.data.universe) {
            (Some(flag), _) => Some((flag.clone(), "--universe".to_string())),
            (None, Some(file)) => Some((
                self.home.root().join(file),
                format!("data.universe = {file:?} ({})", self.config.origin),
            )),
            (None, None) => None,
        }
    }

    /// The universe's symbols: the file's (see `universe_source`), else every symbol in the
    /// bar store in name order; the first `--cap N`.
    pub fn universe(&self) -> Result<Vec<String>, UniverseError> {
        if !self.mode.is_replay() {
            return self.read_universe();
        }
        Ok(self.kept_universe()?.to_vec())
    }

    /// A replay's universe, read once and lent (`universe` copies it; a scan needs no copy).
    pub(crate) fn kept_universe(&self) -> Result<std::sync::Arc<Vec<String>>, UniverseError> {
        if let Some(kept) = self.kept_universe.get() {
            return Ok(kept.clone());
        }
        let universe = std::sync::Arc::new(self.read_universe()?);
        Ok(self.kept_universe.get_or_init(|| universe).clone())
    }

    fn read_universe(&self) -> Result<Vec<String>, UniverseError> {
        match self.universe_source() {
            Some((path, _)) => universe::load(&path, self.cap),
            None => {
                let mut symbols = self.store().symbols();
                symbols.truncate(self.cap.unwrap_or(usize::MAX));
                Ok(symbols)
            }
        }
    }

    /// A universe file that is named but not there is refused before anything runs: one line
    /// naming the file and the flag or config key that named it.
    pub fn check_universe(&self) -> Result<(), String> {
        match self.universe_source() {
            Some((path, named_by)) if !path.is_file() => Err(format!(
                "{named_by}: {} does not exist (a CSV with a symbol column; leave data.universe unset to trade every symbol in the bar store)",
                path.display()
            )),
            _ => Ok(()),
        }
    }

    /// Who executes this run's orders (see `[trading] broker`).
    pub fn broker_kind(&self) -> BrokerKind {
        match self.mode {
            RunMode::Replay => BrokerKind::Paper,
            RunMode::Live => BrokerKind::Alpaca,
            RunMode::Paper => self.config.trading.broker,
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

    /// Who executes this run's orders, as a `Broker` (see `broker_kind`); the paper broker keeps
    /// its book in `ledger` and timestamps its orders and fills `at`.
    pub fn broker<'a>(
        &self,
        ledger: &'a TradingLedger,
        at: String,
    ) -> Result<Box<dyn Broker + 'a>, AlpacaSetupError> {
        Ok(match self.broker_kind() {
            BrokerKind::Paper => Box::new(PaperBroker::new(ledger, at)),
            BrokerKind::Alpaca => Box::new(self.alpaca()?),
        })
    }

    pub fn store(&self) -> BarStore {
        self.store.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EMBEDDED_DEFAULT;

    fn app(mode: RunMode, broker: BrokerKind) -> App {
        let mut config = Config::parse(EMBEDDED_DEFAULT, "default").unwrap();
        config.trading.broker = broker;
        let home = Home::resolve(Some(std::path::Path::new("/nonexistent")));
        App::new(mode, home, config, Secrets::default())
    }

    #[test]
    fn a_replay_draws_the_equity_chart_at_its_last_session_only() {
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        // Ends on a Sunday: its last session is Friday 2016-12-30.
        let replay = app(RunMode::Replay, BrokerKind::Paper).with_replay_end(day("2017-01-01"));
        assert_eq!(replay.replay_last_session, Some(day("2016-12-30")));
        assert!(replay.draws_equity_chart(day("2016-12-30")));
        assert!(!replay.draws_equity_chart(day("2016-12-29")));
        let paper = app(RunMode::Paper, BrokerKind::Paper);
        assert!(paper.draws_equity_chart(day("2016-12-29")));
    }

    #[test]
    fn who_executes_the_orders() {
        use BrokerKind::{Alpaca, Paper};
        // A replay always trades the embedded broker; live always Alpaca; paper as configured.
        assert_eq!(app(RunMode::Replay, Alpaca).broker_kind(), Paper);
        assert_eq!(app(RunMode::Live, Paper).broker_kind(), Alpaca);
        assert_eq!(app(RunMode::Paper, Paper).broker_kind(), Paper);
        assert_eq!(app(RunMode::Paper, Alpaca).broker_kind(), Alpaca);
        // Without keys the Alpaca client is a one-line refusal naming the key.
        let err = app(RunMode::Paper, Alpaca)
            .alpaca()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("APCA_API_KEY_ID is missing"), "{err}");
    }
}
