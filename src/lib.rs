//! `runner`: measured, reproducible LLM-serving capacity experiments.
//!
//! The flow is one-directional: scenario (parse, validate) -> plan (expand) -> execute (engine, load)
//! -> store (results folder) -> analysis -> report.

pub mod analysis;
pub mod cli;
pub mod engine;
pub mod execute;
pub mod load;
pub mod plan;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod store;
pub mod telemetry;
