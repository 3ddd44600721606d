//! Rendering the report model with minijinja. Templates are embedded (from `templates/`) and a user may
//! point `--templates DIR` at copies: a file of the same name there replaces the embedded one.

use super::charts;
use crate::analysis::report::ReportData;
use anyhow::{Context, Result};
use minijinja::{Environment, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// (template file, output file, embedded text)
pub const TEMPLATES: &[(&str, &str, &str)] = &[
    ("capacity_frontier.md.j2", "capacity_frontier.md", include_str!("../../templates/capacity_frontier.md.j2")),
    ("playbook.md.j2", "playbook.md", include_str!("../../templates/playbook.md.j2")),
    ("life_of_request.md.j2", "life_of_request.md", include_str!("../../templates/life_of_request.md.j2")),
    ("kv_scaling.md.j2", "kv_scaling.md", include_str!("../../templates/kv_scaling.md.j2")),
    ("capacity_notes.md.j2", "capacity_notes.md", include_str!("../../templates/capacity_notes.md.j2")),
    ("report.html.j2", "report.html", include_str!("../../templates/report.html.j2")),
];

fn num(v: Value, digits: Option<usize>) -> String {
    match f64::try_from(v.clone()) {
        Ok(x) if x.is_finite() && !v.is_none() && !v.is_undefined() => format!("{:.*}", digits.unwrap_or(1), x),
        _ => "not measured".into(),
    }
}

/// A load (`table::load_text`); "-" when absent.
fn qty(v: Value) -> String {
    match f64::try_from(v.clone()) {
        Ok(x) if x.is_finite() && !v.is_none() && !v.is_undefined() => super::table::load_text(x),
        _ => "-".into(),
    }
}

fn pct(v: Value) -> String {
    match f64::try_from(v.clone()) {
        Ok(x) if !v.is_none() && !v.is_undefined() => format!("{:.1}%", x * 100.0),
        _ => "not measured".into(),
    }
}

fn mib(v: Value) -> String {
    match f64::try_from(v.clone()) {
        Ok(x) if !v.is_none() && !v.is_undefined() => format!("{:.1} MiB", x / 1048576.0),
        _ => "not measured".into(),
    }
}

/// Makes a value safe inside a Markdown table cell.
fn cell(v: Value) -> String {
    let s = if v.is_none() || v.is_undefined() { String::new() } else { v.to_string() };
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Templates the reports import (macros), not rendered on their own; a `--templates` folder may
/// replace them too.
const PARTIALS: &[(&str, &str)] =
    &[("notes.j2", include_str!("../../templates/notes.j2")), ("trace.j2", include_str!("../../templates/trace.j2"))];

/// The filters every report template uses (`num`, `pct`, `qty`, `mib`, `cell`).
pub fn add_filters(env: &mut Environment<'static>) {
    env.add_filter("num", num);
    env.add_filter("pct", pct);
    env.add_filter("qty", qty);
    env.add_filter("mib", mib);
    env.add_filter("cell", cell);
}

fn environment(templates_dir: Option<&Path>) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    add_filters(&mut env);
    for (name, text) in TEMPLATES.iter().map(|(n, _, t)| (n, t)).chain(PARTIALS.iter().map(|(n, t)| (n, t))) {
        let custom = templates_dir.map(|d| d.join(name)).filter(|p| p.is_file());
        let source = match custom {
            Some(p) => std::fs::read_to_string(&p).with_context(|| format!("reading template {}", p.display()))?,
            None => (*text).to_string(),
        };
        env.add_template_owned(*name, source).with_context(|| format!("template {name} does not parse"))?;
    }
    Ok(env)
}

/// The SVG charts, by name, for the HTML template.
fn charts_for(data: &ReportData) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    let groups: Vec<Value> = data
        .groups
        .iter()
        .map(|g| {
            Value::from_serialize(BTreeMap::from([
                ("throughput", charts::throughput(g).unwrap_or_default()),
                ("latency", charts::latency(g).unwrap_or_default()),
            ]))
        })
        .collect();
    m.insert("groups".to_string(), Value::from(groups));
    let mut workloads: Vec<&str> = data.groups.iter().map(|g| g.workload.as_str()).collect();
    workloads.sort();
    workloads.dedup();
    let frontier: BTreeMap<String, String> =
        workloads.iter().filter_map(|w| charts::frontier(data, w).map(|s| (w.to_string(), s))).collect();
    m.insert("frontier".into(), Value::from_serialize(frontier));
    m.insert("kv".into(), Value::from_serialize(data.kv_scaling.iter().map(|k| charts::kv(k).unwrap_or_default()).collect::<Vec<_>>()));
    m.insert("pareto".into(), Value::from_serialize(data.pareto.iter().map(|p| charts::pareto(p).unwrap_or_default()).collect::<Vec<_>>()));
    let traces: Vec<Value> = data
        .traces
        .iter()
        .map(|v| {
            Value::from_serialize(BTreeMap::from([
                ("arrivals", charts::trace_arrivals(v).unwrap_or_default()),
                ("latency", charts::trace_latency(v).unwrap_or_default()),
                ("engine", charts::trace_engine(v).unwrap_or_default()),
            ]))
        })
        .collect();
    m.insert("traces".to_string(), Value::from(traces));
    m.insert(
        "surfaces".into(),
        Value::from_serialize(data.surfaces.iter().map(|s| charts::surface(s).unwrap_or_default()).collect::<Vec<_>>()),
    );
    m
}

