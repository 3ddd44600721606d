//! Sampling memory and the engine's `/metrics` while a cell runs (and once at readiness).

use super::memory::{MemoryProbe, MemorySample};
use super::prom::{self, EngineMetricsSummary, MetricsSample};
pub use crate::results::telemetry::MemorySummary;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

impl MemorySummary {
    /// Peak of the memory figure the analysis uses (same order as `MemorySample::primary_bytes`):
    /// the engine's GPU memory, else all GPU memory, else RSS.
    pub fn primary_peak_bytes(&self) -> Option<u64> {
        self.peak_gpu_process_bytes.filter(|b| *b > 0).or(self.peak_gpu_used_bytes).or(self.peak_rss_bytes)
    }
}

pub fn summarize_memory(source: super::memory::MemorySource, samples: &[MemorySample]) -> MemorySummary {
    let peak = |f: fn(&MemorySample) -> Option<u64>| samples.iter().filter_map(f).max();
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    MemorySummary {
        source,
        samples: samples.len(),
        peak_rss_bytes: peak(|s| s.rss_bytes),
        peak_gpu_used_bytes: peak(|s| s.gpu_used_bytes),
        peak_gpu_process_bytes: peak(|s| s.gpu_process_bytes),
        mean_gpu_util_pct: mean(samples.iter().filter_map(|s| s.gpu_util_pct.map(f64::from)).collect()),
        mean_power_w: mean(samples.iter().filter_map(|s| s.power_w).collect()),
        runner_fds_max: peak(|s| s.runner_fds),
        runner_rss_max_bytes: peak(|s| s.runner_rss_bytes),
        runner_cpu_pct: None,
        host_cpu: None,
    }
}

/// From this share of all cores (`runner_cpu_pct`), the runner's own timings may include its
/// queueing: the cell's line and the capacity notes say so (docs/performance.md).
pub const CLIENT_BUSY_PCT: f64 = 50.0;

/// CPU seconds (user + system) this process has used so far.
pub fn own_cpu_seconds() -> Option<f64> {
    let r = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok()?;
    let s = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Some(s(r.user_time()) + s(r.system_time()))
}

/// Percent of all cores used between two readings of `own_cpu_seconds` `wall_s` apart.
pub fn cpu_pct(cpu_s: f64, wall_s: f64, cores: usize) -> Option<f64> {
    (wall_s > 0.0 && cores > 0).then(|| 100.0 * cpu_s / (wall_s * cores as f64))
}

/// Time series and summaries of one cell, stored as `telemetry.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellTelemetry {
    pub memory: MemorySummary,
    pub engine: EngineMetricsSummary,
    pub memory_series: Vec<MemorySample>,
    pub metrics_series: Vec<MetricsSample>,
}

/// Where to sample: the engine's process group and its metrics URL.
#[derive(Clone)]
pub struct Target {
    pub probe: Arc<MemoryProbe>,
    pub pgid: Option<i32>,
    pub metrics_url: Option<String>,
    pub interval: Duration,
    pub client: reqwest::Client,
}

type Histograms = std::collections::BTreeMap<String, super::histogram::Histogram>;

/// The text of one `/metrics` scrape.
async fn fetch(client: &reqwest::Client, url: &str) -> Option<String> {
    let resp = client.get(url).timeout(Duration::from_secs(2)).send().await.ok()?;
    crate::engine::bounded_text(resp).await
}

/// The engine's histograms alone, for the before/after pair around a measured phase (the periodic
/// samples keep gauges and counters only).
async fn histograms(target: &Target) -> Option<Histograms> {
    let url = target.metrics_url.as_ref()?;
    let h = prom::histograms(&fetch(&target.client, url).await?);
    (!h.is_empty()).then_some(h)
}

/// The gap between the first and the second sample (later ones are `Target::interval` apart).
const FIRST_GAP: Duration = Duration::from_millis(100);

/// Runs `work` while sampling every `interval` (the second sample `FIRST_GAP` after the first), with
/// one sample before and one after it.
pub async fn during<F: Future>(target: &Target, t0: Instant, work: F) -> (F::Output, CellTelemetry) {
    let stop = CancellationToken::new();
    let t = target.clone();
    let stop2 = stop.clone();
    let sampler = tokio::spawn(async move {
        let client = t.client.clone();
        let ms = || t0.elapsed().as_secs_f64() * 1000.0;
        let (mut mem, mut met) = (Vec::new(), Vec::new());
        for round in 0u64.. {
            let probe = t.probe.clone();
            let pgid = t.pgid;
            let now = ms();
            if let Ok(s) = tokio::task::spawn_blocking(move || probe.sample(pgid, now)).await {
                mem.push(s);
            }
            if let Some(url) = &t.metrics_url {
                // Stamped when the scrape is sent: the one sent before the load starts stays out of
                // the load's window even when its answer comes after.
                let sent = ms();
                if let Some(values) = fetch(&client, url).await.map(|t| prom::parse(&t)).filter(|v| !v.is_empty()) {
                    met.push(MetricsSample { t_ms: sent, values });
                }
            }
            if stop2.is_cancelled() {
                break;
            }
            // The second sample comes soon after the first, so a cell shorter than the interval
            // still has one taken while its requests are in flight.
            let gap = if round == 0 { t.interval.min(FIRST_GAP) } else { t.interval };
            tokio::select! {
                _ = tokio::time::sleep(gap) => {}
                _ = stop2.cancelled() => {}
            }
        }
        (mem, met)
    });
    // Histograms are observed when a request finishes: one scrape before the phase and one after it
    // give exactly the phase's requests (the sampler's series keeps gauges and counters only).
    let hist0 = histograms(target).await;
    let (cpu0, wall0, host0) = (own_cpu_seconds(), Instant::now(), super::host_cpu::snapshot(target.pgid));
    let out = work.await;
    let (cpu1, wall_s, host1) = (own_cpu_seconds(), wall0.elapsed().as_secs_f64(), super::host_cpu::snapshot(target.pgid));
    stop.cancel();
    let hist1 = match hist0 {
        Some(_) => histograms(target).await,
        None => None,
    };
    let (mem, met) = sampler.await.unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut memory = summarize_memory(target.probe.source(), &mem);
    memory.runner_cpu_pct = cpu0.zip(cpu1).and_then(|(a, b)| cpu_pct(b - a, wall_s, cores));
    memory.host_cpu = host0.zip(host1).and_then(|(a, b)| super::host_cpu::between(&a, &b, cores));
    // The gauges (running, waiting, KV usage) count only samples taken while the work ran: the one
    // before it and the one after it show an idle engine.
    let ms_of = |i: Instant| i.saturating_duration_since(t0).as_secs_f64() * 1000.0;
    let start_ms = ms_of(wall0);
    let window = (start_ms, start_ms + wall_s * 1000.0);
    let mut engine = prom::summarize(&met, window);
    engine.phases = hist1.and_then(|after| super::histogram::phases(hist0.as_ref(), &after));
    let tel = CellTelemetry { memory, engine, memory_series: mem, metrics_series: met };
    (out, tel)
}

#[cfg(test)]
mod tests {
    use super::cpu_pct;

    #[test]
    fn cpu_share_is_of_all_cores() {
        assert_eq!(cpu_pct(1.0, 2.0, 2), Some(25.0));
        assert_eq!(cpu_pct(4.0, 2.0, 2), Some(100.0));
        assert_eq!(cpu_pct(1.0, 0.0, 2), None);
    }
}
