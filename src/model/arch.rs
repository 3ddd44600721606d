//! A model's architecture and sizes from its Hugging Face `config.json` (GGUF metadata gives the same
//! [`Arch`]: `super::gguf`). Pure.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the estimate needs of a decoder-only transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arch {
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub intermediate: u64,
    pub vocab: u64,
    pub tied_embeddings: bool,
    /// Bytes per weight element (bf16/fp16: 2, fp32: 4).
    pub dtype_bytes: u64,
    pub max_position_embeddings: Option<u64>,
    /// Features the estimate does not model, named so that a figure for such a model says so.
    pub not_modelled: Vec<String>,
}

/// Bytes per weight element of a config's `torch_dtype` (bf16 when it names none or an unknown one).
fn dtype_bytes(name: Option<&str>) -> u64 {
    super::dtype::element_bytes(name.unwrap_or("bfloat16")).filter(|b| *b >= 1.0).map_or(2, |b| b as u64)
}

/// The part of a config that sets KV bytes per token, read leniently: what a startup log left out.
#[derive(Debug, Clone, PartialEq)]
pub struct KvShape {
    pub layers: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// `torch_dtype` (or `dtype`) as the config names it.
    pub dtype: Option<String>,
}

/// The config's JSON, or its `text_config` for a multimodal model.
fn text_config(v: Value) -> Value {
    v.get("text_config").cloned().unwrap_or(v)
}

fn config_dtype(v: &Value) -> Option<&str> {
    v.get("torch_dtype").or_else(|| v.get("dtype")).and_then(Value::as_str)
}

/// The KV shape of a config.json text; None when it is not JSON or lacks a size (a zero or absurd
/// size, in another party's file, counts as lacking).
pub fn kv_shape(text: &str) -> Option<KvShape> {
    let v = text_config(serde_json::from_str(text).ok()?);
    let get = |k: &str| v.get(k).and_then(Value::as_u64).filter(|v| (1..=1 << 20).contains(v));
    let heads = get("num_attention_heads");
    Some(KvShape {
        layers: get("num_hidden_layers")?,
        kv_heads: get("num_key_value_heads").or(heads)?,
        head_dim: get("head_dim").or_else(|| Some(get("hidden_size")? / heads?)).filter(|d| *d > 0)?,
        dtype: config_dtype(&v).map(str::to_string),
    })
}

