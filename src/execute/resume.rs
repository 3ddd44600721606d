//! Resuming a run: the scenario must be byte-for-byte the one the run started with (same SHA-256);
//! cells with a complete result are kept; interrupted or missing ones, and those of a launch that
//! failed for a reason of the machine or the moment (`FailureReason::is_environmental`: port in
//! use, engine or key missing, spawn failed, ready timeout, GPU still held), are run again.

use crate::plan::Plan;
use crate::results::records::{CellResult, CellStatus};
use crate::scenario::Loaded;
use crate::store::manifest::{sha256_hex, Manifest};
use crate::store::read::read_run;
use crate::store::RunStore;
use anyhow::{bail, Result};

pub(super) fn open(loaded: &Loaded, plan: &Plan, dir: &std::path::Path) -> Result<(RunStore, Manifest, Vec<CellResult>)> {
    let stored = read_run(dir)?;
    let mut manifest = stored.manifest;
    let hash = sha256_hex(&loaded.text);
    if hash != manifest.scenario_sha256 {
        bail!(
            "cannot resume {}: {} changed since the run started (SHA-256 {} now, {} then); \
             resume with the original file (its text is in manifest.json, `scenario_text`) or start a new run",
            dir.display(),
            loaded.path.display(),
            &hash[..12],
            &manifest.scenario_sha256[..12.min(manifest.scenario_sha256.len())]
        );
    }
    let (was, now) = (manifest.shard.as_ref().map(|s| s.shard), plan.shard);
    if was != now {
        bail!(
            "cannot resume {}: it is {}, and this run is {}; resume it with the same --shard",
            dir.display(),
            was.map_or("an unsharded run".to_string(), |s| format!("shard {s}")),
            now.map_or("unsharded".to_string(), |s| format!("shard {s}"))
        );
    }
    let retry = crate::store::read::environmental_launches(&stored.launches);
    let done: Vec<CellResult> = stored
        .cells
        .into_iter()
        .filter(|c| c.status != CellStatus::Interrupted)
        .filter(|c| !(c.status == CellStatus::Infeasible && retry.contains(&c.launch_id)))
        .filter(|c| plan.knows(&c.cell))
        .collect();
    manifest.resumed_at.push(super::now());
    manifest.finished_at = None;
    Ok((RunStore::open(dir.to_path_buf()), manifest, done))
}
