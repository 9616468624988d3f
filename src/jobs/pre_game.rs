//! PRE_GAME: checks the overnight watchlist against the pre-market (DESIGN §8): the gap from the
//! signal's close decides OK / IMPROVED / DEGRADED / REMOVED, with a news check when Polygon is
//! available — never a silent OK. Writes `state/watchlist/today_validated.json`.

use std::sync::Arc;

use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

use crate::app::App;
use crate::data::market::NEWS_WINDOW;
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
        // The pre-market price: the session's open in the past (DESIGN §7), Polygon's last
        // trade now. Without either, each pick says UNCHECKED — never a silent OK.
        let market = app.market();
        let symbols: Vec<String> = next.top5.iter().map(|p| p.symbol.clone()).collect();
        let since = ctx.clock.now() - NEWS_WINDOW;
        let quotes = market.premarket(&symbols, ctx.session, since);
        let mut entries = Vec::new();
        for (pick, quote) in next.top5.into_iter().zip(quotes) {
            let gap = quote.price.map(|p| p / pick.entry_ref - 1.0);
            let status = gap.map_or(GapStatus::Unchecked, classify);
            let news = match quote.note {
                Some(note) => format!("{}; {note}", quote.news),
                None => quote.news,
            };
            entries.push(ValidatedPick {
                pick,
                premarket: quote.price,
                gap,
                status,
                news,
            });
        }
        let validated = Validated {
            validated_at: ctx.clock.now(),
            for_session: ctx.session,
            watchlist_generated_at: next.generated_at,
            price_source: market.price_source().into(),
            entries,
        };
        let path = dir.join(watchlist::VALIDATED);
        watchlist::replace(&path, &validated, app.durability())
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
