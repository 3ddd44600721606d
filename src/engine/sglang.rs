//! SGLang: `python3 -m sglang.launch_server`, its startup log (0.5), failure signature and
//! `/metrics` names. Tested on constructed output only (tests/fixtures/engine/sglang-*). Pure.

use super::argv::LaunchTarget;
use super::facts::{int, num, StartupFacts};
use super::failure::{FailureReason, Rule};
use super::flags::{compiled_in, lookup, no_form_if_negatable, parse_size, FlagTable};
use super::spec::{EngineSpec, MetricNames};
use crate::kp;
use crate::scenario::diag::Issue;
use crate::scenario::schema::{FlagValue, Scenario, Server};
use indexmap::IndexMap;
use regex::Regex;
use std::path::Path;
use std::sync::{LazyLock, OnceLock};

pub struct Sglang;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The SGLang version a fleet installs (the version its constructed fixtures follow).
pub const PINNED_VERSION: &str = "0.5.23";

impl EngineSpec for Sglang {
    fn install_command(&self) -> Option<String> {
        Some(format!("pip install --quiet 'sglang[all]=={PINNED_VERSION}'"))
    }
    fn concurrency_limit(&self, _srv: &Server, facts: &StartupFacts) -> Option<(u32, String)> {
        let n = u32::try_from(facts.max_running_requests?).ok()?;
        Some((n, format!("SGLang runs at most {n} requests (max_running_requests, from its log)")))
    }
    fn default_program(&self) -> &'static str {
        "python3"
    }
    fn default_port(&self) -> Option<u16> {
        Some(30000)
    }
    fn model_hint(&self) -> &'static str {
        "a Hugging Face model id"
    }
    /// SGLang takes its key only as `--api-key`, and the runner never puts a key on a command line.
    fn check(&self, s: &Scenario, i: usize, _base: Option<&Path>, out: &mut Vec<Issue>) {
        super::checks::launched(s, i, out);
        if s.servers[i].api_key_env.is_some() {
            out.push(
                Issue::new(
                    kp!["servers", i, "api_key_env"],
                    "SGLang takes its API key only on the command line, where it would be exposed",
                )
                .help("launch SGLang yourself and use engine = \"external\" with api_key_env"),
            );
        }
    }
    fn argv(&self, server: &Server, target: &LaunchTarget, flags: Vec<String>) -> Option<Vec<String>> {
        let mut v = vec![target.program.clone(), "-m".into(), "sglang.launch_server".into()];
        v.extend(["--model-path".into(), target.model.clone()]);
        v.extend(flags);
        if !server.flags.contains_key("enable_metrics") {
            v.push("--enable-metrics".into());
        }
        if let Some(name) = &server.served_model_name {
            v.extend(["--served-model-name".into(), name.clone()]);
        }
        Some(v)
    }
    fn api_key_var(&self) -> &'static str {
        // SGLang takes its key as --api-key only; the runner never puts a key on a command line, so
        // a keyed SGLang server is set up by the user (the variable is what a wrapper would read).
        "SGLANG_API_KEY"
    }
    fn facts_line(&self, l: &str, f: &mut StartupFacts) {
        let p = &*P;
        if let Some(c) = p.kv.captures(l) {
            f.dtype = Some(c[1].to_string());
            f.kv_cache_tokens = int(&c[2]);
            f.k_size_gb = num(&c[3]);
            f.v_size_gb = num(&c[4]);
            f.kv_cache_gib = Some((num(&c[3]).unwrap_or(0.0) + num(&c[4]).unwrap_or(0.0)) * 1e9 / GIB);
        } else if let Some(c) = p.mla.captures(l) {
            f.dtype = Some(c[1].to_string());
            f.kv_cache_tokens = int(&c[2]);
            f.kv_cache_gib = num(&c[3]).map(|gb| gb * 1e9 / GIB);
        }
        if l.contains("max_total_num_tokens=") {
            f.kv_cache_tokens = p.totals.captures(l).and_then(|c| int(&c[1])).or(f.kv_cache_tokens);
            f.max_running_requests = p.running.captures(l).and_then(|c| int(&c[1]));
            f.context_len = p.ctx.captures(l).and_then(|c| int(&c[1]));
        }
    }
    fn failure_rules(&self) -> &'static [Rule] {
        &[Rule {
            reason: FailureReason::NoKvMemory,
            needles: &["Not enough memory. Please try to increase --mem-fraction-static"],
            hint: "raise mem-fraction-static, or use a smaller model",
        }]
    }
    fn context_flags(&self) -> &'static [&'static str] {
        &["context_length"]
    }
    /// The pinned release's `ServerArgs.add_cli_args`, read from its PyPI wheel
    /// (`scripts/flags/sglang_flags.py`; SGLang is not run here), and the hand-kept rules beside it.
    fn flag_table(&self) -> Option<&'static FlagTable> {
        static TABLE: OnceLock<FlagTable> = OnceLock::new();
        let (generated, rules) = (include_str!("flags/sglang.toml"), include_str!("flags/sglang-rules.toml"));
        Some(compiled_in(&TABLE, "SGLang", "src/engine/flags/sglang.toml", false, generated, rules))
    }
    /// `false` on a switch with a `--no-` form (argparse BooleanOptionalAction) is written so;
    /// other switches are off unless given, and `false` omits them.
    fn false_flag(&self, key: &str) -> Option<String> {
        self.flag_table().and_then(|t| no_form_if_negatable(t, key))
    }
    fn slots_flag(&self) -> Option<&'static str> {
        Some("max_running_requests")
    }
    /// SGLang refuses a request whose input + max_new_tokens exceeds context_length, unless
    /// `allow_auto_truncate` makes it cut the request instead (tokenizer_manager.py, 0.5.23).
    fn request_limit(&self, flags: &IndexMap<String, FlagValue>) -> Option<(u64, String)> {
        if matches!(lookup(flags, "allow_auto_truncate"), Some(FlagValue::Bool(true))) {
            return None;
        }
        let n = parse_size(lookup(flags, "context_length")?).filter(|n| *n > 0)?;
        Some((n, format!("context_length = {n}")))
    }
    fn metrics(&self) -> MetricNames {
        MetricNames {
            prefix: "sglang:",
            kv_usage: &["sglang:token_usage"],
            running: &["sglang:num_running_reqs"],
            waiting: &["sglang:num_queue_reqs"],
            preemptions: &["sglang:num_retracted_reqs_total", "sglang:num_retractions_total"],
            prompt_tokens: &["sglang:prompt_tokens_total"],
            generation_tokens: &["sglang:generation_tokens_total"],
            phase_ttft: &["sglang:time_to_first_token_seconds"],
            phase_itl: &["sglang:inter_token_latency_seconds"],
            phase_e2e: &["sglang:e2e_request_latency_seconds"],
            ..MetricNames::default()
        }
    }
}

struct Patterns {
    kv: Regex,
    mla: Regex,
    totals: Regex,
    ctx: Regex,
    running: Regex,
}

static P: LazyLock<Patterns> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("static regex");
    Patterns {
        kv: re(r"KV Cache is allocated\. dtype: (?:torch\.)?(\w+), #tokens: ([\d,]+), K size: ([\d.]+) GB, V size: ([\d.]+) GB"),
        mla: re(r"KV Cache is allocated\. dtype: (?:torch\.)?(\w+), #tokens: ([\d,]+), KV size: ([\d.]+) GB"),
        totals: re(r"max_total_num_tokens=([\d,]+)"),
        ctx: re(r"context_len=([\d,]+)"),
        running: re(r"max_running_requests=([\d,]+)"),
    }
});
