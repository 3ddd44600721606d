//! Classifying why an engine did not start, from its log. Pure. The most specific signature wins
//! (a weights OOM also prints "CUDA out of memory"); the decisive lines are quoted.

use super::facts::clean_lines;
pub use crate::results::launch::FailureReason;
use crate::scenario::schema::EngineKind;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

impl FailureReason {
    /// A failure of the machine or the moment, not of the server config: the port was taken, the
    /// engine or its key was missing, it could not be spawned, it did not become ready in time, the
    /// GPU was still held (by a previous job) or the run was interrupted. `--resume` and a
    /// re-submitted shard launch these again; the others (the config does not fit, a bad flag, a
    /// crash) are results and are kept.
    pub fn is_environmental(self) -> bool {
        matches!(
            self,
            FailureReason::PortInUse
                | FailureReason::EngineMissing
                | FailureReason::SpawnFailed
                | FailureReason::ApiKeyMissing
                | FailureReason::ReadyTimeout
                | FailureReason::InsufficientFreeMemory
                | FailureReason::Interrupted
        )
    }

    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classified {
    /// A known log signature, or `Crashed` when nothing matched.
    pub reason: FailureReason,
    /// The log lines that decided it (trimmed of process prefixes only by whitespace).
    pub decisive_lines: Vec<String>,
    /// vLLM's "estimated maximum model length" for `kv_cache_too_small`, when printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_max_model_len: Option<u64>,
    /// What to try next, in one sentence.
    pub hint: String,
}

/// A failure signature: any of `needles` in a log line means `reason`.
pub struct Rule {
    pub reason: FailureReason,
    pub needles: &'static [&'static str],
    pub hint: &'static str,
}

/// Signatures no single engine owns (CUDA, ports, argument parsers, Hugging Face). Each engine's own
/// are in its module (`EngineSpec::failure_rules`).
const GENERIC: &[Rule] = &[
    Rule {
        reason: FailureReason::CudaOom,
        needles: &["CUDA out of memory", "OutOfMemoryError", "cudaMalloc failed: out of memory", "failed to allocate CUDA"],
        hint: "lower gpu-memory-utilization, max-num-seqs or max-num-batched-tokens",
    },
    Rule {
        reason: FailureReason::PortInUse,
        needles: &["Address already in use", "address already in use", "[Errno 98]"],
        hint: "another process listens on this port: use port = 0 (auto) or stop it",
    },
    Rule {
        reason: FailureReason::BadArgument,
        needles: &[
            "error: unrecognized arguments",
            "error: argument",
            "error: invalid argument",
            "error: unknown argument",
            "invalid choice:",
        ],
        hint: "a flag or its value is not accepted by this engine version: check [servers.flags]",
    },
    Rule {
        reason: FailureReason::ModelNotFound,
        needles: &[
            "Repository Not Found",
            "is not a local folder and is not a valid model identifier",
            "No such file or directory",
            "401 Client Error",
        ],
        hint: "check the model id or path (and HF_TOKEN for gated models)",
    },
];

/// Which signature decides when a log shows several: the most specific cause first (a KV cache too
/// small also prints generic errors; a CUDA OOM often ends in "failed to load model").
const PRIORITY: [FailureReason; 8] = [
    FailureReason::KvCacheTooSmall,
    FailureReason::NoKvMemory,
    FailureReason::InsufficientFreeMemory,
    FailureReason::WeightsOom,
    FailureReason::CudaOom,
    FailureReason::PortInUse,
    FailureReason::BadArgument,
    FailureReason::ModelNotFound,
];

/// The engine's own signatures, then the generic ones, by reason in `PRIORITY` order.
fn rules_by_reason(engine: EngineKind) -> Vec<(FailureReason, Vec<&'static Rule>)> {
    let all: Vec<&'static Rule> = crate::engine::spec(engine).failure_rules().iter().chain(GENERIC.iter()).collect();
    PRIORITY.iter().map(|r| (*r, all.iter().copied().filter(|x| x.reason == *r).collect())).collect()
}

static EST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"estimated maximum model length is ([\d,]+)").expect("static regex"));

/// A failure found in a log that may be healthy (`runner facts`): a known signature, or `crashed` when
/// the log shows an error or traceback but no known signature; None for a clean log.
pub fn detect(engine: EngineKind, log: &str) -> Option<Classified> {
    let c = classify(engine, log);
    if c.reason != FailureReason::Crashed {
        return Some(c);
    }
    let markers = ["Traceback (most recent call last)", "Engine core initialization failed", " ERROR ", "error:", "Segmentation fault"];
    clean_lines(log).iter().any(|l| markers.iter().any(|m| l.contains(m))).then_some(c)
}

/// Classifies a failed start of `engine` from its log, by that engine's signatures and the generic
/// ones; `crashed` when no signature matched. The hint is the one of the rule that matched first.
pub fn classify(engine: EngineKind, log: &str) -> Classified {
    let lines = clean_lines(log);
    for (reason, rules) in rules_by_reason(engine) {
        let matches = |l: &str, r: &Rule| r.needles.iter().any(|n| l.contains(n));
        let hits: Vec<String> = lines.iter().filter(|l| rules.iter().any(|r| matches(l, r))).map(|l| l.trim().to_string()).collect();
        if let Some(first_hit) = hits.first() {
            let rule = rules.iter().find(|r| matches(first_hit, r)).expect("a hit matched a rule");
            let estimated_max_model_len = lines.iter().find_map(|l| EST.captures(l)).and_then(|c| c[1].replace(',', "").parse().ok());
            let mut decisive: Vec<String> = Vec::new();
            for h in hits {
                if !decisive.contains(&h) && decisive.len() < 3 {
                    decisive.push(h);
                }
            }
            return Classified { reason, decisive_lines: decisive, estimated_max_model_len, hint: rule.hint.into() };
        }
    }
    let last_error: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("ERROR") || l.contains("Error") || l.contains("error"))
        .rev()
        .take(2)
        .map(|l| l.trim().to_string())
        .collect();
    Classified {
        reason: FailureReason::Crashed,
        decisive_lines: last_error,
        estimated_max_model_len: None,
        hint: "the engine exited; read server.log for the cause".into(),
    }
}
