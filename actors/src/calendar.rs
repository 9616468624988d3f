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
mod tests;
