//! `runner import`, `runner export` and `runner compare`: reading and writing the field's formats,
//! and comparing two runs.

use crate::interop::{self as io, folder};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Reads every file (each in its detected or given format) and writes one run folder.
pub(super) fn import(files: &[PathBuf], format: Option<io::Format>, labels: &folder::Labels, out: PathBuf) -> anyhow::Result<ExitCode> {
    let read = files.iter().map(|f| io::read_file(f, format)).collect::<anyhow::Result<Vec<_>>>()?;
    let w = folder::write(&read, labels, out)?;
    println!("imported {} cell(s) from {} file(s) into {}", w.cells, files.len(), w.dir.display());
    for f in &read {
        for c in &f.cells {
            let load = c.load.map_or("the load given on the command line".into(), |l| l.label());
            let ttft = c.ttft.p50.map_or("not given".into(), |x| format!("{x:.1} ms"));
            println!(
                "  {} [{}{}]: {}, {} of {} requests ok, median TTFT {ttft} (its own definition), {} per-request records",
                f.name,
                c.tool.label(),
                c.tool_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default(),
                load,
                c.ok,
                c.requests,
                if c.samples.is_empty() { "no".to_string() } else { c.samples.len().to_string() }
            );
        }
    }
    if w.per_request < w.cells {
        println!(
            "  {} cell(s) have no per-request data: `runner compare` reports their figures without a noise test",
            w.cells - w.per_request
        );
    }
    println!("render it with: runner report {}", w.dir.display());
    Ok(ExitCode::SUCCESS)
}

/// One Benchmark Report document per measured cell, as `<cell id>.json` and `<cell id>.yaml`.
pub(super) fn export(dir: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let run = crate::store::read::read_run(dir)?;
    let docs = io::benchmark_report::export(&run)?;
    if docs.is_empty() {
        anyhow::bail!("{} has no measured cell to export", dir.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (id, doc) in &docs {
        crate::store::safe_id("cell id", id)?;
        crate::store::write_json(&out.join(format!("{id}.json")), doc)?;
        let yaml = serde_norway::to_string(doc)?;
        crate::store::atomic_write(&out.join(format!("{id}.yaml")), yaml.as_bytes())?;
    }
    println!("wrote {} Benchmark Report v{} document(s) (JSON and YAML) to {}", docs.len(), io::benchmark_report::VERSION, out.display());
    Ok(ExitCode::SUCCESS)
}

/// Exit code of a comparison that found a regression beyond the threshold.
const REGRESSION_EXIT: u8 = 4;

/// Compares run B against run A and writes the reports; exit 4 on a regression, 1 when no cell
/// matched.
pub(super) fn compare(
    a: &Path,
    b: &Path,
    threshold: f64,
    min_effect: f64,
    map: &[String],
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut rules = crate::analysis::compare::Rules { threshold_pct: threshold, min_effect_pct: min_effect, ..Default::default() };
    for m in map {
        let Some((x, y)) = m.split_once('=') else {
            anyhow::bail!("--map {m:?}: give A_NAME=B_NAME (a server config or workload name of A, and its counterpart in B)");
        };
        rules.map.insert(x.trim().to_string(), y.trim().to_string());
    }
    if !(threshold > 0.0 && min_effect >= 0.0) {
        anyhow::bail!("--threshold must be above 0 and --min-effect at least 0 (percent)");
    }
    let runs = [crate::store::read::read_run(a)?, crate::store::read::read_run(b)?];
    let requests = |side: usize, id: &str| crate::store::read::read_requests(&runs[side].dir, id).ok().flatten();
    let c = crate::analysis::compare::compare(&runs[0], &runs[1], &rules, &requests);
    let out = out.unwrap_or_else(|| PathBuf::from("compare"));
    let written = crate::report::compare::write(&c, &out)?;
    println!("{}", c.summary);
    for p in &c.pairs {
        let worst = p.worst_pct.map(|w| format!(", worst {w:.0}% worse")).unwrap_or_default();
        println!("  {} -> {}: {}{worst}{}", p.a_cell, p.b_cell, p.verdict.words(), if p.regression { " (regression)" } else { "" });
    }
    for x in &c.only_a {
        println!("  only in A: {x}");
    }
    for x in &c.only_b {
        println!("  only in B: {x}");
    }
    for x in &c.unmeasured {
        println!("  without figures in {x}");
    }
    for p in written {
        println!("  {}", p.display());
    }
    if c.pairs.is_empty() {
        return Ok(ExitCode::from(1));
    }
    Ok(if c.regression { ExitCode::from(REGRESSION_EXIT) } else { ExitCode::SUCCESS })
}
