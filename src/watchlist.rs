//! The watchlist files the trading day hangs on (DESIGN §5, §8): `state/watchlist/next_day.json`
//! written after the close, `today_validated.json` after the pre-market check.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use kobe_actors::atomic_file::{write_atomic, Durability};

use crate::strategy::signals::{Signal, Strategy};

pub const NEXT_DAY: &str = "next_day.json";
pub const VALIDATED: &str = "today_validated.json";

pub fn dir(state: &Path) -> PathBuf {
    state.join("watchlist")
}

/// One watchlist line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    pub rank: usize,
    pub symbol: String,
    pub strategy: Strategy,
    /// The signal bar's close: the entry reference and the base of the pre-market gap.
    pub entry_ref: f64,
    pub stop: f64,
    pub target: Option<f64>,
    pub confidence: f64,
    pub atr14: f64,
    pub reason: String,
}

impl Pick {
    pub fn from_signal(rank: usize, s: &Signal) -> Self {
        let reason = match s.strategy {
            Strategy::IbsRsi => format!(
                "closed at the bottom of its range (IBS {:.2}) after a sharp two-day drop (RSI2 {:.1}), above its 200-day average {:.2}",
                s.ibs, s.rsi2, s.sma200
            ),
            Strategy::TurtleSoup => format!(
                "swept below its prior 15-day low and closed back above it (score {:.0}), above its 200-day average {:.2}",
                s.score, s.sma200
            ),
        };
        Self {
            rank,
            symbol: s.symbol.clone(),
            strategy: s.strategy,
            entry_ref: s.close,
            stop: s.stop,
            target: s.target,
            confidence: s.confidence,
            atr14: s.atr14,
            reason,
        }
    }
}

/// `next_day.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextDay {
    pub generated_at: DateTime<Utc>,
    /// The session it was made on, and the bar date its signals come from.
    pub session: NaiveDate,
    pub as_of: NaiveDate,
    pub for_session: NaiveDate,
    pub trade_of_the_day: Option<Pick>,
    pub top5: Vec<Pick>,
}

/// Pre-market verdict on one pick (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GapStatus {
    Ok,
    Improved,
    Degraded,
    Removed,
    /// No pre-market price could be had: never reported as OK.
    Unchecked,
}

impl GapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GapStatus::Ok => "OK",
            GapStatus::Improved => "IMPROVED",
            GapStatus::Degraded => "DEGRADED",
            GapStatus::Removed => "REMOVED",
            GapStatus::Unchecked => "UNCHECKED",
        }
    }
}

/// |gap| > 3 % removed; gap ≤ −1 % improved; gap ≥ +1 % degraded; else OK.
pub fn classify(gap: f64) -> GapStatus {
    if gap.abs() > 0.03 {
        GapStatus::Removed
    } else if gap <= -0.01 {
        GapStatus::Improved
    } else if gap >= 0.01 {
        GapStatus::Degraded
    } else {
        GapStatus::Ok
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validated {
    pub validated_at: DateTime<Utc>,
    pub for_session: NaiveDate,
    pub watchlist_generated_at: DateTime<Utc>,
    /// Where the pre-market prices came from: `replay_open` or `unavailable`.
    pub price_source: String,
    pub entries: Vec<ValidatedPick>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatedPick {
    #[serde(flatten)]
    pub pick: Pick,
    pub premarket: Option<f64>,
    pub gap: Option<f64>,
    pub status: GapStatus,
    /// `unchecked`, or what the news check found.
    pub news: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchlistError {
    #[error("{path}: {why}", path = .path.display())]
    Unreadable { path: PathBuf, why: String },
}

/// Replaces a watchlist file. One that exists but is not a valid `T` is renamed aside
/// (`NAME.corrupt-N`) and named in the log first: never overwritten silently (DESIGN §5).
pub fn replace<T: Serialize + for<'de> Deserialize<'de>>(
    path: &Path,
    value: &T,
    durability: Durability,
) -> std::io::Result<Option<PathBuf>> {
    let kept = match read::<T>(path) {
        Err(e) => {
            let aside = (1..)
                .map(|n| path.with_extension(format!("json.corrupt-{n}")))
                .find(|p| !p.exists())
                .expect("a free name");
            std::fs::rename(path, &aside)?;
            tracing::error!(error = %e, kept_as = %aside.display(), "corrupt watchlist file moved aside");
            Some(aside)
        }
        Ok(_) => None,
    };
    write_json(path, value, durability)?;
    Ok(kept)
}

pub fn write_json<T: Serialize>(
    path: &Path,
    value: &T,
    durability: Durability,
) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("watchlists serialise") + "\n";
    write_atomic(path, text.as_bytes(), durability)
}

/// Reads a watchlist file: `Ok(None)` when there is none; a corrupt one is an error naming it
/// (and is left where it is).
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, WatchlistError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(WatchlistError::Unreadable {
                path: path.to_path_buf(),
                why: e.to_string(),
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| WatchlistError::Unreadable {
            path: path.to_path_buf(),
            why: format!("not a watchlist ({e}); left as it is"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_file_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NEXT_DAY);
        std::fs::write(&path, "{ torn").unwrap();
        let value = NextDay {
            generated_at: chrono::DateTime::<Utc>::MIN_UTC,
            session: NaiveDate::MIN,
            as_of: NaiveDate::MIN,
            for_session: NaiveDate::MIN,
            trade_of_the_day: None,
            top5: vec![],
        };
        let aside = replace(&path, &value, Durability::ProcessCrash)
            .unwrap()
            .expect("moved aside");
        assert_eq!(std::fs::read_to_string(aside).unwrap(), "{ torn");
        assert_eq!(read::<NextDay>(&path).unwrap(), Some(value.clone()));
        assert_eq!(
            replace(&path, &value, Durability::ProcessCrash).unwrap(),
            None
        );
    }

    #[test]
    fn gap_rules() {
        let cases = [
            (0.0, GapStatus::Ok),
            (0.0099, GapStatus::Ok),
            (-0.0099, GapStatus::Ok),
            (0.01, GapStatus::Degraded),
            (-0.01, GapStatus::Improved),
            (0.03, GapStatus::Degraded),
            (-0.03, GapStatus::Improved),
            (0.0301, GapStatus::Removed),
            (-0.0301, GapStatus::Removed),
        ];
        for (gap, want) in cases {
            assert_eq!(classify(gap), want, "{gap}");
        }
    }
}
