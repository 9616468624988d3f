//! The application's part of the status page at `/`: open positions, today's P&L, the equity
//! chart, the validated watchlist, the latest scan's top signals and the last closed trades,
//! from the trading ledger and the files the jobs write.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kobe_actors::atomic_file::Durability;
use kobe_actors::health::{esc, PageFragment};
use serde_json::Value;

use crate::report::num_or_dash;
use crate::trading::TradingLedger;
use crate::watchlist::{self, Validated};

/// Closed trades shown, newest first.
const TRADES_SHOWN: usize = 10;

/// The fragment for a home; read afresh on every page view (a few small files). `replay`: the
/// run is a replay, which holds the trading ledger locked until it ends.
pub fn fragment(home: PathBuf, starting_equity: f64, replay: bool) -> PageFragment {
    Arc::new(move || {
        let state = home.join("state");
        // A ledger that is there but will not open is shown as such, never as no ledger.
        let ledger: Book = match state.join("ledger.sqlite").exists() {
            false => Ok(None),
            // Waiting for it would hold the page until the replay ends: said instead.
            true if replay => {
                Err("held by the running replay until it ends (then `kobe ledger export`)".into())
            }
            // A paper or live account's ledger: this connection may be the last to close it,
            // and so make its checkpoint, which must be as durable as the run's own.
            true => TradingLedger::open(&state, starting_equity, Durability::PowerLoss)
                .map(Some)
                .map_err(|e| e.to_string()),
        };
        let ledger = ledger.as_ref().map(Option::as_ref).map_err(String::as_str);
        let mut html = String::new();
        positions(&mut html, ledger);
        pnl(&mut html, &home);
        equity(&mut html, &home);
        validated_watchlist(&mut html, &state);
        latest_signals(&mut html, &state);
        closed_trades(&mut html, ledger);
        html
    })
}

/// The trading ledger as the page found it: none yet, open, or why it could not be opened.
type Book = Result<Option<TradingLedger>, String>;

/// An alarm line in a section.
fn alarm(html: &mut String, why: &str) {
    let _ = write!(html, "<p class=\"alarm\">{}</p>", esc(why));
}

fn positions(html: &mut String, ledger: Result<Option<&TradingLedger>, &str>) {
    html.push_str("<section id=\"positions\"><h2>Open positions</h2>");
    let book = match ledger {
        Err(why) => Err(why.to_string()),
        Ok(None) => Ok(None),
        Ok(Some(l)) => match (l.positions(), l.cash()) {
            (Ok(positions), Ok(cash)) => Ok(Some((positions, cash))),
            (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
        },
    };
    match book {
        Ok(Some((positions, cash))) => {
            let _ = write!(html, "<p>{} open, cash {cash:.2}</p>", positions.len());
            if !positions.is_empty() {
                html.push_str("<table><tr><th>symbol</th><th>strategy</th><th>qty</th><th>entry</th><th>stop</th><th>target</th><th>since</th></tr>");
                for p in positions {
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&p.symbol),
                        esc(p.strategy.as_str()),
                        p.qty,
                        p.entry_price,
                        num_or_dash(p.stop),
                        num_or_dash(p.target),
                        p.entry_session
                    );
                }
                html.push_str("</table>");
            }
        }
        Ok(None) => html.push_str("<p>no trading ledger yet</p>"),
        Err(why) => alarm(html, &format!("trading ledger: {why}")),
    }
    html.push_str("</section>");
}

/// The newest `PREFIX*.json` in `dir` by name: the names carry the date (and slot), so the
/// newest by name is the latest, whatever the files' times say. `Ok(None)`: no folder or no
/// such file yet; a folder that cannot be listed is an error, never "not yet".
fn newest(dir: &Path, prefix: &str) -> Result<Option<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut newest = None;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let wanted = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"));
        if wanted && newest.as_ref().is_none_or(|n| path > *n) {
            newest = Some(path);
        }
    }
    Ok(newest)
}

