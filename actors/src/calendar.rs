//! Rule-based NYSE (XNYS) calendar: which days the exchange trades, and when each session opens and closes.
//!
//! The rules are computed, not looked up, so the calendar works for any year without a data file. For
//! 2000-2030 they reproduce the `exchange_calendars` XNYS schedule exactly (see
//! `tests/calendar_reference.rs`); [`VALID_YEARS`] is the span we vouch for. Outside it the same rules
//! still apply, which is wrong in two known ways:
//! - before 2000 the exchange followed older rules (no Juneteenth, other closures and early closes);
//! - after today, ad hoc closures (national days of mourning, storms, emergencies) cannot be known, so a
//!   future date the calendar calls a session may yet be closed.
//!
//! Times are New York wall-clock times; [`Session::open_at`] and [`Session::close_at`] attach the date's own
//! UTC offset. `chrono-tz` stops applying daylight saving after 2099, so instants from 2100 on are off by an
//! hour in summer.

use std::iter;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, Offset, TimeZone, Weekday,
};
use chrono_tz::Tz;

pub const EXCHANGE_TZ: Tz = chrono_tz::America::New_York;
/// First and last year the rules are known to be right for.
pub const VALID_YEARS: std::ops::RangeInclusive<i32> = 2000..=2035;

/// Regular hours and the early close; the schedule also places open/close-relative times on
/// days that are not sessions with them.
pub(crate) const REGULAR_OPEN: NaiveTime = hm(9, 30);
pub(crate) const REGULAR_CLOSE: NaiveTime = hm(16, 0);
pub(crate) const EARLY_CLOSE: NaiveTime = hm(13, 0);

/// The pre-2013 rule moved a Thursday-July-4 early close to the Friday after; 2013 is the first year the
/// Wednesday before closed early instead.
const FIRST_YEAR_OF_WEDNESDAY_JULY_3_EARLY_CLOSE: i32 = 2013;
/// Juneteenth became an exchange holiday in 2022; earlier June 19ths were ordinary days.
const FIRST_YEAR_OF_JUNETEENTH: i32 = 2022;

// Names follow `exchange_calendars`, so `closure_reason` matches the reference data word for word.
const NEW_YEARS_DAY: &str = "New Year's Day";
const MLK_DAY: &str = "Dr. Martin Luther King Jr. Day";
const PRESIDENTS_DAY: &str = "President's Day";
const GOOD_FRIDAY: &str = "Good Friday";
const MEMORIAL_DAY: &str = "Memorial Day";
const JUNETEENTH: &str = "Juneteenth National Independence Day";
const INDEPENDENCE_DAY: &str = "Independence Day";
const LABOR_DAY: &str = "Labor Day";
const THANKSGIVING: &str = "Thanksgiving";
const CHRISTMAS: &str = "Christmas";

const SEPTEMBER_11: &str = "September 11 attacks closing";
const HURRICANE_SANDY: &str = "Hurricane Sandy closing";

/// Unscheduled full-day closures. No rule predicts these; a new one has to be added here by hand.
const AD_HOC_CLOSURES: [(NaiveDate, &str); 10] = [
    (ymd(2001, 9, 11), SEPTEMBER_11),
    (ymd(2001, 9, 12), SEPTEMBER_11),
    (ymd(2001, 9, 13), SEPTEMBER_11),
    (ymd(2001, 9, 14), SEPTEMBER_11),
    (ymd(2004, 6, 11), "National Day of Mourning (Ronald Reagan)"),
    (ymd(2007, 1, 2), "National Day of Mourning (Gerald Ford)"),
    (ymd(2012, 10, 29), HURRICANE_SANDY),
    (ymd(2012, 10, 30), HURRICANE_SANDY),
    (
        ymd(2018, 12, 5),
        "National Day of Mourning (George H. W. Bush)",
    ),
    (ymd(2025, 1, 9), "National Day of Mourning (Jimmy Carter)"),
];

