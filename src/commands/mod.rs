//! `kobe` subcommands, one file each.

pub mod book;
pub mod calendar;
pub mod kill_switch;
pub mod run_job;
pub mod schedule;
pub mod status;
