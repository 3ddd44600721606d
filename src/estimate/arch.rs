//! A model's architecture and sizes from its Hugging Face `config.json`, and its weight bytes from
//! safetensors headers when the checkpoint is on this machine. Pure but for `safetensors_bytes`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

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

fn dtype_bytes(name: Option<&str>) -> u64 {
    match name.unwrap_or("bfloat16") {
        "float32" | "fp32" => 4,
        "int8" | "fp8" | "float8_e4m3fn" => 1,
        _ => 2,
    }
}

impl Arch {
    /// From the text of a `config.json` (multimodal configs: their `text_config`).
    pub fn from_config(text: &str) -> Result<Arch, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("config.json is not JSON: {e}"))?;
        let v = v.get("text_config").cloned().unwrap_or(v);
        let get = |k: &str| v.get(k).and_then(Value::as_u64);
        let need = |k: &str| get(k).ok_or_else(|| format!("config.json has no `{k}`"));
        let (layers, hidden, heads) = (need("num_hidden_layers")?, need("hidden_size")?, need("num_attention_heads")?);
        let mut not_modelled = Vec::new();
        if get("kv_lora_rank").is_some() {
            not_modelled.push("multi-head latent attention (MLA): its compressed KV is smaller than the GQA formula".into());
        }
        if v.get("use_sliding_window").and_then(Value::as_bool).unwrap_or(false) || v.get("sliding_window_pattern").is_some() {
            not_modelled.push("sliding-window attention: windowed layers keep less KV than counted".into());
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
            dtype_bytes: dtype_bytes(v.get("torch_dtype").or_else(|| v.get("dtype")).and_then(Value::as_str)),
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

/// Sum of the tensor bytes in the `*.safetensors` files of a local model folder, read from their
/// headers only (8-byte length, then JSON with each tensor's `data_offsets`); None without any.
pub fn safetensors_bytes(dir: &Path) -> Option<u64> {
    use std::io::Read;
    let mut total = 0u64;
    let mut found = false;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if p.extension().is_none_or(|e| e != "safetensors") {
            continue;
        }
        let mut f = std::fs::File::open(&p).ok()?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len).ok()?;
        let n = u64::from_le_bytes(len);
        if n > 100 << 20 {
            return None;
        }
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header).ok()?;
        total += header_bytes(&header)?;
        found = true;
    }
    found.then_some(total)
}

/// Tensor bytes declared by one safetensors header. Pure.
pub fn header_bytes(header: &[u8]) -> Option<u64> {
    let v: serde_json::Map<String, Value> = serde_json::from_slice(header).ok()?;
    Some(
        v.iter()
            .filter(|(k, _)| *k != "__metadata__")
            .filter_map(|(_, t)| {
                let o = t.get("data_offsets")?.as_array()?;
                Some(o.get(1)?.as_u64()? - o.first()?.as_u64()?)
            })
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const QWEN_1_5B: &str = include_str!("../../tests/fixtures/models/Qwen2.5-1.5B-Instruct/config.json");

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
    }

    #[test]
    fn safetensors_header_sums_tensor_spans() {
        let h = br#"{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[4],"data_offsets":[12,28]}}"#;
        assert_eq!(header_bytes(h), Some(28));
    }
}
