//! Serde mirror of the scenario TOML (schema v1). Unknown keys are found by `strict` (one pass); the loader turns
//! serde's errors into diagnostics with file, line, column and key path. See `docs/scenario.md`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod workload;
pub use workload::{
    Arrival, Endpoint, TimeUnit, TokenLen, TraceColumns, TraceFormat, TraceWindow, Workload, WorkloadKind, DEFAULT_BLOCK_TOKENS,
    DEFAULT_REQUESTS,
};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Scenario {
    pub scenario: Meta,
    #[serde(default)]
    pub servers: Vec<Server>,
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub grid: Grid,
    /// SLO thresholds keyed by workload name.
    #[serde(default)]
    pub slo: IndexMap<String, Slo>,
    /// GPUs by label, extending or overriding the built-in catalog (`runner estimate`).
    #[serde(default)]
    pub gpus: IndexMap<String, GpuSpec>,
    /// Rental prices by GPU label (also from `[scenario] prices_file`): every cell then gets its cost
    /// per million output tokens.
    #[serde(default)]
    pub prices: IndexMap<String, Price>,
    /// Search each server config's SLO boundary instead of running a fixed load grid.
    #[serde(default)]
    pub search: Option<Search>,
}

/// `[search]`: the highest load meeting every SLO of a workload, searched per server config (one
/// launch each) by exponential probing then bisection (docs/scenario.md, "Boundary search").
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Search {
    /// The load variable: closed-loop `concurrency`, open-loop `request_rate` (requests/s), or a
    /// trace workload's `trace_speed`.
    pub load: SearchLoad,
    pub min: f64,
    pub max: f64,
    /// How finely: a number in load units (`1`), or a share of the load as text (`"10%"`).
    pub resolution: SearchResolution,
    /// `slo`: every threshold of `[slo.<workload>]`; `goodput`: at least `min_good_share` of the
    /// requests meet the per-request thresholds.
    #[serde(default)]
    pub goal: SearchGoal,
    /// With `goal = "goodput"`: the share of good requests to keep (0.9 = 90%).
    #[serde(default)]
    pub min_good_share: Option<f64>,
    /// Most probes per server config (a probe is one cell).
    #[serde(default)]
    pub max_probes: Option<u32>,
    /// A probe whose worst SLO ratio is within this share of the threshold is measured again.
    #[serde(default = "default_near")]
    pub near: f64,
    /// Most measurements of one load (near the threshold).
    #[serde(default = "default_max_measurements")]
    pub max_measurements: u32,
    /// Stop a probe once its running p95 is above this multiple of a threshold (0 = never).
    #[serde(default = "default_early_stop")]
    pub early_stop_factor: f64,
    /// Stop searching a config as soon as it cannot beat the best boundary found so far.
    #[serde(default)]
    pub best_only: bool,
    /// Concurrency only: lower `max` to what the engine runs at once (its slots, max_num_seqs, or
    /// the KV cache's maximum concurrency); above it requests only queue.
    #[serde(default = "default_true")]
    pub cap_at_engine_limit: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchLoad {
    Concurrency,
    RequestRate,
    /// Trace workloads: the speed-up of the trace's arrivals.
    TraceSpeed,
}

impl SearchLoad {
    /// The load's unit in tables: "concurrency", "req/s", "trace speed-up".
    pub fn unit(self) -> &'static str {
        match self {
            SearchLoad::Concurrency => "concurrency",
            SearchLoad::RequestRate => "req/s",
            SearchLoad::TraceSpeed => "trace speed-up",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchGoal {
    #[default]
    Slo,
    Goodput,
}

/// `1` or `"10%"`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SearchResolution {
    Absolute(f64),
    Text(String),
}

fn default_near() -> f64 {
    0.10
}
fn default_max_measurements() -> u32 {
    2
}
fn default_early_stop() -> f64 {
    2.0
}
fn default_true() -> bool {
    true
}

/// What one GPU of a label costs per hour, with when and where the price was seen: no market price
/// is built in as fact.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Price {
    pub per_hour: f64,
    #[serde(default = "default_currency")]
    pub currency: String,
    /// When the price was seen (e.g. "2026-11-30").
    pub date: String,
    /// Where (provider, offer, link).
    pub source: String,
}

fn default_currency() -> String {
    "USD".into()
}

/// A GPU catalog file: `[gpus.<label>]` tables, as in a scenario.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct GpusFile {
    #[serde(default)]
    pub gpus: IndexMap<String, GpuSpec>,
}

