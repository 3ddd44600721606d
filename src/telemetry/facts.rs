//! Startup facts parsed from an engine's log (vLLM 0.10 -> 0.33, SGLang 0.5, llama.cpp). Pure.
//!
//! Logs are normalised first: ANSI colour codes removed, `\r` treated as a line break. Patterns match
//! anywhere in a line, so process-name prefixes (`(EngineCore_DP0 pid=..)`, `(EngineCore pid=..)`) and
//! timestamps do not matter. Numbers may carry thousands separators.

use crate::scenario::schema::EngineKind;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartupFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// vLLM "Available KV cache memory"; SGLang K + V size; llama.cpp KV buffer (all in GiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_gib: Option<f64>,
    /// KV cache capacity in tokens (vLLM "KV cache size", SGLang "#tokens", llama.cpp n_ctx).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_tokens: Option<u64>,
    /// Where vLLM keeps the KV cache ("GPU", "CPU", "XPU", "GPU + host").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_device: Option<String>,
    /// vLLM "Maximum concurrency for N tokens per request: X x".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency_tokens_per_request: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights_gib: Option<f64>,
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
    // SGLang
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k_size_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_size_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_running_requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_len: Option<u64>,
    // llama.cpp
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
    pub kv_budget: Option<String>,
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

fn re(p: &str) -> Regex {
    Regex::new(p).expect("static regex")
}

fn num(s: &str) -> Option<f64> {
    s.replace(',', "").parse().ok()
}

fn int(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

struct Patterns {
    vllm_version: Regex,
    kv_mem: Regex,
    kv_tokens: Regex,
    engine_init: Regex,
    cpu_kv: Regex,
    cpu_worker: Regex,
    checkpoint: Regex,
    serving: Regex,
    max_conc: Regex,
    weights: Regex,
    graphs: Regex,
    init: Regex,
    max_len: Regex,
    batched: Regex,
    dtype: Regex,
    sg_kv: Regex,
    sg_mla: Regex,
    sg_totals: Regex,
    sg_ctx: Regex,
    sg_running: Regex,
    ll_nctx: Regex,
    ll_nctx_seq: Regex,
    ll_slots: Regex,
    ll_kv_buf: Regex,
    ll_kv_types: Regex,
    ll_layer: Regex,
    ll_head_kv: Regex,
    ll_head_dim: Regex,
    ll_build: Regex,
}

static P: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    vllm_version: re(r"vLLM API server version (\S+)"),
    kv_mem: re(r"Available KV cache memory: ([\d.,]+) GiB"),
    kv_tokens: re(r"(GPU \+ host|GPU|CPU|XPU) KV cache size: ([\d,]+) tokens"),
    engine_init: re(r"Initializing a V1 LLM engine \(v([^)\s]+)\)"),
    cpu_kv: re(r"(Explicitly|Auto) set \(([\d.]+)/([\d.]+)\) GiB for KV cache"),
    cpu_worker: re(r"with ([\d.]+) GiB requested memory for the worker\. ([\d.]+) GiB memory was consumed by non-kv usages"),
    checkpoint: re(r"Checkpoint size: ([\d.]+) GiB"),
    serving: re(r"Starting vLLM (?:API )?server on (\S+)"),
    max_conc: re(r"Maximum concurrency for ([\d,]+) tokens per request: ([\d.,]+)x"),
    weights: re(r"Model loading took ([\d.,]+) GiB(?: memory)? and ([\d.,]+) s"),
    graphs: re(r"Graph capturing finished in [\d.]+ secs?, took ([\d.,]+) GiB"),
    init: re(r"init engine \(profile, create kv cache, warmup model\) took ([\d.,]+) s(?:econds)?(?: \(compilation: ([\d.,]+) s)?"),
    max_len: re(r"Using max model len ([\d,]+)"),
    batched: re(r"max_num_batched_tokens=([\d,]+)"),
    dtype: re(r"dtype=torch\.(\w+)"),
    sg_kv: re(r"KV Cache is allocated\. dtype: (?:torch\.)?(\w+), #tokens: ([\d,]+), K size: ([\d.]+) GB, V size: ([\d.]+) GB"),
    sg_mla: re(r"KV Cache is allocated\. dtype: (?:torch\.)?(\w+), #tokens: ([\d,]+), KV size: ([\d.]+) GB"),
    sg_totals: re(r"max_total_num_tokens=([\d,]+)"),
    sg_ctx: re(r"context_len=([\d,]+)"),
    sg_running: re(r"max_running_requests=([\d,]+)"),
    ll_nctx: re(r"llama_context: n_ctx\s+= (\d+)"),
    ll_nctx_seq: re(r"llama_context: n_ctx_seq\s+= (\d+)"),
    ll_slots: re(r"n_slots = (\d+)"),
    ll_kv_buf: re(r"llama_kv_cache:\s+\S+ KV buffer size =\s+([\d.]+) MiB"),
    ll_kv_types: re(r"llama_kv_cache: size =.*K \((\w+)\):.*V \((\w+)\):"),
    ll_layer: re(r"print_info: n_layer\s+= (\d+)"),
    ll_head_kv: re(r"print_info: n_head_kv\s+= (\d+)"),
    ll_head_dim: re(r"print_info: n_embd_head_k\s+= (\d+)"),
    ll_build: re(r"build (?:info: )?(\d+ \([^)]*\))"),
});

