//! What a cell's telemetry stored: memory samples and their summary, host CPU, the engine's
//! `/metrics` summary and its request-phase histograms. Data only: `telemetry` measures them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where memory figures come from (stored as `nvml` / `process_rss`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MemorySource {
    /// GPU memory through NVML.
    Nvml,
    /// The engine process tree's resident memory (no GPU, or NVML unavailable).
    #[default]
    ProcessRss,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    /// ms from the cell's (or launch's) start.
    pub t_ms: f64,
    /// Resident memory of every process in the engine's process group.
    pub rss_bytes: Option<u64>,
    /// GPU memory used on all devices (NVML), whoever uses it.
    pub gpu_used_bytes: Option<u64>,
    /// GPU memory of the engine's own processes (NVML per-process accounting, when the driver gives it).
    pub gpu_process_bytes: Option<u64>,
    pub gpu_util_pct: Option<u32>,
    pub power_w: Option<f64>,
    /// The runner's own open file descriptors and resident memory (leak checks in soak runs).
    #[serde(default)]
    pub runner_fds: Option<u64>,
    #[serde(default)]
    pub runner_rss_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub name: String,
    pub memory_total_bytes: u64,
    pub driver_version: Option<String>,
    pub count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemorySummary {
    /// `nvml` or `process_rss`.
    pub source: MemorySource,
    pub samples: usize,
    pub peak_rss_bytes: Option<u64>,
    pub peak_gpu_used_bytes: Option<u64>,
    pub peak_gpu_process_bytes: Option<u64>,
    pub mean_gpu_util_pct: Option<f64>,
    pub mean_power_w: Option<f64>,
    #[serde(default)]
    pub runner_fds_max: Option<u64>,
    #[serde(default)]
    pub runner_rss_max_bytes: Option<u64>,
    /// CPU the runner itself used while the cell ran, in percent of all the machine's cores. High
    /// values mean the load generator may be the bottleneck (docs/performance.md).
    #[serde(default)]
    pub runner_cpu_pct: Option<f64>,
    /// CPU used by everything but the runner and the engine (plus steal), and by the engine, in
    /// percent of all cores: over `[scenario] disturbed_above_pct` the cell is `disturbed`.
    #[serde(default)]
    pub host_cpu: Option<HostCpu>,
}

/// CPU use over one phase, in percent of all the machine's cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HostCpu {
    /// Everything but the runner and the engine: other processes' busy time plus steal.
    pub others_pct: f64,
    /// Of which the hypervisor's steal (time this VM wanted a CPU and another guest had it).
    pub steal_pct: f64,
    /// The engine's process group (0 for an external endpoint: then it counts as "others").
    pub engine_pct: f64,
}

/// What the engine itself said during a cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineMetricsSummary {
    pub samples: usize,
    /// Of which taken while the load ran: the gauges below are read off these alone (None: stored
    /// before the window was kept, when the idle samples before and after the load counted too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_during_load: Option<usize>,
    /// KV-cache usage (0..1): vLLM `kv_cache_usage_perc` (or `gpu_cache_usage_perc`), SGLang `token_usage`.
    pub kv_cache_usage_max: Option<f64>,
    pub kv_cache_usage_mean: Option<f64>,
    /// Requests running in the engine (vLLM running, SGLang running, llama.cpp processing).
    pub running_max: Option<f64>,
    pub running_mean: Option<f64>,
    /// Requests waiting in the engine's queue (vLLM waiting, SGLang queue, llama.cpp deferred).
    pub waiting_max: Option<f64>,
    /// Preemptions (vLLM) or retractions (SGLang) during the cell.
    pub preemptions: Option<f64>,
    /// Prefix-cache hits / queries during the cell (vLLM), or cached prompt tokens / all prompt tokens
    /// (llama.cpp).
    pub prefix_cache_hit_rate: Option<f64>,
    /// Prompt and generated tokens the engine counted during the cell.
    pub prompt_tokens: Option<f64>,
    pub generation_tokens: Option<f64>,
    /// Engine-side prefill and decode seconds during the cell (llama.cpp counters).
    pub prefill_seconds: Option<f64>,
    pub decode_seconds: Option<f64>,
    /// The cell's requests by the engine's own clock (vLLM's request histograms, differenced over
    /// the measured phase): exact means, percentiles estimated from buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<EnginePhases>,
    /// Requests waiting at the peak, by reason (vLLM `num_requests_waiting_by_reason`), when known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub waiting_by_reason_max: BTreeMap<String, f64>,
}

/// A quantile as far as the buckets locate it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantile {
    /// Linearly interpolated inside the bucket that holds the rank.
    About(f64),
    /// In the first bucket: only known to be at most its bound.
    AtMost(f64),
    /// In the open `+Inf` bucket: only known to exceed the last finite bound.
    Above(f64),
}

/// One engine-side phase over a cell's requests, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseStat {
    /// Observations in the cell (requests, or token gaps for ITL).
    pub count: u64,
    /// Exact (sum / count).
    pub mean_ms: f64,
    /// Estimated from the histogram's buckets (see `Quantile`).
    pub p50_ms_est: Option<Quantile>,
    pub p95_ms_est: Option<Quantile>,
    /// The same as table text ("12.34", "<= 300", "> 60000").
    pub p50_text: String,
    pub p95_text: String,
}

/// The life of a request by the engine's own clock, over one cell (vLLM's request histograms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnginePhases {
    /// Waiting in the scheduler's queue before the first scheduling.
    pub queue: Option<PhaseStat>,
    /// From first scheduling to the first output token.
    pub prefill: Option<PhaseStat>,
    /// From the first output token to the last.
    pub decode: Option<PhaseStat>,
    /// From first scheduling to the last token (prefill + decode, including time preempted).
    pub inference: Option<PhaseStat>,
    /// The engine's TTFT: arrival at the engine to the first token.
    pub ttft: Option<PhaseStat>,
    /// The engine's inter-token latency.
    pub itl: Option<PhaseStat>,
    /// The engine's end-to-end latency: arrival to finish.
    pub e2e: Option<PhaseStat>,
}
