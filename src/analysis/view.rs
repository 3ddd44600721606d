//! The report model: everything the templates show (`ReportData` and its rows), as serialized to
//! `report_data.json`. Data only; `report.rs` builds it from stored runs.

use super::capacity::{CellView, Curve, Pick, StreamingCheck};
use super::kv::{KvScaling, UtilRow};
use super::notes::{PracticeNote, TrustNote};
use super::sequential::Comparison;
use crate::telemetry::memory::MemorySource;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub scenario: String,
    pub gpu: String,
    pub gpu_name: Option<String>,
    pub host: String,
    pub cpu: Option<String>,
    pub memory_source: MemorySource,
    pub started_at: String,
    pub status: crate::store::manifest::RunStatus,
    pub cells: usize,
    pub dir: String,
    /// The most CPU the runner itself used in any cell with load, in percent of all the client
    /// machine's cores (None: not recorded in this run).
    pub runner_cpu_max_pct: Option<f64>,
    /// That share reached 50%: the client may have queued its own timings.
    pub client_busy: bool,
    /// "imported from vllm bench serve result file(s)" (None: measured by runner).
    #[serde(default)]
    pub imported_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloView {
    pub p95_ttft_ms: Option<f64>,
    pub p95_e2e_ms: Option<f64>,
    pub p95_tpot_ms: Option<f64>,
    pub max_error_rate: f64,
}

/// TTFT over concurrency for one server config (one launch), at one max_tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigQueueing {
    /// The launch that ran this config.
    #[serde(default)]
    pub launch_id: String,
    /// The config's server-axis values ("max_num_seqs=2"; empty without server axes).
    pub server_params: String,
    /// (concurrency, p50 TTFT, p95 TTFT).
    pub ttft_by_concurrency: Vec<(u32, Option<f64>, Option<f64>)>,
    /// First concurrency whose p50 TTFT is more than twice the lowest concurrency's.
    pub queueing_starts_at: Option<u32>,
}

/// What a run's user sees of one request's life at this operating point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Life {
    /// The server config of the recommended point (its server-axis values; empty without axes).
    #[serde(default)]
    pub server_params: String,
    /// (concurrency, p50 TTFT, p95 TTFT) for the max_tokens of the sweet spot, on its server config.
    pub ttft_by_concurrency: Vec<(u32, Option<f64>, Option<f64>)>,
    /// First concurrency whose p50 TTFT is more than twice the lowest concurrency's (that config).
    pub queueing_starts_at: Option<u32>,
    /// The same per server config of the group, the recommended one first: configs are never mixed
    /// in one series.
    #[serde(default)]
    pub configs: Vec<ConfigQueueing>,
    /// The recommended cell by the engine's own clock (vLLM histograms), when it exposes them.
    #[serde(default)]
    pub engine_phases: Option<crate::telemetry::histogram::EnginePhases>,
    /// Client mean TTFT and E2E at that cell, beside the engine's (their difference is HTTP,
    /// tokenization, detokenization, and the runner's own share).
    #[serde(default)]
    pub client_ttft_mean_ms: Option<f64>,
    #[serde(default)]
    pub client_e2e_mean_ms: Option<f64>,
    /// Peak waiting requests by reason at that cell (vLLM: capacity, deferred).
    #[serde(default)]
    pub waiting_by_reason: std::collections::BTreeMap<String, f64>,
    /// Preemptions at that cell.
    #[serde(default)]
    pub preemptions: Option<f64>,
    /// At the recommended point: measured requests, those that waited for a new connection, and the
    /// p50 of that wait (inside TTFT).
    #[serde(default)]
    pub requests: Option<usize>,
    #[serde(default)]
    pub new_connections: Option<usize>,
    #[serde(default)]
    pub connect_p50_ms: Option<f64>,
    /// Largest number of requests the engine itself reported waiting.
    pub engine_waiting_max: Option<f64>,
    /// Client-side split at the sweet spot: p50 TTFT (queue + prefill) and p50 decode (E2E - TTFT).
    pub ttft_p50_ms: Option<f64>,
    pub decode_p50_ms: Option<f64>,
    /// Engine-side prefill / decode seconds during the sweet-spot cell (llama.cpp counters).
    pub engine_prefill_s: Option<f64>,
    pub engine_decode_s: Option<f64>,
    pub mean_prompt_tokens: Option<f64>,
    pub kv_cache_tokens: Option<u64>,
    pub kv_cache_gib: Option<f64>,
    pub max_concurrency: Option<f64>,
    pub max_concurrency_tokens: Option<u64>,
    pub ready_s: Option<f64>,
    pub kv_usage_max: Option<f64>,
    pub cached_share: Option<f64>,
}

