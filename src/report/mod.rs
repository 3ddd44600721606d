//! Presenting results: the end-of-run tables, SVG charts, and the minijinja-rendered reports.

pub mod charts;
pub mod plan;
pub mod render;
pub mod table;

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Reads the run folders (see `store::read::find_runs`), builds the report model and writes every
/// report into `out`.
pub fn report_runs(run_dirs: &[PathBuf], out: &Path, templates: Option<&Path>) -> Result<Vec<PathBuf>> {
    let runs = run_dirs.iter().map(|d| crate::store::read::read_run(d)).collect::<Result<Vec<_>>>()?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let data = crate::analysis::report::build(&runs, &now);
    render::write_reports(&data, out, templates)
}
