//! Capacity of one (GPU, server, workload) group: the sweet spot within the SLO, the knee and saturation
//! of the throughput curve, the jitter zone, and whether streaming is effective. Pure.

use crate::results::records::{CellResult, CellStatus};
use crate::scenario::schema::Slo;
use serde::{Deserialize, Serialize};

/// One cell as the reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellView {
    pub cell_id: String,
    pub launch_id: String,
    /// The cell's load, typed; templates see it as stored: `load.concurrency` (in flight, or an open
    /// loop's cap; none when uncapped) and `load.request_rate` (open loop).
    pub load: crate::plan::Load,
    /// The load as text: "concurrency 4", "2 req/s (at most 8 in flight)".
    pub load_label: String,
    pub max_tokens: u32,
    /// Server-axis values, typed as in the scenario.
    pub server_axes: indexmap::IndexMap<String, crate::scenario::schema::FlagValue>,
    /// The same as text, e.g. "max_model_len=4096" (display and grouping only; never parsed).
    pub server_params: String,
    pub status: CellStatus,
    pub reason: Option<String>,
    pub p50_ttft_ms: Option<f64>,
    pub p95_ttft_ms: Option<f64>,
    pub p50_e2e_ms: Option<f64>,
    pub p95_e2e_ms: Option<f64>,
    pub p95_tpot_ms: Option<f64>,
    pub p50_itl_ms: Option<f64>,
    pub throughput_tok_s: Option<f64>,
    pub requests_per_s: Option<f64>,
    pub goodput_rps: Option<f64>,
    pub errors: Option<usize>,
    pub output_tokens: Option<u64>,
    /// Others used more than `[scenario] disturbed_above_pct` of the machine during this cell.
    pub disturbed: bool,
    /// Its SLO verdict differed between repeats.
    pub unstable: bool,
    /// "disturbed", "unstable", both, or "" (tables); an imported cell says where it came from.
    pub flags: String,
    /// Beside an imported cell's figures: `*` defined otherwise than runner's, `†` not comparable.
    #[serde(default)]
    pub marks: super::imported::Marks,
    /// The most CPU others used during the cell, in % of all cores.
    pub others_cpu_pct: Option<f64>,
    /// Repeats measured, and the min..max of the verdict's figures over them (None for one).
    pub repeats: usize,
    pub spread: Option<crate::results::quality::Spread>,
    /// Cost of a million output tokens at this cell's throughput, at the run's GPU price.
    #[serde(default)]
    pub cost_per_mtok: Option<f64>,
    /// Preemptions the engine counted during the cell (vLLM `num_preemptions_total`, SGLang
    /// retractions): running requests evicted for lack of KV blocks.
    #[serde(default)]
    pub preemptions: Option<f64>,
    /// Mean E2E (the lab's `mean_e2e_s`, here in ms).
    #[serde(default)]
    pub mean_e2e_ms: Option<f64>,
    /// Mean GPU utilisation over the cell's samples (NVML; None without a GPU).
    #[serde(default)]
    pub gpu_util_pct: Option<f64>,
    /// Requests the engine itself reported running (its batch), mean and peak over the samples taken
    /// while the load ran (None: no sample fell inside the load, or no such gauge).
    #[serde(default)]
    pub engine_running_mean: Option<f64>,
    #[serde(default)]
    pub engine_running_max: Option<f64>,
    /// The engine samples those gauges were read off while the load ran (None: a run stored before
    /// the load's window was kept, whose gauges also counted the idle samples before and after).
    #[serde(default)]
    pub engine_samples_during_load: Option<usize>,
}

/// The engine's running batch (mean, peak) of a cell. A run stored before the load's window was
/// kept read its gauges off the idle samples too: a loaded cell whose peak is 0 there had no sample
/// inside its load, and is not measured rather than 0.
fn running_batch(r: &CellResult) -> (Option<f64>, Option<f64>) {
    let Some(e) = r.telemetry.as_ref().map(|t| &t.engine) else { return (None, None) };
    let served = r.summary.as_ref().is_some_and(|s| s.output_tokens > 0);
    match e.samples_during_load {
        None if served && e.running_max == Some(0.0) => (None, None),
        _ => (e.running_mean, e.running_max),
    }
}

