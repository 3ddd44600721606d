//! A checkpoint's weight bytes from its safetensors headers (8-byte length, then JSON with each
//! tensor's `data_offsets`); tensor data is never read.

use serde_json::Value;
use std::path::Path;

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

    #[test]
    fn safetensors_header_sums_tensor_spans() {
        let h = br#"{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[4],"data_offsets":[12,28]}}"#;
        assert_eq!(header_bytes(h), Some(28));
    }
}