/// One (GPU, server, workload): its cells and what they mean.
/// A recipe file a client can reuse, as the engine writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// How the playbook names it ("a `vllm serve --config` file").
    pub how: String,
    /// Its file name in the launch folder.
    pub file: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub gpu: String,
    pub server: String,
    pub engine: String,
    /// Whether the engine serves request-phase histograms on `/metrics` (its module names them).
    #[serde(default)]
    pub engine_histograms: bool,
    pub model: String,
    pub workload: String,
    pub workload_kind: String,
    pub run_id: String,
    pub slo: Option<SloView>,
    pub cells: Vec<CellView>,
    pub sweet_spot: Option<Pick>,
    pub runners_up: Vec<Pick>,
    pub best_throughput: Option<CellView>,
    pub curves: Vec<Curve>,
    pub jitter: Vec<(CellView, f64)>,
    pub streaming: StreamingCheck,
    pub failed_cells: Vec<CellView>,
    /// Cells in which the engine preempted running requests (the early sign of KV exhaustion).
    #[serde(default)]
    pub preempted_cells: Vec<CellView>,
    pub command: Option<String>,
    /// The engine's reusable recipe file, when it has one (vLLM: `vllm serve --config` YAML).
    pub recipe: Option<Recipe>,
    /// The `/metrics` counter the preemptions come from (the engine's name for it).
    #[serde(default)]
    pub preemptions_from: Option<String>,
    pub life: Life,
    pub practice: Vec<PracticeNote>,
    /// The price of this run's GPU, when the run had one.
    #[serde(default)]
    pub price: Option<crate::scenario::schema::Price>,
    /// With `[search]`: the config with the highest load under the SLO; the recipe is its.
    #[serde(default)]
    pub search: Option<super::search::SearchRow>,
}

/// What became of one server config on the OOM surface: the worst of its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// Started, and a cell met the SLO without preempting or filling its KV cache (or it was a probe).
    Feasible,
    /// Started, but a cell preempted or filled its KV cache.
    Degrades,
    /// Started, but no cell met the SLO (and none degraded).
    SloFail,
    /// Started, then the engine exited or stopped answering during a cell.
    DiesUnderLoad,
    /// Did not start.
    Infeasible,
}

/// What one cell of the surface says (`surface::verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    /// No preemption, the KV cache never full, every SLO met.
    Safe,
    /// The engine preempted running requests or its KV cache was full (the figure says which).
    Degrades,
    /// No sign of memory pressure, but an SLO was missed.
    Slow,
    /// The server config did not start (the engine's reason and figure).
    RefusedAtStart,
    /// The engine exited or stopped answering during this cell, after it was ready.
    DiesUnderLoad,
    /// Not measured for another reason (every request failed).
    Failed,
}

/// One cell on the surface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurfaceCell {
    pub cell_id: String,
    pub workload: String,
    pub load_label: String,
    pub concurrency: Option<u32>,
    pub max_tokens: u32,
    pub verdict: Verdict,
    /// The figure behind the verdict: "12 preemption(s), KV cache 100% used", "p95 E2E 840 ms, KV peak 41%".
    pub figure: String,
}

