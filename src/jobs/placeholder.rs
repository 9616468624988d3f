//! PLACEHOLDER job body: records `ok` and does nothing else.
//!
//! Every tag without a body of its own runs this until its issue gives it one (the end-of-day
//! report: issue 7). The
//! slot's timing, ledger record and supervision around it are real.

use kobe_actors::job::{Job, JobContext, JobError, JobOutput};

pub struct Placeholder {
    pub tag: &'static str,
}

impl Job for Placeholder {
    fn run(&self, _ctx: &JobContext) -> Result<JobOutput, JobError> {
        Ok(JobOutput::ok(format!(
            "placeholder: {} has no body yet",
            self.tag
        )))
    }
}
