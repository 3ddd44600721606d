//! Sequential vs concurrent (the lab logs' day-7 question): the same requests sent one at a time and
//! at concurrency N on the same launch. Cells that differ only in concurrency send the same requests
//! (`plan::request_seed`), so their wall times compare like for like. Pure.

use crate::store::records::CellResult;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub concurrency: u32,
    pub requests: usize,
    pub wall_s: f64,
    pub requests_per_s: f64,
    pub throughput_tok_s: f64,
    pub p95_e2e_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub launch_id: String,
    pub workload: String,
    pub max_tokens: u32,
    pub sequential: Side,
    pub concurrent: Side,
    /// Sequential wall time / concurrent wall time for the same requests.
    pub speedup: f64,
}

/// A side of the comparison: a measured cell on an undisturbed machine (a neighbour's load would make
/// the speed-up say nothing of the engine).
fn side(r: &CellResult) -> Option<Side> {
    if r.quality.disturbed {
        return None;
    }
    let s = r.summary.as_ref().filter(|s| s.ok > 0 && s.wall_s > 0.0)?;
    Some(Side {
        concurrency: r.cell.load.concurrency().unwrap_or(0),
        requests: s.requests,
        wall_s: s.wall_s,
        requests_per_s: s.requests_per_s,
        throughput_tok_s: s.throughput_tok_s,
        p95_e2e_ms: s.e2e_ms.as_ref().map(|d| d.p95),
    })
}

/// Closed-loop pairs (concurrency 1 and N, same launch, workload, max_tokens and request count)
/// that could not be compared because a side was measured on a disturbed machine.
pub fn withheld(results: &[CellResult]) -> usize {
    let closed = |r: &&CellResult| r.cell.load.closed().is_some() && r.summary.as_ref().is_some_and(|s| s.ok > 0);
    results
        .iter()
        .filter(closed)
        .filter(|r| r.cell.load.closed() == Some(1))
        .flat_map(|seq| {
            results.iter().filter(closed).filter(move |c| {
                c.cell.load.closed().is_some_and(|n| n > 1)
                    && c.launch_id == seq.launch_id
                    && c.cell.workload == seq.cell.workload
                    && c.cell.max_tokens == seq.cell.max_tokens
                    && (c.quality.disturbed || seq.quality.disturbed)
            })
        })
        .count()
}

pub fn compare(results: &[CellResult]) -> Vec<Comparison> {
    let closed = |r: &&CellResult| r.cell.load.closed().is_some();
    let mut out = Vec::new();
    for seq in results.iter().filter(closed).filter(|r| r.cell.load.closed() == Some(1)) {
        let Some(seq_side) = side(seq) else { continue };
        for conc in results.iter().filter(closed).filter(|r| {
            r.cell.load.closed().is_some_and(|c| c > 1)
                && r.launch_id == seq.launch_id
                && r.cell.workload == seq.cell.workload
                && r.cell.max_tokens == seq.cell.max_tokens
        }) {
            let Some(c) = side(conc) else { continue };
            if c.requests != seq_side.requests {
                continue;
            }
            out.push(Comparison {
                launch_id: seq.launch_id.clone(),
                workload: seq.cell.workload.clone(),
                max_tokens: seq.cell.max_tokens,
                speedup: seq_side.wall_s / c.wall_s,
                sequential: seq_side.clone(),
                concurrent: c,
            });
        }
    }
    out
}
