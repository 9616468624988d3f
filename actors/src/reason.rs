//! Why a slot was skipped or failed, as the runtime names it. The text of each reason is what
//! `logs/jobs.jsonl` and `state/runs.sqlite` carry and what operators grep for: it never changes.

use std::fmt;
use std::str::FromStr;

/// Why the runtime recorded a slot without running its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The job was still running, here or in another process (`kobe run-job`).
    Overlap,
    /// The kill switch is on and the job's policy is `skip`.
    KillSwitch,
    /// A fixed time at or after the session's close.
    AfterClose,
    /// The job is past its restart limit.
    RestartLimit,
    /// Due while the runner was not running, and not caught up.
    Missed,
}

impl SkipReason {
    pub const ALL: [SkipReason; 5] = [
        SkipReason::Overlap,
        SkipReason::KillSwitch,
        SkipReason::AfterClose,
        SkipReason::RestartLimit,
        SkipReason::Missed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Overlap => "overlap",
            SkipReason::KillSwitch => "kill_switch",
            SkipReason::AfterClose => "after_close",
            SkipReason::RestartLimit => "restart_limit",
            SkipReason::Missed => "missed",
        }
    }
}

/// Why a run failed, where the runtime names it (a recoverable error is recorded with its
/// message and no reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    Timeout,
    Panic,
    Unrecoverable,
    /// State could not be read or written: the run stops.
    Storage,
    /// The run did its work, but something needs a person now: health turns degraded at once.
    Attention,
}

impl FailReason {
    pub const ALL: [FailReason; 5] = [
        FailReason::Timeout,
        FailReason::Panic,
        FailReason::Unrecoverable,
        FailReason::Storage,
        FailReason::Attention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Timeout => "timeout",
            FailReason::Panic => "panic",
            FailReason::Unrecoverable => "unrecoverable",
            FailReason::Storage => "storage",
            FailReason::Attention => "attention",
        }
    }
}

/// The reason recorded with a slot: the runtime's own, or the one a job body gave for not doing
/// its work (`JobOutput::skipped`, e.g. `no_api_key`), which the runtime passes on as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    Skip(SkipReason),
    Fail(FailReason),
    Job(String),
}

impl Reason {
    pub fn as_str(&self) -> &str {
        match self {
            Reason::Skip(r) => r.as_str(),
            Reason::Fail(r) => r.as_str(),
            Reason::Job(r) => r,
        }
    }
}

impl From<SkipReason> for Reason {
    fn from(r: SkipReason) -> Self {
        Reason::Skip(r)
    }
}

impl From<FailReason> for Reason {
    fn from(r: FailReason) -> Self {
        Reason::Fail(r)
    }
}

/// The text stored in a `RunRecord`.
impl From<Reason> for String {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Job(text) => text,
            other => other.as_str().to_string(),
        }
    }
}

/// Not one of the runtime's skip reasons (a job's own, or a failure's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a runtime skip reason: {0}")]
pub struct NotASkipReason(String);

impl FromStr for SkipReason {
    type Err = NotASkipReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SkipReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| NotASkipReason(s.to_string()))
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The jobs log and the run ledger already hold these texts: changing one breaks every
    /// operator's grep and every record written before.
    #[test]
    fn texts_are_the_recorded_ones() {
        let skips: Vec<_> = SkipReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            skips,
            [
                "overlap",
                "kill_switch",
                "after_close",
                "restart_limit",
                "missed"
            ]
        );
        let fails: Vec<_> = FailReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            fails,
            ["timeout", "panic", "unrecoverable", "storage", "attention"]
        );
        assert_eq!(String::from(Reason::Job("no_api_key".into())), "no_api_key");
        assert_eq!(String::from(Reason::from(SkipReason::Missed)), "missed");
    }

    #[test]
    fn skip_reasons_parse_back_from_their_text() {
        for r in SkipReason::ALL {
            assert_eq!(r.as_str().parse::<SkipReason>(), Ok(r));
        }
        assert!("no_api_key".parse::<SkipReason>().is_err());
        assert!("timeout".parse::<SkipReason>().is_err());
    }
}
