//! The strategy rules of DESIGN §8: indicators, the two setups, and the ranking.

pub mod exits;
pub mod indicators;
pub mod signals;
