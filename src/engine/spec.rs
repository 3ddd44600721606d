//! The one interface every engine implements, and its registration: everything engine-specific (argv
//! rules, readiness and version endpoints, API-key variable, launch environment and defaults, recipe
//! file, startup-log facts, failure signatures, `/metrics` names) lives in that engine's own module
//! (`vllm.rs`, `llamacpp.rs`, `sglang.rs`, `external.rs`, `fake.rs`). Adding an engine is one module
//! plus one line in the registry (`crate::engines`).

use super::argv::LaunchTarget;
use super::facts::StartupFacts;
use super::failure::Rule;
use crate::scenario::diag::Issue;
use crate::scenario::schema::{EngineKind, FlagValue, Scenario, Server};
use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An engine's `/metrics` names, newest first within each list (pure data; `telemetry::prom` and
/// `telemetry::histogram` read every registered engine's).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricNames {
    /// The prefix of every family of this engine (`vllm:`): gauges, counters and histograms under it
    /// are kept from a scrape.
    pub prefix: &'static str,
    /// KV-cache usage gauge, 0..1.
    pub kv_usage: &'static [&'static str],
    pub running: &'static [&'static str],
    pub waiting: &'static [&'static str],
    /// Preemption (retraction) counters.
    pub preemptions: &'static [&'static str],
    pub prompt_tokens: &'static [&'static str],
    pub generation_tokens: &'static [&'static str],
    /// Prefix-cache (hits, queries) counters.
    pub prefix_hits: &'static [&'static str],
    pub prefix_queries: &'static [&'static str],
    /// Cached prompt tokens, and prompt / generation seconds (llama.cpp counters).
    pub cached_prompt_tokens: &'static [&'static str],
    pub prefill_seconds: &'static [&'static str],
    pub decode_seconds: &'static [&'static str],
    /// Request-phase histograms: queue, prefill, decode, inference, TTFT, ITL, E2E.
    pub phase_queue: &'static [&'static str],
    pub phase_prefill: &'static [&'static str],
    pub phase_decode: &'static [&'static str],
    pub phase_inference: &'static [&'static str],
    pub phase_ttft: &'static [&'static str],
    pub phase_itl: &'static [&'static str],
    pub phase_e2e: &'static [&'static str],
    /// A gauge of waiting requests labelled by `reason` (kept per reason).
    pub waiting_by_reason: &'static [&'static str],
    /// An info gauge whose labels state the KV-cache configuration (checked against the startup log).
    pub cache_config: &'static [&'static str],
    /// That gauge's labels for the KV size in tokens, in bytes, and the block size.
    pub cache_config_labels: [&'static str; 3],
}

/// A model the repository's set-up scripts provide (`builtin:...` in a scenario).
#[derive(Debug)]
pub struct BuiltinModel {
    /// As a scenario names it: `builtin:tiny-qwen2`.
    pub name: &'static str,
    /// What it is, for messages: "a GGUF file".
    pub what: &'static str,
    /// Its format, in the list of built-in models: "GGUF".
    pub format: &'static str,
    /// Its name in a recipe handed to a client (never a path of this machine).
    pub portable: &'static str,
    /// Where it is on this machine (a variable, else the cache).
    pub path: fn() -> PathBuf,
    /// A file that must exist inside it for a launch ("": the path itself is the file).
    pub marker: &'static str,
    /// The script that makes it.
    pub setup: &'static str,
}

impl BuiltinModel {
    /// True when it is on this machine.
    pub fn present(&self) -> bool {
        let p = (self.path)();
        if self.marker.is_empty() {
            p.is_file()
        } else {
            p.join(self.marker).is_file()
        }
    }
}

/// How `estimate` predicts an engine's memory before a launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryModel {
    /// Profile, then give the rest of the memory budget to paged KV blocks, from a Hugging Face
    /// config.json (vLLM; `estimate::paged_kv`).
    PagedKv,
    /// A context of n_ctx cells allocated at start from GGUF metadata (llama.cpp; `estimate::gguf`).
    GgufContext,
}

