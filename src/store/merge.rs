//! `runner merge DIR... --out DIR`: one ordinary run folder from shard (or machine) folders of one
//! scenario. It refuses what it would have to guess: runs of different scenarios (unless the only
//! difference is an allowed one: the GPU label, for a cross-GPU frontier), and a cell measured twice.
//! Missing cells (a shard that died) are listed, and the folder says it is incomplete. Each cell and
//! launch keeps where it was measured (`provenance`).

use super::manifest::{MergeSource, RunStatus};
use super::read::{find_runs, read_run, StoredRun};
use super::{atomic_write, csv_export, read_json, write_json};
use crate::results::records::{CellResult, CellStatus, Provenance};
use crate::scenario::schema::Scenario;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a merge wrote and what it lacks.
#[derive(Debug)]
pub struct Merged {
    pub out: PathBuf,
    pub cells: usize,
    pub gpus: Vec<String>,
    /// "<gpu>: <cell or search id> (shard K/N)" for every planned cell no folder holds.
    pub missing: Vec<String>,
    pub sources: Vec<MergeSource>,
}

fn provenance(run: &StoredRun) -> Provenance {
    let m = &run.manifest;
    Provenance {
        run_id: m.run_id.clone(),
        host: m.host.hostname.clone(),
        shard: m.shard.as_ref().map(|s| s.shard),
        gpu: m.gpu_label.clone(),
    }
}

/// The scenario a run was made from, validated with the limits `runner validate` applies (a stored
/// scenario is data from another machine: it is not expanded before its grid is known to be sane).
fn scenario_of(run: &StoredRun) -> Result<Scenario> {
    let file = format!("{} (scenario_text)", run.dir.join(super::layout::MANIFEST).display());
    crate::engine::checks::parse_stored(&file, &run.manifest.scenario_text).map_err(anyhow::Error::from)
}

