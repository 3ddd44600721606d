//! `manifest.json`: what was run, where, with what. Never holds secrets (no env values).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpu_model: Option<String>,
    pub cpus: usize,
    pub memory_total_bytes: Option<u64>,
}

/// Where memory figures come from on this machine, and when a cell counts as disturbed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryInfo {
    /// `nvml` (GPU memory) or `process_rss` (the engine process group's resident memory).
    pub memory_source: crate::telemetry::memory::MemorySource,
    /// Why NVML is not used, when it is not (normal on machines without a GPU).
    pub nvml_note: Option<String>,
    pub gpu: Option<crate::telemetry::memory::GpuInfo>,
    /// The scenario's `disturbed_above_pct`: others' share of all cores above which a cell was
    /// flagged `disturbed` (runs stored before the key existed used the default).
    #[serde(default = "crate::scenario::schema::default_disturbed_above_pct")]
    pub disturbed_above_pct: f64,
}

impl Default for TelemetryInfo {
    fn default() -> Self {
        TelemetryInfo {
            memory_source: Default::default(),
            nvml_note: None,
            gpu: None,
            disturbed_above_pct: crate::scenario::schema::default_disturbed_above_pct(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub runner_version: String,
    pub git_revision: Option<String>,
    pub run_id: String,
    pub scenario_name: String,
    pub scenario_file: String,
    pub scenario_sha256: String,
    pub scenario_text: String,
    pub gpu_label: String,
    pub seed: u64,
    pub host: Host,
    #[serde(default)]
    pub telemetry: TelemetryInfo,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub launches: usize,
    pub cells: usize,
    /// Each launch's exact command, the engine's version report and how it started.
    #[serde(default)]
    pub engines: Vec<EngineInfo>,
    /// When the run was resumed (`runner run --resume`).
    #[serde(default)]
    pub resumed_at: Vec<String>,
    /// The price of this run's GPU label, resolved when the run started (the scenario's `[prices]`
    /// or its `prices_file`), so that reports on another machine still have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::scenario::schema::Price>,
    /// `runner run --shard K/N`: which shard this folder is, and its launches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// `runner merge`: the folders this one was made from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergeSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// "K/N" on disk, K from 0.
    pub shard: crate::plan::shard::Shard,
    pub launches: Vec<String>,
}

/// One folder of a merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeSource {
    pub dir: String,
    pub run_id: String,
    pub host: String,
    pub shard: Option<crate::plan::shard::Shard>,
    pub gpu_label: String,
    pub cells: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<crate::scenario::schema::Price>,
}

/// Where a run stands (stored as `running`, `complete`, `interrupted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished: still running, or the runner was killed (resume it).
    Running,
    Complete,
    /// Stopped by Ctrl-C/SIGTERM; `--resume` finishes it.
    Interrupted,
    /// Merged from shards of which some cells are missing (`runner merge` lists them).
    Incomplete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub launch_id: String,
    pub engine: crate::scenario::schema::EngineKind,
    pub command: Option<String>,
    pub version: Option<String>,
    pub ready_s: Option<f64>,
    /// The failure reason when the launch did not start.
    pub failure: Option<crate::telemetry::failure::FailureReason>,
}

pub fn sha256_hex(text: &str) -> String {
    sha256_bytes(text.as_bytes())
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn host() -> Host {
    Host {
        hostname: gethostname::gethostname().to_string_lossy().into_owned(),
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cpu_model: crate::telemetry::host::cpu_model(),
        cpus: crate::telemetry::host::cpus(),
        memory_total_bytes: crate::telemetry::host::memory_total_bytes(),
    }
}

/// The git revision the runner itself was built from (`-dirty` when its tracked files differed),
/// recorded by build.rs; None for a build outside a git checkout. Never the revision of the folder
/// the user runs it from.
pub fn git_revision() -> Option<String> {
    option_env!("RUNNER_GIT_REVISION").map(str::to_string)
}