pub trait EngineSpec: Sync {
    /// Executable name when the scenario sets no `binary` (as a client would install it).
    fn default_program(&self) -> &'static str;
    /// Whether the runner launches it (`false`: an endpoint it only measures, reached by `url`).
    fn launched(&self) -> bool {
        true
    }
    /// The program on this machine when the scenario sets no `binary` (default: its default
    /// program on PATH).
    fn find_program(&self, _srv: &Server) -> Option<PathBuf> {
        super::resolve::find_on_path(self.default_program())
    }
    /// Why a launch found no program, and the fix.
    fn missing_program(&self) -> String {
        format!("`{}` not found on PATH: install it, or set `binary`", self.default_program())
    }
    /// The models the repository's set-up provides for it.
    fn builtin_models(&self) -> &'static [BuiltinModel] {
        &[]
    }
    /// The memory model `estimate` predicts it with (None: not estimated).
    fn memory_model(&self) -> Option<MemoryModel> {
        None
    }
    /// Whether a server config must name a model.
    fn needs_model(&self) -> bool {
        true
    }
    /// What else a scenario may name as its model, for messages ("a Hugging Face model id").
    fn model_hint(&self) -> &'static str {
        "a model it serves"
    }
    /// The model argument of a launch for a model the scenario names that is not built in
    /// (llama.cpp: a file, relative to the scenario's folder).
    fn model_arg(&self, model: &str, _base: &Path) -> String {
        model.to_string()
    }
    /// Checks a resolved launch target before the launch (a model file that must exist).
    fn check_target(&self, _srv: &Server, _target: &LaunchTarget) -> Result<(), String> {
        Ok(())
    }
    /// The arguments that bind it to `host` and `port`.
    fn bind_args(&self, host: &str, port: &str) -> Vec<String> {
        vec!["--host".into(), host.into(), "--port".into(), port.into()]
    }
    /// Its checks of server config `servers[i]` (what only this engine knows), each issue located by
    /// key path. The default: what every launched engine shares (`checks::launched`).
    fn check(&self, s: &Scenario, i: usize, _base: Option<&Path>, out: &mut Vec<Issue>) {
        super::checks::launched(s, i, out);
    }
    /// The port it listens on by default (the recipe's port when the scenario picks none).
    fn default_port(&self) -> Option<u16>;
    /// Polled for readiness: ready when it answers 200.
    fn health_path(&self) -> &'static str {
        "/health"
    }
    /// Where it reports its version.
    fn version_paths(&self) -> &'static [&'static str] {
        &["/version"]
    }
    /// The full argv for `target`, given the flags already rendered (`None`: not launched).
    fn argv(&self, server: &Server, target: &LaunchTarget, flags: Vec<String>) -> Option<Vec<String>>;
    /// How a boolean flag set to `false` is written; `None` omits it (off unless given).
    fn false_flag(&self, _key: &str) -> Option<String> {
        None
    }
    /// The variable that hands the API key to a launched engine.
    fn api_key_var(&self) -> &'static str;
    /// Variables a launch gets beyond the scenario's `env`, with the folders they name (`None`: the
    /// caller makes a short scratch folder; see `vllm::launch_env`).
    fn launch_env(&self, _srv: &Server, _launch_dir: &Path) -> BTreeMap<String, Option<String>> {
        BTreeMap::new()
    }
    /// Defaults the runner adds to a launch on this machine; returns whether it changed anything.
    fn apply_defaults(&self, _srv: &mut Server, _gpu_label: Option<&str>) -> bool {
        false
    }
    /// The shell command that installs this engine, pinned, on a fresh VM (a fleet's set-up); None
    /// when nothing is installed (an endpoint the runner does not start).
    fn install_command(&self) -> Option<String> {
        None
    }
    /// The file name of the recipe in the launch folder.
    fn recipe_file(&self) -> &'static str {
        "recipe.yaml"
    }
    /// How the playbook introduces the recipe file ("a `vllm serve --config` file").
    fn recipe_how(&self) -> &'static str {
        "a config file"
    }
    /// A reusable recipe file for a client (vLLM: the `vllm serve --config` YAML).
    fn recipe_yaml(&self, _srv: &Server, _target: &LaunchTarget) -> Option<String> {
        None
    }
    /// Server flags (snake_case, as the scenario writes them) that set the longest request: a grid
    /// axis over one of them is a KV-scaling study.
    fn context_flags(&self) -> &'static [&'static str] {
        &[]
    }
    /// Server flags that set the KV-cache budget (a share of memory, or bytes): a grid axis over
    /// one of them gives the budget table.
    fn kv_budget_flags(&self) -> &'static [&'static str] {
        &[]
    }
    /// Its flag table (taken from its CLI, `engine::flags`); None: its flags are passed unchecked,
    /// and `runner plan` says so.
    fn flag_table(&self) -> Option<&'static super::flags::FlagTable> {
        None
    }
    /// The flag (snake_case) that caps how many requests it runs at once (vLLM `max_num_seqs`).
    fn slots_flag(&self) -> Option<&'static str> {
        None
    }
    /// The longest request (prompt + output tokens) a launch with these flags accepts, with how
    /// that follows from them ("max_model_len = 8192"); None: not set by its flags.
    fn request_limit(&self, _flags: &IndexMap<String, FlagValue>) -> Option<(u64, String)> {
        None
    }
    /// The flags the practice notes report, when the engine has them.
    fn practice_flags(&self) -> PracticeFlags {
        PracticeFlags::default()
    }
    /// How a scenario turns the engine's prompt cache off, to measure uncached prefill (the trust
    /// note on cached prompts says it); by default its prefix-caching flag set to false.
    fn cache_off_hint(&self) -> Option<String> {
        self.practice_flags().prefix_caching.map(|f| format!("the server flag `{f} = false`"))
    }
    /// Startup facts from one log line (colour codes stripped).
    fn facts_line(&self, _line: &str, _facts: &mut StartupFacts) {}
    /// Facts derived once every line is read.
    fn facts_finish(&self, _facts: &mut StartupFacts) {}
    /// How many requests the engine runs at once, from its flags and startup facts, with where the
    /// figure comes from (None: not known). Above it requests only queue.
    fn concurrency_limit(&self, _srv: &Server, _facts: &StartupFacts) -> Option<(u32, String)> {
        None
    }
    /// Start-up failure signatures of this engine (generic ones live in `engine::failure`).
    fn failure_rules(&self) -> &'static [Rule] {
        &[]
    }
    fn metrics(&self) -> MetricNames {
        MetricNames::default()
    }
}

