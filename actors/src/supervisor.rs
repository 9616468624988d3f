//! The supervisor: starts the runtime's actors in order, restarts crashed jobs within an
//! intensity limit, and owns graceful shutdown.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::oneshot;

use std::net::TcpListener;
use std::path::PathBuf;

use crate::clock::Clock;
use crate::clock_actor::{ClockActor, StopClock};
use crate::heartbeat::{FinalBeat, HeartbeatActor};
use crate::job::JobFactory;
use crate::job_actor::{Drain, JobActor, JobActorSetup};
use crate::kill_switch::{self, KillSwitchActor, KillSwitchSetup};
use crate::ledger::RunLedger;
use crate::messages::{ClockFinished, Disable, JobCrashed, Shutdown, StorageFailed, Tick};
use crate::schedule::Schedule;
use crate::view::RuntimeView;

/// Erlang-style restart intensity: more than `max_restarts` crashes of one job within `within`
/// and the job is given up on (marked failed, its slots skipped), while the others run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartLimit {
    pub max_restarts: usize,
    pub within: TimeDelta,
}

impl Default for RestartLimit {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            within: TimeDelta::seconds(60),
        }
    }
}

/// Everything the runtime needs; built by the application.
pub struct RuntimeConfig {
    pub clock: Arc<dyn Clock>,
    pub schedule: Arc<Schedule>,
    pub ledger: Arc<RunLedger>,
    /// One factory per tag in the schedule.
    pub jobs: BTreeMap<String, JobFactory>,
    /// End of a replay; `None` runs until shut down.
    pub until: Option<DateTime<Utc>>,
    pub restart_limit: RestartLimit,
    /// How long running jobs get to finish at shutdown.
    pub grace: Duration,
    /// The operator-facing parts: kill switch, heartbeat, health. `None` runs the bare
    /// scheduler (tests of the runtime itself).
    pub ops: Option<Operations>,
}

/// What an operator touches (DESIGN §2): files under the home, the heartbeat, the health port.
pub struct Operations {
    pub mode: crate::mode::RunMode,
    pub state_dir: PathBuf,
    pub logs_dir: PathBuf,
    pub heartbeat_every: Duration,
    /// Bound before start, so a taken port is refused before anything runs.
    pub health: Option<TcpListener>,
    /// A wall clock for heartbeat times and ages, also in a replay.
    pub wall: Arc<dyn Clock>,
    /// Told of kill-switch changes and jobs given up on (notifications).
    pub on_event: Option<crate::messages::EventHook>,
    /// What the application adds to the status page at `/`.
    pub status_page: Option<crate::health::PageFragment>,
    /// What the application adds to `/metrics`.
    pub metrics: Option<crate::health::MetricsFragment>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("schedule names job {0:?}, which has no implementation")]
    UnknownJob(String),
    #[error("the supervisor stopped without reporting how")]
    Lost,
}

/// How the runtime ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// A replay reached the end of its range.
    Finished,
    /// The clock could not go on (a replay whose run ledger failed).
    Failed(String),
    /// Shut down on request; `jobs_finished` is false if the grace period ran out first.
    Shutdown { jobs_finished: bool },
}

/// A snapshot of what the supervisor knows, for health and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeStatus {
    pub restarts: BTreeMap<String, usize>,
    pub failed_jobs: BTreeSet<String>,
}

#[derive(Message)]
#[rtype(result = "RuntimeStatus")]
pub struct GetStatus;

pub struct Supervisor {
    config: RuntimeConfig,
    jobs: BTreeMap<String, Addr<JobActor>>,
    clock: Option<Addr<ClockActor>>,
    heartbeat: Option<Addr<HeartbeatActor>>,
    kill_switch: Option<Addr<KillSwitchActor>>,
    health: Option<actix_web::dev::ServerHandle>,
    crash_times: BTreeMap<String, VecDeque<DateTime<Utc>>>,
    status: RuntimeStatus,
    view: Arc<RuntimeView>,
    done: Option<oneshot::Sender<Exit>>,
}

impl Supervisor {
    /// Checks that every scheduled tag has a job, before anything starts.
    fn new(config: RuntimeConfig, done: oneshot::Sender<Exit>) -> Result<Self, RuntimeError> {
        if let Some(plan) = config
            .schedule
            .plans()
            .find(|p| !config.jobs.contains_key(&p.tag))
        {
            return Err(RuntimeError::UnknownJob(plan.tag.clone()));
        }
        let (mode, wall, every) = match &config.ops {
            Some(ops) => (Some(ops.mode), ops.wall.clone(), ops.heartbeat_every),
            None => (None, config.clock.clone(), Duration::from_secs(30)),
        };
        let view = RuntimeView::new(
            mode,
            config.clock.clone(),
            wall,
            config.schedule.clone(),
            TimeDelta::from_std(every).unwrap_or(TimeDelta::seconds(30)),
        );
        let observer = view.clone();
        config
            .ledger
            .subscribe(Box::new(move |record| observer.observe(record)));
        Ok(Self {
            config,
            jobs: BTreeMap::new(),
            clock: None,
            heartbeat: None,
            kill_switch: None,
            health: None,
            crash_times: BTreeMap::new(),
            status: RuntimeStatus::default(),
            view,
            done: Some(done),
        })
    }