/// The newest `PREFIX*.json` of `dir`, read as `T`: `Ok(None)` when there is none yet; an
/// error naming the file when it cannot be read or lacks a field the page shows (a figure the
/// page cannot read is never drawn as 0.00).
fn read_newest<T: serde::de::DeserializeOwned>(
    dir: &Path,
    prefix: &str,
    shown_as: &str,
) -> Result<Option<T>, String> {
    let Some(path) = newest(dir, prefix)? else {
        return Ok(None);
    };
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown_as}/{name}: {e}"))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{shown_as}/{name} is not a readable report: {e}"))
}

/// What the P&L section shows of `reports/pnl_*.json`.
#[derive(serde::Deserialize)]
struct PnlView {
    session: String,
    equity: f64,
    day_pnl: f64,
    realized_today: f64,
    unrealized: f64,
}

fn pnl(html: &mut String, home: &Path) {
    html.push_str("<section id=\"pnl\"><h2>P&amp;L</h2>");
    match read_newest::<PnlView>(&home.join("reports"), "pnl_", "reports") {
        Ok(Some(r)) => {
            let _ = write!(
                html,
                "<p>{}: equity {:.2}, day {:+.2}, realized {:+.2}, unrealized {:+.2}</p>",
                esc(&r.session),
                r.equity,
                r.day_pnl,
                r.realized_today,
                r.unrealized
            );
        }
        Ok(None) => html.push_str("<p>no end-of-day report yet</p>"),
        Err(why) => alarm(html, &why),
    }
    html.push_str("</section>");
}

fn equity(html: &mut String, home: &Path) {
    html.push_str("<section id=\"equity\"><h2>Equity</h2>");
    match std::fs::read_to_string(home.join("reports/equity.svg")) {
        // Our own file, written by plotters, embedded as it is but for its size: drawn 900 px
        // wide, it ran off any narrower window and took the right-hand labels with it. The
        // style (which outranks the width and height attributes) scales it with its viewBox.
        Ok(svg) if svg.starts_with("<svg") => html.push_str(&svg.replacen(
            "<svg ",
            "<svg style=\"width:100%;max-width:900px;height:auto\" ",
            1,
        )),
        Ok(_) => alarm(html, "reports/equity.svg is not a chart kobe drew"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            html.push_str("<p>no equity chart yet</p>")
        }
        Err(e) => alarm(html, &format!("reports/equity.svg: {e}")),
    }
    html.push_str("</section>");
}

fn validated_watchlist(html: &mut String, state: &Path) {
    html.push_str("<section id=\"watchlist\"><h2>Today's watchlist</h2>");
    let path = watchlist::dir(state).join(watchlist::VALIDATED);
    match watchlist::read::<Validated>(&path) {
        Ok(Some(w)) => {
            // The file's own session is shown: after a quiet day it is an older one.
            let _ = write!(
                html,
                "<p>for {}, pre-market prices: {}</p>",
                w.for_session,
                esc(&w.price_source)
            );
            if w.entries.is_empty() {
                html.push_str("<p>nothing on it</p>");
            } else {
                html.push_str(
                    "<table><tr><th>symbol</th><th>strategy</th><th>gap</th><th>status</th></tr>",
                );
                for e in &w.entries {
                    let gap = e
                        .gap
                        .map_or_else(|| "-".to_string(), |g| format!("{:+.2}%", g * 100.0));
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td>{}</td><td>{gap}</td><td>{}</td></tr>",
                        esc(&e.pick.symbol),
                        esc(e.pick.strategy.as_str()),
                        e.status.as_str()
                    );
                }
                html.push_str("</table>");
            }
        }
        Ok(None) => html.push_str("<p>no validated watchlist yet</p>"),
        Err(e) => {
            alarm(html, &e.to_string());
        }
    }
    html.push_str("</section>");
}

