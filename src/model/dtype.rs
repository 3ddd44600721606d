//! Bytes per element of the number formats a model's weights or KV cache are stored in: Hugging Face
//! `torch_dtype` names and llama.cpp's cache and tensor types (a quantized type's bytes include its
//! block scales: q8_0 is 34 bytes per block of 32).

/// Bytes per element of `name`; None for a name the table does not know.
pub fn element_bytes(name: &str) -> Option<f64> {
    Some(match name {
        "f32" | "fp32" | "float32" | "float" => 4.0,
        "f16" | "fp16" | "bf16" | "float16" | "bfloat16" | "half" => 2.0,
        "int8" | "fp8" | "fp8_e4m3" | "fp8_e5m2" | "float8_e4m3fn" | "float8_e5m2" => 1.0,
        "q8_0" => 34.0 / 32.0,
        "q5_1" => 24.0 / 32.0,
        "q5_0" => 22.0 / 32.0,
        "q4_1" => 20.0 / 32.0,
        "q4_0" | "iq4_nl" => 18.0 / 32.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::element_bytes;

    #[test]
    fn weights_and_cache_types() {
        assert_eq!(element_bytes("bfloat16"), Some(2.0));
        assert_eq!(element_bytes("f32"), Some(4.0));
        assert_eq!(element_bytes("q8_0"), Some(1.0625));
        assert_eq!(element_bytes("float8_e4m3fn"), Some(1.0));
        assert_eq!(element_bytes("int4-awq"), None);
    }
}