/// Unscheduled early closes (the Friday after Christmas 2003).
const AD_HOC_EARLY_CLOSES: [NaiveDate; 1] = [ymd(2003, 12, 26)];

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("constant exchange times are valid clock times")
}

const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("constant closure dates are valid dates")
}

/// One trading day, in New York wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Session {
    pub date: NaiveDate,
    pub open: NaiveTime,
    pub close: NaiveTime,
    pub early_close: bool,
}

impl Session {
    /// The opening bell as an instant in America/New_York.
    pub fn open_at(&self) -> DateTime<Tz> {
        exchange_datetime(self.date, self.open)
    }

    /// The closing bell as an instant in America/New_York.
    pub fn close_at(&self) -> DateTime<Tz> {
        exchange_datetime(self.date, self.close)
    }

    /// "2024-11-29,09:30,13:00,true" — the row format of the reference CSV (no newline)
    pub fn csv_row(&self) -> String {
        format!(
            "{},{},{},{}",
            self.date.format("%Y-%m-%d"),
            self.open.format("%H:%M"),
            self.close.format("%H:%M"),
            self.early_close
        )
    }
}

/// The NYSE calendar. It holds no data, so it is free to create and copy wherever it is needed.
#[derive(Debug, Clone, Copy, Default)]
pub struct NyseCalendar;

impl NyseCalendar {
    /// The session on `date`; `None` on weekends, holidays and ad hoc closures.
    pub fn session(&self, date: NaiveDate) -> Option<Session> {
        if is_weekend(date) || closure(date).is_some() {
            return None;
        }
        let early_close = is_early_close(date);
        Some(Session {
            date,
            open: REGULAR_OPEN,
            close: if early_close {
                EARLY_CLOSE
            } else {
                REGULAR_CLOSE
            },
            early_close,
        })
    }

    pub fn is_session(&self, date: NaiveDate) -> bool {
        self.session(date).is_some()
    }

    /// Why a weekday is closed, e.g. Some("Thanksgiving"); None for sessions and weekends.
    pub fn closure_reason(&self, date: NaiveDate) -> Option<&'static str> {
        if is_weekend(date) {
            return None;
        }
        closure(date)
    }

    /// Sessions from..=to in date order (empty if from > to).
    pub fn sessions(&self, from: NaiveDate, to: NaiveDate) -> Vec<Session> {
        from.iter_days()
            .take_while(|date| *date <= to)
            .filter_map(|date| self.session(date))
            .collect()
    }

    /// First session strictly after `date`.
    ///
    /// # Panics
    /// Only for a `date` within a few days of [`NaiveDate::MAX`], where no later session can be represented.
    pub fn next_session(&self, date: NaiveDate) -> Session {
        iter::successors(date.succ_opt(), |day| day.succ_opt())
            .find_map(|day| self.session(day))
            .expect("a session follows within a week of any date short of chrono's last date")
    }

    /// Last session strictly before `date`.
    ///
    /// # Panics
    /// Only for a `date` within a few days of [`NaiveDate::MIN`], where no earlier session can be represented.
    pub fn previous_session(&self, date: NaiveDate) -> Session {
        iter::successors(date.pred_opt(), |day| day.pred_opt())
            .find_map(|day| self.session(day))
            .expect("a session precedes within a week of any date short of chrono's first date")
    }
}

/// A New York wall-clock time on a date as an instant. A time that does not exist (the
/// spring-forward gap) moves forward by the gap; an ambiguous one (fall-back) takes the first
/// occurrence.
pub fn exchange_datetime(date: NaiveDate, time: NaiveTime) -> DateTime<Tz> {
    let naive = date.and_time(time);
    match EXCHANGE_TZ.from_local_datetime(&naive) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at,
        // Real exchange hours never fall in the 02:00-03:00 spring-forward gap, but `Session` has public
        // fields. Reading the time with the offset in force before the jump keeps this total, and lands an
        // hour later on the new clock, as a wall clock that had not yet been set forward would.
        LocalResult::None => {
            let before_jump = EXCHANGE_TZ.offset_from_utc_datetime(&naive).fix();
            EXCHANGE_TZ.from_utc_datetime(&(naive - before_jump))
        }
    }
}

