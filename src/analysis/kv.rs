//! KV-cache scaling over a server axis (max_model_len, ctx_size): memory at ready vs the axis, fitted
//! by least squares (slope = bytes per token, R² = linearity), steps, the theoretical bytes per token
//! and the headroom envelope. Also the gpu-memory-utilization table. Pure.

use crate::engine::spec::EngineSpec;
use crate::scenario::schema::EngineKind;
use crate::store::read::StoredRun;
use crate::telemetry::facts::theoretical_kv_bytes_per_token;
use crate::telemetry::memory::MemorySource;
use serde::{Deserialize, Serialize};

/// The flags of a run's engines that `pick` names (`EngineSpec::context_flags`, `kv_budget_flags`),
/// in the registry's order.
fn engine_axes(run: &StoredRun, pick: fn(&dyn EngineSpec) -> &'static [&'static str]) -> Vec<&'static str> {
    let mut engines: Vec<EngineKind> = run.cells.iter().map(|c| c.engine).collect();
    engines.sort();
    engines.dedup();
    engines.into_iter().flat_map(|e| pick(crate::engine::spec(e)).iter().copied()).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub tokens: f64,
    pub memory_bytes: f64,
    /// What the engine itself reported as KV size at this point (bytes), when it did.
    pub engine_kv_bytes: Option<f64>,
    pub engine_kv_tokens: Option<u64>,
    /// Concurrent requests of this context length the KV cache holds (the engine's figure, else
    /// its KV tokens / context).
    #[serde(default)]
    pub max_concurrency: Option<f64>,
    pub launch_id: String,
    /// The lab's `delta_mb_from_prev` and `bytes_per_token_est`: memory at ready minus the previous
    /// (shorter) point's, and that change over the change of tokens (None on the first row).
    #[serde(default)]
    pub delta_bytes: Option<f64>,
    #[serde(default)]
    pub step_bytes_per_token: Option<f64>,
    /// That change is within the measurement noise (`noise_floor_bytes`): the estimate is not read.
    #[serde(default)]
    pub step_within_noise: bool,
}

/// Fills each point's change from the previous one (points sorted by tokens). Pure.
fn steps_from_previous(points: &mut [Point]) {
    for i in 1..points.len() {
        let (prev, this) = (&points[i - 1], &points[i]);
        let delta = this.memory_bytes - prev.memory_bytes;
        let tokens = this.tokens - prev.tokens;
        let noise = noise_floor_bytes((this.memory_bytes + prev.memory_bytes) / 2.0);
        let p = &mut points[i];
        p.delta_bytes = Some(delta);
        p.step_bytes_per_token = (tokens > 0.0).then(|| delta / tokens);
        p.step_within_noise = delta.abs() <= noise;
    }
}

/// Changes of memory at ready smaller than this are measurement noise: 1% of the mean, at least
/// 4 MiB (allocator slack, page-cache effects and sampling move resident memory by a few MiB between
/// identical launches; vLLM CPU: 4586.9..4595.2 MiB over three launches with the same KV budget).
pub fn noise_floor_bytes(mean_bytes: f64) -> f64 {
    (0.01 * mean_bytes).max(4.0 * 1048576.0)
}

/// What the points say before any line is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Largest minus smallest memory at ready.
    pub memory_range_bytes: f64,
    pub noise_bytes: f64,
    /// The range is within noise: memory did not follow the axis, and linearity is not judged.
    pub flat: bool,
    /// The growth a KV cache sized by context would show over the axis' range (theory x tokens).
    pub expected_change_bytes: Option<f64>,
    /// The engine reported the same KV size (within 1%) at every point: it reserves its KV cache by
    /// a budget, not by the context length (vLLM).
    pub preallocated: bool,
    /// That KV size, when preallocated.
    pub preallocated_kv_bytes: Option<f64>,
}