/// Renders every template: (output file name, text).
pub fn render_all(data: &ReportData, templates_dir: Option<&Path>) -> Result<Vec<(String, String)>> {
    let env = environment(templates_dir)?;
    let charts = charts_for(data);
    let mut out = Vec::new();
    for (name, file, _) in TEMPLATES {
        let t = env.get_template(name)?;
        let ctx = minijinja::context! { data => Value::from_serialize(data), charts => Value::from_serialize(&charts) };
        out.push((file.to_string(), t.render(ctx).with_context(|| format!("rendering {name}"))?));
    }
    Ok(out)
}

/// Renders and writes every report into `dir` (atomically); returns the paths written.
pub fn write_reports(data: &ReportData, dir: &Path, templates_dir: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for (file, text) in render_all(data, templates_dir)? {
        let p = dir.join(file);
        crate::store::atomic_write(&p, text.as_bytes())?;
        paths.push(p);
    }
    for p in &data.pareto {
        if let Some(svg) = charts::pareto(p) {
            let path = dir.join(&p.svg_file);
            crate::store::atomic_write(&path, svg.as_bytes())?;
            paths.push(path);
        }
    }
    crate::store::write_json(&dir.join(crate::store::layout::REPORT_DATA), data)?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use crate::analysis::notes::TrustNote;

    /// The notes' sentences come from `templates/notes.j2`: said once, escaped once in HTML.
    #[test]
    fn trust_notes_are_written_by_the_notes_template() {
        let mut data = crate::analysis::report::build(&[], "2026-01-01T00:00:00Z");
        data.trust.push(TrustNote::CurveDisturbed { workload: "chat".into(), gpu: "it's".into(), max_tokens: 64 });
        let out = super::render_all(&data, None).unwrap();
        let page = |name: &str| out.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()).unwrap();
        let md = page("playbook.md");
        assert!(md.contains("> **Trust:** The throughput curve of chat on it's at max_tokens 64 uses disturbed cells"), "{md}");
        let html = page("report.html");
        assert!(html.contains("curve of chat on it&#x27;s at max_tokens 64") && !html.contains("&amp;"), "{html}");
    }

    /// A reference TTFT helped by the engine's prompt cache says so (the quickstart's had ~97% of its
    /// prompt tokens cached, and no note).
    #[test]
    fn a_cache_served_ttft_is_a_trust_note() {
        let mut data = crate::analysis::report::build(&[], "2026-01-01T00:00:00Z");
        data.trust.push(TrustNote::PromptCache {
            run_id: "r1".into(),
            cells: 3,
            measured: 4,
            max_share: 0.97,
            cache_off: vec!["`extra_body = { cache_prompt = false }` in the workload".into()],
        });
        let out = super::render_all(&data, None).unwrap();
        let md = out.iter().find(|(n, _)| n == "playbook.md").map(|(_, t)| t.clone()).unwrap();
        assert!(
            md.contains(
                "Run r1: in 3 of 4 measured cells the engine served more than half of the prompt tokens from its cache (up to 97%)"
            ),
            "{md}"
        );
    }
}
