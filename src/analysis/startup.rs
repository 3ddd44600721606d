//! The lab's "key values" of every launch (Day 002, Task 3.1): what the engine reserved and reported
//! at start, whatever the server axes are, probe-only runs and refused launches included. Pure.

use crate::results::records::LaunchRecord;
use crate::store::read::StoredRun;
use serde::{Deserialize, Serialize};

/// One launch's startup facts, as the engine printed them (None: not in its log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartupRow {
    pub run_id: String,
    pub launch_id: String,
    pub server: String,
    pub engine: String,
    /// The launch's server-axis values as text ("" without axes).
    pub server_params: String,
    pub weights_gib: Option<f64>,
    pub kv_cache_gib: Option<f64>,
    pub kv_cache_tokens: Option<u64>,
    /// Concurrent requests of `max_concurrency_tokens` the KV cache holds (the engine's figure).
    pub max_concurrency: Option<f64>,
    pub max_concurrency_tokens: Option<u64>,
    pub cuda_graph_gib: Option<f64>,
    pub cuda_graph_capture_s: Option<f64>,
    pub init_engine_s: Option<f64>,
    pub compile_s: Option<f64>,
    pub ready_s: Option<f64>,
    pub dtype: Option<String>,
    pub attention_backend: Option<String>,
    /// Memory once ready: GPU memory (NVML) where measured, else the process tree's RSS, bytes.
    pub memory_at_ready_bytes: Option<f64>,
    /// Why it did not start, when it did not.
    pub failure: Option<String>,
}

fn row(run: &StoredRun, l: &LaunchRecord, axes: &[String]) -> StartupRow {
    let f = &l.facts;
    let params =
        run.cells.iter().find(|c| c.launch_id == l.id).map_or(String::new(), |c| super::capacity::axes_label(&c.cell.params, axes));
    let memory = l.memory_at_ready.as_ref().and_then(|m| m.gpu_process_bytes.or(m.gpu_used_bytes).or(m.rss_bytes)).map(|b| b as f64);
    StartupRow {
        run_id: run.manifest.run_id.clone(),
        launch_id: l.id.clone(),
        server: l.server.clone(),
        engine: l.engine.as_str().to_string(),
        server_params: params,
        weights_gib: f.weights_gib,
        kv_cache_gib: f.kv_cache_gib,
        kv_cache_tokens: f.kv_cache_tokens,
        max_concurrency: f.max_concurrency,
        max_concurrency_tokens: f.max_concurrency_tokens_per_request,
        cuda_graph_gib: f.cuda_graph_gib,
        cuda_graph_capture_s: f.cuda_graph_capture_s,
        init_engine_s: f.init_engine_s,
        compile_s: f.compile_s,
        ready_s: l.ready_s,
        dtype: f.dtype.clone(),
        attention_backend: f.attention_backend.clone(),
        memory_at_ready_bytes: memory,
        failure: l.failure.as_ref().map(crate::results::launch::StartFailure::label),
    }
}

/// Every launch of `run`, in launch order.
pub fn rows(run: &StoredRun, axes: &[String]) -> Vec<StartupRow> {
    run.launches.iter().map(|l| row(run, l, axes)).collect()
}
