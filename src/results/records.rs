//! Stored records of launches and cells (the serialized output of `execute`, written and read by
//! `store`, the input of `analysis`).

use super::launch::{KvCrossCheck, Prediction, StartFailure, StartupFacts, StopOutcome};
use super::quality::Quality;
use super::slo::Verdict;
use super::summary::CellSummary;
use super::telemetry::{EngineMetricsSummary, MemorySample, MemorySource, MemorySummary};
use crate::plan::Cell;
use serde::{Deserialize, Serialize};

/// Outcome of a cell, as in the `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub id: String,
    pub index: usize,
    pub server: String,
    pub engine: crate::scenario::schema::EngineKind,
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
    /// Facts the engine printed at startup (also the partial ones of a failed start).
    #[serde(default)]
    pub facts: StartupFacts,
    /// Memory once ready: GPU (NVML) or the process group's RSS; see `memory_source`.
    #[serde(default)]
    pub memory_at_ready: Option<MemorySample>,
    #[serde(default)]
    pub memory_source: MemorySource,
    /// Seconds until GPU memory was back to its level before the launch, after the stop (NVML only;
    /// None without a GPU or when it did not come back within 60 s).
    #[serde(default)]
    pub gpu_memory_released_s: Option<f64>,
    /// What `runner estimate` predicted for this launch before it started (vLLM with a local
    /// config.json); reports set it against the startup facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// vLLM: the startup log's KV tokens and GiB against `vllm:cache_config_info` on /metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cross_check: Option<KvCrossCheck>,
    /// Where the launch ran, when it came into this folder by `runner merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// What a cell's launch looked like when it became ready (copied into every cell of the launch).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartupSnapshot {
    pub ready_s: Option<f64>,
    pub facts: StartupFacts,
    pub memory_at_ready: Option<MemorySample>,
    pub memory_source: MemorySource,
}

/// Memory and engine-metric summaries of one cell (time series in the cell's `telemetry.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetrySummary {
    pub memory: MemorySummary,
    pub engine: EngineMetricsSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub cell: Cell,
    pub launch_id: String,
    pub server: String,
    pub engine: crate::scenario::schema::EngineKind,
    pub model: Option<String>,
    pub status: CellStatus,
    /// Why the cell is infeasible/failed/interrupted.
    pub reason: Option<String>,
    /// A search probe that stopped once clearly failing: why, and how many requests were cancelled
    /// (also the start of `reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    pub summary: Option<CellSummary>,
    pub verdict: Option<Verdict>,
    #[serde(default)]
    pub startup: Option<StartupSnapshot>,
    #[serde(default)]
    pub telemetry: Option<TelemetrySummary>,
    /// Whether the figures can be trusted: disturbed machine, repeats' spread, unstable verdict.
    #[serde(default)]
    pub quality: Quality,
    pub started_at: String,
    pub finished_at: String,
    /// Where the cell was measured, when it came into this folder by `runner merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// A cell made by `runner import` from another tool's result file: the tool, the file and each
    /// metric's definition against runner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<super::import::ImportNote>,
}

/// The run a merged cell or launch comes from: its folder's run id, host, shard and GPU label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub run_id: String,
    pub host: String,
    /// "K/N" when the run was a shard.
    pub shard: Option<crate::plan::shard::Shard>,
    pub gpu: String,
}