/// What the scan section shows of `state/scans/scan_*.json`.
#[derive(serde::Deserialize)]
struct ScanView {
    tag: String,
    slot_et: String,
    as_of: String,
    signals_found: u64,
    top3: Vec<SignalView>,
}

#[derive(serde::Deserialize)]
struct SignalView {
    symbol: String,
    strategy: String,
    confidence: f64,
    close: f64,
    stop: f64,
    target: Option<f64>,
}

fn latest_signals(html: &mut String, state: &Path) {
    html.push_str("<section id=\"signals\"><h2>Latest scan</h2>");
    match read_newest::<ScanView>(&state.join("scans"), "scan_", "state/scans") {
        Ok(Some(scan)) => {
            let _ = write!(
                html,
                "<p>{} ({}): {} signals on {}'s bars</p>",
                esc(&scan.tag),
                esc(&scan.slot_et),
                scan.signals_found,
                esc(&scan.as_of)
            );
            if !scan.top3.is_empty() {
                html.push_str("<table><tr><th>symbol</th><th>strategy</th><th>confidence</th><th>close</th><th>stop</th><th>target</th></tr>");
                for s in &scan.top3 {
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
                        esc(&s.symbol),
                        esc(&s.strategy),
                        s.confidence,
                        s.close,
                        s.stop,
                        num_or_dash(s.target)
                    );
                }
                html.push_str("</table>");
            }
        }
        Ok(None) => html.push_str("<p>no scan yet</p>"),
        Err(why) => alarm(html, &why),
    }
    html.push_str("</section>");
}

fn closed_trades(html: &mut String, ledger: Result<Option<&TradingLedger>, &str>) {
    let _ = write!(
        html,
        "<section id=\"trades\"><h2>Last {TRADES_SHOWN} closed trades</h2>"
    );
    let trades = ledger.map_err(str::to_string).and_then(|l| {
        l.map(TradingLedger::trades_json)
            .transpose()
            .map_err(|e| e.to_string())
    });
    let mut trades = match trades {
        Ok(trades) => trades.unwrap_or_default(),
        Err(why) => {
            alarm(html, &format!("trading ledger: {why}"));
            html.push_str("</section>");
            return;
        }
    };
    trades_table(html, &mut trades);
    html.push_str("</section>");
}

