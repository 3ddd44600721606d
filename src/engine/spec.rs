//! The one interface every engine implements, and its registration: everything engine-specific (argv
//! rules, readiness and version endpoints, API-key variable, launch environment and defaults, recipe
//! file, startup-log facts, failure signatures, `/metrics` names) lives in that engine's own module
//! (`vllm.rs`, `llamacpp.rs`, `sglang.rs`, `external.rs`). Adding an engine is one module plus one
//! line in `spec` and `ALL`.

use super::argv::LaunchTarget;
use super::facts::StartupFacts;
use super::failure::Rule;
use crate::scenario::schema::{EngineKind, Server};
use std::collections::BTreeMap;
use std::path::Path;

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
}

pub trait EngineSpec: Sync {
    /// Executable name when the scenario sets no `binary` (as a client would install it).
    fn default_program(&self) -> &'static str;
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
    /// A reusable recipe file for a client (vLLM: the `vllm serve --config` YAML).
    fn recipe_yaml(&self, _srv: &Server, _target: &LaunchTarget) -> Option<String> {
        None
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

/// Every registered engine.
pub const ALL: [EngineKind; 4] = [EngineKind::Vllm, EngineKind::Sglang, EngineKind::Llamacpp, EngineKind::External];

/// The registration: each engine's module.
pub fn spec(kind: EngineKind) -> &'static dyn EngineSpec {
    match kind {
        EngineKind::Vllm => &super::vllm::Vllm,
        EngineKind::Sglang => &super::sglang::Sglang,
        EngineKind::Llamacpp => &super::llamacpp::Llamacpp,
        EngineKind::External => &super::external::External,
    }
}

/// Picks one list out of an engine's `MetricNames`.
pub type Pick = fn(&MetricNames) -> &'static [&'static str];

/// The metric-family prefixes of every registered engine that has any.
pub fn metric_prefixes() -> Vec<&'static str> {
    ALL.iter().map(|k| spec(*k).metrics().prefix).filter(|p| !p.is_empty()).collect()
}

/// One metric-name list over every registered engine (e.g. all KV-usage gauges), in `ALL` order.
pub fn all_names(pick: Pick) -> Vec<&'static str> {
    ALL.iter().flat_map(|k| pick(&spec(*k).metrics()).iter().copied()).collect()
}
