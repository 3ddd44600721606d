//! Sequential vs concurrent (the lab logs' day-7 question): the same requests sent one at a time and
//! at concurrency N on the same launch. Cells that differ only in concurrency send the same requests
//! (`plan::request_seed`), so their wall times compare like for like. Pure.

use crate::results::records::CellResult;
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

/// Closed-loop pairs of the same launch, workload and max_tokens: concurrency 1, then N > 1.
fn pairs(results: &[CellResult]) -> impl Iterator<Item = (&CellResult, &CellResult)> {
    let sequential = results.iter().filter(|r| r.cell.load.closed() == Some(1));
    sequential.flat_map(move |seq| {
        results
            .iter()
            .filter(move |c| {
                c.cell.load.closed().is_some_and(|n| n > 1)
                    && c.launch_id == seq.launch_id
                    && c.cell.workload == seq.cell.workload
                    && c.cell.max_tokens == seq.cell.max_tokens
            })
            .map(move |c| (seq, c))
    })
}

/// Pairs of measured cells that could not be compared because a side was measured on a disturbed
/// machine.
pub fn withheld(results: &[CellResult]) -> usize {
    let measured = |r: &CellResult| r.summary.as_ref().is_some_and(|s| s.ok > 0);
    pairs(results).filter(|(a, b)| measured(a) && measured(b) && (a.quality.disturbed || b.quality.disturbed)).count()
}

/// The comparisons of undisturbed pairs that sent the same requests.
pub fn compare(results: &[CellResult]) -> Vec<Comparison> {
    pairs(results)
        .filter_map(|(seq, conc)| {
            let (s, c) = (side(seq)?, side(conc)?);
            (c.requests == s.requests).then(|| Comparison {
                launch_id: seq.launch_id.clone(),
                workload: seq.cell.workload.clone(),
                max_tokens: seq.cell.max_tokens,
                speedup: s.wall_s / c.wall_s,
                sequential: s,
                concurrent: c,
            })
        })
        .collect()
}
