//! What a launch stored: why it failed, how it stopped, the engine's startup facts, the KV cross-check
//! and the memory prediction (`launch.json`). Data only: the engines, the telemetry and the estimate
//! fill these, their logic stays with them.

use serde::{Deserialize, Serialize};

/// Why a launch did not produce a ready engine (stored under these snake_case names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FailureReason {
    /// vLLM: the KV cache cannot hold one max-model-len sequence (with its estimated maximum length).
    KvCacheTooSmall,
    /// No memory left for KV cache blocks (vLLM, SGLang).
    NoKvMemory,
    /// Less free GPU memory at start-up than gpu-memory-utilization asks for.
    InsufficientFreeMemory,
    /// The weights do not fit.
    WeightsOom,
    CudaOom,
    PortInUse,
    BadArgument,
    ModelNotFound,
    /// The engine exited and its log matched no known signature.
    Crashed,
    /// Not ready (health 200) within `ready_timeout_s`.
    ReadyTimeout,
    /// The executable or built-in model was not found.
    EngineMissing,
    SpawnFailed,
    /// `api_key_env` names a variable that is not set.
    ApiKeyMissing,
    /// Ctrl-C/SIGTERM while waiting for readiness.
    Interrupted,
    /// Not launched: the estimate predicted vLLM would refuse it (`skip_predicted_infeasible`).
    Predicted,
}

/// Why a launch did not produce a ready engine. The run records it and goes on.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct StartFailure {
    /// From the log's signature when it has one, else what the runner saw.
    pub reason: FailureReason,
    pub message: String,
    /// The log lines that decided the reason.
    #[serde(default)]
    pub decisive_lines: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_max_model_len: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub log_tail: Vec<String>,
}

impl StartFailure {
    /// The reason with the engine's own figure: "kv_cache_too_small (engine estimates max model len 768)".
    pub fn label(&self) -> String {
        format!(
            "{}{}",
            <&'static str>::from(self.reason),
            self.estimated_max_model_len.map_or(String::new(), |n| format!(" (engine estimates max model len {n})"))
        )
    }
}

/// How a stop went, for the launch record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopOutcome {
    /// Had already exited before the stop.
    AlreadyExited,
    /// Exited within the grace period after SIGTERM.
    Terminated,
    /// Needed SIGKILL after the grace period.
    Killed,
}

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
    /// Seconds vLLM spent capturing CUDA graphs ("Graph capturing finished in N secs").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_graph_capture_s: Option<f64>,
    /// The attention backend the engine says it chose (vLLM "Using FLASH_ATTN attention backend").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_backend: Option<String>,
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

/// The startup log's KV figures set against the engine's cache-config gauge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvCrossCheck {
    pub metrics_kv_tokens: Option<u64>,
    pub metrics_kv_bytes: Option<u64>,
    pub metrics_block_size: Option<u64>,
    pub log_kv_tokens: Option<u64>,
    pub log_kv_gib: Option<f64>,
    /// Tokens equal, and bytes within the log's rounding (it prints GiB to 2 decimals).
    pub agree: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Gpu,
    Cpu,
}

/// What vLLM is asked for, with the defaults it would take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub device: Device,
    /// GPU memory, or host memory on CPU, GiB.
    pub memory_gib: f64,
    pub utilization: f64,
    pub max_model_len: u64,
    pub max_num_batched_tokens: u64,
    pub kv_dtype_bytes: u64,
    /// An explicit KV budget in bytes (`--kv-cache-memory-bytes`, `VLLM_CPU_KVCACHE_SPACE`).
    pub explicit_kv_bytes: Option<u64>,
    pub weights_bytes: u64,
}

/// Why vLLM would refuse to start, predicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The weights alone exceed the memory vLLM may use.
    WeightsDoNotFit { needed_gib: f64, allowed_gib: f64 },
    /// The KV cache cannot hold one sequence of max-model-len (vLLM: "To serve at least one request
    /// ..."); it would estimate this maximum length.
    KvCacheTooSmall { estimated_max_model_len: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub weights_gib: f64,
    pub activation_gib: f64,
    pub overhead_gib: f64,
    pub kv_gib: f64,
    pub kv_bytes_per_token: u64,
    pub kv_tokens: u64,
    pub max_model_len: u64,
    /// KV tokens / max-model-len: concurrent requests of the full length.
    pub max_concurrency: f64,
    pub refusal: Option<Refusal>,
}

/// Where a prediction's weight size comes from (serde names as stored in `launch.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum WeightsFrom {
    /// The checkpoint's safetensors headers.
    Safetensors,
    /// Counted from the architecture in config.json.
    Config,
    /// The GGUF file's size (llama.cpp).
    Gguf,
}

/// A launch's prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub gpu: String,
    pub request: Request,
    pub budget: Budget,
    pub weights_from: WeightsFrom,
    pub config: String,
    /// (concurrency, upper bound of output tok/s) at `roofline_context` tokens per sequence.
    pub roofline: Vec<(u32, f64)>,
    pub roofline_context: Option<u64>,
    /// What the figures do not model for this model.
    pub not_modelled: Vec<String>,
}
