//! The typed result model below `store`: every persisted type (a request's record and error class,
//! the launch and cell records, what a launch stored of the engine and the estimate, a cell's
//! telemetry) and the statistics and SLO verdicts over them (pure functions of the records).
//! Execution fills it, the store writes it, analysis and reports read it; it imports nothing of them.

pub mod import;
pub mod launch;
pub mod quality;
pub mod record;
pub mod records;
pub mod slo;
pub mod summary;
pub mod telemetry;
pub mod trace;
