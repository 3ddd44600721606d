//! Predicted vs measured, per launch: what `runner estimate` said before the launch against what the
//! engine reported at startup and what the cells measured. Pure.

use crate::results::records::CellResult;
use crate::store::read::StoredRun;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub gpu: String,
    pub launch_id: String,
    pub predicted_kv_tokens: u64,
    pub measured_kv_tokens: Option<u64>,
    pub kv_tokens_error_pct: Option<f64>,
    pub predicted_kv_gib: f64,
    pub measured_kv_gib: Option<f64>,
    pub kv_gib_error_pct: Option<f64>,
    pub predicted_weights_gib: f64,
    pub measured_weights_gib: Option<f64>,
    /// Weights + KV + activations + overhead, against the memory at ready (GPU memory, or the
    /// engine's RSS); llama.cpp's compute buffers and vLLM's CUDA graphs are not in the prediction.
    pub predicted_memory_gib: f64,
    pub measured_memory_gib: Option<f64>,
    pub predicted_max_concurrency: f64,
    pub measured_max_concurrency: Option<f64>,
    /// The best measured output tok/s of a closed-loop cell of this launch as a share of the decode
    /// roofline at its concurrency (None without a roofline or a measured cell).
    pub roofline_share: Option<f64>,
    pub roofline_concurrency: Option<u32>,
    /// The launch did not start although it was predicted to (or the reverse).
    pub refusal_predicted: bool,
    pub started: bool,
}

fn err(pred: f64, meas: Option<f64>) -> Option<f64> {
    meas.filter(|m| *m > 0.0).map(|m| (pred - m) / m * 100.0)
}

pub fn rows(run: &StoredRun) -> Vec<Row> {
    run.launches
        .iter()
        .filter_map(|l| {
            let p = l.prediction.as_ref()?;
            let b = &p.budget;
            let f = &l.facts;
            let cells: Vec<&CellResult> = run.cells.iter().filter(|c| c.launch_id == l.id).collect();
            let best = cells
                .iter()
                .filter_map(|c| Some((c.cell.load.closed()?, c.summary.as_ref()?.throughput_tok_s)))
                .filter_map(|(conc, tok)| Some((conc, tok / p.roofline.iter().find(|(rc, _)| *rc == conc)?.1)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            Some(Row {
                gpu: run.manifest.gpu_label.clone(),
                launch_id: l.id.clone(),
                predicted_kv_tokens: b.kv_tokens,
                measured_kv_tokens: f.kv_cache_tokens,
                kv_tokens_error_pct: err(b.kv_tokens as f64, f.kv_cache_tokens.map(|t| t as f64)),
                predicted_kv_gib: b.kv_gib,
                measured_kv_gib: f.kv_cache_gib,
                kv_gib_error_pct: err(b.kv_gib, f.kv_cache_gib),
                predicted_weights_gib: b.weights_gib,
                measured_weights_gib: f.weights_gib,
                predicted_memory_gib: b.weights_gib + b.kv_gib + b.activation_gib + b.overhead_gib,
                measured_memory_gib: l.memory_at_ready.as_ref().and_then(|m| m.primary_bytes()).map(|x| x as f64 / 1073741824.0),
                predicted_max_concurrency: b.max_concurrency,
                measured_max_concurrency: f.max_concurrency,
                roofline_share: best.map(|x| x.1),
                roofline_concurrency: best.map(|x| x.0),
                refusal_predicted: b.refusal.is_some(),
                started: l.failure.is_none(),
            })
        })
        .collect()
}
