//! Where a Hugging Face model's `config.json` is on this machine: a folder beside the scenario, a
//! path, or the local hub cache (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`); else
//! the configs built into `runner` (`super::catalog`).

use std::path::{Path, PathBuf};

/// A config.json is another party's file: read at most this much (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// The text of a config.json file, when it is readable, bounded, and a model's architecture.
pub fn read_config(path: &Path) -> Result<String, String> {
    let text = crate::bounded::read_text(path, MAX_CONFIG_BYTES).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    super::arch::Arch::from_config(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text)
}

/// A model's config.json: where it came from (a path, or the built-in entry and its source) and
/// its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub origin: String,
    /// The folder it sits in, when it is a file on this machine (its safetensors may be beside it).
    pub dir: Option<PathBuf>,
    pub text: String,
}

/// The first config.json for `model`: `explicit` (the server's `model_config`, relative to `base`)
/// when set, and then only that; else the first readable file of `config_candidates`; else the
/// built-in catalog. A local file is taken as it is (a broken one is reported by whoever parses it,
/// not hidden behind the catalog). Err only for an explicit file that cannot be used.
pub fn find_config(model: &str, explicit: Option<&str>, base: &Path, builtin: Option<PathBuf>) -> Result<Option<Found>, String> {
    let found = |p: PathBuf, text: String| Found { origin: p.display().to_string(), dir: p.parent().map(Path::to_path_buf), text };
    if let Some(f) = explicit {
        let p = base.join(f);
        return read_config(&p).map(|text| Some(found(p, text)));
    }
    if let Some((p, text)) = config_candidates(model, base, builtin)
        .into_iter()
        .find_map(|p| crate::bounded::read_text(&p, MAX_CONFIG_BYTES).ok().map(|t| (p, t)))
    {
        return Ok(Some(found(p, text)));
    }
    Ok(super::catalog::lookup(model).map(|e| Found {
        origin: format!("built-in config of {} ({})", e.id, e.source),
        dir: None,
        text: e.config.to_string(),
    }))
}

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
