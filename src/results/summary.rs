//! Per-cell statistics from request records. Pure; definitions in `docs/metrics.md`.

use crate::results::record::{ErrorClass, RequestRecord};
use crate::scenario::schema::Slo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the prompts of a cell were made, for its summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildNote {
    /// Lengths came from the engine's tokenizer (exact) rather than a characters-per-token estimate.
    pub exact_lengths: Option<bool>,
    /// Prompt tokens the chat template and instruction add around the generated text.
    pub overhead_tokens: Option<u64>,
    /// A trace workload: the trace as this cell sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<super::trace::TraceNote>,
}

/// Distribution of one metric (milliseconds or tokens/s). Percentiles interpolate linearly between
/// closest ranks (numpy's default), so p50 of [1, 2] is 1.5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub n: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub min: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p50: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p90: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p95: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p99: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub max: f64,
}

/// A figure an imported file did not give (e.g. vLLM's p90 without `--metric-percentiles`) is NaN in
/// memory and `null` on disk (serde_json writes a non-finite number as null); reports print it as
/// not measured and the CSV leaves it empty. Runner's own distributions never hold one.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Dist {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Dist> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Dist {
            n: v.len(),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v[0],
            p50: percentile(&v, 50.0),
            p90: percentile(&v, 90.0),
            p95: percentile(&v, 95.0),
            p99: percentile(&v, 99.0),
            max: v[v.len() - 1],
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// Measured requests (warm-up excluded).
    pub requests: usize,
    pub ok: usize,
    pub errors: usize,
    pub error_rate: f64,
    pub errors_by_reason: BTreeMap<ErrorClass, usize>,
    /// Measured phase: first send to last response.
    pub wall_s: f64,
    pub output_tokens: u64,
    pub prompt_tokens: u64,
    /// Requests whose output token count came from the server's usage report.
    pub requests_with_usage: usize,
    /// System output tokens/s: all output tokens / wall time.
    pub throughput_tok_s: f64,
    /// Successful requests / wall time.
    pub requests_per_s: f64,
    /// Mean over requests of (output_tokens - 1) / (E2E - TTFT).
    pub mean_user_tok_s: Option<f64>,
    pub ttft_ms: Option<Dist>,
    pub itl_ms: Option<Dist>,
    pub tpot_ms: Option<Dist>,
    pub e2e_ms: Option<Dist>,
    /// False when the workload did not stream: TTFT then equals E2E and says nothing of prefill.
    pub streamed: bool,
    /// Latency from the *scheduled* send (open loop): client-side queueing included.
    #[serde(default)]
    pub ttft_from_scheduled_ms: Option<Dist>,
    #[serde(default)]
    pub e2e_from_scheduled_ms: Option<Dist>,
    /// Client-side wait between the scheduled and the actual send.
    #[serde(default)]
    pub queue_delay_ms: Option<Dist>,
    /// Successful requests meeting every per-request SLO / wall time; and their share of all
    /// measured requests. None when the workload has no SLO.
    #[serde(default)]
    pub goodput_rps: Option<f64>,
    #[serde(default)]
    pub good_share: Option<f64>,
    /// Prompt tokens the server reported as cached (prefix cache), and their share of prompt tokens.
    #[serde(default)]
    pub cached_tokens: u64,
    #[serde(default)]
    pub cached_share: Option<f64>,
    #[serde(default)]
    pub prompt_tokens_per_request: Option<Dist>,
    /// How the prompts were built (calibration), set by the executor.
    #[serde(default)]
    pub prompt_build: Option<BuildNote>,
    /// Requests excluded as warm-up and cool-down.
    #[serde(default)]
    pub excluded: usize,
    /// Measured requests that waited for a new connection (none open, or the server had closed it),
    /// and that wait (inside their TTFT). Closed-loop slots connect before the phase, so this
    /// counts reconnects only, e.g. against a server that closes every connection after a response.
    /// None in runs made before it was recorded.
    #[serde(default)]
    pub new_connections: Option<usize>,
    #[serde(default)]
    pub connect_ms: Option<Dist>,
    /// Successful measured requests that generated tokens (per the server's usage report) but no
    /// visible text: counted in throughput and E2E, absent from TTFT, TPOT and ITL.
    #[serde(default)]
    pub no_visible_text: usize,
    /// A trace replay: its schedule lag, the concurrency it made and latency over time (all
    /// repeats' measured requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<super::trace::Replay>,
}