    fn finish(&mut self, exit: Exit) {
        if let Some(done) = self.done.take() {
            let _ = done.send(exit);
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    /// Start order (DESIGN §2): kill switch, heartbeat, job actors, clock, health server.
    fn started(&mut self, ctx: &mut Context<Self>) {
        let kill_switch = Arc::new(AtomicBool::new(false));
        self.start_operations(&kill_switch);
        let crashes = ctx.address().recipient::<JobCrashed>();
        // A replay's clock waits for every body: its bodies run on this thread, in turn. And
        // it replays the past in a home whose lock it holds, where `kobe run-job` (today's slot)
        // has nothing to share with it: it takes no job locks.
        let replay = self.config.ops.as_ref().is_some_and(|o| o.mode.is_replay());
        let locks_dir = match &self.config.ops {
            Some(ops) if !replay => Some(ops.state_dir.join("locks")),
            _ => None,
        };
        let mut ticks: BTreeMap<String, Recipient<Tick>> = BTreeMap::new();
        for plan in self.config.schedule.plans() {
            let tag = plan.tag.clone();
            let factory = self.config.jobs[&tag].clone();
            let plan = plan.clone();
            let setup = JobActorSetup {
                running: Arc::new(AtomicBool::new(false)),
                ledger: self.config.ledger.clone(),
                clock: self.config.clock.clone(),
                crashes: crashes.clone(),
                storage: ctx.address().recipient::<StorageFailed>(),
                locks_dir: locks_dir.clone(),
                kill_switch: kill_switch.clone(),
                inline: replay,
            };
            let addr = actix::Supervisor::start(move |_| JobActor::new(plan, factory, setup));
            ticks.insert(tag.clone(), addr.clone().recipient());
            self.jobs.insert(tag, addr);
        }
        let clock = ClockActor::new(
            self.config.clock.clone(),
            self.config.schedule.clone(),
            self.config.ledger.clone(),
            ticks,
            self.config.until,
            self.view.clone(),
            ctx.address().recipient(),
        )
        .start();
        self.clock = Some(clock);
        if let Some(listener) = self.config.ops.as_mut().and_then(|o| o.health.take()) {
            let extras = crate::health::Extras {
                page: self.config.ops.as_ref().and_then(|o| o.status_page.clone()),
                metrics: self.config.ops.as_ref().and_then(|o| o.metrics.clone()),
            };
            match crate::health::serve(listener, self.view.clone(), extras) {
                Ok(server) => {
                    self.health = Some(server.handle());
                    actix_rt::spawn(server);
                }
                Err(e) => tracing::error!(error = %e, "health server did not start"),
            }
        }
        self.view.set_ready();
        tracing::info!(jobs = self.jobs.len(), "runtime started");
    }
}

impl Supervisor {
    /// Starts the kill switch (setting `flag` to its state at start) and the heartbeat.
    fn start_operations(&mut self, flag: &Arc<AtomicBool>) {
        let Some(ops) = &self.config.ops else {
            return;
        };
        let initial = kill_switch::read(&ops.state_dir).unwrap_or_else(|e| {
            // Unreadable is treated as engaged: the safe side for money.
            tracing::error!(error = %e, "cannot read the kill switch file: starting halted");
            crate::view::KillSwitchStatus {
                active: true,
                reason: Some(format!("unreadable KILL_SWITCH: {e}")),
                since: None,
            }
        });
        if initial.active {
            tracing::warn!(reason = ?initial.reason, "kill switch active at start: starting halted");
        }
        flag.store(initial.active, Ordering::SeqCst);
        self.view.set_kill_switch(initial);
        let switch = KillSwitchActor::new(KillSwitchSetup {
            state_dir: ops.state_dir.clone(),
            // Job actors read the shared flag at every tick: no one needs the broadcast.
            subscribers: Vec::new(),
            view: self.view.clone(),
            wall: ops.wall.clone(),
            flag: flag.clone(),
            on_event: ops.on_event.clone(),
            watch: !ops.mode.is_replay(),
        });
        self.kill_switch = Some(switch.start());
        let health_addr = ops
            .health
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.to_string());
        let beat = HeartbeatActor::new(
            self.view.clone(),
            ops.state_dir.clone(),
            ops.logs_dir.clone(),
            ops.heartbeat_every,
            health_addr,
        );
        self.heartbeat = Some(beat.start());
    }
}

impl Handler<JobCrashed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: JobCrashed, _ctx: &mut Context<Self>) {
        let times = self.crash_times.entry(msg.tag.clone()).or_default();
        times.push_back(msg.at);
        let window_start = msg.at - self.config.restart_limit.within;
        while times.front().is_some_and(|t| *t < window_start) {
            times.pop_front();
        }
        *self.status.restarts.entry(msg.tag.clone()).or_default() += 1;
        let past_limit = times.len() > self.config.restart_limit.max_restarts;
        if past_limit && self.status.failed_jobs.insert(msg.tag.clone()) {
            tracing::error!(tag = %msg.tag, crashes = times.len(), "job past its restart limit: marked failed");
            if let Some(hook) = self.config.ops.as_ref().and_then(|o| o.on_event.as_ref()) {
                hook(crate::messages::RuntimeEvent::JobGaveUp {
                    tag: msg.tag.clone(),
                    crashes: times.len(),
                });
            }
            if let Some(addr) = self.jobs.get(&msg.tag) {
                addr.do_send(Disable);
            }
        }
        self.view.job_restarted(&msg.tag, past_limit);
    }
}

