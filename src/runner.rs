//! The 24/7 runner: hands a checked plan's schedule (`plan`) to the actor runtime, on the live
//! clock or (replay) on a simulated one, and says how the run ended.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use kobe_actors::clock::{Clock, LiveClock, SimClock};
use kobe_actors::health;
use kobe_actors::ledger::RunLedger;
use kobe_actors::lock::{LockInfo, PidLock};
use kobe_actors::supervisor::{Exit, Operations, RestartLimit, Runtime, RuntimeConfig};

use crate::app::App;
use crate::jobs;
use crate::notify::Notifier;
use crate::replay_summary::ReplaySummary;

pub(crate) mod plan;

pub use plan::{Mode, Plan, ReplayRange, RunnerArgs, RunnerError};

/// What a finished run reports (a replay prints it).
pub enum Outcome {
    /// A replay that reached its end, its backtest report written.
    Replay(ReplaySummary),
    /// A replay that reached its end but whose report could not be built or written: the
    /// summary (without the report's line) and why, so the runner prints one and fails on the
    /// other.
    ReplayUnreported {
        summary: ReplaySummary,
        error: crate::backtest::report::ReportError,
    },
    Stopped {
        jobs_finished: bool,
    },
    /// A replay stopped by a signal before its end: where it got to (the last slot recorded
    /// in its range), so the same command resumes it.
    ReplayInterrupted {
        last_slot: Option<String>,
    },
}

/// Runs the runner to its end: a replay's last slot, or SIGINT/SIGTERM.
pub fn run(plan: Plan) -> Result<Outcome, RunnerError> {
    // Refusals first, in an order that writes nothing: the port, then the lock.
    let listener = plan
        .health_addr
        .map(|addr| health::bind(addr, plan.health_allow_remote))
        .transpose()?;
    let wall: Arc<dyn Clock> = Arc::new(LiveClock);
    let mode = plan.run_mode();
    let info = LockInfo::this_process(mode.account(), wall.now());
    let _lock = PidLock::acquire(&plan.home.state(), &info)?;
    // A replay prints thousands of slots: keep the screen for the summary.
    let level = if plan.replay.is_some() {
        "warn"
    } else {
        "info"
    };
    let _log_guard = crate::logging::init(level, Some(&plan.home.logs()));
    // One `App` for the whole run: a replay's bar store is read once — here, under the lock and
    // with the log listening for the drops it finds — for the note below, the jobs and the
    // backtest report alike.
    let app = plan.app();
    if let Some((range, _)) = plan.replay {
        if let Some(note) = crate::data::coverage::replay_note(&app.store(), range.from, range.to) {
            eprintln!("runner: note: {note}");
        }
    }
    for tag in plan.config.disabled_jobs() {
        tracing::warn!(
            job = tag,
            "turned off in the config (enabled = false): not scheduled"
        );
    }
    let notifier = Notifier::start(&plan.config.notify, &plan.secrets);
    tracing::info!(
        pid = info.pid,
        mode = mode.account(),
        health = %listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        home = %plan.home.root().display(),
        "runner starting"
    );
    // A replay has the home to itself (the lock above): its records are committed in batches.
    let open = if mode.is_replay() {
        RunLedger::open_batched
    } else {
        RunLedger::open
    };
    let ledger = Arc::new(open(
        &plan.home.state(),
        &plan.home.logs(),
        mode.durability(),
    )?);
    let app = Arc::new(app.with_notifier(notifier.clone()));
    let config = runtime_config(&plan, app.clone(), ledger.clone(), listener, wall);
    let progress = replay_progress(&plan, &ledger)?;
    let stopwatch = Instant::now();
    let system = actix_rt::System::new();
    let exit = system.block_on(async move {
        let runtime = Runtime::start(config)?;
        runtime.run_until(shutdown_signal()).await
    })?;
    if matches!(
        exit,
        Exit::Shutdown {
            jobs_finished: false
        }
    ) {
        // Dropping the runtime would wait for the job thread that overran the grace period,
        // and the promise is to exit within it: the process ends right after this returns.
        std::mem::forget(system);
    }
    tracing::info!("runner stopped; lock released");
    if let (Some(progress), Exit::Finished) = (&progress, &exit) {
        progress.note("writing the backtest report");
    }
    // Queued notifications get a moment to go out; a dead webhook never holds the exit up long.
    notifier.flush(Duration::from_secs(3));
    let outcome = outcome(&plan, &app, exit, &ledger, stopwatch.elapsed());
    // Cleared before the binary prints the summary or the interruption.
    drop(progress);
    outcome
}

/// A replay's progress bar, on a terminal only; it follows the run ledger's records (the
/// slots' own path is untouched) and starts at the sessions a resumed replay already did.
fn replay_progress(
    plan: &Plan,
    ledger: &RunLedger,
) -> Result<Option<crate::progress::ReplayProgress>, RunnerError> {
    let Some((range, _)) = plan.replay else {
        return Ok(None);
    };
    if !crate::progress::stderr_is_terminal() {
        return Ok(None);
    }
    let recorded = ledger.records_between(range.start(), range.end())?;
    let progress = crate::progress::ReplayProgress::on_terminal(range.from, range.to, &recorded);
    if let Some(progress) = &progress {
        ledger.subscribe(progress.observer());
    }
    Ok(progress)
}