pub(crate) fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Why a weekday is closed; says nothing about weekends.
fn closure(date: NaiveDate) -> Option<&'static str> {
    AD_HOC_CLOSURES
        .iter()
        .find(|(day, _)| *day == date)
        .map(|(_, reason)| *reason)
        .or_else(|| {
            regular_holidays(date.year())
                .into_iter()
                .find(|(_, observed)| *observed == Some(date))
                .map(|(name, _)| name)
        })
}

/// The days the exchange observes each regular holiday in `year`. `None` means the holiday is not
/// observed that year (New Year's Day on a Saturday, Juneteenth before 2022), or its date cannot be
/// represented at chrono's limits. No observance crosses into another year, so one year suffices.
fn regular_holidays(year: i32) -> [(&'static str, Option<NaiveDate>); 10] {
    [
        (NEW_YEARS_DAY, new_years_day_observed(year)),
        (MLK_DAY, nth_weekday(year, 1, Weekday::Mon, 3)),
        (PRESIDENTS_DAY, nth_weekday(year, 2, Weekday::Mon, 3)),
        (GOOD_FRIDAY, good_friday(year)),
        (MEMORIAL_DAY, last_weekday(year, 5, Weekday::Mon)),
        (
            JUNETEENTH,
            (year >= FIRST_YEAR_OF_JUNETEENTH)
                .then(|| observed(year, 6, 19))
                .flatten(),
        ),
        (INDEPENDENCE_DAY, observed(year, 7, 4)),
        (LABOR_DAY, nth_weekday(year, 9, Weekday::Mon, 1)),
        (THANKSGIVING, thanksgiving(year)),
        (CHRISTMAS, observed(year, 12, 25)),
    ]
}

fn is_early_close(date: NaiveDate) -> bool {
    if AD_HOC_EARLY_CLOSES.contains(&date) {
        return true;
    }
    let year = date.year();
    let weekday = date.weekday();
    match (date.month(), date.day()) {
        (7, 3) => match weekday {
            Weekday::Mon | Weekday::Tue | Weekday::Thu => true,
            Weekday::Wed => year >= FIRST_YEAR_OF_WEDNESDAY_JULY_3_EARLY_CLOSE,
            Weekday::Fri | Weekday::Sat | Weekday::Sun => false,
        },
        (7, 5) => weekday == Weekday::Fri && year < FIRST_YEAR_OF_WEDNESDAY_JULY_3_EARLY_CLOSE,
        (11, _) => thanksgiving(year).and_then(|day| day.succ_opt()) == Some(date),
        (12, 24) => matches!(
            weekday,
            Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
        ),
        _ => false,
    }
}

/// A fixed-date holiday moved off the weekend: Saturday to the Friday before, Sunday to the Monday after.
fn observed(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    match date.weekday() {
        Weekday::Sat => date.pred_opt(),
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

/// NYSE does not close the Friday before a Saturday New Year's Day: that Friday ends a year's books.
fn new_years_day_observed(year: i32) -> Option<NaiveDate> {
    let date = NaiveDate::from_ymd_opt(year, 1, 1)?;
    match date.weekday() {
        Weekday::Sat => None,
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    nth_weekday(year, month, weekday, 5).or_else(|| nth_weekday(year, month, weekday, 4))
}

fn thanksgiving(year: i32) -> Option<NaiveDate> {
    nth_weekday(year, 11, Weekday::Thu, 4)
}

fn good_friday(year: i32) -> Option<NaiveDate> {
    easter_sunday(year)?.checked_sub_days(Days::new(2))
}

/// Western (Gregorian) Easter by the anonymous "Meeus/Jones/Butcher" computus. Euclidean division keeps it
/// total for the negative years chrono allows, where truncating division would go out of range.
fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    let month = u32::try_from(n / 31).ok()?;
    let day = u32::try_from(n % 31 + 1).ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAL: NyseCalendar = NyseCalendar;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test dates are well-formed")
    }

    #[test]
    fn holidays_and_closures_are_closed_with_their_reason() {
        let cases = [
            // New Year's Day: Sunday moves to Monday.
            ("2017-01-02", NEW_YEARS_DAY),
            ("2024-01-01", NEW_YEARS_DAY),
            ("2024-01-15", MLK_DAY),
            ("2000-01-17", MLK_DAY),
            ("2024-02-19", PRESIDENTS_DAY),
            ("2024-03-29", GOOD_FRIDAY),
            ("2000-04-21", GOOD_FRIDAY),
            ("2035-03-23", GOOD_FRIDAY),
            ("2024-05-27", MEMORIAL_DAY),
            ("2021-05-31", MEMORIAL_DAY),
            // Juneteenth: first year, Sunday moves to Monday; then on the day itself.
            ("2022-06-20", JUNETEENTH),
            ("2023-06-19", JUNETEENTH),
            ("2027-06-18", JUNETEENTH),
            ("2024-07-04", INDEPENDENCE_DAY),
            // Independence Day on Saturday closes Friday July 3 in full, on Sunday closes Monday July 5.
            ("2026-07-03", INDEPENDENCE_DAY),
            ("2015-07-03", INDEPENDENCE_DAY),
            ("2021-07-05", INDEPENDENCE_DAY),
            ("2024-09-02", LABOR_DAY),
            ("2024-11-28", THANKSGIVING),
            ("2035-11-22", THANKSGIVING),
            ("2024-12-25", CHRISTMAS),
            // Christmas on Sunday closes Monday the 26th, on Saturday closes Friday the 24th.
            ("2022-12-26", CHRISTMAS),
            ("2021-12-24", CHRISTMAS),
            ("2001-09-11", SEPTEMBER_11),
            ("2001-09-14", SEPTEMBER_11),
            ("2004-06-11", "National Day of Mourning (Ronald Reagan)"),
            ("2007-01-02", "National Day of Mourning (Gerald Ford)"),
            ("2012-10-29", HURRICANE_SANDY),
            ("2012-10-30", HURRICANE_SANDY),
            ("2018-12-05", "National Day of Mourning (George H. W. Bush)"),
            ("2025-01-09", "National Day of Mourning (Jimmy Carter)"),
        ];
        for (day, reason) in cases {
            let day = date(day);
            assert_eq!(CAL.closure_reason(day), Some(reason), "{day}");
            assert!(!CAL.is_session(day), "{day}");
            assert_eq!(CAL.session(day), None, "{day}");
        }
    }

    #[test]
    fn observance_edges_that_stay_open() {
        let cases = [
            // New Year's Day on Saturday is not observed at all.
            "2021-12-31",
            "2022-01-03",
            "2027-12-31",
            // Juneteenth before 2022 was an ordinary day.
            "2020-06-19",
            "2021-06-18",
            // The Monday after a Saturday holiday and the Friday before a Sunday one.
            "2026-07-06",
            "2022-12-23",
            "2021-07-02",
            // Ad hoc closures are one-offs, not yearly.
            "2002-09-11",
            "2026-01-09",
        ];
        for day in cases {
            let day = date(day);
            assert!(CAL.is_session(day), "{day}");
            assert_eq!(CAL.closure_reason(day), None, "{day}");
        }
    }

    #[test]
    fn weekends_have_no_session_and_no_reason() {
        // Includes holidays that fall on a weekend: the reason belongs to the observed weekday.
        for day in [
            "2024-03-09",
            "2024-03-10",
            "2022-12-25",
            "2022-01-01",
            "2026-07-04",
        ] {
            let day = date(day);
            assert!(!CAL.is_session(day), "{day}");
            assert_eq!(CAL.closure_reason(day), None, "{day}");
        }
    }

    #[test]
    fn early_closes() {
        let cases = [
            // Thursday July 4 before 2013: Friday July 5 closes early, Wednesday July 3 does not.
            ("2002-07-05", true),
            ("2002-07-03", false),
            // From 2013 the Wednesday before a Thursday July 4 closes early instead.
            ("2013-07-03", true),
            ("2013-07-05", false),
            ("2024-07-03", true),
            ("2024-07-05", false),
            ("2000-07-03", true),
            ("2014-07-03", true),
            ("2020-07-02", false),
            ("2024-11-29", true),
            ("2035-11-23", true),
            ("2024-12-24", true),
            ("2020-12-24", true),
            ("2018-12-24", true),
            ("2024-12-23", false),
            ("2024-12-26", false),
            ("2003-12-26", true),
            ("2003-12-24", true),
            ("2008-12-26", false),
            ("2024-03-28", false),
        ];
        for (day, early) in cases {
            let day = date(day);
            let session = CAL
                .session(day)
                .unwrap_or_else(|| panic!("{day} is a session"));
            assert_eq!(session.early_close, early, "{day}");
            let close = if early { EARLY_CLOSE } else { REGULAR_CLOSE };
            assert_eq!(session.close, close, "{day}");
            assert_eq!(session.open, REGULAR_OPEN, "{day}");
        }
    }

    #[test]
    fn easter_computus() {
        let cases = [
            (2000, "2000-04-23"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2035, "2035-03-25"),
            // The latest and earliest possible dates.
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ];
        for (year, easter) in cases {
            assert_eq!(easter_sunday(year), Some(date(easter)), "{year}");
        }
        // Far outside any useful range it must still not panic or fall off the calendar.
        for year in [-200_000, -1, 0, 1, 200_000] {
            let easter = easter_sunday(year).unwrap_or_else(|| panic!("Easter {year}"));
            assert_eq!(easter.weekday(), Weekday::Sun, "{year}");
        }
    }

    #[test]
    fn projected_years_look_like_real_ones() {
        // Weekdays in the year less the holidays observed on one: 2033 has only nine (New Year's Day is a
        // Saturday), and 2034 has just 260 weekdays, so "252 give or take one" would wrongly fail it. The
        // reference data has 250 too, in 2023 and 2025.
        let cases = [
            (2031, 251),
            (2032, 252),
            (2033, 251),
            (2034, 250),
            (2035, 251),
        ];
        for (year, expected) in cases {
            let from = date(&format!("{year}-01-01"));
            let to = date(&format!("{year}-12-31"));
            assert_eq!(CAL.sessions(from, to).len(), expected, "{year}");
        }
        assert_eq!(CAL.closure_reason(date("2035-11-22")), Some(THANKSGIVING));
        assert!(CAL
            .session(date("2035-11-23"))
            .is_some_and(|s| s.early_close));
    }

    #[test]
    fn every_weekday_is_a_session_or_has_a_reason() {
        let days = date("1990-01-01")
            .iter_days()
            .take_while(|d| d.year() < 2050);
        for day in days.filter(|d| !is_weekend(*d)) {
            assert_ne!(
                CAL.is_session(day),
                CAL.closure_reason(day).is_some(),
                "{day}"
            );
        }
    }

    #[test]
    fn next_and_previous_skip_long_weekends() {
        let cases = [
            // Labor Day weekend, asked from each side and from inside it.
            ("2024-08-30", "2024-09-03", "2024-08-29"),
            ("2024-08-31", "2024-09-03", "2024-08-30"),
            ("2024-09-02", "2024-09-03", "2024-08-30"),
            ("2024-09-03", "2024-09-04", "2024-08-30"),
            // Easter: Good Friday plus the weekend.
            ("2024-03-28", "2024-04-01", "2024-03-27"),
            // September 11: a week without sessions.
            ("2001-09-12", "2001-09-17", "2001-09-10"),
            // Across a year end.
            ("2022-12-30", "2023-01-03", "2022-12-29"),
        ];
        for (day, next, previous) in cases {
            let day = date(day);
            assert_eq!(CAL.next_session(day).date, date(next), "after {day}");
            assert_eq!(
                CAL.previous_session(day).date,
                date(previous),
                "before {day}"
            );
        }
    }

    #[test]
    fn sessions_range_is_inclusive_and_ordered() {
        let week = CAL.sessions(date("2024-11-25"), date("2024-11-29"));
        let dates: Vec<_> = week.iter().map(|s| s.date).collect();
        let expected = ["2024-11-25", "2024-11-26", "2024-11-27", "2024-11-29"].map(date);
        assert_eq!(dates, expected);
        assert_eq!(
            CAL.sessions(date("2024-11-29"), date("2024-11-29")).len(),
            1
        );
        assert!(CAL
            .sessions(date("2024-11-29"), date("2024-11-25"))
            .is_empty());
        assert!(CAL
            .sessions(date("2024-11-30"), date("2024-12-01"))
            .is_empty());
    }

    #[test]
    fn instants_follow_daylight_saving() {
        let cases = [
            // The Friday before and the Monday after the March 2024 switch to EDT.
            (
                "2024-03-08",
                "2024-03-08T14:30:00+00:00",
                "2024-03-08T21:00:00+00:00",
            ),
            (
                "2024-03-11",
                "2024-03-11T13:30:00+00:00",
                "2024-03-11T20:00:00+00:00",
            ),
            // An early close in EST.
            (
                "2024-11-29",
                "2024-11-29T14:30:00+00:00",
                "2024-11-29T18:00:00+00:00",
            ),
        ];
        for (day, open, close) in cases {
            let session = CAL.session(date(day)).unwrap_or_else(|| panic!("{day}"));
            let open_utc = session.open_at().with_timezone(&chrono::Utc).to_rfc3339();
            let close_utc = session.close_at().with_timezone(&chrono::Utc).to_rfc3339();
            assert_eq!(open_utc, open, "{day}");
            assert_eq!(close_utc, close, "{day}");
            assert_eq!(session.open_at().timezone(), EXCHANGE_TZ);
        }
    }

    #[test]
    fn hand_built_session_in_the_dst_gap_still_converts() {
        let session = Session {
            date: date("2024-03-10"),
            open: hm(2, 30),
            close: hm(3, 30),
            early_close: false,
        };
        let open_utc = session.open_at().with_timezone(&chrono::Utc).to_rfc3339();
        assert_eq!(open_utc, "2024-03-10T07:30:00+00:00");
        let close_utc = session.close_at().with_timezone(&chrono::Utc).to_rfc3339();
        assert_eq!(close_utc, "2024-03-10T07:30:00+00:00");
    }

    #[test]
    fn csv_row_format() {
        let cases = [
            ("2024-11-29", "2024-11-29,09:30,13:00,true"),
            ("2024-11-27", "2024-11-27,09:30,16:00,false"),
        ];
        for (day, row) in cases {
            let session = CAL.session(date(day)).unwrap_or_else(|| panic!("{day}"));
            assert_eq!(session.csv_row(), row);
        }
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        for day in [NaiveDate::MIN, NaiveDate::MAX] {
            let _ = CAL.session(day);
            let _ = CAL.closure_reason(day);
        }
        let near_max = NaiveDate::MAX - Days::new(30);
        assert!(CAL.next_session(near_max).date > near_max);
        let near_min = NaiveDate::MIN + Days::new(30);
        assert!(CAL.previous_session(near_min).date < near_min);
    }
}