impl Handler<StorageFailed> for Supervisor {
    type Result = ();

    /// Health turns degraded and the operator is told first; then the run stops, failed, so a
    /// replay or runner never goes on with records missing.
    fn handle(&mut self, msg: StorageFailed, ctx: &mut Context<Self>) {
        tracing::error!(error = %msg.error, "state could not be kept: stopping");
        self.view.set_storage_failure(&msg.error);
        if let Some(hook) = self.config.ops.as_ref().and_then(|o| o.on_event.as_ref()) {
            hook(crate::messages::RuntimeEvent::StorageFailed {
                error: msg.error.clone(),
            });
        }
        if let Some(clock) = self.clock.take() {
            clock.do_send(StopClock);
        }
        self.finish(Exit::Failed(msg.error));
        ctx.stop();
    }
}

impl Handler<GetStatus> for Supervisor {
    type Result = MessageResult<GetStatus>;
    fn handle(&mut self, _: GetStatus, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.status.clone())
    }
}

impl Handler<ClockFinished> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: ClockFinished, ctx: &mut Context<Self>) {
        let exit = match msg.error {
            Some(error) => Exit::Failed(error),
            None if self.config.until.is_some() => Exit::Finished,
            None => return,
        };
        self.view.set_stopping();
        self.finish(exit);
        ctx.stop();
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;

    /// Stops the clock, then gives running jobs up to the grace period to finish.
    fn handle(&mut self, _: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        self.view.set_stopping();
        if let Some(clock) = self.clock.take() {
            clock.do_send(StopClock);
        }
        let jobs: Vec<_> = self.jobs.values().cloned().collect();
        let grace = self.config.grace;
        let (heartbeat, health) = (self.heartbeat.take(), self.health.take());
        let wait = async move {
            // Drain queues behind any tick already in a job's mailbox, and answers once that
            // tick's outcome is recorded.
            let drained = async {
                for job in &jobs {
                    let _ = job.send(Drain).await;
                }
            };
            let finished = tokio::time::timeout(grace, drained).await.is_ok();
            if let Some(heartbeat) = heartbeat {
                let _ = heartbeat.send(FinalBeat).await;
            }
            if let Some(health) = health {
                health.stop(true).await;
            }
            finished
        };
        Box::pin(wait.into_actor(self).map(|jobs_finished, act, ctx| {
            act.finish(Exit::Shutdown { jobs_finished });
            ctx.stop();
        }))
    }
}

/// A running runtime: its supervisor's address and how it will end.
pub struct Runtime {
    pub supervisor: Addr<Supervisor>,
    pub view: Arc<RuntimeView>,
    exit: oneshot::Receiver<Exit>,
}

impl Runtime {
    /// Starts the runtime inside the current actix `System`.
    pub fn start(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let (tx, rx) = oneshot::channel();
        let supervisor = Supervisor::new(config, tx)?;
        let view = supervisor.view.clone();
        Ok(Self {
            supervisor: supervisor.start(),
            view,
            exit: rx,
        })
    }

    /// Runs until a replay finishes or `shutdown` resolves (then shuts down gracefully).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<Exit, RuntimeError> {
        let Runtime {
            supervisor, exit, ..
        } = self;
        tokio::pin!(exit);
        tokio::select! {
            result = &mut exit => return result.map_err(|_| RuntimeError::Lost),
            () = shutdown => {}
        }
        supervisor.do_send(Shutdown);
        exit.await.map_err(|_| RuntimeError::Lost)
    }
}
