//! kobe-actors: the runtime that runs a trader's jobs on US-Eastern market time.
//!
//! It knows time (`clock`), the exchange calendar, schedules, jobs as a trait, the run ledger and
//! supervision; it knows nothing of stocks or brokers. The application plugs its jobs in through
//! `job::Job` and starts everything with `supervisor::run`.

pub mod atomic_file;
pub mod calendar;
pub mod clock;
pub mod clock_actor;
pub mod db_check;
pub mod health;
pub mod heartbeat;
pub mod job;
pub mod job_actor;
pub mod jsonl;
pub mod kill_switch;
pub mod ledger;
pub mod lock;
pub mod messages;
pub mod mode;
pub mod own_file;
pub mod reason;
pub mod schedule;
pub mod slot;
pub mod supervisor;
pub mod view;