/// Refuses shards made by different runner versions or engine versions (their numbers are not one
/// measurement) unless `--allow versions`.
fn same_versions(runs: &[StoredRun]) -> Result<()> {
    let runners: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.manifest.runner_version.as_str()).collect();
    if runners.len() > 1 {
        bail!(
            "the folders were written by different runner versions ({}); pass --allow versions to merge them anyway",
            runners.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let mut engines: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for e in runs.iter().flat_map(|r| &r.manifest.engines) {
        if let Some(v) = &e.version {
            engines.entry(e.engine.as_str()).or_default().insert(v.as_str());
        }
    }
    for (engine, versions) in engines {
        if versions.len() > 1 {
            bail!(
                "the folders ran different {engine} versions ({}); pass --allow versions to merge them anyway",
                versions.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
}

/// A merge's output may be neither inside a source folder nor hold one: a copy must never land on
/// what it copies.
fn apart(out: &Path, runs: &[StoredRun]) -> Result<()> {
    let abs = absolute(out)?;
    for r in runs {
        let src = r.dir.canonicalize().with_context(|| format!("resolving {}", r.dir.display()))?;
        if abs.starts_with(&src) || src.starts_with(&abs) {
            bail!("--out {} overlaps the source folder {}; write the merge to a folder of its own", out.display(), r.dir.display());
        }
    }
    Ok(())
}

/// `p` made absolute with its existing ancestors resolved (links included); the rest as given.
fn absolute(p: &Path) -> Result<PathBuf> {
    let p = std::path::absolute(p)?;
    let mut rest = Vec::new();
    let mut base = p.as_path();
    loop {
        if let Ok(c) = base.canonicalize() {
            return Ok(rest.iter().rev().fold(c, |acc: PathBuf, n| acc.join(n)));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return Ok(p),
        }
    }
}

/// Removes the merge's temporary folder unless the merge finished: a failed merge leaves nothing.
struct TmpDir(Option<PathBuf>);

impl Drop for TmpDir {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The scenario of a run as a JSON value with the GPU label cleared (when it may differ).
fn comparable(run: &StoredRun, allow_gpu: bool) -> Result<serde_json::Value> {
    let mut s = scenario_of(run)?;
    if allow_gpu {
        s.scenario.gpu = None;
    }
    Ok(serde_json::to_value(&s)?)
}

/// Refuses runs of different scenarios, naming the top-level keys that differ.
fn same_scenario(runs: &[StoredRun], allow_gpu: bool) -> Result<()> {
    let first = &runs[0];
    let base = comparable(first, allow_gpu)?;
    for r in &runs[1..] {
        if r.manifest.scenario_sha256 == first.manifest.scenario_sha256 {
            continue;
        }
        let other = comparable(r, allow_gpu)?;
        if other == base {
            continue;
        }
        let keys: Vec<String> =
            base.as_object().into_iter().flatten().filter(|(k, v)| other.get(k.as_str()) != Some(v)).map(|(k, _)| k.clone()).collect();
        let hint = if !allow_gpu && keys == ["scenario"] { " (if only the GPU label differs, pass --allow gpu)" } else { "" };
        bail!(
            "{} and {} are runs of different scenarios (SHA-256 {} vs {}; they differ in: {}){hint}; merge only folders of one scenario",
            first.dir.display(),
            r.dir.display(),
            &first.manifest.scenario_sha256[..12],
            &r.manifest.scenario_sha256[..12],
            keys.join(", ")
        );
    }
    let gpus: Vec<&str> = runs.iter().map(|r| r.manifest.gpu_label.as_str()).collect();
    if !allow_gpu && gpus.iter().any(|g| *g != gpus[0]) {
        let mut distinct = gpus.clone();
        distinct.sort();
        distinct.dedup();
        bail!(
            "the folders are runs on different GPUs ({}): pass --allow gpu to merge them into one cross-GPU frontier",
            distinct.join(", ")
        );
    }
    Ok(())
}

/// A folder name inside the merged run: the id, tagged with the GPU when the merge holds several.
fn tagged(id: &str, gpu: &str, multi: bool) -> String {
    if multi {
        format!("{id}@{}", crate::plan::slug(gpu))
    } else {
        id.to_string()
    }
}

/// Copies a folder of a source run; a symbolic link (which may point anywhere on this machine: a
/// key file, a loop) is refused, never followed, and so is anything but plain files and folders.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a plain folder (a symbolic link or a special file); a merge copies only files runner wrote", from.display());
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e.with_context(|| format!("reading {}", from.display()))?;
        let p = e.path();
        let t = e.file_type()?;
        if t.is_dir() {
            copy_dir(&p, &to.join(e.file_name()))?;
        } else if t.is_file() {
            std::fs::copy(&p, to.join(e.file_name())).with_context(|| format!("copying {}", p.display()))?;
        } else {
            bail!("{} is a symbolic link or a special file; a merge copies only plain files and refuses to follow it", p.display());
        }
    }
    Ok(())
}

/// Planned cells and searches (by GPU) that no folder holds complete.
fn missing(
    scenario: &Scenario,
    runs: &[StoredRun],
    kept: &BTreeMap<(String, String), (usize, CellResult)>,
    gpus: &[String],
) -> Vec<String> {
    let plan = crate::plan::expand(scenario);
    let n = runs.iter().find_map(|r| r.manifest.shard.as_ref()).map(|s| s.shard.n);
    let of = n.map(|n| crate::plan::shard::assign(scenario, &plan, n));
    let owner = |launch: usize| match (&of, n) {
        (Some(of), Some(n)) => format!(" (shard {}/{n})", of[launch]),
        _ => String::new(),
    };
    let mut out = Vec::new();
    for g in gpus {
        for c in &plan.cells {
            if !kept.contains_key(&(g.clone(), c.id.clone())) {
                out.push(format!("{g}: cell {}{}", c.id, owner(c.launch)));
            }
        }
        for t in &plan.searches {
            let done = runs.iter().filter(|r| &r.manifest.gpu_label == g).any(|r| r.searches.iter().any(|s| s.target.id == t.id && s.done));
            if !done {
                out.push(format!("{g}: search {}{}", t.id, owner(t.launch)));
            }
        }
    }
    out
}

pub fn merge(dirs: &[PathBuf], out: &Path, allow: &[String]) -> Result<Merged> {
    for a in allow {
        if a != "gpu" && a != "versions" {
            bail!(
                "--allow {a}: a merge can allow `gpu` (different GPU labels, for a cross-GPU frontier) or `versions` (different runner or engine versions)"
            );
        }
    }
    let allow_gpu = allow.iter().any(|a| a == "gpu");
    // The same folder named twice (or through a link) is one source; the output is never an input.
    let mut seen = std::collections::BTreeSet::new();
    let found: Vec<PathBuf> = find_runs(dirs)?
        .into_iter()
        .filter(|d| {
            let key = d.canonicalize().unwrap_or_else(|_| d.clone());
            key != out.canonicalize().unwrap_or_else(|_| out.to_path_buf()) && seen.insert(key)
        })
        .collect();
    let runs: Vec<StoredRun> = found.iter().map(|d| read_run(d)).collect::<Result<_>>()?;
    if runs.is_empty() {
        bail!("no run folder to merge in {}", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    apart(out, &runs)?;
    same_scenario(&runs, allow_gpu)?;
    if !allow.iter().any(|a| a == "versions") {
        same_versions(&runs)?;
    }
    let mut gpus: Vec<String> = runs.iter().map(|r| r.manifest.gpu_label.clone()).collect();
    gpus.sort();
    gpus.dedup();
    let multi = gpus.len() > 1;
    let kept = keep_cells(&runs)?;
    let scenario = scenario_of(&runs[0])?;
    let missing = missing(&scenario, &runs, &kept, &gpus);
    let tmp = out.with_file_name(format!(".{}.merging", out.file_name().and_then(|n| n.to_str()).unwrap_or("merged")));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut guard = TmpDir(Some(tmp.clone()));
    let launches = copy_cells(&tmp, &runs, &kept, multi)?;
    copy_searches(&tmp, &runs, multi)?;
    atomic_write(&tmp.join(super::layout::CAPACITY_CSV), &merged_csv(&scenario, &runs, &kept, &gpus)?)?;
    let sources: Vec<MergeSource> = runs
        .iter()
        .map(|r| MergeSource {
            dir: r.dir.display().to_string(),
            run_id: r.manifest.run_id.clone(),
            host: r.manifest.host.hostname.clone(),
            shard: r.manifest.shard.as_ref().map(|s| s.shard),
            gpu_label: r.manifest.gpu_label.clone(),
            cells: kept.values().filter(|(i, _)| runs[*i].dir == r.dir).count(),
            price: r.manifest.price.clone(),
        })
        .collect();
    let m = merged_manifest(out, &runs, &gpus, &sources, kept.len(), launches, missing.is_empty());
    write_json(&tmp.join(super::layout::MANIFEST), &m)?;
    if out.exists() {
        let earlier = read_json::<super::manifest::Manifest>(&out.join(super::layout::MANIFEST)).ok();
        if earlier.is_none_or(|e| e.merged_from.is_empty()) {
            bail!("{} exists and is not the output of an earlier merge; choose another --out", out.display());
        }
        std::fs::remove_dir_all(out).with_context(|| format!("replacing the earlier merge {}", out.display()))?;
    }
    std::fs::rename(&tmp, out).with_context(|| format!("moving the merge into {}", out.display()))?;
    guard.0 = None;
    Ok(Merged { out: out.to_path_buf(), cells: kept.len(), gpus, missing, sources })
}

/// (GPU label, cell id) -> (index of the run, the cell).
type Kept = BTreeMap<(String, String), (usize, CellResult)>;

/// The cells a merge keeps: every complete cell once, by (GPU, cell id), with the index of its run;
/// the same cell from two runs is a conflict, refused.
fn keep_cells(runs: &[StoredRun]) -> Result<Kept> {
    let mut kept: Kept = BTreeMap::new();
    let mut conflicts = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        // A launch that failed for a reason of the machine (port in use, engine missing, GPU still
        // held) measured nothing about its config: its cells are missing until a re-run.
        let retry = super::read::environmental_launches(&r.launches);
        let measured =
            |c: &&CellResult| c.status != CellStatus::Interrupted && !(c.status == CellStatus::Infeasible && retry.contains(&c.launch_id));
        for c in r.cells.iter().filter(measured) {
            let key = (r.manifest.gpu_label.clone(), c.cell.id.clone());
            match kept.get(&key) {
                Some((j, _)) => {
                    conflicts.push(format!("{}: cell {} is in both {} and {}", key.0, key.1, runs[*j].dir.display(), r.dir.display()))
                }
                None => {
                    kept.insert(key, (i, c.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "{} cell(s) were measured in more than one folder; a merge does not choose between measurements:\n  {}\nmerge without one of the folders",
            conflicts.len(),
            conflicts.join("\n  ")
        );
    }
    Ok(kept)
}

/// Copies the kept cells and their launches into `tmp` (tagged by GPU when several), each with its
/// provenance; returns how many launches were written.
fn copy_cells(tmp: &Path, runs: &[StoredRun], kept: &Kept, multi: bool) -> Result<usize> {
    let mut launches_written = std::collections::BTreeSet::new();
    for ((gpu, id), (i, cell)) in kept {
        let r = &runs[*i];
        let dst = tmp.join(super::layout::CELLS).join(tagged(id, gpu, multi));
        copy_dir(&r.dir.join(super::layout::CELLS).join(id), &dst)?;
        let mut cell = cell.clone();
        cell.provenance = Some(provenance(r));
        write_json(&dst.join(super::layout::SUMMARY), &cell)?;
        if launches_written.insert((gpu.clone(), cell.launch_id.clone())) {
            let from = r.dir.join(super::layout::LAUNCHES).join(&cell.launch_id);
            if from.is_dir() {
                let to = tmp.join(super::layout::LAUNCHES).join(tagged(&cell.launch_id, gpu, multi));
                copy_dir(&from, &to)?;
                if let Ok(mut l) = read_json::<crate::results::records::LaunchRecord>(&to.join(super::layout::LAUNCH)) {
                    l.provenance = Some(provenance(r));
                    write_json(&to.join(super::layout::LAUNCH), &l)?;
                }
            }
        }
    }
    Ok(launches_written.len())
}

/// Copies each run's searches (a finished one over an unfinished one of the same target).
fn copy_searches(tmp: &Path, runs: &[StoredRun], multi: bool) -> Result<()> {
    for r in runs {
        for s in &r.searches {
            let to = tmp.join(super::layout::SEARCHES).join(tagged(&s.target.id, &r.manifest.gpu_label, multi));
            let newer = read_json::<super::search::SearchRecord>(&to.join(super::layout::SEARCH)).is_ok_and(|o| o.done || !s.done);
            if !newer {
                copy_dir(&r.dir.join(super::layout::SEARCHES).join(&s.target.id), &to)?;
                let mut s = s.clone();
                s.provenance = Some(provenance(r));
                write_json(&to.join(super::layout::SEARCH), &s)?;
            }
        }
    }
    Ok(())
}

/// capacity.csv of the merge: one block per GPU under one header.
fn merged_csv(scenario: &crate::scenario::schema::Scenario, runs: &[StoredRun], kept: &Kept, gpus: &[String]) -> Result<Vec<u8>> {
    let axes: Vec<String> = scenario.grid.server.keys().cloned().collect();
    let mut csv = Vec::new();
    for g in gpus {
        let cells: Vec<CellResult> = kept.iter().filter(|((gg, _), _)| gg == g).map(|(_, (_, c))| c.clone()).collect();
        let price = runs.iter().find(|r| &r.manifest.gpu_label == g).and_then(|r| r.manifest.price.clone());
        let block = csv_export::capacity_csv(g, &axes, price.as_ref(), &cells)?;
        let skip = if csv.is_empty() { 0 } else { block.iter().position(|b| *b == b'\n').map_or(block.len(), |p| p + 1) };
        csv.extend_from_slice(&block[skip..]);
    }
    Ok(csv)
}

/// The merged folder's manifest: the first run's, with the merge's id, GPUs, span, counts and sources.
fn merged_manifest(
    out: &Path,
    runs: &[StoredRun],
    gpus: &[String],
    sources: &[MergeSource],
    cells: usize,
    launches: usize,
    complete: bool,
) -> super::manifest::Manifest {
    let mut m = runs[0].manifest.clone();
    m.run_id = out.file_name().and_then(|n| n.to_str()).unwrap_or("merged").to_string();
    m.gpu_label = gpus.join(" + ");
    m.price = if gpus.len() > 1 { None } else { m.price };
    m.started_at = runs.iter().map(|r| r.manifest.started_at.clone()).min().unwrap_or_default();
    m.finished_at = runs.iter().filter_map(|r| r.manifest.finished_at.clone()).max();
    m.status = if complete { RunStatus::Complete } else { RunStatus::Incomplete };
    m.cells = cells;
    m.launches = launches;
    m.engines = runs.iter().flat_map(|r| r.manifest.engines.clone()).collect();
    m.resumed_at = Vec::new();
    m.shard = None;
    m.merged_from = sources.to_vec();
    m
}
