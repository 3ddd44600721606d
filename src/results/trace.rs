//! A trace replay's own figures: what the trace looked like as sent (`TraceNote`, made when the
//! cell's requests are built) and how the replay kept its schedule and what concurrency it made
//! (`Replay`, from the records). Pure; definitions in docs/metrics.md, "Trace replay".

use super::record::RequestRecord;
use super::summary::Dist;
use serde::{Deserialize, Serialize};

/// From this p99 send lag (ms) a replay fell behind its trace: its latencies still count from the
/// scheduled sends, but the server was offered less than the trace.
pub const BEHIND_P99_MS: f64 = 10.0;

/// The trace as this cell sent it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceNote {
    /// The trace file as the scenario names it, and its format.
    pub file: String,
    pub format: String,
    /// Requests selected (window, first N), and the lines of the file they came from.
    pub requests: usize,
    pub first_line: usize,
    pub last_line: usize,
    /// The selection: "window 600-720 s", "first 200 requests"; empty: the whole trace.
    pub selection: Vec<String>,
    /// Every change of the recorded lengths (scale, caps): empty when sent as recorded.
    pub changes: Vec<String>,
    /// The speed-up of the arrivals (2.0 = twice the traffic).
    pub speed: f64,
    /// Seconds from the first to the last selected arrival, as recorded and as replayed.
    pub recorded_span_s: f64,
    pub replay_span_s: f64,
    /// Arrivals per second of replay time, in bins of `bin_s`.
    pub bin_s: f64,
    pub arrivals_per_s: Vec<f64>,
    /// Lengths as sent (tokens): the prompt the server should count, and the output asked for.
    pub input_tokens: Option<Dist>,
    pub output_tokens: Option<Dist>,
    /// Prefix blocks: references in all requests, distinct ids, tokens per block as sent; the
    /// reuse the trace recorded is 1 - distinct / references.
    pub block_refs: usize,
    pub distinct_blocks: usize,
    pub block_tokens: u32,
    /// Sessions (multi-turn conversations) replayed as such; None: every request on its own.
    pub sessions: Option<usize>,
    pub longest_session: usize,
    /// How a session's next turn is paced.
    pub pacing: Option<String>,
    /// Synthetic words per engine token, and the check of a sample of prompts on the engine's
    /// tokenizer: (prompts, mean and largest error in % of the target).
    pub words_per_token: f64,
    pub calibration: Option<Calibration>,
}

impl TraceNote {
    /// The share of prefix blocks the trace recorded as reused (None without blocks).
    pub fn block_reuse(&self) -> Option<f64> {
        (self.block_refs > 0).then(|| 1.0 - self.distinct_blocks as f64 / self.block_refs as f64)
    }
}

/// The synthetic prompts' token counts on the engine's tokenizer against their targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub prompts: usize,
    pub mean_error_pct: f64,
    pub max_error_pct: f64,
}

/// How the replay went: schedule lag, the concurrency it made, latency over time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// Actual - scheduled send of every measured request (ms).
    pub lag_ms: Option<Dist>,
    /// p99 lag above `BEHIND_P99_MS`.
    pub behind: bool,
    /// Requests in flight: peak and time-weighted mean over the replay.
    pub peak_requests_in_flight: usize,
    pub mean_requests_in_flight: f64,
    /// Sessions open (first turn sent .. last turn answered): peak and mean; None without sessions.
    pub sessions: Option<usize>,
    pub peak_sessions_open: Option<usize>,
    pub mean_sessions_open: Option<f64>,
    /// Latency over replay time, in `bin_s` bins, of the last repeat: (start s, requests, p50 TTFT,
    /// p95 TTFT, p95 E2E, and the engine's gauges).
    pub bin_s: f64,
    pub over_time: Vec<Bin>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub start_s: f64,
    pub requests: usize,
    pub p50_ttft_ms: Option<f64>,
    pub p95_ttft_ms: Option<f64>,
    pub p95_e2e_ms: Option<f64>,
    /// The engine's own gauges in the bin (the last repeat's `/metrics` samples): the most requests
    /// running and waiting, the highest KV-cache usage (0..1). None: no sample fell in the bin.
    #[serde(default)]
    pub engine_running_max: Option<f64>,
    #[serde(default)]
    pub engine_waiting_max: Option<f64>,
    #[serde(default)]
    pub kv_usage_max: Option<f64>,
}

/// One `/metrics` sample's gauges: (ms from the cell's start, running, waiting, KV usage 0..1).
pub type Gauges = (f64, Option<f64>, Option<f64>, Option<f64>);