/// Where a config started to preempt, against where `runner plan` predicted it would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreemptionPoint {
    pub workload: String,
    pub max_tokens: u32,
    /// Predicted: preemption from this many requests in flight (`estimate::kv_demand`).
    pub predicted_from: Option<u64>,
    /// Why there is no prediction, when there is none.
    pub not_predicted: Option<String>,
    /// The lowest measured concurrency that preempted.
    pub observed_from: Option<u32>,
    /// The highest measured concurrency below it that did not.
    pub clean_below: Option<u32>,
    pub largest_measured: Option<u32>,
    /// The prediction lies in (clean_below, observed_from], or above every concurrency measured when
    /// none preempted. None: nothing to compare.
    pub agrees: Option<bool>,
    /// The engine counted preemptions in these cells (false: it exposes no counter).
    pub counted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurfaceRow {
    pub launch_id: String,
    /// The launch's server-axis values, typed, and as text for tables.
    pub axes: indexmap::IndexMap<String, crate::scenario::schema::FlagValue>,
    pub server_params: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// Each measured or refused cell of this config, by load.
    #[serde(default)]
    pub cells: Vec<SurfaceCell>,
    /// Per workload and max_tokens: predicted vs observed preemption.
    #[serde(default)]
    pub preemption: Vec<PreemptionPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Surface {
    pub gpu: String,
    pub server: String,
    pub rows: Vec<SurfaceRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierRow {
    pub workload: String,
    pub gpu: String,
    pub model: String,
    pub sweet_spot: Option<Pick>,
    pub best_throughput: Option<CellView>,
    #[serde(default)]
    pub price: Option<crate::scenario::schema::Price>,
}

/// One GPU for one workload, as the "which GPU to rent" table shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RentRow {
    pub workload: String,
    pub gpu: String,
    pub server: String,
    /// The sweet spot (None: no cell met the SLO on this GPU).
    pub sweet_spot: Option<Pick>,
    pub price: Option<crate::scenario::schema::Price>,
    /// Cost of a million output tokens at the sweet spot.
    pub cost_per_mtok: Option<f64>,
}

/// The lab logs' "when to upgrade GPU" questions, answered from one GPU x workload's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradeRow {
    pub workload: String,
    pub gpu: String,
    /// The lowest-load measured cell already failed the SLO: more concurrency cannot help; a faster GPU may.
    pub fails_at_lowest_load: Option<String>,
    /// Server configs that did not start for memory (KV cache too small, OOM): more VRAM.
    pub memory_refusals: Vec<String>,
    /// The highest throughput within the SLO, and the highest measured at all.
    pub sweet_spot_tok_s: Option<f64>,
    pub peak_tok_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    pub generated_at: String,
    pub runner_version: String,
    pub runs: Vec<RunInfo>,
    pub groups: Vec<Group>,
    pub frontier: Vec<FrontierRow>,
    pub kv_scaling: Vec<KvScaling>,
    /// (run label, budget axis, rows).
    pub util_tables: Vec<(String, String, Vec<UtilRow>)>,
    /// Per workload, every GPU's sweet spot and its cost (cheapest first).
    #[serde(default)]
    pub rent: Vec<RentRow>,
    #[serde(default)]
    pub upgrade: Vec<UpgradeRow>,
    /// Predicted (`runner estimate`) vs measured, per launch that carried a prediction.
    #[serde(default)]
    pub reconcile: Vec<super::reconcile::Row>,
    pub surfaces: Vec<Surface>,
    pub comparisons: Vec<Comparison>,
    /// What was not measured in these runs, and why.
    pub not_measured: Vec<String>,
    /// Where a figure may be wrong: disturbed or unstable cells, picks that rest on them, withheld
    /// comparisons. Every report shows these first.
    #[serde(default)]
    pub trust: Vec<TrustNote>,
    /// Boundary searches: one row per GPU x workload x server config.
    #[serde(default)]
    pub searches: Vec<super::search::SearchRow>,
    /// Per GPU x workload searched: every probe on the system vs per-user throughput plane.
    #[serde(default)]
    pub pareto: Vec<super::search::Pareto>,
    /// Every launch's startup facts (weights, KV, CUDA graphs, init, ready, dtype, attention backend).
    #[serde(default)]
    pub startup: Vec<super::startup::StartupRow>,
    /// Server configs that differ by one flag, paired on the same workload and load.
    #[serde(default)]
    pub levers: Vec<super::levers::LeverPair>,
    /// Trace replays: the trace as sent beside what the server did.
    #[serde(default)]
    pub traces: Vec<super::trace::TraceView>,
    /// Cells imported from other tools' result files, with each figure's definition.
    #[serde(default)]
    pub imports: Vec<super::imported::ImportView>,
}
