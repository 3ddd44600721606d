//! Finding executables and built-in models on this machine (reads the environment and the disk).

use super::argv::LaunchTarget;
use super::spec::spec;
use crate::scenario::schema::Server;
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
pub fn set_up_program(var: &str, cached: PathBuf, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    if cached.is_file() {
        return Some(cached);
    }
    find_on_path(name)
}

/// A file or folder the set-up provides: the variable `var` names it, else the cache's `cached`.
pub fn set_up_path(var: &str, cached: PathBuf) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or(cached)
}

/// A built-in model's path on this machine (None for other model names).
pub fn builtin_model_path(model: &str) -> Option<PathBuf> {
    super::checks::builtin(model).map(|(_, b)| (b.path)())
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Resolves program and model for display (`runner plan`): never fails, falls back to plain names.
pub fn target_for_display(server: &Server, base: &Path) -> LaunchTarget {
    let e = spec(server.engine);
    let program = server
        .binary
        .clone()
        .unwrap_or_else(|| e.find_program(server).map_or_else(|| e.default_program().to_string(), |p| p.display().to_string()));
    let model = match server.model.as_deref() {
        Some(m) => builtin_model_path(m).map_or_else(|| e.model_arg(m, base), |p| p.display().to_string()),
        None => String::new(),
    };
    LaunchTarget { program, model, port: (server.port != 0).then_some(server.port) }
}

/// Resolves program and model for a real launch, failing with the fix when something is missing.
pub fn target_for_launch(server: &Server, base: &Path, port: u16) -> Result<LaunchTarget> {
    let mut t = target_for_display(server, base);
    t.port = Some(port);
    let e = spec(server.engine);
    // A path is checked as it is; a bare name is looked up on PATH.
    let prog = Path::new(&t.program);
    let found = if prog.components().count() > 1 { prog.is_file() } else { find_on_path(&t.program).is_some() };
    if !found {
        bail!("{}", e.missing_program());
    }
    if let Some((_, b)) = server.model.as_deref().and_then(super::checks::builtin) {
        if !b.present() {
            bail!("built-in model {} not found at {}; run `{}`", b.name, t.model, b.setup);
        }
    }
    e.check_target(server, &t).map_err(anyhow::Error::msg)?;
    Ok(t)
}
