//! `runner`: measured, reproducible LLM-serving capacity experiments.
//!
//! The flow is one-directional: scenario (parse, validate) -> plan (expand) -> execute (engine, load)
//! -> store (results folder) -> analysis -> report.

// Declared in the library so that the binary, the benchmark and the timing tests all run on the
// allocator that ships.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod analysis;
pub mod bounded;
pub mod cli;
pub mod engine;
pub mod engines;
pub mod estimate;
pub mod execute;
pub mod fleet;
pub mod interop;
pub mod load;
pub mod model;
pub mod plan;
pub mod progress;
pub mod report;
pub mod results;
pub mod scenario;
pub mod store;
pub mod telemetry;