/// The latest closed trades as a table; `<p>none yet</p>` when there are none.
fn trades_table(html: &mut String, trades: &mut [Value]) {
    if trades.is_empty() {
        html.push_str("<p>none yet</p>");
        return;
    }
    // The ledger lists them by entry; the page wants the latest exits first.
    let key = |t: &Value| {
        let field = |k: &str| t[k].as_str().unwrap_or("").to_string();
        (field("exit_session"), field("exit_order"))
    };
    trades.sort_by_key(|t| std::cmp::Reverse(key(t)));
    // Eight columns: on a phone the table scrolls inside its section, not the page.
    html.push_str("<div style=\"overflow-x:auto\"><table><tr><th>symbol</th><th>strategy</th><th>entry</th><th>entry price</th><th>exit</th><th>exit price</th><th>P&amp;L</th><th>reason</th></tr>");
    // The ledger refuses a non-number at open (`check_rows`); one written since is shown as
    // such and named below the table: never drawn as 0.00.
    let mut not_numbers = Vec::new();
    for t in trades.iter().take(TRADES_SHOWN) {
        let text = |k: &str| esc(t[k].as_str().unwrap_or(""));
        let mut figure = |k: &str, signed: bool| match t[k].as_f64() {
            Some(x) if signed => format!("{x:+.2}"),
            Some(x) => format!("{x:.2}"),
            None => {
                // Both orders: one exit order may close more than one trade.
                let order = |k: &str| t[k].as_str().unwrap_or("?").to_string();
                let trade = format!("{} to {}", order("entry_order"), order("exit_order"));
                not_numbers.push(format!("trade {trade}: {k} = {}", t[k]));
                "?".to_string()
            }
        };
        let (entry, exit, pnl) = (
            figure("entry_price", false),
            figure("exit_price", false),
            figure("pnl", true),
        );
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{entry}</td><td>{}</td><td>{exit}</td><td>{pnl}</td><td>{}</td></tr>",
            text("symbol"),
            text("strategy"),
            text("entry_session"),
            text("exit_session"),
            text("reason")
        );
    }
    html.push_str("</table></div>");
    if !not_numbers.is_empty() {
        alarm(
            html,
            &format!(
                "trading ledger: not a number in the trades table: {}",
                not_numbers.join("; ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_that_will_not_open_is_an_alarm_not_an_empty_book() {
        let home = tempfile::tempdir().unwrap();
        let state = home.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("ledger.sqlite"), "not a database").unwrap();
        let html = fragment(home.path().to_path_buf(), 100_000.0, false)();
        assert!(!html.contains("no trading ledger yet"), "{html}");
        assert!(!html.contains("none yet"), "{html}");
        assert_eq!(
            html.matches("<p class=\"alarm\">trading ledger: ").count(),
            2,
            "{html}"
        );
    }

    #[test]
    fn a_trade_figure_that_is_not_a_number_is_named_never_drawn_as_zero() {
        let trade = |entry: &str, exit: &str, symbol: &str, prices: [Value; 3]| {
            let [entry_price, exit_price, pnl] = prices;
            serde_json::json!({"entry_order": entry, "exit_order": exit, "symbol": symbol,
                "strategy": "IBS_RSI", "entry_session": "2024-01-02", "entry_price": entry_price,
                "exit_session": "2024-01-03", "exit_price": exit_price, "pnl": pnl,
                "reason": "target"})
        };
        // As a row written after the ledger was opened and checked could read.
        let mut trades = vec![
            trade("E1", "X1", "AAA", [10.0.into(), 11.0.into(), 10.0.into()]),
            trade(
                "E2",
                "X2",
                "BBB",
                [20.0.into(), "n/a".into(), (-5.0).into()],
            ),
            trade("E3", "X3", "CCC", [30.0.into(), 31.0.into(), Value::Null]),
        ];
        let mut html = String::new();
        trades_table(&mut html, &mut trades);
        shows(
            &html,
            &[
                "<td>AAA</td><td>IBS_RSI</td><td>2024-01-02</td><td>10.00</td><td>2024-01-03</td><td>11.00</td><td>+10.00</td>",
                "<td>BBB</td><td>IBS_RSI</td><td>2024-01-02</td><td>20.00</td><td>2024-01-03</td><td>?</td><td>-5.00</td>",
                "<td>CCC</td><td>IBS_RSI</td><td>2024-01-02</td><td>30.00</td><td>2024-01-03</td><td>31.00</td><td>?</td>",
                "trading ledger: not a number in the trades table: trade E3 to X3: pnl = null; trade E2 to X2: exit_price = &quot;n/a&quot;</p>",
            ],
            &["<td>0.00</td>", "<td>+0.00</td>"],
        );
    }

    #[test]
    fn a_ledger_holding_a_non_number_is_an_alarm_naming_the_row_not_a_table() {
        let home = tempfile::tempdir().unwrap();
        let state = home.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        drop(TradingLedger::open(&state, 100_000.0, Durability::ProcessCrash).unwrap());
        let db = rusqlite::Connection::open(state.join("ledger.sqlite")).unwrap();
        db.execute_batch(
            "INSERT INTO trades VALUES ('E1', 'X1', 'AAA', 'IBS_RSI', 10, '2024-01-02', 10.0,
                 '2024-01-03', 'n/a', 'target', 10.0, NULL);",
        )
        .unwrap();
        drop(db);
        let html = fragment(home.path().to_path_buf(), 100_000.0, false)();
        shows(
            &html,
            &["trading ledger: trading ledger ledger.sqlite: table trades, row &quot;E1 -&gt; X1&quot;: unknown exit_price &quot;n/a&quot;"],
            &["<td>AAA</td>", "none yet"],
        );
    }

    #[test]
    fn a_report_or_scan_that_cannot_be_read_is_an_alarm_naming_it_never_zeros() {
        let home = tempfile::tempdir().unwrap();
        let (reports, scans) = (home.path().join("reports"), home.path().join("state/scans"));
        std::fs::create_dir_all(&reports).unwrap();
        std::fs::create_dir_all(&scans).unwrap();
        let page = || fragment(home.path().to_path_buf(), 100_000.0, false)();
        // Nothing yet: said as such.
        shows(&page(), &["no end-of-day report yet", "no scan yet"], &[]);
        // Torn, and missing a figure: alarms that name the files.
        std::fs::write(
            reports.join("pnl_20240102.json"),
            "{\"session\": \"2024-01-02\", \"equi",
        )
        .unwrap();
        std::fs::write(
            scans.join("scan_20240102_0935.json"),
            r#"{"tag":"FIRST_SCAN","slot_et":"x","as_of":"2024-01-01","top3":[]}"#,
        )
        .unwrap();
        shows(
            &page(),
            &[
                "<p class=\"alarm\">reports/pnl_20240102.json is not a readable report",
                "<p class=\"alarm\">state/scans/scan_20240102_0935.json is not a readable report",
                // The missing field is named.
                "signals_found",
            ],
            &["no end-of-day report yet", "no scan yet", "equity 0.00"],
        );
        // An equity chart that is not one: an alarm too, not "no equity chart yet".
        std::fs::write(reports.join("equity.svg"), "torn").unwrap();
        shows(
            &page(),
            &["<p class=\"alarm\">reports/equity.svg is not a chart kobe drew"],
            &[],
        );
        std::fs::remove_file(reports.join("equity.svg")).unwrap();
        // Whole files are shown.
        std::fs::write(
            reports.join("pnl_20240103.json"),
            r#"{"session":"2024-01-03","equity":100123.5,"day_pnl":12.25,"realized_today":0.0,"unrealized":12.25}"#,
        )
        .unwrap();
        std::fs::write(
            scans.join("scan_20240103_0935.json"),
            r#"{"tag":"FIRST_SCAN","slot_et":"x","as_of":"2024-01-02","signals_found":1,"top3":[{"symbol":"AAA","strategy":"IBS_RSI","confidence":0.5,"close":10.0,"stop":9.0,"target":null}]}"#,
        )
        .unwrap();
        shows(
            &page(),
            &[
                "2024-01-03: equity 100123.50, day +12.25",
                "FIRST_SCAN (x): 1 signals on 2024-01-02",
            ],
            &["alarm\">reports", "alarm\">state"],
        );
    }

    /// Asserts that `html` holds each of `yes` and none of `no`, naming the one that fails.
    fn shows(html: &str, yes: &[&str], no: &[&str]) {
        for want in yes {
            assert!(html.contains(want), "{want:?} missing from {html}");
        }
        for unwanted in no {
            assert!(!html.contains(unwanted), "{unwanted:?} shown in {html}");
        }
    }

    #[test]
    fn during_a_replay_the_ledger_it_holds_is_said_to_be_held_not_waited_for() {
        let home = tempfile::tempdir().unwrap();
        let state = home.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        // Locked as a replay locks it: a page that opened it would wait out the lock.
        let db = rusqlite::Connection::open(state.join("ledger.sqlite")).unwrap();
        db.pragma_update(None, "locking_mode", "EXCLUSIVE").unwrap();
        db.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let html = fragment(home.path().to_path_buf(), 100_000.0, true)();
        assert_eq!(
            html.matches("<p class=\"alarm\">trading ledger: held by the running replay")
                .count(),
            2,
            "{html}"
        );
    }
}
