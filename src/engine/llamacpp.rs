//! llama.cpp's `llama-server`: argv (metrics and the verbose log the facts need), its startup log at
//! `-lv 4`, failure signatures and `/metrics` names. Tested against a real process. Pure.

use super::argv::LaunchTarget;
use super::facts::{int, num, StartupFacts};
use super::failure::{FailureReason, Rule};
use super::flags::{compiled_in, lookup, no_form_if_negatable, FlagTable};
use super::resolve::{cache_dir, set_up_path, set_up_program};
use super::spec::{BuiltinModel, EngineSpec, MemoryModel, MetricNames};
use crate::kp;
use crate::scenario::diag::Issue;
use crate::scenario::schema::{FlagValue, Scenario, Server};
use indexmap::IndexMap;
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

pub struct Llamacpp;

const SETUP: &str = "scripts/setup-cpu-engine.sh";

/// llama-server: `RUNNER_LLAMA_SERVER`, then the cache (`scripts/setup-cpu-engine.sh`), then PATH.
pub fn llama_server_path() -> Option<PathBuf> {
    set_up_program("RUNNER_LLAMA_SERVER", cache_dir().join("bin").join("llama-server"), "llama-server")
}

/// The tiny random-weight Qwen2 GGUF (`builtin:tiny-qwen2`): `RUNNER_TINY_MODEL`, else the cache's.
pub fn tiny_model_path() -> PathBuf {
    set_up_path("RUNNER_TINY_MODEL", cache_dir().join("models").join("tiny-qwen2.gguf"))
}

const BUILTIN: &[BuiltinModel] = &[BuiltinModel {
    name: "builtin:tiny-qwen2",
    what: "a GGUF file",
    format: "GGUF",
    portable: "tiny-qwen2.gguf",
    path: tiny_model_path,
    marker: "",
    setup: SETUP,
}];

