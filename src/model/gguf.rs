//! The architecture of a GGUF model (llama.cpp) from its metadata header. Reads the key/value pairs
//! only; tensor data is never read (weight bytes: the file's size, which the tensors dominate).

use super::arch::Arch;
use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// A metadata value the estimate uses (numbers and strings; arrays keep only their length).
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    Int(u64),
    Float(f64),
    Str(String),
    Array(u64),
}

fn take<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn string(r: &mut impl Read) -> std::io::Result<String> {
    let n = u64::from_le_bytes(take(r)?);
    if n > 1 << 24 {
        return Err(std::io::Error::other("a GGUF string longer than 16 MiB"));
    }
    let mut b = vec![0u8; n as usize];
    r.read_exact(&mut b)?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

/// One value of GGUF type `t`.
fn value(r: &mut impl Read, t: u32) -> std::io::Result<Meta> {
    Ok(match t {
        0 | 1 | 7 => Meta::Int(u64::from(take::<1>(r)?[0])),
        2 | 3 => Meta::Int(u64::from(u16::from_le_bytes(take(r)?))),
        4 | 5 => Meta::Int(u64::from(u32::from_le_bytes(take(r)?))),
        6 => Meta::Float(f64::from(f32::from_le_bytes(take(r)?))),
        8 => Meta::Str(string(r)?),
        9 => {
            let item = u32::from_le_bytes(take(r)?);
            let n = u64::from_le_bytes(take(r)?);
            for _ in 0..n {
                value(r, item)?;
            }
            Meta::Array(n)
        }
        10 | 11 => Meta::Int(u64::from_le_bytes(take(r)?)),
        12 => Meta::Float(f64::from_le_bytes(take(r)?)),
        other => return Err(std::io::Error::other(format!("unknown GGUF value type {other}"))),
    })
}

/// The metadata of a GGUF stream (magic, version 2 or 3, counts, then the key/value pairs).
pub fn metadata(r: &mut impl Read) -> Result<BTreeMap<String, Meta>, String> {
    let magic = take::<4>(r).map_err(|e| e.to_string())?;
    if &magic != b"GGUF" {
        return Err("not a GGUF file".into());
    }
    let version = u32::from_le_bytes(take(r).map_err(|e| e.to_string())?);
    if version < 2 {
        return Err(format!("GGUF version {version} is not supported (2 and later)"));
    }
    let _tensors = u64::from_le_bytes(take(r).map_err(|e| e.to_string())?);
    let pairs = u64::from_le_bytes(take(r).map_err(|e| e.to_string())?);
    let mut out = BTreeMap::new();
    for _ in 0..pairs {
        let key = string(r).map_err(|e| e.to_string())?;
        let t = u32::from_le_bytes(take(r).map_err(|e| e.to_string())?);
        out.insert(key, value(r, t).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The architecture from GGUF metadata. Pure.
pub fn arch(meta: &BTreeMap<String, Meta>) -> Result<Arch, String> {
    let name = match meta.get("general.architecture") {
        Some(Meta::Str(s)) => s.clone(),
        _ => return Err("GGUF without general.architecture".into()),
    };
    let int = |k: &str| match meta.get(&format!("{name}.{k}")) {
        Some(Meta::Int(v)) => Some(*v),
        _ => None,
    };
    let need = |k: &str| int(k).ok_or_else(|| format!("GGUF has no {name}.{k}"));
    let (layers, hidden, heads) = (need("block_count")?, need("embedding_length")?, need("attention.head_count")?);
    let vocab = int("vocab_size").or_else(|| match meta.get("tokenizer.ggml.tokens") {
        Some(Meta::Array(n)) => Some(*n),
        _ => None,
    });
    Ok(Arch {
        layers,
        hidden,
        heads,
        kv_heads: int("attention.head_count_kv").unwrap_or(heads),
        head_dim: int("attention.key_length").unwrap_or(hidden / heads.max(1)),
        intermediate: int("feed_forward_length").unwrap_or(4 * hidden),
        vocab: vocab.unwrap_or(0),
        tied_embeddings: false,
        dtype_bytes: 2,
        max_position_embeddings: int("context_length"),
        not_modelled: vec!["llama.cpp compute buffers (they come on top of weights and KV)".into()],
    })
}

/// Reads `path`'s architecture and its size in bytes.
pub fn read(path: &Path) -> Result<(Arch, u64), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    let meta = metadata(&mut BufReader::new(f)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((arch(&meta)?, size))
}

/// Bytes per KV element of a llama.cpp cache type (`--cache-type-k/-v`): f16 by default and for a
/// type the table does not know.
pub fn cache_type_bytes(t: Option<&str>) -> f64 {
    super::dtype::element_bytes(t.unwrap_or("f16")).unwrap_or(2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(out: &mut Vec<u8>, key: &str, t: u32, v: &[u8]) {
        out.extend((key.len() as u64).to_le_bytes());
        out.extend(key.as_bytes());
        out.extend(t.to_le_bytes());
        out.extend(v);
    }

    #[test]
    fn tiny_qwen2_header() {
        // The tiny model's shape: embedding 64, 2 layers, 4 heads, 2 KV heads (256 B of KV a token).
        let mut g = b"GGUF".to_vec();
        g.extend(3u32.to_le_bytes());
        g.extend(0u64.to_le_bytes());
        g.extend(6u64.to_le_bytes());
        let mut arch_name = (5u64).to_le_bytes().to_vec();
        arch_name.extend(b"qwen2");
        kv(&mut g, "general.architecture", 8, &arch_name);
        kv(&mut g, "qwen2.block_count", 4, &2u32.to_le_bytes());
        kv(&mut g, "qwen2.embedding_length", 4, &64u32.to_le_bytes());
        kv(&mut g, "qwen2.attention.head_count", 4, &4u32.to_le_bytes());
        kv(&mut g, "qwen2.attention.head_count_kv", 4, &2u32.to_le_bytes());
        let mut tokens = 8u32.to_le_bytes().to_vec();
        tokens.extend(3u64.to_le_bytes());
        for t in ["a", "bc", "d"] {
            tokens.extend((t.len() as u64).to_le_bytes());
            tokens.extend(t.as_bytes());
        }
        kv(&mut g, "tokenizer.ggml.tokens", 9, &tokens);
        let meta = metadata(&mut g.as_slice()).unwrap();
        let a = arch(&meta).unwrap();
        assert_eq!((a.layers, a.hidden, a.kv_heads, a.head_dim, a.vocab), (2, 64, 2, 16, 3));
        assert_eq!(a.kv_bytes_per_token(2), 256);
        assert!(metadata(&mut &b"GGML...."[..]).is_err());
    }
}
