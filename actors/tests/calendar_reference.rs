//! Checks the rule-based NYSE calendar against the `exchange_calendars` XNYS schedule for 2000-2030.

use std::collections::BTreeSet;
use std::fs;

use chrono::{Datelike, NaiveDate, Weekday};
use kobe_actors::calendar::NyseCalendar;

const SESSIONS_CSV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/calendar/xnys_sessions_2000_2030.csv"
);
const HOLIDAYS_CSV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/calendar/xnys_holidays_2000_2030.csv"
);
const SESSIONS_HEADER: &str = "date,open_et,close_et,early_close\n";
const HOLIDAYS_HEADER: &str = "date,name,kind";

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date")
}

fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 12, 31).expect("valid date")
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

#[test]
fn sessions_match_reference_csv_byte_for_byte() {
    let expected = read(SESSIONS_CSV);
    let mut rendered = String::from(SESSIONS_HEADER);
    for session in NyseCalendar.sessions(first_day(), last_day()) {
        rendered.push_str(&session.csv_row());
        rendered.push('\n');
    }
    if rendered == expected {
        return;
    }
    // Show only where they part: the whole file is 7,795 lines.
    let mut ours = rendered.lines();
    let mut theirs = expected.lines();
    for number in 1.. {
        match (ours.next(), theirs.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => panic!("same lines, different bytes (line endings or final newline?)"),
            (a, b) => {
                panic!("first difference at line {number}:\n  rendered:  {a:?}\n  reference: {b:?}")
            }
        }
    }
}

#[test]
fn reference_holidays_are_closed_with_the_same_reason() {
    let text = read(HOLIDAYS_CSV);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HOLIDAYS_HEADER));
    let mut listed = BTreeSet::new();
    for line in lines {
        let mut fields = line.splitn(3, ',');
        let (Some(day), Some(name), Some(_kind)) = (fields.next(), fields.next(), fields.next())
        else {
            panic!("malformed row {line:?}");
        };
        let day = NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .unwrap_or_else(|err| panic!("bad date in {line:?}: {err}"));
        if is_weekend(day) {
            continue;
        }
        assert!(!NyseCalendar.is_session(day), "{day} is a session");
        assert_eq!(NyseCalendar.closure_reason(day), Some(name), "{day}");
        listed.insert(day);
    }
    assert_eq!(listed.len(), 293);

    // And the other way round: the calendar closes no weekday the reference leaves open.
    let closed: BTreeSet<_> = first_day()
        .iter_days()
        .take_while(|day| *day <= last_day())
        .filter(|day| NyseCalendar.closure_reason(*day).is_some())
        .collect();
    assert_eq!(closed, listed);
}
