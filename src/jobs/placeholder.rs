//! A job body that records `ok` and does nothing else. Every tag of the application has a body
//! of its own now; this one lets the runtime be measured alone (`benches/replay_year.rs`).

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
