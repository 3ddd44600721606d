//! The grid table printed at the end of `runner run`: one row per cell.

use crate::store::records::CellResult;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.0}"))
}

pub fn grid_table(results: &[CellResult]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["launch", "workload", "concurrency", "max_tokens", "p95 TTFT ms", "p95 E2E ms", "tok/s", "errors", "SLO"]);
    for r in results {
        let s = r.summary.as_ref();
        let slo = match r.status {
            crate::store::records::CellStatus::Ok => "pass".to_string(),
            crate::store::records::CellStatus::SloFail => format!("FAIL: {}", r.reason.clone().unwrap_or_default()),
            other => format!("{}: {}", other.as_str(), r.reason.clone().unwrap_or_default()),
        };
        let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
        t.add_row(vec![
            Cell::new(&r.launch_id),
            Cell::new(&r.cell.workload),
            right(r.cell.concurrency.to_string()),
            right(r.cell.max_tokens.to_string()),
            right(ms(s.and_then(|s| s.ttft_ms.as_ref().map(|d| d.p95)))),
            right(ms(s.and_then(|s| s.e2e_ms.as_ref().map(|d| d.p95)))),
            right(s.map_or("-".into(), |s| format!("{:.1}", s.throughput_tok_s))),
            right(s.map_or("-".into(), |s| s.errors.to_string())),
            Cell::new(slo),
        ]);
    }
    t.to_string()
}