impl CellSummary {
    /// TTFT as the user sees it: from the scheduled send (open loop), else from the actual send.
    pub fn ttft_seen(&self) -> Option<&Dist> {
        self.ttft_from_scheduled_ms.as_ref().or(self.ttft_ms.as_ref())
    }
    /// E2E as the user sees it: from the scheduled send (open loop), else from the actual send.
    pub fn e2e_seen(&self) -> Option<&Dist> {
        self.e2e_from_scheduled_ms.as_ref().or(self.e2e_ms.as_ref())
    }
}

/// Whether one request meets every per-request threshold of `slo` (ttft_ms / tpot_ms / e2e_ms, or
/// the p95 thresholds when those are not set). TTFT and E2E count from the *scheduled* send, as the
/// user waits from then (in a closed loop the two instants coincide).
pub fn request_is_good(r: &RequestRecord, slo: &Slo) -> bool {
    if !r.ok() {
        return false;
    }
    let checks = [
        (slo.ttft_ms.or(slo.p95_ttft_ms), r.ttft_from_scheduled_ms()),
        (slo.tpot_ms.or(slo.p95_tpot_ms), r.tpot_ms()),
        (slo.e2e_ms.or(slo.p95_e2e_ms), r.e2e_from_scheduled_ms()),
    ];
    checks.iter().all(|(limit, v)| match (limit, v) {
        (Some(l), Some(v)) => v <= l,
        (Some(_), None) => false,
        (None, _) => true,
    })
}

/// Wall time of a measured phase as the statistics count it: with cool-down requests (excluded from
/// tokens, requests and goodput), the phase ends when the last counted request ended, so their
/// duration does not dilute throughput. Without cool-down: the phase's own wall time.
pub fn counted_wall_s(records: &[RequestRecord], phase_start_ms: f64, phase_wall_s: f64) -> f64 {
    if !records.iter().any(|r| r.phase == crate::results::record::Phase::CoolDown) {
        return phase_wall_s;
    }
    let end = records.iter().filter(|r| r.measured()).map(|r| r.end_ms).fold(f64::NAN, f64::max);
    if end.is_finite() {
        ((end - phase_start_ms) / 1000.0).clamp(0.0, phase_wall_s)
    } else {
        phase_wall_s
    }
}