/// Adds the engine's gauges to the replay's bins: `samples` of the repeat whose first request was
/// scheduled at `start_ms`.
fn add_engine(r: &mut Replay, start_ms: f64, samples: &[Gauges]) {
    let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    for &(t, running, waiting, kv) in samples {
        let k = ((t - start_ms) / 1000.0 / r.bin_s).floor();
        let Some(b) = (k >= 0.0).then(|| r.over_time.get_mut(k as usize)).flatten() else { continue };
        b.engine_running_max = max(b.engine_running_max, running);
        b.engine_waiting_max = max(b.engine_waiting_max, waiting);
        b.kv_usage_max = max(b.kv_usage_max, kv);
    }
}

/// Bins for a span: about 20 of them, at least 1 s.
pub fn bin_width(span_s: f64) -> f64 {
    let raw = (span_s / 20.0).max(1.0);
    // 1, 2, 5, 10, 20, 30, 60 s...
    [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0].into_iter().find(|w| *w >= raw).unwrap_or(raw.ceil())
}

/// Arrivals per second in bins of `bin_s` (offsets in seconds from the replay's start).
pub fn rate_bins(offsets_s: &[f64], bin_s: f64) -> Vec<f64> {
    let last = offsets_s.iter().copied().fold(0.0, f64::max);
    let mut bins = vec![0.0; (last / bin_s).floor() as usize + 1];
    for t in offsets_s {
        bins[(t / bin_s).floor().max(0.0) as usize] += 1.0 / bin_s;
    }
    bins
}

/// A step count over time: peak and time-weighted mean of the number of open intervals.
fn overlap(intervals: impl Iterator<Item = (f64, f64)>) -> (usize, f64) {
    let mut ev: Vec<(f64, i32)> = Vec::new();
    for (a, b) in intervals {
        ev.push((a, 1));
        ev.push((b.max(a), -1));
    }
    if ev.is_empty() {
        return (0, 0.0);
    }
    // Ends before starts at the same instant.
    ev.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    let (t0, t1) = (ev[0].0, ev[ev.len() - 1].0);
    let (mut open, mut peak, mut area, mut last) = (0i64, 0i64, 0.0, t0);
    for (t, d) in ev {
        area += open as f64 * (t - last);
        last = t;
        open += i64::from(d);
        peak = peak.max(open);
    }
    (peak as usize, if t1 > t0 { area / (t1 - t0) } else { peak as f64 })
}

