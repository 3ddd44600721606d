//! One benchmark of a peer's result file, in runner's terms but with the file's own figures: what
//! each parser (`vllm_bench`, `guidellm`, `aiperf`, `benchmark_report`) returns and `folder` writes.

use crate::plan::Load;
use crate::results::import::{Comparable, Metric, MetricNote, PeerTool};
use crate::results::summary::Dist;

/// A distribution as a file states it: any figure it does not give is None (stored as null).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub n: usize,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Figures {
    /// Scaled (seconds to milliseconds).
    pub fn times(mut self, k: f64) -> Figures {
        for v in [&mut self.mean, &mut self.min, &mut self.p50, &mut self.p90, &mut self.p95, &mut self.p99, &mut self.max] {
            *v = v.map(|x| x * k);
        }
        self
    }

    /// The figures the file did not give, computed from its per-request samples (numpy's linear
    /// percentiles, as vLLM's own); the file's own figures are kept.
    pub fn filled_from(mut self, samples: &[f64]) -> Figures {
        let Some(d) = Dist::of(samples.iter().copied()) else { return self };
        if self.n == 0 {
            self.n = d.n;
        }
        for (v, x) in [
            (&mut self.mean, d.mean),
            (&mut self.min, d.min),
            (&mut self.p50, d.p50),
            (&mut self.p90, d.p90),
            (&mut self.p95, d.p95),
            (&mut self.p99, d.p99),
            (&mut self.max, d.max),
        ] {
            v.get_or_insert(x);
        }
        self
    }

    /// As a stored distribution (a missing figure is NaN); None when the file gave none.
    pub fn dist(&self) -> Option<Dist> {
        let all = [self.mean, self.min, self.p50, self.p90, self.p95, self.p99, self.max];
        if all.iter().all(|v| v.is_none_or(|x| !x.is_finite())) {
            return None;
        }
        let f = |v: Option<f64>| v.unwrap_or(f64::NAN);
        Some(Dist {
            n: self.n,
            mean: f(self.mean),
            min: f(self.min),
            p50: f(self.p50),
            p90: f(self.p90),
            p95: f(self.p95),
            p99: f(self.p99),
            max: f(self.max),
        })
    }
}

/// One request of the file (times in ms from the benchmark's first request start).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub start_ms: f64,
    pub ok: bool,
    pub error: Option<String>,
    /// By the file's definition.
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    /// Gaps between the streamed chunks after the first, when the file keeps them.
    pub gaps_ms: Option<Vec<f64>>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// One benchmark of a file, ready to become a cell.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerCell {
    pub tool: PeerTool,
    pub tool_version: Option<String>,
    pub schema_version: Option<String>,
    /// Which benchmark of the file, 0-based.
    pub benchmark: usize,
    /// When it started, ISO 8601 (UTC with `Z` where the file says; vLLM's local time without zone).
    pub started_at: Option<String>,
    pub model: Option<String>,
    pub url: Option<String>,
    /// `chat` or `completions`, where the file says.
    pub endpoint: Option<String>,
    pub streamed: bool,
    /// None when the file does not state it (then `--concurrency` or `--request-rate` must).
    pub load: Option<Load>,
    pub requests: usize,
    pub ok: usize,
    pub errors: usize,
    pub duration_s: f64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub ttft: Figures,
    pub tpot: Figures,
    pub itl: Figures,
    pub e2e: Figures,
    /// The file's output tokens/s, when it states one (checked against tokens / duration).
    pub throughput_tok_s: Option<f64>,
    pub metrics: Vec<MetricNote>,
    pub notes: Vec<String>,
    /// Every measured request, when the file keeps them all.
    pub samples: Vec<Sample>,
}

impl PeerCell {
    pub fn new(tool: PeerTool) -> PeerCell {
        PeerCell {
            tool,
            tool_version: None,
            schema_version: None,
            benchmark: 0,
            started_at: None,
            model: None,
            url: None,
            endpoint: None,
            streamed: true,
            load: None,
            requests: 0,
            ok: 0,
            errors: 0,
            duration_s: 0.0,
            input_tokens: None,
            output_tokens: None,
            cached_tokens: None,
            ttft: Figures::default(),
            tpot: Figures::default(),
            itl: Figures::default(),
            e2e: Figures::default(),
            throughput_tok_s: None,
            metrics: Vec::new(),
            notes: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// Records how the file defines `metric` (stored under runner's name from `source`).
    pub fn define(&mut self, metric: Metric, source: &str, comparable: Comparable, note: &str) {
        self.metrics.push(MetricNote { metric, source: source.into(), comparable, note: note.into() });
    }

    /// Mean output tokens per successful request.
    pub fn mean_output(&self) -> Option<f64> {
        let out = self.output_tokens? as f64;
        (self.ok > 0).then(|| out / self.ok as f64)
    }
    pub fn mean_input(&self) -> Option<f64> {
        let inp = self.input_tokens? as f64;
        (self.ok > 0).then(|| inp / self.ok as f64)
    }
}

/// An ISO 8601 UTC time of a Unix time in seconds.
pub fn iso_utc(epoch_s: f64) -> Option<String> {
    if !epoch_s.is_finite() {
        return None;
    }
    let t = chrono::DateTime::from_timestamp(epoch_s.floor() as i64, ((epoch_s.fract()) * 1e9) as u32)?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