pub fn summarize(records: &[RequestRecord], wall_s: f64, slo: Option<&Slo>) -> CellSummary {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| r.measured()).collect();
    let ok: Vec<&RequestRecord> = measured.iter().copied().filter(|r| r.ok()).collect();
    let mut errors_by_reason = BTreeMap::new();
    for e in measured.iter().filter_map(|r| r.error) {
        *errors_by_reason.entry(e).or_insert(0) += 1;
    }
    let output_tokens: u64 = ok.iter().filter_map(|r| r.output_tokens).sum();
    let prompt_tokens: u64 = ok.iter().filter_map(|r| r.prompt_tokens).sum();
    let errors = measured.len() - ok.len();
    let per_s = |x: f64| if wall_s > 0.0 { x / wall_s } else { 0.0 };
    let user = Dist::of(ok.iter().filter_map(|r| r.user_tok_s()));
    let good = slo.map(|s| ok.iter().filter(|r| request_is_good(r, s)).count());
    CellSummary {
        requests: measured.len(),
        ok: ok.len(),
        errors,
        error_rate: if measured.is_empty() { 0.0 } else { errors as f64 / measured.len() as f64 },
        errors_by_reason,
        wall_s,
        output_tokens,
        prompt_tokens,
        requests_with_usage: ok.iter().filter(|r| r.output_tokens.is_some()).count(),
        throughput_tok_s: per_s(output_tokens as f64),
        requests_per_s: per_s(ok.len() as f64),
        mean_user_tok_s: user.map(|d| d.mean),
        ttft_ms: Dist::of(ok.iter().filter_map(|r| r.ttft_ms())),
        itl_ms: Dist::of(ok.iter().flat_map(|r| r.itl_ms())),
        tpot_ms: Dist::of(ok.iter().filter_map(|r| r.tpot_ms())),
        e2e_ms: Dist::of(ok.iter().filter_map(|r| r.e2e_ms())),
        streamed: measured.iter().all(|r| r.streamed),
        ttft_from_scheduled_ms: Dist::of(ok.iter().filter_map(|r| r.ttft_from_scheduled_ms())),
        e2e_from_scheduled_ms: Dist::of(ok.iter().filter_map(|r| r.e2e_from_scheduled_ms())),
        queue_delay_ms: Dist::of(measured.iter().map(|r| r.sent_ms - r.scheduled_ms)),
        goodput_rps: good.map(|g| per_s(g as f64)),
        good_share: good.filter(|_| !measured.is_empty()).map(|g| g as f64 / measured.len() as f64),
        cached_tokens: ok.iter().filter_map(|r| r.cached_tokens).sum(),
        cached_share: (prompt_tokens > 0 && ok.iter().any(|r| r.cached_tokens.is_some()))
            .then(|| ok.iter().filter_map(|r| r.cached_tokens).sum::<u64>() as f64 / prompt_tokens as f64),
        prompt_tokens_per_request: Dist::of(ok.iter().filter_map(|r| r.prompt_tokens.map(|p| p as f64))),
        prompt_build: None,
        excluded: records.len() - measured.len(),
        new_connections: Some(measured.iter().filter(|r| r.connect_ms.is_some()).count()),
        connect_ms: Dist::of(measured.iter().filter_map(|r| r.connect_ms)),
        no_visible_text: ok.iter().filter(|r| r.no_visible_text).count(),
        replay: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 95.0), 4.8);
        assert_eq!(percentile(&[1.0, 2.0], 50.0), 1.5);
        assert!(Dist::of(Vec::<f64>::new()).is_none());
    }

    fn rec(first: f64, chunks: &[f64], out: u64) -> RequestRecord {
        RequestRecord {
            sent_ms: 100.0,
            first_token_ms: Some(100.0 + first),
            chunk_offsets_ms: chunks.to_vec(),
            end_ms: 100.0 + chunks.last().copied().unwrap_or(0.0) + 1.0,
            streamed: true,
            output_tokens: Some(out),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn cool_down_requests_leave_the_wall_time_too() {
        // Phase from 1000 ms; counted requests end at 1500 and 2000 ms, the cool-down one at 5000.
        let mut recs = vec![rec(10.0, &[10.0], 1), rec(10.0, &[10.0], 1), rec(10.0, &[10.0], 1)];
        for (r, end) in recs.iter_mut().zip([1500.0, 2000.0, 5000.0]) {
            r.end_ms = end;
        }
        assert_eq!(counted_wall_s(&recs, 1000.0, 4.0), 4.0, "no cool-down: the phase's wall time");
        recs[2].phase = crate::results::record::Phase::CoolDown;
        assert_eq!(counted_wall_s(&recs, 1000.0, 4.0), 1.0);
        let s = summarize(&recs, counted_wall_s(&recs, 1000.0, 4.0), None);
        assert_eq!((s.output_tokens, s.throughput_tok_s), (2, 2.0));
    }

    #[test]
    fn summary_of_known_records() {
        let mut warm = rec(5.0, &[5.0, 6.0], 2);
        warm.phase = crate::results::record::Phase::WarmUp;
        let mut bad = rec(0.0, &[], 0);
        bad.error = Some(crate::results::record::ErrorClass::Http5xx);
        let recs = vec![warm, rec(10.0, &[10.0, 20.0, 30.0], 3), rec(20.0, &[20.0, 40.0, 60.0], 3), bad];
        let s = summarize(&recs, 2.0, None);
        assert_eq!((s.requests, s.ok, s.errors), (3, 2, 1));
        assert_eq!(s.errors_by_reason[&crate::results::record::ErrorClass::Http5xx], 1);
        assert_eq!(s.output_tokens, 6);
        assert_eq!(s.throughput_tok_s, 3.0);
        let ttft = s.ttft_ms.unwrap();
        assert_eq!((ttft.min, ttft.max, ttft.p50), (10.0, 20.0, 15.0));
        assert_eq!(s.e2e_ms.unwrap().max, 60.0);
        // TPOT = (E2E - TTFT) / (out - 1): (30-10)/2 = 10 and (60-20)/2 = 20.
        assert_eq!(s.tpot_ms.unwrap().mean, 15.0);
        // ITL pooled: 10, 10, 20, 20.
        assert_eq!(s.itl_ms.unwrap().p50, 15.0);
    }
}
