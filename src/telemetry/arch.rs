//! The model's architecture from a Hugging Face `config.json` (a local model folder, or the local
//! Hugging Face cache), for the theoretical KV bytes per token when the engine log does not print it.

use super::facts::StartupFacts;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where a `config.json` for `model` may be on this machine.
pub fn config_candidates(model: &str, base: &Path) -> Vec<PathBuf> {
    if let Some(p) = crate::engine::resolve::builtin_model_path(model) {
        return vec![p.join("config.json")];
    }
    let mut out = vec![base.join(model).join("config.json"), PathBuf::from(model).join("config.json")];
    let hub = std::env::var_os("HF_HUB_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub")));
    if let Some(hub) = hub {
        let snapshots = hub.join(format!("models--{}", model.replace('/', "--"))).join("snapshots");
        if let Ok(d) = std::fs::read_dir(snapshots) {
            out.extend(d.flatten().map(|e| e.path().join("config.json")));
        }
    }
    out
}

/// Fills the architecture fields the log left empty from a config.json text. Pure.
pub fn apply_config(facts: &mut StartupFacts, config: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(config) else { return false };
    let v = v.get("text_config").cloned().unwrap_or(v);
    let get = |k: &str| v.get(k).and_then(Value::as_u64);
    let layers = get("num_hidden_layers");
    // Zero or absurd sizes (another party's file) fill nothing.
    let get = |k: &str| get(k).filter(|v| (1..=1 << 20).contains(v));
    let heads = get("num_attention_heads");
    let kv = get("num_key_value_heads").or(heads);
    let head_dim = get("head_dim").or_else(|| Some(get("hidden_size")? / heads?)).filter(|d| *d > 0);
    if layers.is_none() || kv.is_none() || head_dim.is_none() {
        return false;
    }
    facts.n_layer = facts.n_layer.or(layers);
    facts.n_head_kv = facts.n_head_kv.or(kv);
    facts.head_dim = facts.head_dim.or(head_dim);
    if facts.dtype.is_none() && facts.type_k.is_none() {
        facts.dtype = v.get("torch_dtype").or_else(|| v.get("dtype")).and_then(Value::as_str).map(str::to_string);
    }
    true
}

/// Reads the first config.json found for `model` into `facts`; returns where it came from.
pub fn fill_from_local_config(facts: &mut StartupFacts, model: &str, base: &Path) -> Option<PathBuf> {
    for p in config_candidates(model, base) {
        if let Ok(text) = std::fs::read_to_string(&p) {
            if apply_config(facts, &text) {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::facts::theoretical_kv_bytes_per_token;

    #[test]
    fn qwen_config_gives_28672_bytes_per_token() {
        // Qwen2.5-1.5B-Instruct: 28 layers, 12 heads, 2 KV heads, hidden 1536 (head dim 128), bf16.
        let cfg = r#"{"num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "hidden_size": 1536, "torch_dtype": "bfloat16"}"#;
        let mut f = StartupFacts::default();
        assert!(apply_config(&mut f, cfg));
        assert_eq!(theoretical_kv_bytes_per_token(&f), Some(28_672.0));
        assert!(!apply_config(&mut StartupFacts::default(), "{}"));
    }
}
