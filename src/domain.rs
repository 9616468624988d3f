//! The trading domain's closed sets — side, order kind, order status, exit reason, entry
//! source — as enums whose text form is what SQLite, JSON and the broker carry. Reading a text
//! that is not one of them is an error naming it, never a default.

use serde::{Deserialize, Serialize};

/// A text that is not one of a closed set's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// Which set (`side`, `order status`, ...).
    pub what: &'static str,
    pub value: String,
}

/// Declares an enum with a fixed text per variant: `as_str`, `FromStr` (strict), `Display`,
/// and serde as that text, so every place that stores or sends it agrees.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::UnknownValue;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::domain::UnknownValue {
                        what: $what,
                        value: other.to_string(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// Which way an order trades.
    Side, "side" {
        Buy => "buy",
        Sell => "sell",
    }
);

text_enum!(
    /// How an order is priced. Bracket legs are `Limit` (take profit) and `Stop` (stop loss);
    /// Alpaca's `stop_limit` and `trailing_stop` are stops too, for what kobe does with them.
    OrderKind, "order type" {
        Market => "market",
        Limit => "limit",
        Stop => "stop",
    }
);

impl OrderKind {
    /// A broker's order type: its stop variants are stops; an unknown type is an error.
    pub fn from_broker(text: &str) -> Result<Self, UnknownValue> {
        match text {
            "stop_limit" | "trailing_stop" => Ok(OrderKind::Stop),
            other => other.parse(),
        }
    }
}

text_enum!(
    /// An order's status: every status Alpaca documents for an order (and `held`, a bracket
    /// leg waiting on its parent). The paper broker uses `new`, `filled`, `canceled`,
    /// `expired`; a decision never sent is recorded `rejected`, `canceled` or `expired`.
    OrderStatus, "order status" {
        New => "new",
        PartiallyFilled => "partially_filled",
        Filled => "filled",
        DoneForDay => "done_for_day",
        Canceled => "canceled",
        Expired => "expired",
        Replaced => "replaced",
        PendingCancel => "pending_cancel",
        PendingReplace => "pending_replace",
        Accepted => "accepted",
        PendingNew => "pending_new",
        AcceptedForBidding => "accepted_for_bidding",
        Stopped => "stopped",
        Rejected => "rejected",
        Suspended => "suspended",
        Calculated => "calculated",
        Held => "held",
    }
);

/// Where an order stands, for what kobe does with it (the README's status table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// May still fill: asked about every cycle.
    InFlight,
    /// Done for today, alive again tomorrow (a gtc entry or bracket leg): still asked about.
    LiveTomorrow,
    /// Finished: what filled is applied, nothing more comes.
    Finished,
}

impl OrderStatus {
    /// What kobe does with an order in this status (matched exhaustively: a status Alpaca adds
    /// must be placed here; until then the Alpaca client keeps such an order in flight and the
    /// position manager reports it).
    pub fn stage(self) -> Stage {
        use OrderStatus::*;
        match self {
            Filled | Canceled | Expired | Rejected | Replaced => Stage::Finished,
            // Alpaca: "will not receive further updates until the next trading day".
            DoneForDay => Stage::LiveTomorrow,
            New | PartiallyFilled | PendingCancel | PendingReplace | Accepted | PendingNew
            | AcceptedForBidding | Stopped | Suspended | Calculated | Held => Stage::InFlight,
        }
    }

    /// No fill can come any more.
    pub fn is_terminal(self) -> bool {
        self.stage() == Stage::Finished
    }

    /// The terminal statuses, for SQL that selects what may still fill.
    pub fn terminal() -> impl Iterator<Item = OrderStatus> {
        Self::ALL.iter().copied().filter(|s| s.is_terminal())
    }
}

text_enum!(
    /// Why a position was closed.
    ExitReason, "exit reason" {
        /// The stop: a bracket's stop leg, a resting stop, or the market model's stop.
        Stop => "stop",
        Target => "target",
        /// The strategy's exit at the close (DESIGN §8).
        StrategyExit => "strategy_exit",
        /// Held the strategy's longest.
        TimeStop => "time_stop",
    }
);

text_enum!(
    /// Where an entry came from.
    EntrySource, "entry source" {
        Watchlist => "watchlist",
        Scan => "scan",
    }
);

/// Why a decision was made: an entry from a source, or an exit. Its text is the ledger's
/// `decisions.reason` and the trades' `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DecisionReason {
    Entry(EntrySource),
    Exit(ExitReason),
}

impl DecisionReason {
    const ENTRY_PREFIX: &'static str = "entry from the ";
}

impl std::fmt::Display for DecisionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecisionReason::Entry(source) => write!(f, "{}{source}", Self::ENTRY_PREFIX),
            DecisionReason::Exit(reason) => f.write_str(reason.as_str()),
        }
    }
}

impl std::str::FromStr for DecisionReason {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownValue {
            what: "decision reason",
            value: text.to_string(),
        };
        match text.strip_prefix(Self::ENTRY_PREFIX) {
            Some(source) => source
                .parse()
                .map(DecisionReason::Entry)
                .map_err(|_| unknown()),
            None => text
                .parse()
                .map(DecisionReason::Exit)
                .map_err(|_| unknown()),
        }
    }
}

impl From<DecisionReason> for String {
    fn from(r: DecisionReason) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for DecisionReason {
    type Error = UnknownValue;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl rusqlite::types::ToSql for DecisionReason {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.to_string().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_reads_back_and_nothing_else_reads() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(*s));
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<OrderStatus>(&json).unwrap(), *s);
        }
        assert_eq!(OrderStatus::ALL.len(), 17);
        let err = "bought".parse::<Side>().unwrap_err();
        assert_eq!(err.to_string(), "unknown side \"bought\"");
        assert!(
            "Buy".parse::<Side>().is_err(),
            "case matters: the ledger is lowercase"
        );
        assert!(serde_json::from_str::<OrderStatus>("\"open\"").is_err());
        assert_eq!(OrderKind::from_broker("stop_limit"), Ok(OrderKind::Stop));
        assert!(OrderKind::from_broker("iceberg").is_err());
    }

    #[test]
    fn terminal_statuses_are_the_five_that_never_fill_again() {
        let terminal: Vec<&str> = OrderStatus::terminal().map(OrderStatus::as_str).collect();
        assert_eq!(
            terminal,
            ["filled", "canceled", "expired", "replaced", "rejected"]
        );
        assert_eq!(OrderStatus::DoneForDay.stage(), Stage::LiveTomorrow);
        assert_eq!(OrderStatus::Held.stage(), Stage::InFlight);
    }

    #[test]
    fn decision_reasons_keep_their_ledger_text() {
        let cases = [
            (
                DecisionReason::Entry(EntrySource::Watchlist),
                "entry from the watchlist",
            ),
            (
                DecisionReason::Entry(EntrySource::Scan),
                "entry from the scan",
            ),
            (DecisionReason::Exit(ExitReason::TimeStop), "time_stop"),
            (DecisionReason::Exit(ExitReason::Stop), "stop"),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
            assert_eq!(text.parse::<DecisionReason>(), Ok(reason));
        }
        for bad in ["entry from the news", "stopped", ""] {
            assert!(bad.parse::<DecisionReason>().is_err(), "{bad}");
        }
    }
}