impl CellView {
    pub fn of(r: &CellResult, server_axes: &[String]) -> Self {
        let (engine_running_mean, engine_running_max) = running_batch(r);
        let s = r.summary.as_ref();
        // A figure an imported file did not give is NaN in the summary: not measured here.
        let d = |f: fn(&crate::results::summary::CellSummary) -> Option<f64>| s.and_then(f).filter(|x| x.is_finite());
        CellView {
            cell_id: r.cell.id.clone(),
            launch_id: r.launch_id.clone(),
            load: r.cell.load,
            load_label: r.cell.load.label(),
            max_tokens: r.cell.max_tokens,
            server_axes: server_axes.iter().filter_map(|k| Some((k.clone(), r.cell.params.get(k)?.clone()))).collect(),
            server_params: axes_label(&r.cell.params, server_axes),
            status: r.status,
            reason: r.reason.clone(),
            p50_ttft_ms: d(|s| s.ttft_seen().map(|x| x.p50)),
            p95_ttft_ms: d(|s| s.ttft_seen().map(|x| x.p95)),
            p50_e2e_ms: d(|s| s.e2e_seen().map(|x| x.p50)),
            p95_e2e_ms: d(|s| s.e2e_seen().map(|x| x.p95)),
            p95_tpot_ms: d(|s| s.tpot_ms.as_ref().map(|x| x.p95)),
            p50_itl_ms: d(|s| s.itl_ms.as_ref().map(|x| x.p50)),
            throughput_tok_s: d(|s| Some(s.throughput_tok_s)),
            requests_per_s: d(|s| Some(s.requests_per_s)),
            goodput_rps: d(|s| s.goodput_rps),
            errors: s.map(|s| s.errors),
            output_tokens: s.map(|s| s.output_tokens),
            disturbed: r.quality.disturbed,
            unstable: r.quality.unstable,
            flags: match &r.import {
                Some(i) => [r.quality.flags(), format!("from {}", i.source_label())]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join(", "),
                None => r.quality.flags(),
            },
            marks: super::imported::Marks::of(r.import.as_ref()),
            others_cpu_pct: r.quality.others_cpu_pct,
            repeats: r.quality.repeats.len(),
            spread: r.quality.spread.clone(),
            cost_per_mtok: None,
            preemptions: r.telemetry.as_ref().and_then(|t| t.engine.preemptions),
            mean_e2e_ms: d(|s| s.e2e_seen().map(|x| x.mean)),
            gpu_util_pct: r.telemetry.as_ref().and_then(|t| t.memory.mean_gpu_util_pct),
            engine_running_mean,
            engine_running_max,
            engine_samples_during_load: r.telemetry.as_ref().and_then(|t| t.engine.samples_during_load),
        }
    }
}

/// Server-axis values as text ("max_model_len=4096 max_num_seqs=2"), for display and grouping.
pub fn axes_label(params: &indexmap::IndexMap<String, crate::scenario::schema::FlagValue>, axes: &[String]) -> String {
    axes.iter().filter_map(|k| params.get(k).map(|v| format!("{k}={}", v.label()))).collect::<Vec<_>>().join(" ")
}

/// The recommended operating point and how much room it leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    pub cell: CellView,
    /// Smallest relative distance to an SLO threshold, in % (None without thresholds).
    pub headroom_pct: Option<f64>,
    /// Which threshold binds ("p95 E2E 1500 ms").
    pub binding: Option<String>,
    /// Chosen among disturbed cells because no undisturbed cell met the SLO: not to be trusted.
    #[serde(default)]
    pub from_disturbed: bool,
}