/// A prices file: `[prices.<gpu label>]` tables, as in a scenario.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct PricesFile {
    #[serde(default)]
    pub prices: IndexMap<String, Price>,
}

/// One GPU of the catalog: what the estimate needs to know of it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct GpuSpec {
    /// Total memory as the card reports it, MiB (nvidia-smi).
    pub memory_mib: f64,
    /// Peak memory bandwidth, GB/s.
    pub bandwidth_gb_s: f64,
    /// Dense BF16 tensor throughput, TFLOPS.
    #[serde(default)]
    pub bf16_tflops: Option<f64>,
    /// Where the figures come from (a datasheet, a measurement).
    pub source: String,
}

impl GpuSpec {
    pub fn memory_gib(&self) -> f64 {
        self.memory_mib / 1024.0
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Meta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Free-form label of the hardware, written to the `gpu` column ("rtx2000ada-16gb", "cpu").
    #[serde(default)]
    pub gpu: Option<String>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Where runs are stored, relative to the current directory.
    #[serde(default = "default_output_dir")]
    pub output_dir: String,
    /// How long a probe cell (scenario without workloads) samples memory after readiness.
    #[serde(default = "default_probe_s")]
    pub probe_s: f64,
    /// The share of all cores (percent) other processes may use during a measured phase before the
    /// cell is flagged `disturbed` (docs/metrics.md).
    #[serde(default = "default_disturbed_above_pct")]
    pub disturbed_above_pct: f64,
    /// Record server configs that the estimate predicts vLLM would refuse (KV cache too small for
    /// one max-model-len sequence, weights that do not fit) as infeasible without launching them.
    #[serde(default)]
    pub skip_predicted_infeasible: bool,
    /// A TOML file of `[prices.<gpu label>]` tables (relative to the scenario); the scenario's own
    /// `[prices]` win over it.
    #[serde(default)]
    pub prices_file: Option<String>,
    /// A TOML file of `[gpus.<label>]` tables extending the built-in GPU catalog (relative to the
    /// scenario); the scenario's own `[gpus]` win over it.
    #[serde(default)]
    pub gpus_file: Option<String>,
}

fn default_probe_s() -> f64 {
    2.0
}

/// From this share of all cores used by others (host busy time minus the runner and the engine, plus
/// steal), a cell is `disturbed` unless the scenario says otherwise: on 2 cores, half a core.
pub const DEFAULT_DISTURBED_ABOVE_PCT: f64 = 25.0;

pub(crate) fn default_disturbed_above_pct() -> f64 {
    DEFAULT_DISTURBED_ABOVE_PCT
}

fn default_seed() -> u64 {
    42
}
fn default_output_dir() -> String {
    "results".into()
}

/// Makes `EngineKind` from the registry (`crate::engines`): one variant per engine, its serde and
/// command-line name the registry's.
macro_rules! engine_kind {
    ($($variant:ident $name:literal $module:ident :: $spec:ident,)*) => {
        /// Which engine serves a server config (the registry's names: `crate::engines`).
        #[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum, schemars::JsonSchema)]
        #[derive(strum::IntoStaticStr, strum::EnumIter)]
        pub enum EngineKind {
            $(
                #[serde(rename = $name)]
                #[value(name = $name)]
                #[strum(serialize = $name)]
                $variant,
            )*
        }

        impl EngineKind {
            /// Every registered engine, in the registry's order.
            pub const ALL: &'static [EngineKind] = &[$(EngineKind::$variant),*];

            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}
crate::engines::registry!(engine_kind);

/// A scalar engine-flag value: `true` renders as a bare flag, strings and numbers as `--flag value`,
/// arrays as `--flag v1 v2`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum FlagValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<FlagValue>),
}

impl FlagValue {
    /// The value as it appears on a command line (booleans have no value of their own).
    pub fn render(&self) -> Vec<String> {
        match self {
            FlagValue::Bool(_) => vec![],
            FlagValue::Int(i) => vec![i.to_string()],
            FlagValue::Float(f) => vec![f.to_string()],
            FlagValue::Str(s) => vec![s.clone()],
            FlagValue::List(items) => items.iter().flat_map(|v| v.render()).collect(),
        }
    }

    /// The value as a number, when it is one (an Int, a Float, or a numeric string of older runs).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FlagValue::Int(i) => Some(*i as f64),
            FlagValue::Float(f) => Some(*f),
            FlagValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Short text used in cell names, CSV columns and tables.
    pub fn label(&self) -> String {
        match self {
            FlagValue::Bool(b) => b.to_string(),
            FlagValue::List(_) => self.render().join(" "),
            _ => self.render().join(""),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Server {
    pub name: String,
    pub engine: EngineKind,
    /// Model id (vLLM/SGLang), a GGUF path or `builtin:tiny-qwen2` (llama.cpp). Optional for `external`.
    #[serde(default)]
    pub model: Option<String>,
    /// Name sent in the request's `model` field; defaults to `model` (for a `builtin:` model, the
    /// name the engine lists in `/v1/models`: it serves that model under its path).
    #[serde(default)]
    pub served_model_name: Option<String>,
    /// A Hugging Face `config.json` (relative to this scenario) for `runner plan` and `estimate`
    /// when the model's own is not on this machine. Without it: a local folder, the Hugging Face
    /// cache, then the configs built into `runner` (`src/model/configs/README.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_config: Option<String>,
    #[serde(default = "default_host")]
    pub host: String,
    /// 0 = pick a free port at launch time.
    #[serde(default)]
    pub port: u16,
    /// For `external`: base URL of the running endpoint, e.g. `http://127.0.0.1:8000`.
    #[serde(default)]
    pub url: Option<String>,
    /// Override the engine executable (e.g. a virtualenv's `vllm`, a llama-server build).
    #[serde(default)]
    pub binary: Option<String>,
    /// Engine flags, in order; keys are written as `--kebab-case`. Each is checked against the
    /// engine's flag table (`src/engine/flags/`) before anything starts.
    #[serde(default)]
    pub flags: IndexMap<String, FlagValue>,
    /// The engine version this recipe is written for (`"0.33.0"`, llama.cpp `"b11500"`). When it is
    /// not the version of the engine's flag table, a flag or choice that table does not know is a
    /// warning instead of an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Flags (keys of `flags` or of `[grid.server]`) passed to the engine without checking them
    /// against its flag table; `runner plan` lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked_flags: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Name of an environment variable of the runner that holds the API key. The key is sent as
    /// `Authorization: Bearer`, handed to launched engines through their environment (VLLM_API_KEY,
    /// LLAMA_API_KEY), and never written anywhere.
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_s: f64,
    /// SIGTERM grace period before SIGKILL.
    #[serde(default = "default_stop_grace")]
    pub stop_grace_s: f64,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_ready_timeout() -> f64 {
    600.0
}
fn default_stop_grace() -> f64 {
    15.0
}

/// Grid axes. Load axes apply per cell; `server` axes are engine flags (one launch per combination).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Grid {
    #[serde(default)]
    pub concurrency: Option<Vec<i64>>,
    #[serde(default)]
    pub max_tokens: Option<Vec<i64>>,
    /// Open-loop request rates (requests/s); with it, `concurrency` caps requests in flight.
    #[serde(default)]
    pub request_rate: Option<Vec<f64>>,
    /// Trace workloads: speed-ups of the trace's arrivals (2.0 = twice the traffic), one cell each.
    #[serde(default)]
    pub trace_speed: Option<Vec<f64>>,
    #[serde(default)]
    pub server: IndexMap<String, Vec<FlagValue>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Slo {
    #[serde(default)]
    pub p95_ttft_ms: Option<f64>,
    #[serde(default)]
    pub p95_e2e_ms: Option<f64>,
    #[serde(default)]
    pub p95_tpot_ms: Option<f64>,
    /// Highest share of failed requests a passing cell may have (0.0 = none).
    #[serde(default)]
    pub max_error_rate: f64,
    /// Per-request thresholds for goodput (a request is good when it meets all of them). When absent,
    /// each request is held to the p95 thresholds above.
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    #[serde(default)]
    pub tpot_ms: Option<f64>,
    #[serde(default)]
    pub e2e_ms: Option<f64>,
}

impl Slo {
    /// The p95 thresholds by name, set or not: "p95 TTFT", "p95 E2E", "p95 TPOT" (ms).
    pub fn p95_limits(&self) -> [(&'static str, Option<f64>); 3] {
        [("p95 TTFT", self.p95_ttft_ms), ("p95 E2E", self.p95_e2e_ms), ("p95 TPOT", self.p95_tpot_ms)]
    }
}
