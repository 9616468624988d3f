//! Secrets from `.env` (or `--dotenv PATH`) and the environment, and the live-trading gate.
//!
//! Secret values never leave this module except through `get`: `Debug` redacts them, and
//! `redact` scrubs them from any text before it is shown or written.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The keys kobe reads (DESIGN §5).
pub const KEYS: [&str; 6] = [
    "POLYGON_API_KEY",
    "APCA_API_KEY_ID",
    "APCA_API_SECRET_KEY",
    "APCA_API_BASE_URL",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_CHAT_ID",
];
/// The values of these keys are secret. Not the base URL, nor the chat id: a short number
/// redacted everywhere would scrub prices and counts out of every message.
const SECRET_KEYS: [&str; 4] = [
    "POLYGON_API_KEY",
    "APCA_API_KEY_ID",
    "APCA_API_SECRET_KEY",
    "TELEGRAM_BOT_TOKEN",
];

pub const ALPACA_LIVE_HOST: &str = "api.alpaca.markets";
pub const ALPACA_PAPER_HOST: &str = "paper-api.alpaca.markets";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    #[error("--dotenv {0}: no such file")]
    Missing(PathBuf),
    #[error("{path} line {line}: not a KEY=VALUE line", path = .path.display())]
    BadLine { path: PathBuf, line: usize },
    #[error("{path}: {why}", path = .path.display())]
    Unreadable { path: PathBuf, why: String },
}

#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// Where the file values came from, if a file was read.
    pub source: Option<PathBuf>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&String> = self.values.keys().collect();
        f.debug_struct("Secrets")
            .field("keys", &keys)
            .field("source", &self.source)
            .finish()
    }
}

impl Secrets {
    /// `--dotenv PATH` (must exist), else `<home>/.env` if present; the environment wins over
    /// the file, as with every dotenv tool.
    pub fn load(explicit: Option<&Path>, home: &Path) -> Result<Self, SecretsError> {
        let path = match explicit {
            Some(p) if !p.exists() => return Err(SecretsError::Missing(p.to_path_buf())),
            Some(p) => Some(p.to_path_buf()),
            None => Some(home.join(".env")).filter(|p| p.exists()),
        };
        let mut values = BTreeMap::new();
        if let Some(path) = &path {
            values = read_dotenv(path)?;
        }
        for key in KEYS {
            if let Ok(v) = std::env::var(key) {
                if !v.is_empty() {
                    values.insert(key.to_string(), v);
                }
            }
        }
        values.retain(|k, v| KEYS.contains(&k.as_str()) && !v.is_empty());
        Ok(Self {
            values,
            source: path,
        })
    }

    /// Secrets from explicit pairs (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let values = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self {
            values,
            source: None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `text` with every secret value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for key in SECRET_KEYS {
            if let Some(v) = self.values.get(key).filter(|v| v.len() >= 4) {
                out = out.replace(v.as_str(), "***");
            }
        }
        out
    }
}

fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>, SecretsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SecretsError::Unreadable {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let mut values = BTreeMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((k, v)) => {
                values.insert(k, v);
            }
            Err(dotenvy::Error::LineParse(bad, _)) => {
                // Name the line, never echo it: it may hold a key.
                let line = text
                    .lines()
                    .position(|l| bad.starts_with(l.trim()) || l.contains(bad.as_str()));
                return Err(SecretsError::BadLine {
                    path: path.to_path_buf(),
                    line: line.map_or(0, |i| i + 1),
                });
            }
            Err(e) => {
                return Err(SecretsError::Unreadable {
                    path: path.to_path_buf(),
                    why: e.to_string(),
                })
            }
        }
    }
    Ok(values)
}

/// Which Alpaca account a base URL reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerAccount {
    Live,
    Paper,
    /// Neither Alpaca host (a local test server, a proxy).
    Other,
}

pub fn broker_account(url: &str) -> BrokerAccount {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match host.as_str() {
        ALPACA_LIVE_HOST => BrokerAccount::Live,
        ALPACA_PAPER_HOST => BrokerAccount::Paper,
        _ => BrokerAccount::Other,
    }
}