/// Makes `spec` from the registry (`crate::engines`).
macro_rules! spec_of {
    ($($variant:ident $name:literal $module:ident :: $spec:ident,)*) => {
        /// The registration: each engine's module.
        pub fn spec(kind: EngineKind) -> &'static dyn EngineSpec {
            match kind {
                $(EngineKind::$variant => &super::$module::$spec,)*
            }
        }
    };
}
crate::engines::registry!(spec_of);

/// An engine's flags for what the practice notes report (snake_case, as in the scenario).
#[derive(Debug, Clone, Copy, Default)]
pub struct PracticeFlags {
    pub prefix_caching: Option<&'static str>,
    pub chunked_prefill: Option<&'static str>,
}

/// Picks one list out of an engine's `MetricNames`.
pub type Pick = fn(&MetricNames) -> &'static [&'static str];

/// The metric-family prefixes of every registered engine that has any.
pub fn metric_prefixes() -> Vec<&'static str> {
    EngineKind::ALL.iter().map(|k| spec(*k).metrics().prefix).filter(|p| !p.is_empty()).collect()
}

/// One metric-name list over every registered engine (e.g. all KV-usage gauges), in the registry's order.
pub fn all_names(pick: Pick) -> Vec<&'static str> {
    EngineKind::ALL.iter().flat_map(|k| pick(&spec(*k).metrics()).iter().copied()).collect()
}