/// Headroom of a cell against the thresholds of `slo`.
pub fn headroom(c: &CellView, slo: Option<&Slo>) -> (Option<f64>, Option<String>) {
    let Some(slo) = slo else { return (None, None) };
    let mut best: Option<(f64, String)> = None;
    for (name, limit, v) in [
        ("p95 TTFT", slo.p95_ttft_ms, c.p95_ttft_ms),
        ("p95 E2E", slo.p95_e2e_ms, c.p95_e2e_ms),
        ("p95 TPOT", slo.p95_tpot_ms, c.p95_tpot_ms),
    ] {
        if let (Some(l), Some(v)) = (limit, v) {
            let h = (l - v) / l * 100.0;
            if best.as_ref().is_none_or(|(b, _)| h < *b) {
                best = Some((h, format!("{name} {l:.0} ms")));
            }
        }
    }
    match best {
        Some((h, b)) => (Some(h), Some(b)),
        None => (None, None),
    }
}

/// Highest-throughput cell that meets every SLO, then the next best two. Cells measured on a
/// disturbed machine are left out unless no other cell meets the SLO (then the pick says so).
pub fn sweet_spot(cells: &[CellView], slo: Option<&Slo>) -> (Option<Pick>, Vec<Pick>) {
    let passing: Vec<&CellView> = cells.iter().filter(|c| c.status == CellStatus::Ok).collect();
    let from_disturbed = passing.iter().all(|c| c.disturbed);
    let mut ok: Vec<&CellView> = passing.into_iter().filter(|c| from_disturbed || !c.disturbed).collect();
    ok.sort_by(|a, b| b.throughput_tok_s.unwrap_or(0.0).total_cmp(&a.throughput_tok_s.unwrap_or(0.0)));
    let pick = |c: &CellView| {
        let (headroom_pct, binding) = headroom(c, slo);
        Pick { cell: c.clone(), headroom_pct, binding, from_disturbed }
    };
    let mut it = ok.into_iter().map(pick);
    let first = it.next();
    (first, it.take(2).collect())
}

/// Throughput curve over concurrency for one max_tokens (closed-loop cells with measurements).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub max_tokens: u32,
    pub server_params: String,
    pub peak_tok_s: f64,
    pub peak_concurrency: u32,
    /// First concurrency whose throughput is within 10% of the peak.
    pub knee_concurrency: u32,
    /// First concurrency from which no larger one gets 5% more throughput than the best so far.
    pub saturation_concurrency: Option<u32>,
    /// p95 E2E at the knee relative to concurrency 1 (how much latency the knee costs).
    pub latency_factor_at_knee: Option<f64>,
    /// Points measured on a disturbed machine are left out of the curve unless fewer than two
    /// undisturbed ones exist: then they are used, and this says so.
    #[serde(default)]
    pub uses_disturbed: bool,
}

/// Saturation on throughputs ordered by concurrency: the first point from which no larger
/// concurrency gets 5% more than the best so far; None when only the largest does (throughput still
/// rising at the end). A dip and a partial recovery after the peak is saturation at the peak, not a
/// rise (a search's probes read "peaks at 4 ... still rising" before).
fn saturation_index(tp: &[f64]) -> Option<usize> {
    let mut best = f64::MIN;
    (0..tp.len().saturating_sub(1)).find(|&i| {
        best = best.max(tp[i]);
        tp[i + 1..].iter().all(|t| *t < best * 1.05)
    })
}