/// Parses the startup facts of `engine` from its log text. Absent facts stay `None`.
pub fn parse(engine: EngineKind, log: &str) -> StartupFacts {
    let lines = clean_lines(log);
    let mut f = StartupFacts::default();
    let p = &*P;
    for l in &lines {
        match engine {
            EngineKind::Vllm | EngineKind::External => vllm_line(p, l, &mut f),
            EngineKind::Sglang => sglang_line(p, l, &mut f),
            EngineKind::Llamacpp => llama_line(p, l, &mut f),
        }
    }
    if engine == EngineKind::Llamacpp {
        f.kv_cache_gib = f.kv_buffer_mib.map(|m| m / 1024.0);
        f.kv_cache_tokens = f.n_ctx;
    }
    f
}

fn vllm_line(p: &Patterns, l: &str, f: &mut StartupFacts) {
    if let Some(c) = p.vllm_version.captures(l) {
        f.engine_version = Some(format!("vllm {}", &c[1]));
    }
    if f.engine_version.is_none() {
        if let Some(c) = p.engine_init.captures(l) {
            f.engine_version = Some(format!("vllm {}", &c[1]));
        }
    }
    // The CPU build: its KV budget line (the GPU's "Available KV cache memory" wins where both are).
    if let Some(c) = p.cpu_kv.captures(l) {
        f.kv_budget = Some(if &c[1] == "Explicitly" { "explicit" } else { "auto" }.to_string());
        f.kv_cache_gib = f.kv_cache_gib.or(num(&c[2]));
        f.kv_node_memory_gib = num(&c[3]);
    }
    if let Some(c) = p.cpu_worker.captures(l) {
        f.worker_requested_gib = num(&c[1]);
        f.non_kv_gib = num(&c[2]);
    }
    if let Some(c) = p.checkpoint.captures(l) {
        f.checkpoint_gib = num(&c[1]);
    }
    if let Some(c) = p.serving.captures(l) {
        f.serving_url = Some(c[1].to_string());
    }
    if let Some(c) = p.kv_mem.captures(l) {
        f.kv_cache_gib = num(&c[1]);
    }
    // One line (>= 0.29) or two lines (<= 0.25): both patterns are searched on every line.
    if let Some(c) = p.kv_tokens.captures(l) {
        f.kv_cache_device = Some(c[1].to_string());
        f.kv_cache_tokens = int(&c[2]);
    }
    if let Some(c) = p.max_conc.captures(l) {
        f.max_concurrency_tokens_per_request = int(&c[1]);
        f.max_concurrency = num(&c[2]);
    }
    if let Some(c) = p.weights.captures(l) {
        f.weights_gib = num(&c[1]);
        f.weights_load_s = num(&c[2]);
    }
    if let Some(c) = p.graphs.captures(l) {
        f.cuda_graph_gib = num(&c[1]);
    }
    if let Some(c) = p.init.captures(l) {
        f.init_engine_s = num(&c[1]);
        f.compile_s = c.get(2).and_then(|m| num(m.as_str()));
    }
    if let Some(c) = p.max_len.captures(l) {
        f.max_model_len = int(&c[1]);
    }
    if let Some(c) = p.batched.captures(l) {
        f.max_num_batched_tokens = int(&c[1]);
    }
    if f.dtype.is_none() {
        if let Some(c) = p.dtype.captures(l) {
            f.dtype = Some(c[1].to_string());
        }
    }
}