/// Flat or moving, and preallocated or not, from the points alone. Pure.
pub fn read(points: &[Point], theory: Option<f64>) -> Option<Reading> {
    let mem: Vec<f64> = points.iter().map(|p| p.memory_bytes).collect();
    let (lo, hi) = (mem.iter().copied().fold(f64::INFINITY, f64::min), mem.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    if mem.len() < 2 {
        return None;
    }
    let mean = mem.iter().sum::<f64>() / mem.len() as f64;
    let noise = noise_floor_bytes(mean);
    let kv: Vec<f64> = points.iter().filter_map(|p| p.engine_kv_bytes).collect();
    let kv_lo = kv.iter().copied().fold(f64::INFINITY, f64::min);
    let kv_hi = kv.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let preallocated = kv.len() == points.len() && kv_hi > 0.0 && (kv_hi - kv_lo) <= 0.01 * kv_hi;
    let tokens = points.iter().map(|p| p.tokens);
    let span = tokens.clone().fold(f64::NEG_INFINITY, f64::max) - tokens.fold(f64::INFINITY, f64::min);
    Some(Reading {
        memory_range_bytes: hi - lo,
        noise_bytes: noise,
        flat: hi - lo <= noise,
        expected_change_bytes: theory.map(|t| t * span),
        preallocated,
        preallocated_kv_bytes: preallocated.then_some(kv_hi),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub slope: f64,
    pub intercept: f64,
    pub r2: f64,
}

pub fn fit(xs: &[f64], ys: &[f64]) -> Option<Fit> {
    let n = xs.len() as f64;
    if xs.len() < 2 {
        return None;
    }
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_tot: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    let ss_res: f64 = xs.iter().zip(ys).map(|(x, y)| (y - (slope * x + intercept)).powi(2)).sum();
    Some(Fit { slope, intercept, r2: if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { 1.0 } })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvScaling {
    pub gpu: String,
    pub server: String,
    /// The other server-axis values this series holds fixed ("" when there are none).
    #[serde(default)]
    pub fixed: String,
    pub axis: String,
    /// `nvml` (GPU memory) or `process_rss`.
    pub memory_source: MemorySource,
    pub points: Vec<Point>,
    /// Memory at ready vs context tokens.
    pub memory_fit: Option<Fit>,
    /// The engine's own KV size vs context tokens (llama.cpp KV buffer), when reported.
    pub engine_kv_fit: Option<Fit>,
    pub theoretical_bytes_per_token: Option<f64>,
    /// Flat within noise or moving, preallocated or not (`read`).
    #[serde(default)]
    pub reading: Option<Reading>,
    /// measured slope / theoretical, when both exist.
    pub slope_vs_theory: Option<f64>,
    /// Points whose memory departs from the fitted line by more than 5% of the range: steps.
    pub steps: Vec<String>,
    /// How many concurrent requests of each length fit in the KV cache (engine-reported tokens).
    pub envelope: Vec<EnvelopeRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeRow {
    pub launch_id: String,
    pub context: f64,
    pub kv_tokens: u64,
    /// (request length, requests that fit)
    pub fits: Vec<(u64, u64)>,
}

/// Cell parameters that are the load, not the server config.
const LOAD_KEYS: &[&str] = &["concurrency", "request_rate", "trace_speed", "max_tokens"];

/// A cell's server-axis values other than `axis`, as text ("max_model_len=2048").
fn other_axes(c: &crate::results::records::CellResult, axis: &str) -> String {
    let others: Vec<String> = c
        .cell
        .params
        .iter()
        .filter(|(k, _)| k.as_str() != axis && !LOAD_KEYS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", v.label()))
        .collect();
    others.join(" ")
}

/// The server config of a cell apart from `axis`: its server name and other server-axis values.
/// Launches that share it form one series (a KV budget axis beside a context axis gives one series
/// per budget, never a line through both).
fn series_key(c: &crate::results::records::CellResult, axis: &str) -> (String, String) {
    (c.server.clone(), other_axes(c, axis))
}

/// One KV-scaling study per series of a run (same server, same other server axes) over a context
/// axis, with at least two measured launches.
pub fn kv_scaling(run: &StoredRun) -> Vec<KvScaling> {
    let cells: Vec<_> = run.cells.iter().filter(|c| c.startup.as_ref().is_some_and(|s| s.memory_at_ready.is_some())).collect();
    let axes = engine_axes(run, |s| s.context_flags());
    let Some(axis) = axes.iter().find(|a| cells.iter().any(|c| c.cell.params.contains_key(**a))) else { return vec![] };
    let mut keys: Vec<(String, String)> = cells.iter().map(|c| series_key(c, axis)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let series: Vec<&crate::results::records::CellResult> = cells.iter().copied().filter(|c| series_key(c, axis) == k).collect();
            one_series(run, &series, axis, k.1)
        })
        .collect()
}

fn one_series(run: &StoredRun, cells: &[&crate::results::records::CellResult], axis: &str, fixed: String) -> Option<KvScaling> {
    let axis = axis.to_string();
    let mut points: Vec<Point> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in cells {
        if !seen.insert(c.launch_id.clone()) {
            continue;
        }
        let Some(tokens) = c.cell.params.get(&axis).and_then(|v| v.as_f64()) else { continue };
        let st = c.startup.as_ref()?;
        let Some(mem) = st.memory_at_ready.as_ref().and_then(|m| m.primary_bytes()) else { continue };
        points.push(Point {
            tokens,
            memory_bytes: mem as f64,
            engine_kv_bytes: st.facts.kv_cache_gib.map(|g| g * 1073741824.0),
            engine_kv_tokens: st.facts.kv_cache_tokens,
            max_concurrency: st.facts.max_concurrency.or_else(|| st.facts.kv_cache_tokens.map(|k| k as f64 / tokens)),
            launch_id: c.launch_id.clone(),
            delta_bytes: None,
            step_bytes_per_token: None,
            step_within_noise: false,
        });
    }
    if points.len() < 2 {
        return None;
    }
    points.sort_by(|a, b| a.tokens.total_cmp(&b.tokens));
    steps_from_previous(&mut points);
    let xs: Vec<f64> = points.iter().map(|p| p.tokens).collect();
    let memory_fit = fit(&xs, &points.iter().map(|p| p.memory_bytes).collect::<Vec<_>>());
    let kv_pts: Vec<(f64, f64)> = points.iter().filter_map(|p| p.engine_kv_bytes.map(|b| (p.tokens, b))).collect();
    let engine_kv_fit = if kv_pts.len() == points.len() {
        fit(&kv_pts.iter().map(|p| p.0).collect::<Vec<_>>(), &kv_pts.iter().map(|p| p.1).collect::<Vec<_>>())
    } else {
        None
    };
    let facts = &cells.first()?.startup.as_ref()?.facts;
    let theory = theoretical_kv_bytes_per_token(facts);
    let reading = read(&points, theory);
    let flat = reading.as_ref().is_some_and(|r| r.flat);
    let range = points.last()?.memory_bytes - points.first()?.memory_bytes;
    // Steps and slopes are read only off a change that is real: a line through noise means nothing.
    let steps = match memory_fit {
        Some(f) if range > 0.0 && !flat => points
            .iter()
            .filter(|p| (p.memory_bytes - (f.slope * p.tokens + f.intercept)).abs() > 0.05 * range)
            .map(|p| {
                format!(
                    "{} at {} tokens is {:.1} MiB off the line",
                    p.launch_id,
                    p.tokens,
                    (p.memory_bytes - (f.slope * p.tokens + f.intercept)) / 1048576.0
                )
            })
            .collect(),
        _ => vec![],
    };
    let envelope = points
        .iter()
        .filter_map(|p| {
            let kv = p.engine_kv_tokens?;
            let lens = [512u64, 1024, 2048, 4096, p.tokens as u64];
            let mut fits: Vec<(u64, u64)> = lens.iter().filter(|l| **l <= p.tokens as u64).map(|l| (*l, kv / l)).collect();
            fits.dedup();
            Some(EnvelopeRow { launch_id: p.launch_id.clone(), context: p.tokens, kv_tokens: kv, fits })
        })
        .collect();
    Some(KvScaling {
        gpu: run.manifest.gpu_label.clone(),
        server: cells.first()?.server.clone(),
        fixed,
        axis,
        memory_source: run.manifest.telemetry.memory_source,
        slope_vs_theory: match (memory_fit, theory) {
            (Some(f), Some(t)) if t > 0.0 && !flat => Some(f.slope / t),
            _ => None,
        },
        reading,
        points,
        memory_fit,
        engine_kv_fit,
        theoretical_bytes_per_token: theory,
        steps,
        envelope,
    })
}

/// KV GiB, KV tokens and maximum concurrency per KV budget setting (vLLM: gpu-memory-utilization or
/// kv-cache-memory-bytes), one row per launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilRow {
    /// The budget axis' value as text.
    pub gpu_memory_utilization: String,
    /// The launch's other server-axis values ("max_model_len=2048").
    #[serde(default)]
    pub others: String,
    /// vLLM's estimated maximum model length when the budget was too small to start.
    #[serde(default)]
    pub estimated_max_model_len: Option<u64>,
    pub status: crate::results::records::CellStatus,
    pub kv_cache_gib: Option<f64>,
    pub kv_cache_tokens: Option<u64>,
    pub max_concurrency: Option<f64>,
    pub tokens_per_request: Option<u64>,
    pub memory_at_ready_gib: Option<f64>,
}

/// The budget table of a run: its budget axis' name and one row per launch (empty without one).
pub fn util_table(run: &StoredRun) -> (String, Vec<UtilRow>) {
    let axes = engine_axes(run, |s| s.kv_budget_flags());
    let Some(axis) = axes.iter().find(|a| run.cells.iter().any(|c| c.cell.params.contains_key(**a))) else {
        return (String::new(), vec![]);
    };
    let mut rows: Vec<UtilRow> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in &run.cells {
        let Some(u) = c.cell.params.get(*axis) else { continue };
        if !seen.insert(c.launch_id.clone()) {
            continue;
        }
        let st = c.startup.as_ref();
        let f = st.map(|s| &s.facts);
        let failure = run.launches.iter().find(|l| l.id == c.launch_id).and_then(|l| l.failure.as_ref());
        rows.push(UtilRow {
            gpu_memory_utilization: u.label(),
            others: other_axes(c, axis),
            estimated_max_model_len: failure.and_then(|f| f.estimated_max_model_len),
            status: c.status,
            kv_cache_gib: f.and_then(|f| f.kv_cache_gib),
            kv_cache_tokens: f.and_then(|f| f.kv_cache_tokens),
            max_concurrency: f.and_then(|f| f.max_concurrency),
            tokens_per_request: f.and_then(|f| f.max_concurrency_tokens_per_request),
            memory_at_ready_gib: st
                .and_then(|s| s.memory_at_ready.as_ref())
                .and_then(|m| m.primary_bytes())
                .map(|b| b as f64 / 1073741824.0),
        });
    }
    (axis.to_string(), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(tokens: f64, mib: f64, kv_gib: Option<f64>) -> Point {
        Point {
            tokens,
            memory_bytes: mib * 1048576.0,
            engine_kv_bytes: kv_gib.map(|g| g * 1073741824.0),
            engine_kv_tokens: None,
            max_concurrency: None,
            launch_id: format!("l{tokens}"),
            delta_bytes: None,
            step_bytes_per_token: None,
            step_within_noise: false,
        }
    }

    #[test]
    fn each_row_gets_the_change_from_the_previous_and_its_bytes_per_token() {
        // The lab's delta_mb_from_prev and bytes_per_token_est: +300 B/token on a ~100 MiB process,
        // then a step within noise (2 MiB on ~110 MiB, below the 4 MiB floor).
        let mut pts = vec![pt(8192.0, 100.0, None), pt(40960.0, 100.0 + 32768.0 * 300.0 / 1048576.0, None), pt(41984.0, 111.375, None)];
        steps_from_previous(&mut pts);
        assert_eq!(pts[0].delta_bytes, None);
        assert!((pts[1].step_bytes_per_token.unwrap() - 300.0).abs() < 1e-9);
        assert!(!pts[1].step_within_noise);
        assert!(pts[2].step_within_noise, "{:?}", pts[2]);
    }

    #[test]
    fn vllm_memory_that_stays_within_noise_is_flat_and_preallocated() {
        // Measured on the real vLLM CPU build: max_model_len 1024 / 4096 / 16384 at a 1 GiB budget.
        let pts = [pt(1024.0, 4587.6, Some(1.0)), pt(4096.0, 4586.9, Some(1.0)), pt(16384.0, 4595.2, Some(1.0))];
        let r = read(&pts, Some(1024.0)).unwrap();
        assert!(r.flat && r.preallocated, "{r:?}");
        assert!((r.memory_range_bytes / 1048576.0 - 8.3).abs() < 0.01);
        // A cache sized by context would have grown by 15 MiB: the theory's change, said beside it.
        assert!((r.expected_change_bytes.unwrap() / 1048576.0 - 15.0).abs() < 0.01);
    }

    #[test]
    fn llamacpp_memory_that_follows_the_context_is_not_flat() {
        // kv_scaling_cpu's shape: 256 B/token over 8k..256k tokens on a ~100 MiB process.
        let pts: Vec<Point> =
            [8192.0, 65536.0, 262144.0].iter().map(|t| pt(*t, 100.0 + t * 300.0 / 1048576.0, Some(t * 256.0 / 1073741824.0))).collect();
        let r = read(&pts, Some(256.0)).unwrap();
        assert!(!r.flat && !r.preallocated, "{r:?}");
    }

    #[test]
    fn least_squares() {
        let f = super::fit(&[1.0, 2.0, 3.0], &[12.0, 14.0, 16.0]).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 10.0).abs() < 1e-12 && (f.r2 - 1.0).abs() < 1e-12);
        assert!(super::fit(&[1.0], &[1.0]).is_none());
    }
}