pub fn curves(cells: &[CellView]) -> Vec<Curve> {
    let mut keys: Vec<(u32, String)> = cells.iter().map(|c| (c.max_tokens, c.server_params.clone())).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for (mt, sp) in keys {
        let mut pts: Vec<&CellView> = cells
            .iter()
            .filter(|c| {
                c.max_tokens == mt && c.server_params == sp && c.load.closed().is_some() && c.throughput_tok_s.is_some_and(|t| t > 0.0)
            })
            .collect();
        let calm = pts.iter().filter(|c| !c.disturbed).count();
        let uses_disturbed = calm < 2 && pts.iter().any(|c| c.disturbed);
        if !uses_disturbed {
            pts.retain(|c| !c.disturbed);
        }
        if pts.len() < 2 {
            continue;
        }
        pts.sort_by_key(|c| c.load.closed());
        let conc = |c: &CellView| c.load.closed().unwrap_or(0);
        let tp = |c: &CellView| c.throughput_tok_s.unwrap_or(0.0);
        let peak = pts.iter().copied().max_by(|a, b| tp(a).total_cmp(&tp(b))).expect("two points");
        let knee = pts.iter().find(|c| tp(c) >= 0.9 * tp(peak)).copied().unwrap_or(peak);
        let saturation = saturation_index(&pts.iter().map(|c| tp(c)).collect::<Vec<_>>()).map(|i| conc(pts[i]));
        let base = pts[0].p95_e2e_ms;
        out.push(Curve {
            max_tokens: mt,
            server_params: sp,
            peak_tok_s: tp(peak),
            peak_concurrency: conc(peak),
            knee_concurrency: conc(knee),
            saturation_concurrency: saturation,
            latency_factor_at_knee: match (knee.p95_e2e_ms, base) {
                (Some(k), Some(b)) if b > 0.0 => Some(k / b),
                _ => None,
            },
            uses_disturbed,
        });
    }
    out
}

/// Cells whose tail is unstable: p95 / p50 of E2E (or TTFT) above `factor`.
pub fn jitter_zone(cells: &[CellView], factor: f64) -> Vec<(CellView, f64)> {
    cells
        .iter()
        .filter_map(|c| {
            let ratio = |p95: Option<f64>, p50: Option<f64>| match (p95, p50) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let r = ratio(c.p95_e2e_ms, c.p50_e2e_ms)
                .into_iter()
                .chain(ratio(c.p95_ttft_ms, c.p50_ttft_ms))
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))?;
            (r > factor).then(|| (c.clone(), r))
        })
        .collect()
}

/// Streaming is ineffective when the first token arrives close to the end (TTFT ~ E2E).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamingCheck {
    pub checked_cells: usize,
    /// Cells with more than one output token whose p50 TTFT is at least 90% of p50 E2E.
    pub ineffective_cells: Vec<String>,
    pub median_ttft_share: Option<f64>,
    /// Cells sent without streaming: their TTFT equals E2E and says nothing of prefill.
    pub non_streamed_cells: usize,
}

pub fn streaming(results: &[&CellResult]) -> StreamingCheck {
    let mut shares = Vec::new();
    let mut bad = Vec::new();
    let non_streamed_cells = results.iter().filter(|r| r.summary.as_ref().is_some_and(|s| !s.streamed && s.requests > 0)).count();
    for r in results {
        let Some(s) = r.summary.as_ref().filter(|s| s.streamed && s.ok > 0) else { continue };
        let (Some(t), Some(e)) = (s.ttft_ms.as_ref(), s.e2e_ms.as_ref()) else { continue };
        if e.p50 <= 0.0 || s.output_tokens <= s.ok as u64 {
            continue;
        }
        let share = t.p50 / e.p50;
        shares.push(share);
        if share >= 0.9 {
            bad.push(r.cell.id.clone());
        }
    }
    shares.sort_by(f64::total_cmp);
    StreamingCheck {
        checked_cells: shares.len(),
        ineffective_cells: bad,
        median_ttft_share: shares.get(shares.len() / 2).copied(),
        non_streamed_cells,
    }
}

#[cfg(test)]
mod tests {
    use super::saturation_index;

    #[test]
    fn saturation_is_where_no_larger_load_gets_five_percent_more() {
        // A dip after the peak and a partial recovery: saturated at the peak.
        assert_eq!(saturation_index(&[100.0, 200.0, 300.0, 250.0, 280.0]), Some(2));
        assert_eq!(saturation_index(&[100.0, 200.0, 300.0, 400.0]), None);
        assert_eq!(saturation_index(&[100.0, 104.0, 103.0]), Some(0));
        assert_eq!(saturation_index(&[100.0]), None);
    }
}
