//! Startup facts parsed from an engine's log (vLLM 0.10 -> 0.33, SGLang 0.5, llama.cpp): the shared
//! record and log normalisation; each engine's patterns live in its module (`src/engine/`). Pure.
//!
//! Logs are normalised first: ANSI colour codes removed, `\r` treated as a line break. Patterns match
//! anywhere in a line, so process-name prefixes (`(EngineCore_DP0 pid=..)`, `(EngineCore pid=..)`) and
//! timestamps do not matter. Numbers may carry thousands separators.

use crate::scenario::schema::EngineKind;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// How vLLM's CPU build set its KV budget (serde names as stored in `launch.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvBudget {
    /// VLLM_CPU_KVCACHE_SPACE or --kv-cache-memory-bytes.
    Explicit,
    /// From --gpu-memory-utilization of the host's memory.
    Auto,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartupFacts {
    // The quantities every report reads, each engine's module fills them (`facts_finish`).
    // A report reads only these; the fields after them are an engine's own extras.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// vLLM "Available KV cache memory"; SGLang K + V size; llama.cpp KV buffer (all in GiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_gib: Option<f64>,
    /// KV cache capacity in tokens (vLLM "KV cache size", SGLang "#tokens", llama.cpp n_ctx).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_tokens: Option<u64>,
    /// vLLM "Maximum concurrency for N tokens per request: X x".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency_tokens_per_request: Option<u64>,
    /// Memory the weights took, GiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_gib: Option<f64>,
    /// The longest request the server accepts, tokens (vLLM max_model_len, SGLang context_len,
    /// llama.cpp the context of one slot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_len: Option<u64>,
    // An engine's own extras (its module parses them; its own notes may read them).
    /// Where vLLM keeps the KV cache ("GPU", "CPU", "XPU", "GPU + host").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_load_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda_graph_gib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_engine_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_num_batched_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k_size_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_size_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_running_requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_ctx: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_ctx_slot: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_buffer_mib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_k: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_v: Option<String>,
    /// Architecture, when the log prints it (llama.cpp): used for the theoretical KV bytes per token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_layer: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_head_kv: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u64>,
    /// vLLM's CPU build: how its KV budget was set (`explicit`: VLLM_CPU_KVCACHE_SPACE or
    /// --kv-cache-memory-bytes; `auto`: from --gpu-memory-utilization of host memory), and the
    /// memory of the NUMA node it sized it against, GiB ("Explicitly set (1.0/15.46) GiB").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_budget: Option<KvBudget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_node_memory_gib: Option<f64>,
    /// vLLM's CPU build, automatic budget: the worker's requested memory and its non-KV share, GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_requested_gib: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_kv_gib: Option<f64>,
    /// The checkpoint's size on disk, GiB ("Checkpoint size: 0.07 GiB"; the CPU build prints no
    /// "Model loading took" line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_gib: Option<f64>,
    /// Where the server said it listens ("Starting vLLM server on http://...", vLLM >= 0.32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_url: Option<String>,
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").expect("ansi regex"));

/// Log lines with colour codes stripped and `\r` splitting lines.
pub fn clean_lines(log: &str) -> Vec<String> {
    let plain = ANSI.replace_all(log, "");
    plain.split(['\n', '\r']).map(|l| l.trim_end().to_string()).filter(|l| !l.is_empty()).collect()
}

/// A number as logs print it (thousands separators allowed).
pub fn num(s: &str) -> Option<f64> {
    s.replace(',', "").parse().ok()
}

pub fn int(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

/// Parses the startup facts of `engine` from its log text, line by line with the engine's own
/// patterns (its module under `src/engine/`). Absent facts stay `None`.
pub fn parse(engine: EngineKind, log: &str) -> StartupFacts {
    let spec = crate::engine::spec(engine);
    let mut f = StartupFacts::default();
    for l in &clean_lines(log) {
        spec.facts_line(l, &mut f);
    }
    spec.facts_finish(&mut f);
    f
}

/// Fills the common quantities of facts stored by an older runner from that engine's own fields
/// (the engine's `facts_finish`, which only fills what is absent): run when a launch is read.
pub fn normalise(engine: EngineKind, mut f: StartupFacts) -> StartupFacts {
    crate::engine::spec(engine).facts_finish(&mut f);
    f
}

/// Bytes of KV cache per token in theory: 2 (K and V) x layers x KV heads x head dim x element bytes.
pub fn theoretical_kv_bytes_per_token(f: &StartupFacts) -> Option<f64> {
    let elem = crate::model::dtype::element_bytes(f.type_k.as_deref().or(f.dtype.as_deref())?)?;
    Some(2.0 * f.n_layer? as f64 * f.n_head_kv? as f64 * f.head_dim? as f64 * elem)
}
