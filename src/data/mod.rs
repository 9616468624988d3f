//! Market data: daily bars, their store under `data/bars/`, imports, universes and Polygon.

pub mod bars;
pub mod coverage;
pub mod fetch_progress;
pub mod import;
pub mod market;
pub mod polygon;
pub mod snapshot;
pub mod store;
pub mod universe;
pub mod visibility;
