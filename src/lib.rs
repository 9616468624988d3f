//! kobe: a retail trader's daily schedule of jobs, plugged into the `kobe-actors` runtime.
//!
//! The binaries (`runner`, `kobe`) only parse flags and call into this library.

pub mod app;
pub mod backtest;
pub mod backup;
pub mod broker;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod domain;
pub mod failpoint;
pub mod home;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod progress;
pub mod replay_summary;
pub mod report;
pub mod runner;
pub mod scan;
pub mod secrets;
pub mod status_page;
pub mod strategy;
pub mod trading;
pub mod watchlist;
