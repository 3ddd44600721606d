//! The grid table printed at the end of `runner run`: one row per cell.

use crate::results::records::CellResult;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.0}"))
}

/// `disturbed_above_pct`: the run's limit on others' CPU share, named under the table.
pub fn grid_table(results: &[CellResult], disturbed_above_pct: f64) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "launch",
        "workload",
        "concurrency",
        "rate/s",
        "max_tokens",
        "p95 TTFT ms",
        "p95 E2E ms",
        "tok/s",
        "goodput/s",
        "errors",
        "SLO",
        "quality",
    ]);
    for r in results {
        let s = r.summary.as_ref();
        let slo = match r.status {
            crate::results::records::CellStatus::Ok => "pass".to_string(),
            crate::results::records::CellStatus::SloFail => format!("FAIL: {}", r.reason.clone().unwrap_or_default()),
            other => format!("{}: {}", other.as_str(), r.reason.clone().unwrap_or_default()),
        };
        let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
        t.add_row(vec![
            Cell::new(&r.launch_id),
            Cell::new(&r.cell.workload),
            right(r.cell.load.concurrency().map_or("-".into(), |c| c.to_string())),
            right(r.cell.load.rate().map_or("-".into(), |x| x.to_string())),
            right(r.cell.max_tokens.to_string()),
            right(ms(s.and_then(|s| s.ttft_seen().map(|d| d.p95)))),
            right(ms(s.and_then(|s| s.e2e_seen().map(|d| d.p95)))),
            right(s.map_or("-".into(), |s| format!("{:.1}", s.throughput_tok_s))),
            right(s.and_then(|s| s.goodput_rps).map_or("-".into(), |g| format!("{g:.2}"))),
            right(s.map_or("-".into(), |s| s.errors.to_string())),
            Cell::new(slo),
            Cell::new(quality(r)),
        ]);
    }
    format!(
        "{t}\n(p95 TTFT and E2E count from the scheduled send: open-loop queueing included; quality `disturbed`: other processes used \
         more than {:.0}% of this machine's CPU during the cell)",
        disturbed_above_pct
    )
}

/// "disturbed (others 48% CPU)", "unstable", the repeats' spread, or "ok".
fn quality(r: &CellResult) -> String {
    let q = &r.quality;
    let mut parts = Vec::new();
    if q.disturbed {
        parts.push(format!("disturbed (others {:.0}% CPU)", q.others_cpu_pct.unwrap_or(f64::NAN)));
    }
    if q.unstable {
        parts.push("unstable".to_string());
    }
    if let Some(t) = q.spread.as_ref().and_then(|s| s.p95_ttft_ms) {
        parts.push(format!("{} repeats, p95 TTFT {:.0}..{:.0}", q.repeats.len(), t.min, t.max));
    }
    if parts.is_empty() {
        if q.others_cpu_pct.is_some() { "ok" } else { "not checked" }.into()
    } else {
        parts.join("; ")
    }
}

/// Sequential vs concurrent: both wall times, QPS, tok/s and the speed-up.
pub fn comparison_table(c: &[crate::analysis::sequential::Comparison]) -> Option<String> {
    if c.is_empty() {
        return None;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "launch",
        "workload",
        "max_tokens",
        "requests",
        "sequential wall s",
        "concurrency",
        "concurrent wall s",
        "QPS 1 -> N",
        "tok/s 1 -> N",
        "speed-up",
    ]);
    for x in c {
        t.add_row(vec![
            x.launch_id.clone(),
            x.workload.clone(),
            x.max_tokens.to_string(),
            x.sequential.requests.to_string(),
            format!("{:.2}", x.sequential.wall_s),
            x.concurrent.concurrency.to_string(),
            format!("{:.2}", x.concurrent.wall_s),
            format!("{:.2} -> {:.2}", x.sequential.requests_per_s, x.concurrent.requests_per_s),
            format!("{:.1} -> {:.1}", x.sequential.throughput_tok_s, x.concurrent.throughput_tok_s),
            format!("{:.2}x", x.speedup),
        ]);
    }
    Some(t.to_string())
}

/// A load as tables show it: whole numbers without decimals ("9"), rates as given ("2.5").
pub fn load_text(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// The boundary searches of a run: one row per server config and workload.
pub fn search_table(rows: &[crate::analysis::search::SearchRow]) -> Option<String> {
    if rows.is_empty() {
        return None;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "launch",
        "workload",
        "max load under SLO",
        "first failing",
        "kind",
        "tok/s there",
        "p95 TTFT",
        "probes (dense grid)",
        "stopped because",
    ]);
    let q = |v: Option<f64>| v.map_or_else(|| "-".into(), load_text);
    for r in rows {
        let boundary = match (&r.infeasible, r.boundary) {
            (Some(_), _) => "infeasible".to_string(),
            (None, Some(b)) => format!("{} {}", r.unit, q(Some(b))),
            (None, None) => "none".to_string(),
        };
        t.add_row(vec![
            Cell::new(&r.launch_id),
            Cell::new(&r.workload),
            Cell::new(boundary).set_alignment(CellAlignment::Right),
            Cell::new(q(r.first_fail)).set_alignment(CellAlignment::Right),
            Cell::new(r.kind.clone().unwrap_or_else(|| "-".into())),
            Cell::new(r.at.as_ref().map_or("-".into(), |a| format!("{:.1}", a.throughput_tok_s))).set_alignment(CellAlignment::Right),
            Cell::new(ms(r.at.as_ref().and_then(|a| a.p95_ttft_ms))).set_alignment(CellAlignment::Right),
            Cell::new(format!("{} ({})", r.probes, r.dense_grid_cells)),
            Cell::new(r.why_stopped.clone().unwrap_or_else(|| "not finished".into())),
        ]);
    }
    Some(t.to_string())
}
