//! What a job may see of the bars at an instant (DESIGN §7), the same in live runs and replays:
//! at instant T on session S, bars dated before S, and bar S once T is at or after S's close.

use chrono::{DateTime, NaiveDate, Utc};
use kobe_actors::calendar::{NyseCalendar, EXCHANGE_TZ};

/// The last bar date visible at `now` on `session`.
pub fn last_visible_date(session: NaiveDate, now: DateTime<Utc>) -> Option<NaiveDate> {
    match NyseCalendar.session(session) {
        Some(s) if now >= s.close_at().with_timezone(&Utc) => Some(session),
        _ => session.pred_opt(),
    }
}

/// The latest session whose bar is visible at `now` on `session`.
pub fn last_visible_session(session: NaiveDate, now: DateTime<Utc>) -> Option<NaiveDate> {
    let last = last_visible_date(session, now)?;
    Some(if NyseCalendar.is_session(last) {
        last
    } else {
        NyseCalendar.previous_session(last).date
    })
}

/// The latest session whose close is at or before `now`: the last session visible on the
/// exchange's calendar day of `now`.
pub fn last_completed_session(now: DateTime<Utc>) -> NaiveDate {
    let today = now.with_timezone(&EXCHANGE_TZ).date_naive();
    last_visible_session(today, now).unwrap_or_else(|| NyseCalendar.previous_session(today).date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn bars_appear_at_the_close() {
        let friday: NaiveDate = "2024-11-29".parse().unwrap();
        let wednesday: NaiveDate = "2024-11-27".parse().unwrap();
        let at = |h, m| {
            EXCHANGE_TZ
                .with_ymd_and_hms(2024, 11, 29, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // Early close at 13:00: before it, Friday's bar is hidden; from it on, visible.
        assert_eq!(
            last_visible_date(friday, at(12, 59)),
            Some("2024-11-28".parse().unwrap())
        );
        assert_eq!(last_visible_session(friday, at(12, 59)), Some(wednesday));
        assert_eq!(last_visible_date(friday, at(13, 0)), Some(friday));
        // On a holiday everything before it is visible.
        let thanksgiving = "2024-11-28".parse().unwrap();
        assert_eq!(last_visible_date(thanksgiving, at(20, 0)), Some(wednesday));
    }
}
