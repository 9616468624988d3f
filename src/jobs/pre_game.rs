//! PRE_GAME: checks the overnight watchlist against the pre-market (DESIGN §8): the gap from the
//! signal's close decides OK / IMPROVED / DEGRADED / REMOVED, with a news check when Polygon is
//! available — never a silent OK. Writes `state/watchlist/today_validated.json`.

use std::sync::Arc;

use chrono::TimeDelta;
use kobe_actors::clock::ClockKind;
use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use crate::app::App;
use crate::data::polygon::PolygonClient;
use crate::data::snapshot::Window;
use crate::watchlist::{self, classify, GapStatus, NextDay, Validated, ValidatedPick};

pub struct PreGame {
    pub app: Arc<App>,
}

impl Job for PreGame {
    fn run(&self, ctx: &JobContext) -> Result<JobOutput, JobError> {
        let app = &self.app;
        let dir = watchlist::dir(&app.home.state());
        let next: NextDay = match watchlist::read(&dir.join(watchlist::NEXT_DAY)) {
            Err(e) => return Err(JobError::Recoverable(e.to_string())),
            Ok(None) => {
                return Ok(JobOutput::skipped(
                    "no_watchlist",
                    "state/watchlist/next_day.json does not exist",
                ))
            }
            Ok(Some(n)) => n,
        };
        if next.for_session != ctx.session {
            return Ok(JobOutput::skipped(
                "stale_watchlist",
                format!(
                    "next_day.json is for {}, not {}: not used",
                    next.for_session, ctx.session
                ),
            ));
        }
        // In a replay (a simulated clock) the pre-market price of the session is its open
        // (DESIGN §7); live, the last trade from Polygon's snapshot. Without either, each pick
        // says UNCHECKED — never a silent OK.
        let simulated = ctx.clock.kind() == ClockKind::Simulated;
        let store = app.store();
        let mut polygon = match (simulated, app.secrets.get("POLYGON_API_KEY")) {
            (false, Some(key)) => PolygonClient::new(key, &app.config.polygon).ok(),
            _ => None,
        };
        let since = ctx.clock.now() - TimeDelta::hours(24);
        // In a replay, each pick's bar of the session, read once for all the picks.
        let session_bars = if simulated {
            let symbols: Vec<String> = next.top5.iter().map(|p| p.symbol.clone()).collect();
            let window = Window {
                until: ctx.session,
                keep: 1,
            };
            store.load_window(Some(&symbols), Some(window)).series
        } else {
            Default::default()
        };
        let mut entries = Vec::new();
        for pick in next.top5 {
            let mut price_note = None;
            let premarket = if simulated {
                session_bars
                    .get(&pick.symbol)
                    .and_then(|bars| bars.last())
                    .filter(|b| b.date == ctx.session)
                    .map(|b| b.open)
            } else {
                // A trade from before today's pre-market (04:00 ET) is yesterday's price:
                // using it would report a gap of about zero, a silent OK.
                let premarket_opens = kobe_actors::schedule::et_instant(
                    ctx.session,
                    chrono::NaiveTime::from_hms_opt(4, 0, 0).expect("constant time"),
                );
                match polygon.as_mut().map(|c| c.last_trade(&pick.symbol)) {
                    Some(Ok(Some((price, at)))) if at >= premarket_opens => Some(price),
                    Some(Ok(Some((_, at)))) => {
                        price_note = Some(format!(
                            "price unchecked (last trade {at} is before the pre-market)"
                        ));
                        None
                    }
                    Some(Ok(None)) => None,
                    Some(Err(e)) => {
                        price_note = Some(format!("price unchecked ({e})"));
                        None
                    }
                    None => None,
                }
            };
            let gap = premarket.map(|p| p / pick.entry_ref - 1.0);
            let status = gap.map_or(GapStatus::Unchecked, classify);
            let news = match polygon.as_mut() {
                None if simulated => "unchecked (replay)".to_string(),
                None => "unchecked (no POLYGON_API_KEY)".to_string(),
                Some(client) => match client.news(&pick.symbol, since) {
                    Ok(titles) if titles.is_empty() => "no news in the last 24 h".to_string(),
                    Ok(titles) => format!(
                        "{} articles in the last 24 h; latest: {}",
                        titles.len(),
                        titles[0]
                    ),
                    Err(e) => format!("unchecked ({e})"),
                },
            };
            let news = match price_note {
                Some(note) => format!("{news}; {note}"),
                None => news,
            };
            entries.push(ValidatedPick {
                pick,
                premarket,
                gap,
                status,
                news,
            });
        }
        let validated = Validated {
            validated_at: ctx.clock.now(),
            for_session: ctx.session,
            watchlist_generated_at: next.generated_at,
            price_source: match (simulated, polygon.is_some()) {
                (true, _) => "replay_open".into(),
                (false, true) => "polygon_last_trade".into(),
                (false, false) => "unavailable (no POLYGON_API_KEY)".into(),
            },
            entries,
        };
        let path = dir.join(watchlist::VALIDATED);
        watchlist::replace(&path, &validated)
            .map_err(|e| JobError::Recoverable(format!("{}: {e}", path.display())))?;
        let summary: Vec<String> = validated
            .entries
            .iter()
            .map(|e| {
                format!(
                    "{} {}{}",
                    e.pick.symbol,
                    e.status.as_str(),
                    e.gap
                        .map(|g| format!(" {:+.2}%", g * 100.0))
                        .unwrap_or_default()
                )
            })
            .collect();
        Ok(JobOutput::ok(if summary.is_empty() {
            "watchlist was empty".into()
        } else {
            summary.join(", ")
        }))
    }
}
