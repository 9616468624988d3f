//! The end-of-day P&L report (`reports/pnl_YYYYMMDD.{json,md}`) and the equity curve with its
//! drawdowns shaded (`reports/equity.svg`), from the trading ledger's own numbers.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use kobe_actors::atomic_file::{write_atomic, Durability};
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;
use serde::Serialize;

use crate::trading::{LedgerError, TradingLedger};

#[derive(Debug, Serialize)]
pub struct OpenLine {
    pub symbol: String,
    pub strategy: crate::strategy::signals::Strategy,
    pub qty: i64,
    pub entry: f64,
    pub mark: f64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    pub unrealized: f64,
    /// (mark − entry) / (entry − stop).
    pub r: Option<f64>,
}

/// An order the broker refused.
#[derive(Debug, Serialize)]
pub struct RefusedLine {
    pub symbol: String,
    pub qty: i64,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct PnlReport {
    pub session: NaiveDate,
    pub generated_at: DateTime<Utc>,
    pub cash: f64,
    pub equity: f64,
    pub prev_close_equity: f64,
    pub day_pnl: f64,
    pub realized_today: f64,
    pub unrealized: f64,
    pub open_positions: Vec<OpenLine>,
    pub trades_today: Vec<serde_json::Value>,
    /// Orders the broker refused today, with its words (left out when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_today: Vec<RefusedLine>,
    pub trades_total: usize,
    pub realized_total: f64,
    pub win_rate: Option<f64>,
    pub profit_factor: Option<f64>,
    pub max_drawdown: f64,
    pub chart: String,
}

/// Builds the report of `session` at `now`; `mark` prices each open symbol (its latest visible
/// close, or `None` for one entered today, marked at its entry).
pub fn pnl(
    ledger: &TradingLedger,
    session: NaiveDate,
    now: DateTime<Utc>,
    starting_equity: f64,
    mark: impl Fn(&str) -> Option<f64>,
) -> Result<PnlReport, LedgerError> {
    let cash = ledger.cash()?;
    let mut open = Vec::new();
    for p in ledger.positions()? {
        let m = mark(&p.symbol).unwrap_or(p.entry_price);
        let unrealized = (m - p.entry_price) * p.qty as f64;
        let r = p
            .stop
            .filter(|s| p.entry_price > *s)
            .map(|s| (m - p.entry_price) / (p.entry_price - s));
        open.push(OpenLine {
            symbol: p.symbol,
            strategy: p.strategy,
            qty: p.qty,
            entry: p.entry_price,
            mark: m,
            stop: p.stop,
            target: p.target,
            unrealized,
            r,
        });
    }
    // `+ 0.0`: an empty sum is -0.0, which would print as "-0.00".
    let unrealized: f64 = open.iter().map(|o| o.unrealized).sum::<f64>() + 0.0;
    let equity = cash + open.iter().map(|o| o.mark * o.qty as f64).sum::<f64>();
    let prev_close_equity = ledger.equity_before(session)?.unwrap_or(starting_equity);
    let trades_today = ledger.trades_json_closed_on(session)?;
    let realized_today = trades_today
        .iter()
        .filter_map(|t| t["pnl"].as_f64())
        .sum::<f64>()
        + 0.0;
    let (trades_total, realized_total) = ledger.realized_through(session)?;
    let perf = ledger.performance(starting_equity)?;
    Ok(PnlReport {
        session,
        generated_at: now,
        cash,
        equity,
        prev_close_equity,
        day_pnl: equity - prev_close_equity,
        realized_today,
        unrealized,
        open_positions: open,
        trades_today,
        refused_today: ledger
            .refusals_on(session)?
            .into_iter()
            .map(|(symbol, qty, why)| RefusedLine { symbol, qty, why })
            .collect(),
        trades_total,
        realized_total,
        win_rate: perf.win_rate,
        profit_factor: perf.profit_factor,
        max_drawdown: perf.max_drawdown,
        chart: "equity.svg".into(),
    })
}

pub fn markdown(r: &PnlReport) -> String {
    let mut md = format!("# P&L — {}\n\n", r.session);
    let _ = writeln!(
        md,
        "| equity | day P&L | realized today | unrealized | cash |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    let _ = writeln!(
        md,
        "| {:.2} | {:+.2} | {:+.2} | {:+.2} | {:.2} |\n",
        r.equity, r.day_pnl, r.realized_today, r.unrealized, r.cash
    );
    let _ = writeln!(md, "![equity curve, drawdowns shaded](equity.svg)\n");
    let _ = writeln!(md, "## Open positions ({})\n", r.open_positions.len());
    for p in &r.open_positions {
        let _ = writeln!(
            md,
            "- **{}** {} x{} entry {:.2}, mark {:.2}, unrealized {:+.2}{}",
            p.symbol,
            p.strategy,
            p.qty,
            p.entry,
            p.mark,
            p.unrealized,
            p.r.map(|r| format!(" ({r:+.2}R)")).unwrap_or_default()
        );
    }
    let _ = writeln!(md, "\n## Closed today ({})\n", r.trades_today.len());
    for t in &r.trades_today {
        let _ = writeln!(
            md,
            "- **{}** {} {:+.2} ({})",
            t["symbol"].as_str().unwrap_or(""),
            t["strategy"].as_str().unwrap_or(""),
            t["pnl"].as_f64().unwrap_or(0.0),
            t["reason"].as_str().unwrap_or("")
        );
    }
    if !r.refused_today.is_empty() {
        let _ = writeln!(md, "\n## Refused today ({})\n", r.refused_today.len());
        for x in &r.refused_today {
            let _ = writeln!(md, "- **{}** x{}: {}", x.symbol, x.qty, x.why);
        }
    }
    let _ = writeln!(
        md,
        "\n## Running\n\n{} trades, realized {:+.2}, win rate {}, profit factor {}, max drawdown {:.1}%",
        r.trades_total,
        r.realized_total,
        r.win_rate.map_or("-".into(), |w| format!("{:.0}%", w * 100.0)),
        num_or_dash(r.profit_factor),
        r.max_drawdown * 100.0
    );
    md
}

/// The equity curve with drawdowns (below the running peak) shaded, as SVG.
pub fn equity_svg(curve: &[(NaiveDate, f64)]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let range = y_range(curve);
        if curve.is_empty() || range.is_none() {
            let note = if curve.is_empty() {
                "no equity recorded yet"
            } else {
                "equity values that no chart can show (not finite numbers)"
            };
            root.draw(&Text::new(note, (20, 20), ("sans-serif", 16)))
                .map_err(|e| e.to_string())?;
        } else if let Some((lo, hi, pad)) = range {
            let n = curve.len();
            let mut chart = ChartBuilder::on(&root)
                .caption("Equity (drawdowns shaded)", ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(28)
                .y_label_area_size(70)
                .build_cartesian_2d(0..n.max(2) - 1, (lo - pad)..(hi + pad))
                .map_err(|e| e.to_string())?;
            mesh_and_drawdowns(&mut chart, curve)?;
            chart
                .draw_series(LineSeries::new(
                    curve.iter().enumerate().map(|(i, c)| (i, c.1)),
                    &BLUE,
                ))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// An equity chart's axes (session dates below, whole dollars beside) and the curve's
/// drawdowns (below its running peak) shaded: drawn alike by the daily chart and the
/// backtest's.
pub(crate) fn mesh_and_drawdowns<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordusize, RangedCoordf64>>,
    curve: &[(NaiveDate, f64)],
) -> Result<(), String> {
    let dates: Vec<String> = curve.iter().map(|c| c.0.to_string()).collect();
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|i| dates.get(*i).cloned().unwrap_or_default())
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    let mut peak = f64::NEG_INFINITY;
    let peaks: Vec<f64> = curve
        .iter()
        .map(|c| {
            peak = peak.max(c.1);
            peak
        })
        .collect();
    let mut outline: Vec<(usize, f64)> = peaks.iter().copied().enumerate().collect();
    outline.extend(curve.iter().enumerate().rev().map(|(i, c)| (i, c.1)));
    chart
        .draw_series(std::iter::once(Polygon::new(outline, RED.mix(0.25))))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The equity axis: lowest and highest values and a margin that is visible at their
/// magnitude (a margin of 1 beside 1e306 is no margin at all, and the axis would have no
/// width); `None` when no finite axis fits them.
pub(crate) fn y_range(curve: &[(NaiveDate, f64)]) -> Option<(f64, f64, f64)> {
    if curve.iter().any(|c| !c.1.is_finite()) {
        return None;
    }
    let lo = curve.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
    let hi = curve.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max);
    let width = if (hi - lo).is_finite() {
        (hi - lo) * 0.05
    } else {
        (hi / 2.0 - lo / 2.0) * 0.1
    };
    let pad = width.max(lo.abs().max(hi.abs()) * 1e-9).max(1.0);
    let (bottom, top) = (lo - pad, hi + pad);
    let drawable = bottom.is_finite() && top.is_finite() && (top - bottom).is_finite();
    drawable.then_some((lo, hi, pad))
}

/// `v` with two decimals, or `-` when there is none.
pub fn num_or_dash(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.2}"))
}

/// Writes `dir/{name}.json` (pretty, with a final newline) and `dir/{name}.md`, each atomically.
pub fn write_pair(
    dir: &Path,
    name: &str,
    value: &impl Serialize,
    md: &str,
    durability: Durability,
) -> Result<(), std::io::Error> {
    let json = serde_json::to_string_pretty(value).map_err(std::io::Error::other)? + "\n";
    write_atomic(
        &dir.join(format!("{name}.json")),
        json.as_bytes(),
        durability,
    )?;
    write_atomic(&dir.join(format!("{name}.md")), md.as_bytes(), durability)
}

/// Writes the report's three files under `reports/`.
/// Writes the day's P&L report and, given the equity curve, the chart of it.
pub fn write(
    home: &Path,
    report: &PnlReport,
    curve: Option<&[(NaiveDate, f64)]>,
    durability: Durability,
) -> Result<(), String> {
    let dir = home.join("reports");
    let stamp = report.session.format("%Y%m%d");
    let io = |e: std::io::Error| format!("reports/: {e}");
    let md = markdown(report);
    write_pair(&dir, &format!("pnl_{stamp}"), report, &md, durability).map_err(io)?;
    if let Some(curve) = curve {
        let svg = equity_svg(curve)?;
        write_atomic(&dir.join("equity.svg"), svg.as_bytes(), durability).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(values: &[f64]) -> Vec<(NaiveDate, f64)> {
        let first = NaiveDate::from_ymd_opt(2016, 1, 4).unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (first + chrono::Days::new(i as u64), *v))
            .collect()
    }

    #[test]
    fn the_chart_copes_with_any_finite_range_and_says_so_otherwise() {
        // Absurd but finite equities (a bar at 1e306) once made the axis endless.
        for values in [
            vec![1e306, 1e306],
            vec![1e306, 1.1e306, 0.9e306],
            vec![-1.7e308, 1.7e308],
            vec![100_000.0, 100_000.0],
            vec![1e-300, 2e-300],
        ] {
            let svg = equity_svg(&curve(&values)).unwrap();
            assert!(svg.contains("<svg") && svg.contains("</svg>"), "{values:?}");
        }
        let svg = equity_svg(&curve(&[100_000.0, f64::NAN])).unwrap();
        assert!(svg.contains("not finite numbers"));
    }
}
