//! Trace replays as the reports show them: the trace as sent (its shape, the selection and every
//! change of its lengths) beside what the server did (latency over time, queue, KV usage, cached
//! share) and whether the replay kept its schedule. Pure.

use crate::results::records::{CellResult, CellStatus};
use crate::results::trace::{Replay, TraceNote};
use crate::store::read::StoredRun;
use serde::{Deserialize, Serialize};

/// One replayed cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceView {
    pub run_id: String,
    pub gpu: String,
    pub server: String,
    pub launch_id: String,
    pub workload: String,
    pub cell_id: String,
    pub status: CellStatus,
    pub reason: Option<String>,
    pub trace: TraceNote,
    pub replay: Replay,
    /// The share of prefix blocks the trace recorded as reused.
    pub block_reuse: Option<f64>,
    pub requests: usize,
    pub errors: usize,
    pub p95_ttft_ms: Option<f64>,
    pub p95_e2e_ms: Option<f64>,
    pub throughput_tok_s: f64,
    /// Prompt tokens the server reported as cached (its usage), and its own cache hit rate.
    pub cached_share: Option<f64>,
    pub engine_hit_rate: Option<f64>,
    pub kv_usage_max: Option<f64>,
    pub waiting_max: Option<f64>,
    pub running_max: Option<f64>,
    /// Measured requests whose prompt the server counted, and the mean count against the target.
    pub mean_prompt_tokens: Option<f64>,
    pub mean_target_tokens: Option<f64>,
}

/// The replayed cells of a run, in plan order.
pub fn views(run: &StoredRun, results: &[&CellResult]) -> Vec<TraceView> {
    let m = &run.manifest;
    results
        .iter()
        .filter_map(|r| {
            let s = r.summary.as_ref()?;
            let trace = s.prompt_build.as_ref()?.trace.clone()?;
            let eng = r.telemetry.as_ref().map(|t| &t.engine);
            Some(TraceView {
                run_id: m.run_id.clone(),
                gpu: m.gpu_label.clone(),
                server: r.server.clone(),
                launch_id: r.launch_id.clone(),
                workload: r.cell.workload.clone(),
                cell_id: r.cell.id.clone(),
                status: r.status,
                reason: r.reason.clone(),
                block_reuse: trace.block_reuse(),
                mean_target_tokens: trace.input_tokens.as_ref().map(|d| d.mean),
                trace,
                replay: s.replay.clone().unwrap_or_default(),
                requests: s.requests,
                errors: s.errors,
                p95_ttft_ms: s.ttft_seen().map(|d| d.p95),
                p95_e2e_ms: s.e2e_seen().map(|d| d.p95),
                throughput_tok_s: s.throughput_tok_s,
                cached_share: s.cached_share,
                engine_hit_rate: eng.and_then(|e| e.prefix_cache_hit_rate),
                kv_usage_max: eng.and_then(|e| e.kv_cache_usage_max),
                waiting_max: eng.and_then(|e| e.waiting_max),
                running_max: eng.and_then(|e| e.running_max),
                mean_prompt_tokens: s.prompt_tokens_per_request.as_ref().map(|d| d.mean),
            })
        })
        .collect()
}
