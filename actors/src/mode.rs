//! How a run meets the world — a replay of past sessions, paper trading now, or live money —
//! decided once at start and carried by every part that behaves differently because of it (as
//! NautilusTrader keeps its environment apart from its clock: the clock says what time it is,
//! the mode says whether that time is history).

use crate::atomic_file::Durability;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunMode {
    /// Past sessions on a simulated clock: market data from the store by the visibility rule
    /// and the market model (DESIGN §7), the embedded paper broker, nothing fetched or backed up.
    Replay,
    /// Now, on the wall clock, with a paper account (the embedded broker or Alpaca's paper
    /// account, as configured); today's prices from Polygon.
    Paper,
    /// Now, with real money on Alpaca's live account (`--mode live --approve-live`).
    Live,
}

impl RunMode {
    /// How hard state is pushed to disk: a replay's records need only survive the process being
    /// killed (it resumes with the same command); a paper or live run's survive a power cut.
    pub fn durability(self) -> Durability {
        match self {
            RunMode::Replay => Durability::ProcessCrash,
            RunMode::Paper | RunMode::Live => Durability::PowerLoss,
        }
    }

    /// The account traded, as the heartbeat, `/health` and the lock name it (DESIGN §5: `paper`
    /// or `live`; a replay trades a paper account, its clock says `simulated`).
    pub fn account(self) -> &'static str {
        match self {
            RunMode::Replay | RunMode::Paper => "paper",
            RunMode::Live => "live",
        }
    }

    pub fn is_replay(self) -> bool {
        self == RunMode::Replay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_replay_skips_the_fsync_and_only_live_is_live() {
        let table = [
            (RunMode::Replay, Durability::ProcessCrash, "paper"),
            (RunMode::Paper, Durability::PowerLoss, "paper"),
            (RunMode::Live, Durability::PowerLoss, "live"),
        ];
        for (mode, durability, account) in table {
            assert_eq!((mode.durability(), mode.account()), (durability, account));
        }
    }
}
