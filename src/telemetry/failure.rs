//! Classifying why an engine did not start, from its log. Pure. The most specific signature wins
//! (a weights OOM also prints "CUDA out of memory"); the decisive lines are quoted.

use super::facts::clean_lines;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classified {
    /// `kv_cache_too_small`, `no_kv_memory`, `insufficient_free_memory`, `weights_oom`, `cuda_oom`,
    /// `port_in_use`, `bad_argument`, `model_not_found`, or `crashed` when nothing matched.
    pub reason: String,
    /// The log lines that decided it (trimmed of process prefixes only by whitespace).
    pub decisive_lines: Vec<String>,
    /// vLLM's "estimated maximum model length" for `kv_cache_too_small`, when printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_max_model_len: Option<u64>,
    /// What to try next, in one sentence.
    pub hint: String,
}

struct Rule {
    reason: &'static str,
    needles: &'static [&'static str],
    hint: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        reason: "kv_cache_too_small",
        needles: &["To serve at least one request with the model", "estimated maximum model length"],
        hint: "lower max-model-len (or max-num-seqs) or raise gpu-memory-utilization",
    },
    Rule {
        reason: "no_kv_memory",
        needles: &["No available memory for the cache blocks", "Not enough memory. Please try to increase --mem-fraction-static"],
        hint: "raise gpu-memory-utilization / mem-fraction-static, or use a smaller model",
    },
    Rule {
        reason: "insufficient_free_memory",
        needles: &["on startup is less than desired GPU memory utilization"],
        hint: "another process holds GPU memory: free it or lower gpu-memory-utilization",
    },
    Rule {
        reason: "weights_oom",
        needles: &["Failed to load model - not enough GPU memory"],
        hint: "the weights do not fit: quantize, raise tensor-parallel-size, or use a bigger GPU",
    },
    Rule {
        reason: "cuda_oom",
        needles: &["CUDA out of memory", "OutOfMemoryError", "cudaMalloc failed: out of memory", "failed to allocate CUDA"],
        hint: "lower gpu-memory-utilization, max-num-seqs or max-num-batched-tokens",
    },
    Rule {
        reason: "port_in_use",
        needles: &["Address already in use", "address already in use", "couldn't bind HTTP server socket", "[Errno 98]"],
        hint: "another process listens on this port: use port = 0 (auto) or stop it",
    },
    Rule {
        reason: "bad_argument",
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
        reason: "model_not_found",
        needles: &[
            "Repository Not Found",
            "is not a local folder and is not a valid model identifier",
            "failed to load model",
            "gguf_init_from_file",
            "No such file or directory",
            "401 Client Error",
        ],
        hint: "check the model id or path (and HF_TOKEN for gated models)",
    },
];

static EST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"estimated maximum model length is ([\d,]+)").expect("static regex"));

/// A failure found in a log that may be healthy (`runner facts`): a known signature, or `crashed` when
/// the log shows an error or traceback but no known signature; None for a clean log.
pub fn detect(log: &str) -> Option<Classified> {
    let c = classify(log);
    if c.reason != "crashed" {
        return Some(c);
    }
    let markers = ["Traceback (most recent call last)", "Engine core initialization failed", " ERROR ", "error:", "Segmentation fault"];
    clean_lines(log).iter().any(|l| markers.iter().any(|m| l.contains(m))).then_some(c)
}

/// Classifies a failed start from the engine's log; `crashed` when no signature matched.
pub fn classify(log: &str) -> Classified {
    let lines = clean_lines(log);
    for rule in RULES {
        let hits: Vec<String> = lines.iter().filter(|l| rule.needles.iter().any(|n| l.contains(n))).map(|l| l.trim().to_string()).collect();
        if !hits.is_empty() {
            let estimated_max_model_len = lines.iter().find_map(|l| EST.captures(l)).and_then(|c| c[1].replace(',', "").parse().ok());
            let mut decisive: Vec<String> = Vec::new();
            for h in hits {
                if !decisive.contains(&h) && decisive.len() < 3 {
                    decisive.push(h);
                }
            }
            return Classified { reason: rule.reason.into(), decisive_lines: decisive, estimated_max_model_len, hint: rule.hint.into() };
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
        reason: "crashed".into(),
        decisive_lines: last_error,
        estimated_max_model_len: None,
        hint: "the engine exited; read server.log for the cause".into(),
    }
}
