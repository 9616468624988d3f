//! The application's part of the status page at `/`: open positions, today's P&L and the
//! equity chart, from the trading ledger and the latest report.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use kobe_actors::health::{esc, PageFragment};

use crate::trading::TradingLedger;
use kobe_actors::atomic_file::Durability;

/// The fragment for a home; read afresh on every page view (a few small files).
pub fn fragment(home: PathBuf, starting_equity: f64) -> PageFragment {
    Arc::new(move || {
        let mut html = String::new();
        let state = home.join("state");
        let ledger = state
            .join("ledger.sqlite")
            .exists()
            .then(|| TradingLedger::open(&state, starting_equity, Durability::ProcessCrash).ok())
            .flatten();
        html.push_str("<section id=\"positions\"><h2>Open positions</h2>");
        match ledger.as_ref().map(|l| (l.positions(), l.cash())) {
            Some((Ok(positions), Ok(cash))) => {
                let _ = write!(html, "<p>{} open, cash {cash:.2}</p>", positions.len());
                if !positions.is_empty() {
                    html.push_str("<table><tr><th>symbol</th><th>strategy</th><th>qty</th><th>entry</th><th>stop</th><th>target</th><th>since</th></tr>");
                    for p in positions {
                        let f = crate::report::num_or_dash;
                        let _ = write!(
                            html,
                            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            esc(&p.symbol),
                            esc(p.strategy.as_str()),
                            p.qty,
                            p.entry_price,
                            f(p.stop),
                            f(p.target),
                            p.entry_session
                        );
                    }
                    html.push_str("</table>");
                }
            }
            _ => html.push_str("<p>no trading ledger yet</p>"),
        }
        html.push_str("</section><section id=\"pnl\"><h2>P&amp;L</h2>");
        // The latest end-of-day report, whatever its date.
        let latest = std::fs::read_dir(home.join("reports"))
            .ok()
            .and_then(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("pnl_") && n.ends_with(".json"))
                    })
                    .max()
            });
        match latest
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        {
            Some(r) => {
                let _ = write!(
                    html,
                    "<p>{}: equity {:.2}, day {:+.2}, realized {:+.2}, unrealized {:+.2}</p>",
                    esc(r["session"].as_str().unwrap_or("")),
                    r["equity"].as_f64().unwrap_or(0.0),
                    r["day_pnl"].as_f64().unwrap_or(0.0),
                    r["realized_today"].as_f64().unwrap_or(0.0),
                    r["unrealized"].as_f64().unwrap_or(0.0)
                );
            }
            None => html.push_str("<p>no end-of-day report yet</p>"),
        }
        html.push_str("</section><section id=\"equity\"><h2>Equity</h2>");
        match std::fs::read_to_string(home.join("reports/equity.svg")) {
            // Our own file, written by plotters: embedded as it is.
            Ok(svg) if svg.starts_with("<svg") => html.push_str(&svg),
            _ => html.push_str("<p>no equity chart yet</p>"),
        }
        html.push_str("</section>");
        html
    })
}
