//! KV-cache scaling over a server axis (max_model_len, ctx_size): memory at ready vs the axis, fitted
//! by least squares (slope = bytes per token, R² = linearity), steps, the theoretical bytes per token
//! and the headroom envelope. Also the gpu-memory-utilization table. Pure.

use crate::store::read::StoredRun;
use crate::telemetry::facts::theoretical_kv_bytes_per_token;
use crate::telemetry::memory::MemorySource;
use serde::{Deserialize, Serialize};

/// Server axes that set a context length.
pub const CONTEXT_AXES: &[&str] = &["max_model_len", "ctx_size", "context_length", "c"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub tokens: f64,
    pub memory_bytes: f64,
    /// What the engine itself reported as KV size at this point (bytes), when it did.
    pub engine_kv_bytes: Option<f64>,
    pub engine_kv_tokens: Option<u64>,
    pub launch_id: String,
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
    pub axis: String,
    /// `nvml` (GPU memory) or `process_rss`.
    pub memory_source: MemorySource,
    pub points: Vec<Point>,
    /// Memory at ready vs context tokens.
    pub memory_fit: Option<Fit>,
    /// The engine's own KV size vs context tokens (llama.cpp KV buffer), when reported.
    pub engine_kv_fit: Option<Fit>,
    pub theoretical_bytes_per_token: Option<f64>,
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

/// One KV-scaling study per run whose grid has a context axis and at least two measured launches.
pub fn kv_scaling(run: &StoredRun) -> Option<KvScaling> {
    let cells: Vec<_> = run.cells.iter().filter(|c| c.startup.as_ref().is_some_and(|s| s.memory_at_ready.is_some())).collect();
    let axis = CONTEXT_AXES.iter().find(|a| cells.iter().any(|c| c.cell.params.contains_key(**a)))?.to_string();
    let mut points: Vec<Point> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in &cells {
        if !seen.insert(c.launch_id.clone()) {
            continue;
        }
        let Some(tokens) = c.cell.params.get(&axis).and_then(|v| v.as_f64()) else { continue };
        let st = c.startup.as_ref()?;
        let Some(mem) = st.memory_at_ready.as_ref().and_then(|m| m.primary_bytes()) else { continue };
        points.push(Point {
            tokens,
            memory_bytes: mem as f64,
            engine_kv_bytes: st.facts.kv_buffer_mib.map(|m| m * 1024.0 * 1024.0).or(st.facts.kv_cache_gib.map(|g| g * 1073741824.0)),
            engine_kv_tokens: st.facts.kv_cache_tokens,
            launch_id: c.launch_id.clone(),
        });
    }
    if points.len() < 2 {
        return None;
    }
    points.sort_by(|a, b| a.tokens.total_cmp(&b.tokens));
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
    let range = points.last()?.memory_bytes - points.first()?.memory_bytes;
    let steps = match memory_fit {
        Some(f) if range > 0.0 => points
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
        axis,
        memory_source: run.manifest.telemetry.memory_source,
        slope_vs_theory: match (memory_fit, theory) {
            (Some(f), Some(t)) if t > 0.0 => Some(f.slope / t),
            _ => None,
        },
        points,
        memory_fit,
        engine_kv_fit,
        theoretical_bytes_per_token: theory,
        steps,
        envelope,
    })
}

/// KV GiB, KV tokens and maximum concurrency per gpu-memory-utilization setting (vLLM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtilRow {
    pub gpu_memory_utilization: String,
    pub status: crate::store::records::CellStatus,
    pub kv_cache_gib: Option<f64>,
    pub kv_cache_tokens: Option<u64>,
    pub max_concurrency: Option<f64>,
    pub tokens_per_request: Option<u64>,
    pub memory_at_ready_gib: Option<f64>,
}

pub fn util_table(run: &StoredRun) -> Vec<UtilRow> {
    let mut rows: Vec<UtilRow> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in &run.cells {
        let Some(u) = c.cell.params.get("gpu_memory_utilization") else { continue };
        if !seen.insert(c.launch_id.clone()) {
            continue;
        }
        let st = c.startup.as_ref();
        let f = st.map(|s| &s.facts);
        rows.push(UtilRow {
            gpu_memory_utilization: u.label(),
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
    rows
}

#[cfg(test)]
mod tests {
    #[test]
    fn least_squares() {
        let f = super::fit(&[1.0, 2.0, 3.0], &[12.0, 14.0, 16.0]).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 10.0).abs() < 1e-12 && (f.r2 - 1.0).abs() < 1e-12);
        assert!(super::fit(&[1.0], &[1.0]).is_none());
    }
}
