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
    /// Measured requests per cell.
    #[serde(default = "default_requests")]
    pub requests: u32,
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
    /// Extra fields merged into every request body, e.g. { cache_prompt = false } for llama-server
    /// or { min_tokens = 64 } for vLLM.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub extra_body: IndexMap<String, toml::Value>,
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
fn default_requests() -> u32 {
    16
}
fn default_max_tokens() -> u32 {
    128
}
fn default_request_timeout() -> f64 {
    300.0
}
