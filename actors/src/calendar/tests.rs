//! The calendar checked against known holidays, early closes, weekends and daylight-saving edges.

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