/// The replay's figures from its measured records (`sessions`: replayed as sessions), with the
/// engine's gauges (`/metrics` samples of the last repeat, its only telemetry kept) in the bins.
pub fn replay(records: &[RequestRecord], sessions: bool, gauges: &[Gauges]) -> Replay {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| r.measured()).collect();
    let lag_ms = Dist::of(measured.iter().map(|r| r.sent_ms - r.scheduled_ms));
    let (peak_req, mean_req) = overlap(measured.iter().map(|r| (r.sent_ms, r.end_ms)));
    let (mut n_sessions, mut peak_s, mut mean_s) = (None, None, None);
    if sessions {
        let mut spans: std::collections::BTreeMap<(u32, usize), (f64, f64)> = Default::default();
        for r in &measured {
            let Some(c) = r.conversation else { continue };
            let e = spans.entry((r.repeat, c)).or_insert((r.sent_ms, r.end_ms));
            e.0 = e.0.min(r.sent_ms);
            e.1 = e.1.max(r.end_ms);
        }
        let repeats = measured.iter().map(|r| r.repeat).max().map_or(1, |m| m as usize + 1);
        let (p, m) = overlap(spans.values().copied());
        (n_sessions, peak_s, mean_s) = (Some(spans.len() / repeats.max(1)), Some(p), Some(m));
    }
    // Over time: the last repeat's replay (repeats run one after the other on one clock).
    let last = measured.iter().map(|r| r.repeat).max();
    let timed: Vec<&RequestRecord> = measured.iter().copied().filter(|r| Some(r.repeat) == last).collect();
    let start = timed.iter().map(|r| r.scheduled_ms).fold(f64::INFINITY, f64::min);
    let end = timed.iter().map(|r| r.scheduled_ms).fold(f64::NEG_INFINITY, f64::max);
    let bin_s = if start.is_finite() { bin_width((end - start) / 1000.0) } else { 1.0 };
    let mut over_time = Vec::new();
    if start.is_finite() {
        let nbins = (((end - start) / 1000.0) / bin_s).floor() as usize + 1;
        let mut bins: Vec<Vec<&RequestRecord>> = vec![Vec::new(); nbins];
        for r in &timed {
            bins[(((r.scheduled_ms - start) / 1000.0) / bin_s).floor() as usize].push(r);
        }
        for (k, b) in bins.into_iter().enumerate() {
            let ttft = Dist::of(b.iter().filter_map(|r| r.ttft_from_scheduled_ms()));
            let e2e = Dist::of(b.iter().filter_map(|r| r.e2e_from_scheduled_ms()));
            over_time.push(Bin {
                start_s: k as f64 * bin_s,
                requests: b.len(),
                p50_ttft_ms: ttft.as_ref().map(|d| d.p50),
                p95_ttft_ms: ttft.map(|d| d.p95),
                p95_e2e_ms: e2e.map(|d| d.p95),
                ..Bin::default()
            });
        }
    }
    let mut r = Replay {
        behind: lag_ms.as_ref().is_some_and(|d| d.p99 > BEHIND_P99_MS),
        lag_ms,
        peak_requests_in_flight: peak_req,
        mean_requests_in_flight: mean_req,
        sessions: n_sessions,
        peak_sessions_open: peak_s,
        mean_sessions_open: mean_s,
        bin_s,
        over_time,
    };
    if start.is_finite() {
        add_engine(&mut r, start, gauges);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(conv: Option<usize>, scheduled: f64, sent: f64, end: f64) -> RequestRecord {
        RequestRecord { conversation: conv, scheduled_ms: scheduled, sent_ms: sent, end_ms: end, ..RequestRecord::default() }
    }

    #[test]
    fn lag_concurrency_and_sessions_come_from_the_records() {
        // Two sessions of two turns; requests overlap by pairs.
        let rs = [
            rec(Some(0), 0.0, 0.5, 100.0),
            rec(Some(1), 50.0, 50.5, 150.0),
            rec(Some(0), 100.0, 120.0, 200.0),
            rec(Some(1), 150.0, 150.5, 250.0),
        ];
        let r = replay(&rs, true, &[]);
        let lag = r.lag_ms.as_ref().unwrap();
        assert_eq!((lag.min, lag.max), (0.5, 20.0));
        assert!(r.behind, "p99 of [0.5, 0.5, 0.5, 20] is above 10 ms");
        assert_eq!(r.peak_requests_in_flight, 2);
        assert_eq!((r.sessions, r.peak_sessions_open), (Some(2), Some(2)));
        // Request concurrency: 1 for 0.5-50.5, 2 until 100, 1 until 120, 2 until 200 (then 150..200
        // overlaps), ... its mean lies between 1 and 2.
        assert!(r.mean_requests_in_flight > 1.0 && r.mean_requests_in_flight < 2.0, "{}", r.mean_requests_in_flight);
        let on_time = replay(&[rec(None, 0.0, 0.2, 10.0), rec(None, 5.0, 5.3, 9.0)], false, &[]);
        assert!(!on_time.behind && on_time.sessions.is_none());
    }

    #[test]
    fn engine_gauges_land_in_their_bins() {
        let mut r = replay(&[rec(None, 1000.0, 1000.1, 1500.0), rec(None, 3500.0, 3500.1, 4000.0)], false, &[]);
        assert_eq!((r.bin_s, r.over_time.len()), (1.0, 3));
        add_engine(
            &mut r,
            1000.0,
            &[
                (500.0, Some(9.0), None, None),
                (1200.0, Some(2.0), Some(1.0), Some(0.5)),
                (1900.0, Some(3.0), Some(0.0), None),
                (3600.0, Some(1.0), None, None),
            ],
        );
        let b = &r.over_time;
        assert_eq!((b[0].engine_running_max, b[0].engine_waiting_max, b[0].kv_usage_max), (Some(3.0), Some(1.0), Some(0.5)));
        assert_eq!(b[1].engine_running_max, None, "no sample in it");
        assert_eq!(b[2].engine_running_max, Some(1.0));
    }

    #[test]
    fn latency_over_time_is_the_last_repeats() {
        // Repeat 0 at 0-2 s, repeat 1 at 10-12 s on the same clock: the bins cover repeat 1 alone.
        let mut rs = vec![rec(None, 0.0, 0.1, 50.0), rec(None, 2000.0, 2000.1, 2050.0)];
        let mut again = vec![rec(None, 10_000.0, 10_000.1, 10_050.0), rec(None, 12_000.0, 12_000.1, 12_050.0)];
        again.iter_mut().for_each(|r| r.repeat = 1);
        rs.append(&mut again);
        let r = replay(&rs, false, &[]);
        assert_eq!(r.over_time.len(), 3, "2 s of repeat 1 in 1 s bins, not 12 s: {:?}", r.over_time);
        assert_eq!(r.over_time.iter().map(|b| b.requests).sum::<usize>(), 2);
        assert_eq!(r.lag_ms.unwrap().n, 4, "the lag counts every repeat");
    }

    #[test]
    fn arrival_bins_count_per_second() {
        assert_eq!(rate_bins(&[0.0, 0.5, 1.2, 3.9], 2.0), vec![1.5, 0.5]);
        assert_eq!(bin_width(30.0), 2.0);
        assert_eq!(bin_width(3600.0), 300.0);
    }
}
