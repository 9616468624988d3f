//! What one POSITION_MANAGER cycle did, as data: what it noted (in order), and what the broker
//! refused. The slot's `detail` line in `logs/jobs.jsonl` is rendered from it.

use std::fmt;

use crate::domain::DecisionReason;

/// One cycle's outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleOutcome {
    /// What the detail line says, in the order it happened.
    pub notes: Vec<Note>,
    /// Orders the broker said no to this cycle.
    pub refusals: Vec<Refusal>,
}

impl CycleOutcome {
    /// Whether the broker sent a status kobe does not know (the slot is then reported failed,
    /// its work done, so health notices).
    pub fn has_unknown_status(&self) -> bool {
        self.notes
            .iter()
            .any(|n| matches!(n, Note::UnknownStatus { .. }))
    }

    /// The entries recorded today, as the cycle's last word on them (`None` if it did not get
    /// to entries: outside the windows, kill switch, the close).
    pub fn entries_today(&self) -> Option<&[EntryLine]> {
        self.notes.iter().rev().find_map(|n| match n {
            Note::EntriesToday { entries, .. } => Some(entries.as_slice()),
            _ => None,
        })
    }
}

impl fmt::Display for CycleOutcome {
    /// The detail line: the notes joined by "; ", then what the broker refused.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, note) in self.notes.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{note}")?;
        }
        if !self.refusals.is_empty() {
            if !self.notes.is_empty() {
                f.write_str("; ")?;
            }
            write!(f, "refused: {}", list(&self.refusals))?;
        }
        Ok(())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} x{} ({})", self.symbol, self.qty, self.why)
    }
}

/// An order the broker refused: never sent again.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub client_order_id: String,
    pub symbol: String,
    pub qty: i64,
    /// The broker's own words.
    pub why: String,
}

/// A decision recorded today to trade now, as the ledger holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryLine {
    pub symbol: String,
    pub qty: i64,
    pub price: f64,
}

/// An exit decision recorded today.
#[derive(Debug, Clone, PartialEq)]
pub struct ExitLine {
    pub symbol: String,
    pub reason: DecisionReason,
    pub price: f64,
}

/// Why a decision left unsent was not sent now.
#[derive(Debug, Clone, PartialEq)]
pub enum NotSent {
    /// Its session is over: it expired.
    SessionOver,
    /// An entry while the kill switch is on.
    KillSwitch,
    /// The broker did not answer: sent again next cycle.
    NotYet(String),
}

/// Why no entries are made this cycle.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagingOnly {
    OutsideWindows,
    KillSwitch,
    /// The broker's account cannot trade (its words).
    AccountBlocked(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// The broker sent a status kobe does not know: the order is kept in flight.
    UnknownStatus {
        client_order_id: String,
        status: String,
    },
    /// A decision a dead run left unsent was not sent.
    NotSent {
        client_order_id: String,
        why: NotSent,
    },
    /// A position's stop is gone at the broker again after today's re-arm.
    StopStillMissing {
        symbol: String,
    },
    StopRearmed {
        symbol: String,
        stop: f64,
    },
    /// Re-arming was refused and the price is through the stop: closed at market.
    ClosedThroughStop {
        symbol: String,
        stop: f64,
    },
    RearmRefused {
        symbol: String,
        why: String,
    },
    RearmNotYet {
        symbol: String,
        why: String,
    },
    /// No bar of today for the open positions: only time stops were judged.
    NoPriceToday {
        why: String,
    },
    /// A file of entry candidates (the validated watchlist, a scan's hand-off) could not be
    /// read: nothing from it was entered.
    CandidatesUnreadable {
        why: String,
    },
    /// The last cycle before the close on a broker that fills at the market.
    ExitsToday(Vec<ExitLine>),
    /// The close tick: the day's exits and the equity recorded.
    DayClosed {
        exits: Vec<ExitLine>,
        equity: f64,
    },
    DailyLossLimit,
    /// The day's equity is not a finite number: entries stop with the kill switch.
    EquityNotANumber {
        equity: f64,
    },
    ManagingOnly(ManagingOnly),
    /// An entry the limits allowed and the account's money (buying power, else cash) does not.
    NoMoney {
        symbol: String,
        money: f64,
        price: f64,
    },
    /// An entry priced at the last close for want of a latest trade.
    PricedAtLastClose {
        symbol: String,
        why: String,
    },
    KillSwitchMidRun,
    EntriesToday {
        entries: Vec<EntryLine>,
        open: usize,
    },
}

