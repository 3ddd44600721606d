//! Presenting results: the end-of-run tables, SVG charts, and the minijinja-rendered reports.

pub mod charts;
pub mod compare;
pub mod plan;
pub mod render;
pub mod table;

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Reads the run folders (see `store::read::find_runs`), builds the report model and writes every
/// report into `out`.
pub fn report_runs(run_dirs: &[PathBuf], out: &Path, templates: Option<&Path>) -> Result<Vec<PathBuf>> {
    report_runs_priced(run_dirs, out, templates, None)
}

/// `report_runs` with a prices file whose `[prices.<gpu label>]` tables replace the prices the runs
/// were made with (or give them one).
pub fn report_runs_priced(run_dirs: &[PathBuf], out: &Path, templates: Option<&Path>, prices: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut runs = Vec::new();
    for d in run_dirs {
        runs.extend(crate::store::read::split_by_gpu(crate::store::read::read_run(d)?));
    }
    if let Some(path) = prices {
        let table = crate::scenario::prices::read_file(path).map_err(anyhow::Error::msg)?;
        for r in &mut runs {
            if let Some(p) = table.get(&r.manifest.gpu_label) {
                r.manifest.price = Some(p.clone());
            }
        }
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let data = crate::analysis::report::build(&runs, &now);
    render::write_reports(&data, out, templates)
}
