//! Reading a stored run back (for `runner report`, resume and merges across machines).

use super::manifest::Manifest;
use super::records::{CellResult, LaunchRecord};
use super::{read_json, RunStore};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// One run folder as stored: its manifest, launches and finished cells (in cell order).
#[derive(Debug, Clone)]
pub struct StoredRun {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub launches: Vec<LaunchRecord>,
    pub cells: Vec<CellResult>,
    /// Boundary searches (`[search]` runs), in search order.
    pub searches: Vec<super::search::SearchRecord>,
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()).unwrap_or_default();
    v.sort();
    v
}

pub fn read_run(dir: &Path) -> Result<StoredRun> {
    let store = RunStore::open(dir.to_path_buf());
    if !store.manifest_path().is_file() {
        bail!("{} is not a run folder (no manifest.json); pass results/<scenario>/<run-id>", dir.display());
    }
    let manifest: Manifest = read_json(&store.manifest_path())?;
    let launches = read_launches(dir)?;
    let mut cells: Vec<CellResult> = read_each(&dir.join("cells"), "summary.json")?;
    cells.sort_by_key(|c| c.cell.index);
    let searches = read_searches(dir)?;
    Ok(StoredRun { dir: dir.to_path_buf(), manifest, launches, cells, searches })
}

/// The `file` of every sub-folder of `dir` that has one, in folder-name order (none when `dir` is
/// missing).
fn read_each<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for d in sorted_dirs(dir) {
        let p = d.join(file);
        if p.is_file() {
            out.push(read_json(&p).with_context(|| format!("reading {}", p.display()))?);
        }
    }
    Ok(out)
}

/// The search records of a run folder (none for a grid run).
pub fn read_searches(dir: &Path) -> Result<Vec<super::search::SearchRecord>> {
    let mut out: Vec<super::search::SearchRecord> = read_each(&dir.join("searches"), "search.json")?;
    out.sort_by_key(|s| s.target.index);
    Ok(out)
}

/// The launch records of a run folder. (Reports rebuild the portable `vllm serve --config` recipe
/// from the scenario; the run's own `vllm-config.yaml` carries this machine's port.)
pub fn read_launches(dir: &Path) -> Result<Vec<LaunchRecord>> {
    read_each(&dir.join("launches"), "launch.json")
}

/// Expands arguments into run folders: a run folder itself, or a folder holding run folders
/// (`results/<scenario>`), or a results root (`results`).
pub fn find_runs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.join("manifest.json").is_file() {
            out.push(p.clone());
            continue;
        }
        let mut found = Vec::new();
        for d in sorted_dirs(p) {
            if d.join("manifest.json").is_file() {
                found.push(d);
            } else {
                found.extend(sorted_dirs(&d).into_iter().filter(|x| x.join("manifest.json").is_file()));
            }
        }
        if found.is_empty() {
            bail!("no run folder (with manifest.json) in {}", p.display());
        }
        out.extend(found);
    }
    Ok(out)
}

/// A merged folder of several GPUs (`runner merge --allow gpu`) as one run per GPU label, each with
/// its cells, launches, searches and price; any other run as it is. The analysis then sees each GPU
/// as the run it was.
pub fn split_by_gpu(run: StoredRun) -> Vec<StoredRun> {
    let mut gpus: Vec<String> = run.manifest.merged_from.iter().map(|m| m.gpu_label.clone()).collect();
    gpus.sort();
    gpus.dedup();
    if gpus.len() < 2 {
        return vec![run];
    }
    let gpu_of = |p: &Option<super::records::Provenance>| p.as_ref().map(|p| p.gpu.clone());
    gpus.into_iter()
        .map(|g| {
            let mut manifest = run.manifest.clone();
            manifest.price = run.manifest.merged_from.iter().find(|m| m.gpu_label == g).and_then(|m| m.price.clone());
            manifest.gpu_label = g.clone();
            let cells: Vec<CellResult> =
                run.cells.iter().filter(|c| gpu_of(&c.provenance).as_deref() == Some(g.as_str())).cloned().collect();
            manifest.cells = cells.len();
            StoredRun {
                dir: run.dir.clone(),
                launches: run.launches.iter().filter(|l| gpu_of(&l.provenance).as_deref() == Some(g.as_str())).cloned().collect(),
                searches: run.searches.iter().filter(|s| gpu_of(&s.provenance).as_deref() == Some(g.as_str())).cloned().collect(),
                cells,
                manifest,
            }
        })
        .collect()
}
