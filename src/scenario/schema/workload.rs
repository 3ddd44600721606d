//! `[[workloads]]`: what requests a cell sends (kind, endpoint, prompts, lengths, arrivals, repeats).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum WorkloadKind {
    /// Short interactive turns (built-in set, JSONL, or synthetic of `prompt_tokens`); `turns` > 1
    /// carries the conversation history.
    Chat,
    /// Summarization of long documents (a folder or JSONL, or synthetic of `prompt_tokens`).
    Batch,
    /// `prefix_count` shared system prompts of `prefix_tokens`, then distinct user turns.
    Prefix,
    /// A ShareGPT-style JSON or a JSONL of prompts with expected output lengths.
    Dataset,
    /// A recorded trace replayed at its own arrival times (scaled by `speed`): synthetic prompts of
    /// the recorded input lengths (shared prefix blocks where the trace records them), the recorded
    /// output lengths (docs/scenario.md, "Trace replay").
    Trace,
}

impl WorkloadKind {
    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A length in tokens: fixed (`512`) or uniform between bounds (`{ min = 256, max = 1024 }`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(untagged)]
pub enum TokenLen {
    Fixed(u32),
    Range { min: u32, max: u32 },
}

impl TokenLen {
    pub fn bounds(self) -> (u32, u32) {
        match self {
            TokenLen::Fixed(n) => (n, n),
            TokenLen::Range { min, max } => (min, max),
        }
    }
}

/// Arrival process of open-loop cells (those with a `request_rate`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    Poisson,
    Gamma,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Chat,
    Completions,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Workload {
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: WorkloadKind,
    #[serde(default = "default_endpoint")]
    pub endpoint: Endpoint,
    /// `builtin:chat` or a JSONL file (relative to the scenario file).
    #[serde(default = "default_prompts")]
    pub prompts: String,
    #[serde(default = "yes")]
    pub stream: bool,
    #[serde(default)]
    pub ignore_eos: bool,
    #[serde(default)]
    pub temperature: f64,
    /// Measured requests per cell (16 when absent); a trace workload: the first N requests of the
    /// trace after its window (all of the window when absent).
    #[serde(default)]
    pub requests: Option<u32>,
    /// Requests sent before measuring, excluded from statistics.
    #[serde(default)]
    pub warmup: u32,
    /// Used when the grid has no `max_tokens` axis.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Per-request deadline.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_s: f64,
    /// Restrict this workload to some servers (by name); all servers when empty.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Target prompt length in tokens as the server counts them (template included). Chat: synthetic
    /// prompts instead of the prompt set; batch: synthetic documents; prefix: the user turn.
    #[serde(default)]
    pub prompt_tokens: Option<TokenLen>,
    /// Output length per request: fixed or { min, max } (uniform), capped by the cell's max_tokens.
    /// Absent: every request asks for the cell's max_tokens.
    #[serde(default)]
    pub output_tokens: Option<TokenLen>,
    /// chat: turns per conversation (history carried from turn to turn).
    #[serde(default = "one")]
    pub turns: u32,
    /// batch: a folder of .txt/.md files or a JSONL of {"text": ...}; synthetic when absent.
    #[serde(default)]
    pub documents: Option<String>,
    /// batch: the instruction put before each document.
    #[serde(default = "default_instruction")]
    pub instruction: String,
    /// prefix: how many distinct shared system prompts.
    #[serde(default = "default_prefix_count")]
    pub prefix_count: u32,
    /// prefix: length of each shared system prompt.
    #[serde(default = "default_prefix_tokens")]
    pub prefix_tokens: TokenLen,
    /// dataset: ShareGPT-style JSON or JSONL with "prompt" and "output_tokens".
    #[serde(default)]
    pub dataset: Option<String>,
    /// Open-loop arrivals (cells with a request_rate): poisson (default) or gamma.
    #[serde(default = "default_arrival")]
    pub arrival: Arrival,
    /// Gamma shape: 1 = Poisson, < 1 burstier, > 1 more regular.
    #[serde(default = "one_f")]
    pub burstiness: f64,
    /// Bound the measured phase by time instead of `requests` (which is then a ceiling).
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// The last N measured requests (by schedule) are excluded, as they run while load drains.
    #[serde(default)]
    pub cooldown: u32,
    /// Each cell is measured this many times on the same launch (warm-up once, before the first);
    /// its figures are the medians, their spread is kept, and a verdict that differs between
    /// repeats marks the cell `unstable`.
    #[serde(default = "one")]
    pub repeats: u32,
    /// trace: the trace file (relative to the scenario file).
    #[serde(default)]
    pub trace: Option<String>,
    /// trace: its format.
    #[serde(default)]
    pub format: Option<TraceFormat>,
    /// trace: the factor applied to its arrival rate (2.0 = twice the traffic: inter-arrival times
    /// halved). A `[grid] trace_speed` axis replaces it.
    #[serde(default)]
    pub speed: Option<f64>,
    /// trace: the part of the trace replayed, in seconds from its first request.
    #[serde(default)]
    pub window: Option<TraceWindow>,
    /// trace, formats `csv` and `jsonl`: which column (CSV header) or field (JSON key) holds what.
    #[serde(default)]
    pub columns: Option<TraceColumns>,
    /// trace, formats `csv` and `jsonl`: the unit of the time column.
    #[serde(default)]
    pub time_unit: Option<TimeUnit>,
    /// trace: tokens per prefix block of the trace's block ids (Mooncake `hash_ids`: 512).
    #[serde(default)]
    pub block_tokens: Option<u32>,
    /// trace: multiply every recorded input and output length (and the block size) by this factor,
    /// e.g. 0.05 for a small model's context. The report names it as a change of the workload.
    #[serde(default)]
    pub length_scale: Option<f64>,
    /// trace: cap recorded input lengths (after `length_scale`), reported with how many were cut.
    #[serde(default)]
    pub max_input_tokens: Option<u32>,
    /// trace: cap recorded output lengths (after `length_scale`).
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// trace: replay multi-turn conversations as sessions: each turn waits for the previous answer
    /// and carries the history (Mooncake: turns found by their shared `hash_ids`; csv/jsonl: the
    /// `session` column).
    #[serde(default)]
    pub sessions: bool,
    /// trace sessions: the pause after an answer before the next turn; absent: the next turn keeps
    /// its recorded offset (scaled by the speed), never sent before the previous answer arrived.
    #[serde(default)]
    pub think_time_s: Option<f64>,
    /// Extra fields merged into every request body, e.g. { cache_prompt = false } for llama-server
    /// or { min_tokens = 64 } for vLLM.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub extra_body: IndexMap<String, toml::Value>,
}

/// The formats a trace workload reads.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, strum::IntoStaticStr, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum TraceFormat {
    /// Mooncake JSONL: `timestamp` (ms from the start), `input_length`, `output_length`, `hash_ids`.
    Mooncake,
    /// Azure LLM inference trace CSV: `TIMESTAMP` (wall clock), `ContextTokens`, `GeneratedTokens`.
    Azure,
    /// A CSV with a header; `columns` names the columns.
    Csv,
    /// One JSON object a line; `columns` names the fields.
    Jsonl,
}