fn sglang_line(p: &Patterns, l: &str, f: &mut StartupFacts) {
    if let Some(c) = p.sg_kv.captures(l) {
        f.dtype = Some(c[1].to_string());
        f.kv_cache_tokens = int(&c[2]);
        f.k_size_gb = num(&c[3]);
        f.v_size_gb = num(&c[4]);
        f.kv_cache_gib = Some((num(&c[3]).unwrap_or(0.0) + num(&c[4]).unwrap_or(0.0)) * 1e9 / GIB);
    } else if let Some(c) = p.sg_mla.captures(l) {
        f.dtype = Some(c[1].to_string());
        f.kv_cache_tokens = int(&c[2]);
        f.kv_cache_gib = num(&c[3]).map(|gb| gb * 1e9 / GIB);
    }
    if l.contains("max_total_num_tokens=") {
        f.kv_cache_tokens = p.sg_totals.captures(l).and_then(|c| int(&c[1])).or(f.kv_cache_tokens);
        f.max_running_requests = p.sg_running.captures(l).and_then(|c| int(&c[1]));
        f.context_len = p.sg_ctx.captures(l).and_then(|c| int(&c[1]));
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn llama_line(p: &Patterns, l: &str, f: &mut StartupFacts) {
    let get = |r: &Regex| r.captures(l).and_then(|c| int(&c[1]));
    if let Some(v) = get(&p.ll_nctx) {
        f.n_ctx = Some(v);
    }
    if let Some(v) = get(&p.ll_nctx_seq) {
        f.n_ctx_slot = Some(v);
    }
    if l.contains("load_model") {
        if let Some(v) = get(&p.ll_slots) {
            f.slots = Some(v);
        }
    }
    if let Some(c) = p.ll_kv_buf.captures(l) {
        f.kv_buffer_mib = Some(f.kv_buffer_mib.unwrap_or(0.0) + num(&c[1]).unwrap_or(0.0));
    }
    if let Some(c) = p.ll_kv_types.captures(l) {
        f.type_k = Some(c[1].to_string());
        f.type_v = Some(c[2].to_string());
    }
    if let Some(v) = get(&p.ll_layer) {
        f.n_layer = Some(v);
    }
    if let Some(v) = get(&p.ll_head_kv) {
        f.n_head_kv = Some(v);
    }
    if let Some(v) = get(&p.ll_head_dim) {
        f.head_dim = Some(v);
    }
    if f.engine_version.is_none() && l.contains("common_params_print_info") {
        if let Some(c) = p.ll_build.captures(l) {
            f.engine_version = Some(format!("llama.cpp build {}", &c[1]));
        }
    }
}

/// Bytes of KV cache per token in theory: 2 (K and V) x layers x KV heads x head dim x element bytes.
pub fn theoretical_kv_bytes_per_token(f: &StartupFacts) -> Option<f64> {
    let elem = match f.type_k.as_deref().or(f.dtype.as_deref())? {
        "f16" | "bf16" | "float16" | "bfloat16" => 2.0,
        "f32" | "float32" => 4.0,
        "q8_0" => 34.0 / 32.0,
        _ => return None,
    };
    Some(2.0 * f.n_layer? as f64 * f.n_head_kv? as f64 * f.head_dim? as f64 * elem)
}
