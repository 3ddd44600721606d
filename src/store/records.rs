//! Stored records of launches and cells (the serialized output of `execute`, the input of `analysis`).

use crate::analysis::slo::Verdict;
use crate::analysis::summary::CellSummary;
use crate::engine::process::StopOutcome;
use crate::engine::StartFailure;
use crate::plan::Cell;
use serde::{Deserialize, Serialize};

/// Outcome of a cell, as in the `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Measured and within every SLO.
    Ok,
    /// Measured, but an SLO was violated.
    SloFail,
    /// The server config could not start; nothing was sent.
    Infeasible,
    /// The cell could not be measured (the engine died, every request failed).
    Failed,
    /// Stopped by Ctrl-C/SIGTERM before it finished; not counted, re-run by `--resume`.
    Interrupted,
}

impl CellStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::SloFail => "slo_fail",
            CellStatus::Infeasible => "infeasible",
            CellStatus::Failed => "failed",
            CellStatus::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub id: String,
    pub index: usize,
    pub server: String,
    pub engine: String,
    pub model: Option<String>,
    /// The exact command, shell-quoted (never run through a shell).
    pub command: Option<String>,
    pub argv: Option<Vec<String>>,
    pub base_url: Option<String>,
    /// Seconds from spawn until the health endpoint answered 200.
    pub ready_s: Option<f64>,
    /// What the engine says of its version (`/version` or `/props`), when it says.
    pub engine_version: Option<String>,
    pub failure: Option<StartFailure>,
    pub stop: Option<StopOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub cell: Cell,
    pub launch_id: String,
    pub server: String,
    pub engine: String,
    pub model: Option<String>,
    pub status: CellStatus,
    /// Why the cell is infeasible/failed/interrupted.
    pub reason: Option<String>,
    pub summary: Option<CellSummary>,
    pub verdict: Option<Verdict>,
    pub started_at: String,
    pub finished_at: String,
}
