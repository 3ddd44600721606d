//! The startup facts the log left out, from the model's `config.json` on this machine (a local model
//! folder, or the local Hugging Face cache; `crate::model`), for the theoretical KV bytes per token.

use super::facts::StartupFacts;
use std::path::{Path, PathBuf};

/// Fills the architecture fields the log left empty from a config.json text. Pure.
pub fn apply_config(facts: &mut StartupFacts, config: &str) -> bool {
    let Some(k) = crate::model::arch::kv_shape(config) else { return false };
    facts.n_layer = facts.n_layer.or(Some(k.layers));
    facts.n_head_kv = facts.n_head_kv.or(Some(k.kv_heads));
    facts.head_dim = facts.head_dim.or(Some(k.head_dim));
    if facts.dtype.is_none() && facts.type_k.is_none() {
        facts.dtype = k.dtype;
    }
    true
}

/// Reads the first config.json found for `model` into `facts`; returns where it came from.
pub fn fill_from_local_config(facts: &mut StartupFacts, model: &str, base: &Path) -> Option<PathBuf> {
    for p in crate::model::hf::config_candidates(model, base, crate::engine::resolve::builtin_model_path(model)) {
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
