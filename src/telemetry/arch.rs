//! The startup facts the log left out, from the model's `config.json` on this machine (a local model
//! folder, or the local Hugging Face cache; `crate::model`), for the theoretical KV bytes per token.

use super::facts::StartupFacts;
use std::path::Path;

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

/// Reads the config.json found for `model` (`crate::model::hf::find_config`: the server's
/// `model_config`, a local file, or the built-in one) into `facts`; returns where it came from.
pub fn fill_from_local_config(facts: &mut StartupFacts, model: &str, model_config: Option<&str>, base: &Path) -> Option<String> {
    let found = crate::model::hf::find_config(model, model_config, base, crate::engine::resolve::builtin_model_path(model)).ok()??;
    apply_config(facts, &found.text).then_some(found.origin)
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
