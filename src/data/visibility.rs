//! What a job may see of the bars at an instant (DESIGN §7), the same in live runs and replays:
//! at instant T on session S, bars dated before S, and bar S once T is at or after S's close.

use chrono::{DateTime, NaiveDate, Utc};
use kobe_actors::calendar::NyseCalendar;

use super::bars::Bar;

/// The last bar date visible at `now` on `session`.
pub fn last_visible_date(session: NaiveDate, now: DateTime<Utc>) -> Option<NaiveDate> {
    match NyseCalendar.session(session) {
        Some(s) if now >= s.close_at().with_timezone(&Utc) => Some(session),
        _ => session.pred_opt(),
    }
}

/// The visible prefix of a date-sorted series.
pub fn visible(bars: &[Bar], session: NaiveDate, now: DateTime<Utc>) -> &[Bar] {
    let Some(last) = last_visible_date(session, now) else {
        return &[];
    };
    let end = bars.partition_point(|b| b.date <= last);
    &bars[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kobe_actors::calendar::EXCHANGE_TZ;

    fn bar(date: &str) -> Bar {
        Bar {
            date: date.parse().unwrap(),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        }
    }

    #[test]
    fn bars_appear_at_the_close() {
        let bars = [bar("2024-11-26"), bar("2024-11-27"), bar("2024-11-29")];
        let friday = "2024-11-29".parse().unwrap();
        let at = |h, m| {
            EXCHANGE_TZ
                .with_ymd_and_hms(2024, 11, 29, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // Early close at 13:00: before it, Friday's bar is hidden; from it on, visible.
        assert_eq!(visible(&bars, friday, at(12, 59)).len(), 2);
        assert_eq!(visible(&bars, friday, at(13, 0)).len(), 3);
        // On a holiday everything before it is visible.
        let thanksgiving = "2024-11-28".parse().unwrap();
        assert_eq!(visible(&bars, thanksgiving, at(20, 0)).len(), 2);
    }
}
