//! Where a Hugging Face model's `config.json` is on this machine: a folder beside the scenario, a
//! path, or the local hub cache (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`).

use std::path::{Path, PathBuf};

/// Where a `config.json` for `model` may be on this machine.
/// `builtin` is the folder of a model the project ships (the engine knows it); then only that.
pub fn config_candidates(model: &str, base: &Path, builtin: Option<PathBuf>) -> Vec<PathBuf> {
    if let Some(p) = builtin {
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
