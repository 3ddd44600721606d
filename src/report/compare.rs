//! `runner compare`'s reports: `compare.md` and `compare.html` (with both runs' frontiers drawn) and
//! `compare.json`, rendered from the comparison through minijinja templates.

use crate::analysis::compare::Comparison;
use anyhow::{Context, Result};
use minijinja::{Environment, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MD: &str = include_str!("../../templates/compare.md.j2");
const HTML: &str = include_str!("../../templates/compare.html.j2");

/// Throughput and p50 E2E against load, one line per run and series.
fn charts(c: &Comparison) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut units: Vec<&str> = c.points.iter().map(|p| p.unit.as_str()).collect();
    units.sort();
    units.dedup();
    for unit in units {
        type Y = fn(&crate::analysis::compare::Point) -> Option<f64>;
        let ys: [(&str, Y); 2] = [("tok/s", |p| p.tok_s), ("p50 E2E ms", |p| p.p50_e2e_ms)];
        for (name, y) in ys {
            let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for p in c.points.iter().filter(|p| p.unit == unit) {
                if let Some(v) = y(p) {
                    series.entry(p.series.clone()).or_default().push((p.x, v));
                }
            }
            let series: Vec<(String, Vec<(f64, f64)>)> = series
                .into_iter()
                .map(|(k, mut v)| {
                    v.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (k, v)
                })
                .collect();
            if let Some(svg) = super::charts::lines(&format!("A vs B: {name} by {unit}"), unit, name, &series) {
                out.insert(format!("{name} by {unit}"), svg);
            }
        }
    }
    out
}

pub fn render(c: &Comparison) -> Result<Vec<(String, String)>> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    super::render::add_filters(&mut env);
    env.add_template("compare.md.j2", MD)?;
    env.add_template("compare.html.j2", HTML)?;
    let ctx = minijinja::context! { c => Value::from_serialize(c), charts => Value::from_serialize(charts(c)) };
    let mut out = Vec::new();
    for (t, file) in [("compare.md.j2", "compare.md"), ("compare.html.j2", "compare.html")] {
        out.push((file.to_string(), env.get_template(t)?.render(&ctx).with_context(|| format!("rendering {t}"))?));
    }
    let mut json = serde_json::to_string_pretty(c)?;
    json.push('\n');
    out.push(("compare.json".into(), json));
    Ok(out)
}

pub fn write(c: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut paths = Vec::new();
    for (name, text) in render(c)? {
        let p = dir.join(name);
        crate::store::atomic_write(&p, text.as_bytes())?;
        paths.push(p);
    }
    Ok(paths)
}