/// "none", or the lines joined by ", ".
fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for EntryLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} x{} @ {:.2}", self.symbol, self.qty, self.price)
    }
}

impl fmt::Display for ExitLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} @ {:.2}", self.symbol, self.reason, self.price)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::NotSent {
                client_order_id: id,
                why,
            } => match why {
                NotSent::SessionOver => write!(f, "{id}: its session is over, not sent"),
                NotSent::KillSwitch => write!(f, "{id}: kill switch on, not sent"),
                NotSent::NotYet(e) => write!(f, "{id}: not sent yet ({e})"),
            },
            Note::UnknownStatus {
                client_order_id,
                status,
            } => write!(
                f,
                "{client_order_id}: the broker says {status:?}, a status kobe does not know: kept in flight"
            ),
            Note::StopStillMissing { symbol } => write!(
                f,
                "{symbol} has no stop at the broker (re-armed once today already): check it"
            ),
            Note::StopRearmed { symbol, stop } => write!(
                f,
                "{symbol}: its stop was gone at the broker, re-armed at {stop:.2}"
            ),
            Note::ClosedThroughStop { symbol, stop } => {
                write!(f, "{symbol}: below its stop {stop:.2}, closed at market")
            }
            Note::RearmRefused { symbol, why } => {
                write!(f, "{symbol}: re-arming its stop was refused ({why})")
            }
            Note::RearmNotYet { symbol, why } => {
                write!(f, "{symbol}: stop not re-armed yet ({why})")
            }
            Note::NoPriceToday { why } => {
                write!(f, "no price for today ({why}): only time stops judged")
            }
            Note::CandidatesUnreadable { why } => {
                write!(f, "{why}: nothing entered from it")
            }
            Note::ExitsToday(exits) => write!(f, "exits today {}", list(exits)),
            Note::DayClosed { exits, equity } => {
                write!(f, "close: exits today {}; equity {equity:.2}", list(exits))
            }
            Note::DailyLossLimit => f.write_str("daily loss limit reached: kill switch on"),
            Note::EquityNotANumber { equity } => {
                write!(f, "equity {equity} is not a number: kill switch on")
            }
            Note::ManagingOnly(why) => match why {
                ManagingOnly::OutsideWindows => {
                    f.write_str("outside the entry windows: managing only")
                }
                ManagingOnly::KillSwitch => {
                    f.write_str("kill switch on: no entries, managing only")
                }
                ManagingOnly::AccountBlocked(why) => {
                    write!(f, "{why}: no entries, managing only")
                }
            },
            Note::NoMoney {
                symbol,
                money,
                price,
            } => write!(
                f,
                "{symbol} not entered: {money:.2} to spend buys no share at {price:.2}"
            ),
            Note::PricedAtLastClose { symbol, why } => {
                write!(f, "{symbol} priced at its last close ({why})")
            }
            Note::KillSwitchMidRun => f.write_str("kill switch engaged mid-run: entries stopped"),
            Note::EntriesToday { entries, open } => {
                write!(f, "entries today: {}; {open} open", list(entries))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ExitReason;

    #[test]
    fn the_detail_line_keeps_its_wording() {
        let entry = |symbol: &str, qty, price| EntryLine {
            symbol: symbol.into(),
            qty,
            price,
        };
        let outcome = CycleOutcome {
            notes: vec![
                Note::NotSent {
                    client_order_id: "2018-02-06-IBS_RSI-MSFT-buy".into(),
                    why: NotSent::SessionOver,
                },
                Note::DayClosed {
                    exits: vec![ExitLine {
                        symbol: "AAPL".into(),
                        reason: DecisionReason::Exit(ExitReason::TimeStop),
                        price: 160.5,
                    }],
                    equity: 100_123.456,
                },
                Note::EntriesToday {
                    entries: vec![entry("AAPL", 61, 163.03), entry("JPM", 10, 99.999)],
                    open: 2,
                },
                Note::ExitsToday(vec![]),
            ],
            refusals: vec![],
        };
        assert_eq!(
            outcome.to_string(),
            "2018-02-06-IBS_RSI-MSFT-buy: its session is over, not sent; \
             close: exits today AAPL time_stop @ 160.50; equity 100123.46; \
             entries today: AAPL x61 @ 163.03, JPM x10 @ 100.00; 2 open; exits today none"
        );
        assert_eq!(outcome.entries_today().unwrap()[1].symbol, "JPM");
    }
}
