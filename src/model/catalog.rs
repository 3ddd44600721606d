//! The configs of the models the lab and its users name, built into the binary so a launch of one
//! of them is predicted before any download (`configs/README.md` gives each one's source). Pure.

/// One built-in model config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The Hugging Face id.
    pub id: &'static str,
    /// Other ids of the same repository (a rename).
    pub aliases: &'static [&'static str],
    /// The config.json text.
    pub config: &'static str,
    /// Where the fields come from.
    pub source: &'static str,
}

macro_rules! entry {
    ($id:literal, $dir:literal, [$($alias:literal),*]) => {
        Entry {
            id: $id,
            aliases: &[$($alias),*],
            config: include_str!(concat!("configs/", $dir, "/config.json")),
            source: concat!("https://huggingface.co/", $id, "/blob/main/config.json"),
        }
    };
}

/// Every built-in config.
pub const ENTRIES: &[Entry] = &[
    entry!("Qwen/Qwen2.5-1.5B-Instruct", "Qwen--Qwen2.5-1.5B-Instruct", []),
    entry!("Qwen/Qwen2.5-7B-Instruct", "Qwen--Qwen2.5-7B-Instruct", []),
    entry!("microsoft/Phi-3-mini-4k-instruct", "microsoft--Phi-3-mini-4k-instruct", []),
    entry!("meta-llama/Llama-3.1-8B-Instruct", "meta-llama--Llama-3.1-8B-Instruct", ["meta-llama/Meta-Llama-3.1-8B-Instruct"]),
    entry!("mistralai/Mistral-7B-Instruct-v0.3", "mistralai--Mistral-7B-Instruct-v0.3", []),
];

/// The built-in config of `model` (its Hugging Face id, exactly, or an alias).
pub fn lookup(model: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.id == model || e.aliases.contains(&model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_a_model_the_estimate_reads() {
        for e in ENTRIES {
            let a = crate::model::arch::Arch::from_config(e.config).unwrap_or_else(|err| panic!("{}: {err}", e.id));
            assert!(a.max_position_embeddings.is_some(), "{}", e.id);
        }
        let phi = crate::model::arch::Arch::from_config(lookup("microsoft/Phi-3-mini-4k-instruct").unwrap().config).unwrap();
        assert_eq!((phi.kv_heads, phi.head_dim, phi.layers), (32, 96, 32));
        assert_eq!(lookup("meta-llama/Meta-Llama-3.1-8B-Instruct").unwrap().id, "meta-llama/Llama-3.1-8B-Instruct");
        assert!(lookup("qwen/qwen2.5-7b-instruct").is_none(), "ids are exact");
    }
}