/// The runtime for this plan: its clock (simulated in a replay), the jobs with the run's
/// `App`, the restart limit, and the operator's parts (heartbeat, health, notifications).
fn runtime_config(
    plan: &Plan,
    app: Arc<App>,
    ledger: Arc<RunLedger>,
    health: Option<std::net::TcpListener>,
    wall: Arc<dyn Clock>,
) -> RuntimeConfig {
    let (clock, until): (Arc<dyn Clock>, _) = match plan.replay {
        Some((range, speed)) => (
            Arc::new(SimClock::new(range.start(), speed)),
            Some(range.end()),
        ),
        None => (wall.clone(), None),
    };
    let runtime = &plan.config.runtime;
    report_universe_gaps(&app);
    let schedule = plan.schedule.clone();
    let jobs: BTreeMap<_, _> = schedule
        .plans()
        .filter_map(|p| jobs::factory(&p.tag, app.clone()).map(|f| (p.tag.clone(), f)))
        .collect();
    let hook = app.notifier.clone();
    RuntimeConfig {
        clock,
        schedule,
        ledger,
        jobs,
        until,
        restart_limit: RestartLimit {
            max_restarts: runtime.restart_limit,
            within: TimeDelta::seconds(runtime.restart_window_secs as i64),
        },
        grace: Duration::from_secs(runtime.grace_secs),
        ops: Some(Operations {
            mode: plan.run_mode(),
            state_dir: plan.home.state(),
            logs_dir: plan.home.logs(),
            heartbeat_every: plan.heartbeat_every,
            health,
            wall,
            on_event: Some(Arc::new(move |event| hook.send(describe(&event)))),
            metrics: Some(app.orders.fragment()),
            status_page: Some(crate::status_page::fragment(
                plan.home.root().to_path_buf(),
                plan.config.trading.starting_equity,
                plan.replay.is_some(),
            )),
        }),
    }
}

/// How the run ended, for the binary: a replay's summary (read from the ledgers), or a stop.
fn outcome(
    plan: &Plan,
    app: &App,
    exit: Exit,
    ledger: &RunLedger,
    elapsed: Duration,
) -> Result<Outcome, RunnerError> {
    match (exit, plan.replay) {
        (Exit::Finished, Some((range, _))) => {
            // Every slot's row committed, or the replay does not finish in silence.
            ledger.flush()?;
            let outcomes = ledger.outcomes_between(range.start(), range.end())?;
            let starting = plan.config.trading.starting_equity;
            let durability = plan.run_mode().durability();
            let mut summary = ReplaySummary::new(range, &outcomes, elapsed);
            // A ledger that cannot be read is said, never left out of the summary in silence.
            match app.with_trading_ledger(|l| l.performance(starting)) {
                Ok(trading) => summary.trading = Some(trading),
                Err(e) => {
                    let error = e.into();
                    return Ok(Outcome::ReplayUnreported { summary, error });
                }
            }
            // Built and written only here, at the end of a finished replay: an interrupted
            // one writes none, and its resumption writes the whole range's.
            let report = crate::backtest::report::build(app, range.from, range.to).and_then(|r| {
                crate::backtest::report::write(plan.home.root(), &r, durability).map(|()| r)
            });
            match report {
                Ok(report) => {
                    summary.backtest = Some(report);
                    Ok(Outcome::Replay(summary))
                }
                Err(error) => Ok(Outcome::ReplayUnreported { summary, error }),
            }
        }
        (Exit::Shutdown { .. }, Some((range, _))) => {
            let records = ledger.records_between(range.start(), range.end())?;
            let last_slot = records.last().map(|r| format!("{} {}", r.tag, r.slot_et));
            Ok(Outcome::ReplayInterrupted { last_slot })
        }
        (Exit::Shutdown { jobs_finished }, None) => Ok(Outcome::Stopped { jobs_finished }),
        (Exit::Finished, None) => Ok(Outcome::Stopped {
            jobs_finished: true,
        }),
        (Exit::Failed(error), _) => Err(RunnerError::Failed(error)),
    }
}

/// A runtime event as a notification line.
fn describe(event: &kobe_actors::messages::RuntimeEvent) -> String {
    use kobe_actors::messages::RuntimeEvent;
    match event {
        RuntimeEvent::KillSwitch(s) if s.active => {
            format!(
                "kobe: kill switch ENGAGED: {}",
                s.reason.as_deref().unwrap_or("no reason given")
            )
        }
        RuntimeEvent::KillSwitch(_) => "kobe: kill switch released".to_string(),
        RuntimeEvent::StorageFailed { error } => {
            format!("kobe: STOPPING: state could not be kept: {error}")
        }
        RuntimeEvent::JobGaveUp { tag, crashes } => {
            format!("kobe: {tag} is past its restart limit ({crashes} crashes): its slots are skipped until a restart")
        }
    }
}

/// Universe symbols without bars are reported once per run (DATA_UPDATE fetches them).
fn report_universe_gaps(app: &App) {
    match app.universe() {
        Ok(symbols) => {
            let store = app.store();
            let missing: Vec<&String> = symbols
                .iter()
                .filter(|s| !store.dir().join(format!("{s}.csv")).exists())
                .collect();
            if !missing.is_empty() {
                let list: Vec<&str> = missing.iter().take(20).map(|s| s.as_str()).collect();
                tracing::warn!(count = missing.len(), symbols = %list.join(","), "universe symbols with no bars");
            }
        }
        Err(e) => tracing::warn!(error = %e, "universe not readable"),
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    // Each signal on its own: one that cannot be listened for must not cost the others.
    let listen = |kind: SignalKind, name: &'static str| {
        let stream = signal(kind);
        if let Err(e) = &stream {
            tracing::error!(error = %e, signal = name, "cannot listen for this signal");
        }
        async move {
            match stream {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
    };
    // SIGHUP (a closed terminal, or `systemctl reload`) stops gracefully like SIGTERM: the
    // config is read at start only, so a restart is the reload.
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = listen(SignalKind::terminate(), "SIGTERM") => tracing::info!("SIGTERM: shutting down"),
        _ = listen(SignalKind::hangup(), "SIGHUP") => tracing::info!("SIGHUP: shutting down (restart to reload the config)"),
    }
}
