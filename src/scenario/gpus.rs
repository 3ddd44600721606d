//! The scenario's additions to the GPU catalog: its `gpus_file`, then its own `[gpus]` tables.

use super::schema::{GpuSpec, GpusFile, Scenario};
use indexmap::IndexMap;
use std::path::Path;

/// The scenario's GPUs (`gpus_file` relative to `base`, overridden by its own `[gpus]`).
pub fn scenario_gpus(s: &Scenario, base: &Path) -> Result<IndexMap<String, GpuSpec>, String> {
    let mut out = match &s.scenario.gpus_file {
        Some(f) => super::strict::read_file::<GpusFile>(&base.join(f), "GPU file")?.gpus,
        None => IndexMap::new(),
    };
    out.extend(s.gpus.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(out)
}

/// True for the GPU labels that name the host's CPU ("cpu", "cpu-..."): no GPU is used there.
pub fn is_cpu_label(label: &str) -> bool {
    label == "cpu" || label.starts_with("cpu-")
}
