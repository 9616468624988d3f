//! Whether the bar store covers a replay's range: a replay of sessions the store has no bars
//! for runs, but trades nothing — said at start, with the store's dates, so a new user is not
//! left wondering why.

use chrono::NaiveDate;
use kobe_actors::calendar::NyseCalendar;

use super::store::BarStore;

/// A note for the replay of `from..=to`, or `None` when the store has bars all through it.
pub fn replay_note(store: &BarStore, from: NaiveDate, to: NaiveDate) -> Option<String> {
    let Some((first, last)) = store.span() else {
        return Some(format!(
            "the bar store ({}) is empty: this replay trades nothing; run `kobe data import FILE` first",
            store.dir().display()
        ));
    };
    let sessions: Vec<NaiveDate> = NyseCalendar
        .sessions(from, to)
        .iter()
        .map(|s| s.date)
        .collect();
    let spans = uncovered_spans(&sessions, first, last);
    if spans.is_empty() {
        return None;
    }
    let uncovered: usize = spans.iter().map(|(_, _, n)| n).sum();
    let listed: Vec<String> = spans.iter().map(|(a, b, _)| format!("{a}..{b}")).collect();
    Some(format!(
        "the bar store holds {first}..{last}: {uncovered} of the {} sessions of {from}..{to} have no bars ({}); they scan and trade nothing",
        sessions.len(),
        listed.join(", ")
    ))
}

/// The runs of `sessions` before `first` or after `last`: (from, to, how many).
fn uncovered_spans(
    sessions: &[NaiveDate],
    first: NaiveDate,
    last: NaiveDate,
) -> Vec<(NaiveDate, NaiveDate, usize)> {
    let before: Vec<NaiveDate> = sessions.iter().copied().filter(|d| *d < first).collect();
    let after: Vec<NaiveDate> = sessions.iter().copied().filter(|d| *d > last).collect();
    [before, after]
        .into_iter()
        .filter_map(|run| Some((*run.first()?, *run.last()?, run.len())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_outside_the_store_are_counted_in_runs() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let sessions: Vec<NaiveDate> = NyseCalendar
            .sessions(day("2018-02-01"), day("2018-02-14"))
            .iter()
            .map(|s| s.date)
            .collect();
        let spans = uncovered_spans(&sessions, day("2018-02-05"), day("2018-02-07"));
        assert_eq!(
            spans,
            [
                (day("2018-02-01"), day("2018-02-02"), 2),
                (day("2018-02-08"), day("2018-02-14"), 5)
            ]
        );
        assert!(uncovered_spans(&sessions, day("2018-01-01"), day("2018-03-01")).is_empty());
    }
}
