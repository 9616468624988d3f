//! Parsing of times and durations, spec compilation, and the slots a schedule yields on given dates.

use super::*;

fn spec(at: &[&str]) -> JobSpec {
    JobSpec {
        at: OneOrMany::Many(at.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

#[test]
fn strict_hhmm() {
    for good in ["00:00", "09:35", "23:59"] {
        assert!(parse_hhmm(good).is_ok(), "{good}");
    }
    for bad in [
        "25:00", "9:5", "10:60", "", "ab:cd", "09:5", "0935", "09:35:00", " 9:35", "24:00", "+9:35",
    ] {
        assert!(parse_hhmm(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn time_lists_refuse_empty_items_and_duplicates() {
    assert_eq!(parse_time_list("09:35,10:30,15:55").unwrap().len(), 3);
    let cases = [
        ("09:35,,10:30", ""),
        ("09:35,", ""),
        ("09:35,09:35", "09:35"),
        ("09:35,25:00", "25:00"),
        ("9:5", "9:5"),
        ("10:60", "10:60"),
        ("ten", "ten"),
    ];
    for (list, bad) in cases {
        let (item, _why) = parse_time_list(list).unwrap_err();
        assert_eq!(item, bad, "{list}");
    }
}

#[test]
fn relative_times() {
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let cases = [
        ("close-30m", t(15, 30)),
        ("close-15m", t(15, 45)),
        ("close", t(16, 0)),
        ("open", t(9, 30)),
        ("open+15m", t(9, 45)),
        ("close-1h", t(15, 0)),
        ("09:45", t(9, 45)),
    ];
    for (text, want) in cases {
        let tod = parse_time_of_day(text).unwrap();
        assert_eq!(tod.on(t(9, 30), t(16, 0)), want, "{text}");
        assert_eq!(tod.to_string(), text.replace("-1h", "-60m"));
    }
    for bad in [
        "closed",
        "close-",
        "close-x",
        "open*5m",
        "close-30",
        "close-13h",
    ] {
        assert!(parse_time_of_day(bad).is_err(), "{bad}");
    }
}

#[test]
fn compile_names_the_key_and_value() {
    let err = JobPlan::compile("SCAN", &spec(&["09:35", "9:5"])).unwrap_err();
    assert_eq!(err.to_string().split(':').next().unwrap(), "jobs.SCAN.at");
    assert!(err.to_string().contains("\"9:5\""));
    let err = JobPlan::compile("SCAN", &spec(&["09:35", "09:35"])).unwrap_err();
    assert!(err.to_string().contains("twice"));
    let window_only_every = JobSpec {
        every: Some("15m".into()),
        ..Default::default()
    };
    assert!(JobPlan::compile("PM", &window_only_every).is_err());
}

fn position_manager() -> JobPlan {
    JobPlan::compile(
        "POSITION_MANAGER",
        &JobSpec {
            every: Some("15m".into()),
            from: Some("10:00".into()),
            to: Some("close".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn windows_run_to_the_close_inclusive() {
    let schedule = Schedule::new(vec![position_manager()], NyseCalendar);
    let day = NaiveDate::from_ymd_opt(2024, 11, 26).unwrap();
    let slots = schedule.slots_on(day);
    assert_eq!(slots.len(), 25); // 10:00..=16:00 every 15 minutes
    assert_eq!(
        slots.last().unwrap().at.format("%H:%M").to_string(),
        "16:00"
    );
    assert!(slots.iter().all(|s| s.skip.is_none()));
}

#[test]
fn fixed_times_at_or_after_the_close_are_skipped_unless_allowed() {
    let mut late = JobPlan::compile("SCAN", &spec(&["12:59", "13:00", "15:55"])).unwrap();
    let early_close = NaiveDate::from_ymd_opt(2024, 11, 29).unwrap();
    let skips = |plan: &JobPlan| -> Vec<bool> {
        Schedule::new(vec![plan.clone()], NyseCalendar)
            .slots_on(early_close)
            .iter()
            .map(|s| s.skip.is_some())
            .collect()
    };
    assert_eq!(skips(&late), [false, true, true]);
    late.after_close = true;
    assert_eq!(skips(&late), [false, false, false]);
}

#[test]
fn days_select_dates() {
    let thanksgiving = NaiveDate::from_ymd_opt(2024, 11, 28).unwrap();
    let saturday = NaiveDate::from_ymd_opt(2024, 11, 30).unwrap();
    let mut plan = JobPlan::compile("DB_BACKUP", &spec(&["05:30"])).unwrap();
    let count = |plan: &JobPlan, d| {
        Schedule::new(vec![plan.clone()], NyseCalendar)
            .slots_on(d)
            .len()
    };
    assert_eq!((count(&plan, thanksgiving), count(&plan, saturday)), (0, 0));
    plan.days = Days::Weekdays;
    assert_eq!((count(&plan, thanksgiving), count(&plan, saturday)), (1, 0));
    plan.days = Days::Daily;
    assert_eq!((count(&plan, thanksgiving), count(&plan, saturday)), (1, 1));
}

#[test]
fn dst_gap_times_move_forward() {
    let spring = NaiveDate::from_ymd_opt(2024, 3, 10).unwrap();
    let t = et_instant(spring, NaiveTime::from_hms_opt(2, 30, 0).unwrap());
    assert_eq!(t.format("%H:%M %:z").to_string(), "03:30 -04:00");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    assert!(parse_duration("0m").is_err());
    assert!(parse_duration("m").is_err());
    assert!(parse_duration("").is_err());
    assert!(parse_duration("5x").is_err());
    assert!(parse_duration("5µ").is_err());
    assert!(parse_duration("99999999999999999h").is_err());
}
