//! The load driver: a closed loop at fixed concurrency. Workers take the next request from a shared
//! queue, send it, and hand the record to one collector over a channel. Cancellation stops new sends
//! and marks requests in flight as `interrupted`.

use super::client::{send, RequestSpec};
use super::record::RequestRecord;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Result of one phase (warm-up or measured) of a cell.
pub struct PhaseResult {
    pub records: Vec<RequestRecord>,
    pub wall_s: f64,
    pub interrupted: bool,
}

/// Sends every spec with at most `concurrency` in flight. `t0` is the cell's time origin;
/// `on_record` is called for each finished request (progress reporting).
pub async fn closed_loop(
    client: &reqwest::Client,
    base_url: &str,
    specs: Vec<RequestSpec>,
    concurrency: u32,
    t0: Instant,
    cancel: &CancellationToken,
    mut on_record: impl FnMut(&RequestRecord),
) -> PhaseResult {
    let n = specs.len();
    let specs = Arc::new(specs);
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let workers = (concurrency as usize).min(n).max(1);
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (specs, next, tx, cancel) = (specs.clone(), next.clone(), tx.clone(), cancel.clone());
        let (client, base_url) = (client.clone(), base_url.to_string());
        handles.push(tokio::spawn(async move {
            loop {
                if cancel.is_cancelled() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(spec) = specs.get(i) else { break };
                let scheduled = Instant::now();
                let rec = tokio::select! {
                    r = send(&client, &base_url, spec, t0, scheduled) => r,
                    _ = cancel.cancelled() => interrupted(spec, t0, scheduled),
                };
                if tx.send(rec).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let mut records = Vec::with_capacity(n);
    while let Some(rec) = rx.recv().await {
        on_record(&rec);
        records.push(rec);
    }
    for h in handles {
        let _ = h.await;
    }
    records.sort_by_key(|r| r.index);
    PhaseResult { records, wall_s: start.elapsed().as_secs_f64(), interrupted: cancel.is_cancelled() }
}

fn interrupted(spec: &RequestSpec, t0: Instant, scheduled: Instant) -> RequestRecord {
    let ms = |t: Instant| t.saturating_duration_since(t0).as_secs_f64() * 1000.0;
    RequestRecord {
        index: spec.index,
        warmup: spec.warmup,
        scheduled_ms: ms(scheduled),
        sent_ms: ms(scheduled),
        end_ms: ms(Instant::now()),
        streamed: spec.stream,
        error: Some("interrupted".into()),
        error_detail: Some("the run was interrupted while this request was in flight".into()),
        ..RequestRecord::default()
    }
}