/// Units of a generic trace's time column.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    #[default]
    S,
    Ms,
    Us,
}

impl TimeUnit {
    pub fn to_ms(self, v: f64) -> f64 {
        match self {
            TimeUnit::S => v * 1000.0,
            TimeUnit::Ms => v,
            TimeUnit::Us => v / 1000.0,
        }
    }
}

/// `window = { start_s = 600, duration_s = 120 }`: seconds from the trace's first request.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct TraceWindow {
    #[serde(default)]
    pub start_s: f64,
    #[serde(default)]
    pub duration_s: Option<f64>,
}

/// Column (or JSON field) names of a generic trace.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
pub struct TraceColumns {
    /// Arrival time (a number in `time_unit`).
    pub time: String,
    /// Input (prompt) tokens.
    pub input: String,
    /// Output (generated) tokens.
    pub output: String,
    /// A conversation id: rows of one id are turns of one session, in file order.
    #[serde(default)]
    pub session: Option<String>,
    /// Prefix block ids (a JSON array, or in CSV a list separated by spaces or `;`).
    #[serde(default)]
    pub blocks: Option<String>,
}

/// Measured requests per cell of a workload without `requests`.
pub const DEFAULT_REQUESTS: u32 = 16;

/// Mooncake's prefix block: 512 tokens.
pub const DEFAULT_BLOCK_TOKENS: u32 = 512;

impl Workload {
    /// Measured requests per cell (a trace workload's selection is its own: see `trace`).
    pub fn requests(&self) -> u32 {
        self.requests.unwrap_or(DEFAULT_REQUESTS)
    }
    pub fn is_trace(&self) -> bool {
        self.kind == WorkloadKind::Trace
    }
}

fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn default_instruction() -> String {
    "Summarize the following document in a few paragraphs.".into()
}
fn default_prefix_count() -> u32 {
    4
}
fn default_prefix_tokens() -> TokenLen {
    TokenLen::Fixed(512)
}
fn default_arrival() -> Arrival {
    Arrival::Poisson
}

fn default_kind() -> WorkloadKind {
    WorkloadKind::Chat
}
fn default_endpoint() -> Endpoint {
    Endpoint::Chat
}
fn default_prompts() -> String {
    "builtin:chat".into()
}
fn yes() -> bool {
    true
}
fn default_max_tokens() -> u32 {
    128
}
fn default_request_timeout() -> f64 {
    300.0
}
