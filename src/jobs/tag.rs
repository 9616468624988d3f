//! The jobs' tags: the names the schedule, the config, the logs and the ledgers know them by.

use crate::domain::text_enum;

text_enum!(
    /// Every job the application implements (DESIGN §4); the runtime knows them as text.
    JobTag, "job tag" {
        DbBackup => "DB_BACKUP",
        DataUpdate => "DATA_UPDATE",
        PreGame => "PRE_GAME",
        PregameBlueprint => "PREGAME_BLUEPRINT",
        FirstScan => "FIRST_SCAN",
        Scan => "SCAN",
        PositionManager => "POSITION_MANAGER",
        EodReport => "EOD_REPORT",
        OvernightWatchlist => "OVERNIGHT_WATCHLIST",
    }
);

/// Every job tag's text, in DESIGN §4's order (for messages that list them).
pub fn tag_names() -> Vec<&'static str> {
    JobTag::ALL.iter().map(|t| t.as_str()).collect()
}