impl Arch {
    /// From the text of a `config.json` (multimodal configs: their `text_config`).
    pub fn from_config(text: &str) -> Result<Arch, String> {
        let v = text_config(serde_json::from_str(text).map_err(|e| format!("config.json is not JSON: {e}"))?);
        let get = |k: &str| v.get(k).and_then(Value::as_u64);
        let need = |k: &str| get(k).ok_or_else(|| format!("config.json has no `{k}`"));
        let (layers, hidden, heads) = (need("num_hidden_layers")?, need("hidden_size")?, need("num_attention_heads")?);
        let mut not_modelled = Vec::new();
        if get("kv_lora_rank").is_some() {
            not_modelled.push("multi-head latent attention (MLA): its compressed KV is smaller than the GQA formula".into());
        }
        let window = get("sliding_window").filter(|w| get("max_position_embeddings").is_none_or(|m| *w < m));
        let window_used = v.get("use_sliding_window").and_then(Value::as_bool);
        if window_used.unwrap_or(false) || v.get("sliding_window_pattern").is_some() {
            not_modelled.push("sliding-window attention: windowed layers keep less KV than counted".into());
        } else if let (Some(w), None) = (window, window_used) {
            not_modelled.push(format!(
                "a {w}-token sliding window is declared: every layer's full KV is counted (the engine may keep less, or cap the context at the window)"
            ));
        }
        if v.get("quantization_config").is_some() {
            not_modelled.push("quantized weights: weight bytes come from the checkpoint only when its safetensors are local".into());
        }
        if get("num_local_experts").or(get("num_experts")).is_some() {
            not_modelled.push("mixture of experts: expert weights are not counted from the config".into());
        }
        // A config.json is another party's file: a zero or absurd size would estimate nonsense
        // (1.8e19 tokens from 0 heads) or overflow, so each is checked against what models have.
        let sane = |k: &str, v: u64, max: u64| {
            if (1..=max).contains(&v) {
                Ok(v)
            } else {
                Err(format!("config.json: `{k}` = {v} is not a model's size (1 to {max}); the estimate cannot use this file"))
            }
        };
        let (layers, hidden, heads) =
            (sane("num_hidden_layers", layers, 1_000)?, sane("hidden_size", hidden, 1 << 20)?, sane("num_attention_heads", heads, 10_000)?);
        let kv_heads = sane("num_key_value_heads", get("num_key_value_heads").unwrap_or(heads), heads)?;
        let head_dim = sane("head_dim", get("head_dim").unwrap_or(hidden / heads), 1 << 16)?;
        let intermediate = sane("intermediate_size", get("intermediate_size").unwrap_or(4 * hidden), 1 << 24)?;
        let vocab = sane("vocab_size", need("vocab_size")?, 1 << 24)?;
        Ok(Arch {
            layers,
            hidden,
            heads,
            kv_heads,
            head_dim,
            intermediate,
            vocab,
            tied_embeddings: v.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false),
            dtype_bytes: dtype_bytes(config_dtype(&v)),
            max_position_embeddings: get("max_position_embeddings"),
            not_modelled,
        })
    }

    /// KV-cache bytes per token: 2 (K and V) x layers x KV heads x head dim x element size (GQA).
    pub fn kv_bytes_per_token(&self, kv_dtype_bytes: u64) -> u64 {
        2 * self.layers * self.kv_heads * self.head_dim * kv_dtype_bytes
    }

    /// Parameters of a Llama/Qwen-style decoder: embeddings (and an untied LM head), per layer the
    /// Q/K/V/O projections with biases, a gated MLP (3 matrices) and two norms, and the final norm.
    pub fn parameters(&self) -> u64 {
        let (h, kv) = (self.hidden, self.kv_heads * self.head_dim);
        let q = self.heads * self.head_dim;
        let attention = h * q + q + 2 * (h * kv + kv) + q * h;
        let mlp = 3 * h * self.intermediate;
        let per_layer = attention + mlp + 2 * h;
        let embeddings = self.vocab * h * if self.tied_embeddings { 1 } else { 2 };
        self.layers * per_layer + embeddings + h
    }

    pub fn weight_bytes(&self) -> u64 {
        self.parameters() * self.dtype_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const QWEN_1_5B: &str = include_str!("configs/Qwen--Qwen2.5-1.5B-Instruct/config.json");

    #[test]
    fn a_config_with_zero_or_absurd_sizes_is_refused_by_name() {
        for (key, bad) in
            [("num_attention_heads", "0"), ("num_hidden_layers", "0"), ("num_key_value_heads", "99"), ("hidden_size", "1099511627776")]
        {
            let text = QWEN_1_5B.replacen(&format!("\"{key}\":"), &format!("\"{key}\": {bad}, \"was_{key}\":"), 1);
            let e = Arch::from_config(&text).expect_err(key);
            assert!(e.contains(key), "{key}: {e}");
        }
        assert!(Arch::from_config(QWEN_1_5B).is_ok());
    }

    #[test]
    fn qwen_1_5b_sizes() {
        let a = Arch::from_config(QWEN_1_5B).unwrap();
        assert_eq!(a.kv_bytes_per_token(2), 28_672);
        // Qwen's model card: 1.54B parameters, 1.31B without embeddings.
        let p = a.parameters() as f64;
        assert!((p / 1e9 - 1.54).abs() < 0.01, "{p}");
        assert!(((p - (a.vocab * a.hidden) as f64) / 1e9 - 1.31).abs() < 0.01, "{p}");
        // vLLM loaded it in 2.8871 GiB (vllm-0.11-startup-rtx2000ada.log).
        let gib = a.weight_bytes() as f64 / (1u64 << 30) as f64;
        assert!((gib / 2.8871 - 1.0).abs() < 0.01, "{gib}");
        assert!(a.not_modelled.is_empty());
        let k = kv_shape(QWEN_1_5B).unwrap();
        assert_eq!((k.layers, k.kv_heads, k.head_dim, k.dtype.as_deref()), (28, 2, 128, Some("bfloat16")));
        assert_eq!(kv_shape("{}"), None);
        assert_eq!(kv_shape(r#"{"num_hidden_layers": 0, "num_attention_heads": 4, "hidden_size": 64}"#), None);
    }
}
