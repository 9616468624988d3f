//! `kobe` subcommands, one file each.

pub mod calendar;
pub mod schedule;