impl EngineSpec for Llamacpp {
    fn cache_off_hint(&self) -> Option<String> {
        Some("`extra_body = { cache_prompt = false }` in the workload".into())
    }
    /// Built from source by the repository's own script, at its pinned version.
    fn install_command(&self) -> Option<String> {
        Some("scripts/setup-cpu-engine.sh".to_string())
    }
    fn concurrency_limit(&self, _srv: &Server, facts: &StartupFacts) -> Option<(u32, String)> {
        let n = u32::try_from(facts.slots?).ok()?;
        Some((n, format!("llama-server runs {n} slot(s) (n_parallel, from its log)")))
    }
    fn default_program(&self) -> &'static str {
        "llama-server"
    }
    fn default_port(&self) -> Option<u16> {
        Some(8080)
    }
    fn find_program(&self, _srv: &Server) -> Option<PathBuf> {
        llama_server_path()
    }
    fn missing_program(&self) -> String {
        format!(
            "llama-server not found (looked at $RUNNER_LLAMA_SERVER, {}, and PATH); run `{SETUP}` (builds llama-server and the tiny model into the cache)",
            cache_dir().join("bin").display()
        )
    }
    fn builtin_models(&self) -> &'static [BuiltinModel] {
        BUILTIN
    }
    fn model_hint(&self) -> &'static str {
        "the path of a .gguf file"
    }
    fn memory_model(&self) -> Option<MemoryModel> {
        Some(MemoryModel::GgufContext)
    }
    /// A GGUF file, relative to the scenario's folder.
    fn model_arg(&self, model: &str, base: &Path) -> String {
        base.join(model).display().to_string()
    }
    fn check_target(&self, _srv: &Server, target: &LaunchTarget) -> Result<(), String> {
        if Path::new(&target.model).is_file() {
            Ok(())
        } else {
            Err(format!("model file {} not found; run `{SETUP}` for the built-in model, or give the path of a .gguf file", target.model))
        }
    }
    /// Its model is a file: it must exist where the scenario says (stored scenarios are not checked).
    fn check(&self, s: &Scenario, i: usize, base: Option<&Path>, out: &mut Vec<Issue>) {
        super::checks::launched(s, i, out);
        let Some(m) = s.servers[i].model.as_deref().filter(|m| !m.starts_with("builtin:") && !m.trim().is_empty()) else { return };
        if let Some(p) = base.map(|b| b.join(m)).filter(|p| !p.is_file()) {
            out.push(
                Issue::new(kp!["servers", i, "model"], format!("model file {} does not exist", p.display()))
                    .help("give the path of a .gguf file (relative to the scenario file) or `builtin:tiny-qwen2`"),
            );
        }
    }
    /// llama-server answers `/v1/models` while loading; only `/health` == 200 means ready.
    fn health_path(&self) -> &'static str {
        "/health"
    }
    /// Its build is in `/props` (`build_info`).
    fn version_paths(&self) -> &'static [&'static str] {
        &["/props"]
    }
    fn argv(&self, server: &Server, target: &LaunchTarget, flags: Vec<String>) -> Option<Vec<String>> {
        let mut v = vec![target.program.clone(), "--model".into(), target.model.clone()];
        v.extend(flags);
        if !server.flags.contains_key("metrics") {
            v.push("--metrics".into());
        }
        // Verbosity 4 makes llama-server print its llama_context / llama_kv_cache lines (n_ctx, KV
        // buffer size, K/V types), which the startup facts are parsed from.
        if !["verbosity", "log_verbosity", "log-verbosity", "lv"].iter().any(|k| server.flags.contains_key(*k)) {
            v.extend(["--log-verbosity".into(), "4".into()]);
        }
        if let Some(name) = &server.served_model_name {
            v.extend(["--alias".into(), name.clone()]);
        }
        Some(v)
    }
    fn api_key_var(&self) -> &'static str {
        "LLAMA_API_KEY"
    }
    fn facts_line(&self, l: &str, f: &mut StartupFacts) {
        let p = &*P;
        let get = |r: &Regex| r.captures(l).and_then(|c| int(&c[1]));
        if let Some(v) = get(&p.nctx) {
            f.n_ctx = Some(v);
        }
        if let Some(v) = get(&p.nctx_seq) {
            f.n_ctx_slot = Some(v);
        }
        if l.contains("load_model") {
            if let Some(v) = get(&p.slots) {
                f.slots = Some(v);
            }
        }
        if let Some(c) = p.kv_buf.captures(l) {
            f.kv_buffer_mib = Some(f.kv_buffer_mib.unwrap_or(0.0) + num(&c[1]).unwrap_or(0.0));
        }
        if let Some(c) = p.kv_types.captures(l) {
            f.type_k = Some(c[1].to_string());
            f.type_v = Some(c[2].to_string());
        }
        if let Some(v) = get(&p.layer) {
            f.n_layer = Some(v);
        }
        if let Some(v) = get(&p.head_kv) {
            f.n_head_kv = Some(v);
        }
        if let Some(v) = get(&p.head_dim) {
            f.head_dim = Some(v);
        }
        if f.engine_version.is_none() && l.contains("common_params_print_info") {
            if let Some(c) = p.build.captures(l) {
                f.engine_version = Some(format!("llama.cpp build {}", &c[1]));
            }
        }
    }
    fn context_flags(&self) -> &'static [&'static str] {
        &["ctx_size"]
    }
    /// `llama-server --help` of the pinned build (`scripts/flags/llamacpp_flags.py`), and the
    /// hand-kept rules beside it.
    fn flag_table(&self) -> Option<&'static FlagTable> {
        static TABLE: OnceLock<FlagTable> = OnceLock::new();
        let (generated, rules) = (include_str!("flags/llamacpp.toml"), include_str!("flags/llamacpp-rules.toml"));
        Some(compiled_in(&TABLE, "llama.cpp", "src/engine/flags/llamacpp.toml", false, generated, rules))
    }
    /// `false` on a switch that has a `--no-` form is written so (`mmap = false` -> `--no-mmap`);
    /// other switches are off unless given, and `false` omits them.
    fn false_flag(&self, key: &str) -> Option<String> {
        self.flag_table().and_then(|t| no_form_if_negatable(t, key))
    }
    fn slots_flag(&self) -> Option<&'static str> {
        Some("parallel")
    }
    /// A slot holds ctx_size / parallel tokens when `parallel` is given (each slot its own share of
    /// the context), the whole context otherwise (auto slots share one unified KV cache).
    fn request_limit(&self, flags: &IndexMap<String, FlagValue>) -> Option<(u64, String)> {
        let ctx = lookup(flags, "ctx_size")?.as_f64().filter(|c| *c >= 1.0)? as u64;
        let unified = matches!(lookup(flags, "kv_unified"), Some(FlagValue::Bool(true)));
        match lookup(flags, "parallel").and_then(FlagValue::as_f64).filter(|p| *p >= 1.0 && !unified) {
            Some(p) => Some((ctx / p as u64, format!("ctx_size {ctx} / parallel {p} = {} tokens per slot", ctx / p as u64))),
            None => Some((ctx, format!("ctx_size = {ctx}"))),
        }
    }
    /// The KV cache is the KV buffer, its capacity the context cells.
    fn facts_finish(&self, f: &mut StartupFacts) {
        f.kv_cache_gib = f.kv_cache_gib.or(f.kv_buffer_mib.map(|m| m / 1024.0));
        f.kv_cache_tokens = f.kv_cache_tokens.or(f.n_ctx);
        f.context_len = f.context_len.or(f.n_ctx_slot);
    }
    fn failure_rules(&self) -> &'static [Rule] {
        &[
            Rule {
                reason: FailureReason::PortInUse,
                needles: &["couldn't bind HTTP server socket"],
                hint: "another process listens on this port: use port = 0 (auto) or stop it",
            },
            Rule {
                reason: FailureReason::ModelNotFound,
                needles: &["failed to load model", "gguf_init_from_file"],
                hint: "check the model id or path (and HF_TOKEN for gated models)",
            },
        ]
    }
    fn metrics(&self) -> MetricNames {
        MetricNames {
            prefix: "llamacpp:",
            kv_usage: &["llamacpp:kv_cache_usage_ratio"],
            running: &["llamacpp:requests_processing"],
            waiting: &["llamacpp:requests_deferred"],
            prompt_tokens: &["llamacpp:prompt_tokens_total"],
            generation_tokens: &["llamacpp:tokens_predicted_total"],
            cached_prompt_tokens: &["llamacpp:prompt_tokens_cached_total"],
            prefill_seconds: &["llamacpp:prompt_seconds_total"],
            decode_seconds: &["llamacpp:tokens_predicted_seconds_total"],
            ..MetricNames::default()
        }
    }
}

struct Patterns {
    nctx: Regex,
    nctx_seq: Regex,
    slots: Regex,
    kv_buf: Regex,
    kv_types: Regex,
    layer: Regex,
    head_kv: Regex,
    head_dim: Regex,
    build: Regex,
}

static P: LazyLock<Patterns> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("static regex");
    Patterns {
        nctx: re(r"llama_context: n_ctx\s+= (\d+)"),
        nctx_seq: re(r"llama_context: n_ctx_seq\s+= (\d+)"),
        slots: re(r"n_slots = (\d+)"),
        kv_buf: re(r"llama_kv_cache:\s+\S+ KV buffer size =\s+([\d.]+) MiB"),
        kv_types: re(r"llama_kv_cache: size =.*K \((\w+)\):.*V \((\w+)\):"),
        layer: re(r"print_info: n_layer\s+= (\d+)"),
        head_kv: re(r"print_info: n_head_kv\s+= (\d+)"),
        head_dim: re(r"print_info: n_embd_head_k\s+= (\d+)"),
        build: re(r"build (?:info: )?(\d+ \([^)]*\))"),
    }
});