/// The live gate (DESIGN §6): live needs `--approve-live`, both keys and the live URL; paper
/// refuses a live URL. Errors are one line naming what is missing and what to do.
pub fn check_mode(live: bool, approve_live: bool, secrets: &Secrets) -> Result<(), String> {
    let url = secrets.get("APCA_API_BASE_URL");
    if !live {
        if url.is_some_and(|u| broker_account(u) == BrokerAccount::Live) {
            return Err(format!(
                "--mode paper refuses a live broker URL (APCA_API_BASE_URL={}): set it to https://{ALPACA_PAPER_HOST} or remove it",
                url.unwrap_or_default()
            ));
        }
        return Ok(());
    }
    if !approve_live {
        return Err("--mode live needs --approve-live as well: add it if you mean to trade real money, or use --mode paper".into());
    }
    for key in ["APCA_API_KEY_ID", "APCA_API_SECRET_KEY"] {
        if secrets.get(key).is_none() {
            return Err(format!(
                "--mode live: {key} is missing (put it in .env or pass --dotenv PATH)"
            ));
        }
    }
    match url.map(broker_account) {
        None => Err(format!("--mode live: APCA_API_BASE_URL is missing: set it to https://{ALPACA_LIVE_HOST}")),
        Some(BrokerAccount::Live) => Ok(()),
        Some(_) => Err(format!(
            "--mode live: APCA_API_BASE_URL={} is not the live endpoint: set it to https://{ALPACA_LIVE_HOST}",
            url.unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "https://api.alpaca.markets";
    const PAPER: &str = "https://paper-api.alpaca.markets";

    fn keys(url: Option<&str>) -> Secrets {
        let mut pairs = vec![
            ("APCA_API_KEY_ID", "AKID123456"),
            ("APCA_API_SECRET_KEY", "s3cr3tvalue"),
        ];
        if let Some(u) = url {
            pairs.push(("APCA_API_BASE_URL", u));
        }
        Secrets::from_pairs(&pairs)
    }

    #[test]
    fn the_live_gate() {
        assert!(check_mode(false, false, &Secrets::default()).is_ok());
        assert!(check_mode(false, false, &keys(Some(PAPER))).is_ok());
        assert!(check_mode(false, false, &keys(Some(LIVE)))
            .unwrap_err()
            .contains("--mode paper refuses"));
        assert!(check_mode(true, false, &keys(Some(LIVE)))
            .unwrap_err()
            .contains("--approve-live"));
        assert!(check_mode(true, true, &Secrets::default())
            .unwrap_err()
            .contains("APCA_API_KEY_ID"));
        let only_id = Secrets::from_pairs(&[("APCA_API_KEY_ID", "x"), ("APCA_API_BASE_URL", LIVE)]);
        assert!(check_mode(true, true, &only_id)
            .unwrap_err()
            .contains("APCA_API_SECRET_KEY"));
        assert!(check_mode(true, true, &keys(None))
            .unwrap_err()
            .contains("APCA_API_BASE_URL is missing"));
        assert!(check_mode(true, true, &keys(Some(PAPER)))
            .unwrap_err()
            .contains("not the live endpoint"));
        assert!(check_mode(true, true, &keys(Some(LIVE))).is_ok());
    }

    #[test]
    fn secrets_are_redacted_and_never_debug_printed() {
        let s = keys(Some(LIVE));
        assert_eq!(
            s.redact("key AKID123456 and s3cr3tvalue at api"),
            "key *** and *** at api"
        );
        let tg = Secrets::from_pairs(&[
            ("TELEGRAM_BOT_TOKEN", "123456:ABCdef"),
            ("TELEGRAM_CHAT_ID", "4242"),
        ]);
        assert_eq!(
            tg.redact("/bot123456:ABCdef/sendMessage to 4242"),
            "/bot***/sendMessage to 4242"
        );
        assert!(!format!("{s:?}").contains("s3cr3tvalue"));
    }

    #[test]
    fn dotenv_files_and_their_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# keys\nPOLYGON_API_KEY=pk_123\nAPCA_API_BASE_URL=https://paper-api.alpaca.markets\n",
        )
        .unwrap();
        let s = Secrets::load(Some(&path), dir.path()).unwrap();
        assert_eq!(s.get("APCA_API_BASE_URL"), Some(PAPER));
        std::fs::write(&path, "POLYGON_API_KEY=pk_123\nthis line is wrong sekrit\n").unwrap();
        let err = Secrets::load(Some(&path), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("line 2: not a KEY=VALUE line"), "{err}");
        assert!(!err.contains("sekrit"));
        let missing = dir.path().join("nope.env");
        assert_eq!(
            Secrets::load(Some(&missing), dir.path()).unwrap_err(),
            SecretsError::Missing(missing)
        );
    }

    #[test]
    fn broker_hosts() {
        assert_eq!(broker_account(LIVE), BrokerAccount::Live);
        assert_eq!(
            broker_account("https://API.alpaca.markets/v2"),
            BrokerAccount::Live
        );
        assert_eq!(broker_account(PAPER), BrokerAccount::Paper);
        assert_eq!(
            broker_account("http://127.0.0.1:8080"),
            BrokerAccount::Other
        );
    }
}
