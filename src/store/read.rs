//! Reading a stored run back (for `runner report`, resume and merges across machines).

use super::manifest::Manifest;
use super::{read_json, RunStore};
use crate::results::records::{CellResult, LaunchRecord};
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

/// The sub-folders of `dir`, sorted; a symbolic link is not followed (a folder from another machine
/// may point anywhere on this one).
fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The last component of a folder path as text.
fn folder_name(d: &Path) -> &str {
    d.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

/// Refuses names a runner never writes (a line break, a control character, `<` `>` backtick `|`):
/// reports print them into Markdown and HTML as they are.
fn plain<'a>(file: &Path, fields: impl Iterator<Item = (&'a str, &'a str)>) -> Result<()> {
    for (key, v) in fields {
        if !crate::scenario::validate::is_plain_text(v) {
            bail!(
                "{}: `{key}` = {:?} holds a line break, a control character or one of < > ` |, which runner never writes; the file was altered",
                file.display(),
                v.chars().take(80).collect::<String>()
            );
        }
    }
    Ok(())
}

/// Refuses a record whose id is not a plain folder name or is not the name of the folder it was read
/// from (in a merge of several GPUs, `<id>@<gpu>`): every later use of the id as a path then stays
/// inside that folder.
fn check_id(what: &str, id: &str, dir: &Path, file: &str) -> Result<()> {
    super::safe_id(what, id).with_context(|| format!("in {}", dir.join(file).display()))?;
    let name = folder_name(dir);
    if id != name && !name.strip_prefix(id).is_some_and(|rest| rest.starts_with('@')) {
        bail!("{}: {what} {id:?} is not the name of its folder; the folder was altered or not written by runner", dir.display());
    }
    Ok(())
}

pub fn read_run(dir: &Path) -> Result<StoredRun> {
    let store = RunStore::open(dir.to_path_buf());
    if !store.manifest_path().is_file() {
        bail!("{} is not a run folder (no manifest.json); pass results/<scenario>/<run-id>", dir.display());
    }
    let manifest: Manifest = read_json(&store.manifest_path())?;
    let m = &manifest;
    let texts =
        [("gpu_label", &m.gpu_label), ("run_id", &m.run_id), ("scenario_name", &m.scenario_name), ("host.hostname", &m.host.hostname)];
    plain(&store.manifest_path(), texts.iter().map(|(k, v)| (*k, v.as_str())))?;
    let launches = read_launches(dir)?;
    let mut cells = Vec::new();
    for (d, c) in read_each::<CellResult>(&dir.join(super::layout::CELLS), super::layout::SUMMARY)? {
        check_id("cell id", &c.cell.id, &d, super::layout::SUMMARY)?;
        let texts = [("server", c.server.as_str()), ("engine", c.engine.as_str()), ("model", c.model.as_deref().unwrap_or_default())];
        plain(&d.join(super::layout::SUMMARY), texts.into_iter())?;
        super::safe_id("launch id", &c.launch_id).with_context(|| format!("in {}", d.join(super::layout::SUMMARY).display()))?;
        cells.push(c);
    }
    cells.sort_by_key(|c| c.cell.index);
    let searches = read_searches(dir)?;
    Ok(StoredRun { dir: dir.to_path_buf(), manifest, launches, cells, searches })
}

/// The `file` of every sub-folder of `dir` that has one, in folder-name order (none when `dir` is
/// missing).
fn read_each<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<Vec<(PathBuf, T)>> {
    let mut out = Vec::new();
    for d in sorted_dirs(dir) {
        let p = d.join(file);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
            let v = read_json(&p).with_context(|| format!("reading {}", p.display()))?;
            out.push((d, v));
        }
    }
    Ok(out)
}

/// The search records of a run folder (none for a grid run).
pub fn read_searches(dir: &Path) -> Result<Vec<super::search::SearchRecord>> {
    let mut out = Vec::new();
    for (d, s) in read_each::<super::search::SearchRecord>(&dir.join(super::layout::SEARCHES), super::layout::SEARCH)? {
        check_id("search id", &s.target.id, &d, super::layout::SEARCH)?;
        out.push(s);
    }
    out.sort_by_key(|s| s.target.index);
    Ok(out)
}

/// The launch records of a run folder, their startup facts normalised (`engine::facts::normalise`).
/// (Reports rebuild the portable recipe from the scenario; the run's own recipe file carries this
/// machine's port.)
pub fn read_launches(dir: &Path) -> Result<Vec<LaunchRecord>> {
    let mut out = Vec::new();
    for (d, mut l) in read_each::<LaunchRecord>(&dir.join(super::layout::LAUNCHES), super::layout::LAUNCH)? {
        check_id("launch id", &l.id, &d, super::layout::LAUNCH)?;
        let texts = [("server", l.server.as_str()), ("engine", l.engine.as_str()), ("model", l.model.as_deref().unwrap_or_default())];
        plain(&d.join(super::layout::LAUNCH), texts.into_iter())?;
        l.facts = crate::engine::facts::normalise(l.engine, std::mem::take(&mut l.facts));
        out.push(l);
    }
    Ok(out)
}

/// The ids of launches that failed for an environmental reason (their cells are run again by a
/// resume, and a merge counts them missing, not measured).
pub fn environmental_launches(launches: &[LaunchRecord]) -> std::collections::BTreeSet<String> {
    launches.iter().filter(|l| l.failure.as_ref().is_some_and(|f| f.reason.is_environmental())).map(|l| l.id.clone()).collect()
}

/// Expands arguments into run folders: a run folder itself, or a folder holding run folders
/// (`results/<scenario>`), or a results root (`results`).
pub fn find_runs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.join(super::layout::MANIFEST).is_file() {
            out.push(p.clone());
            continue;
        }
        let mut found = Vec::new();
        for d in sorted_dirs(p) {
            if d.join(super::layout::MANIFEST).is_file() {
                found.push(d);
            } else {
                found.extend(sorted_dirs(&d).into_iter().filter(|x| x.join(super::layout::MANIFEST).is_file()));
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
    let gpu_of = |p: &Option<crate::results::records::Provenance>| p.as_ref().map(|p| p.gpu.clone());
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

/// The largest `requests.jsonl` read back (a cell of a million requests writes about 400 MiB).
pub const MAX_REQUESTS_BYTES: u64 = 1 << 30;

/// A cell's stored requests (`requests.jsonl`), None when the cell has none; a line that does not
/// parse is an error naming the file and line.
pub fn read_requests(dir: &Path, cell_id: &str) -> Result<Option<Vec<crate::results::record::RequestRecord>>> {
    super::safe_id("cell id", cell_id)?;
    let p = dir.join(super::layout::CELLS).join(cell_id).join(super::layout::REQUESTS);
    if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let text = crate::bounded::read_text(&p, MAX_REQUESTS_BYTES).with_context(|| format!("reading {}", p.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        out.push(serde_json::from_str(line).with_context(|| format!("{}:{}: not a request record", p.display(), i + 1))?);
    }
    Ok(Some(out))
}
