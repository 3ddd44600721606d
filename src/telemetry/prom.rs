//! The engine's Prometheus `/metrics`: parse with a maintained parser, keep the engine's own gauges
//! and counters (summed over label sets), and summarise a cell's time series. Pure.

use crate::engine::spec::Pick;
pub use crate::results::launch::KvCrossCheck;
pub use crate::results::telemetry::EngineMetricsSummary;
use crate::scenario::schema::EngineKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The scrape, parsed. Families announced by `# HELP`/`# TYPE` without a single sample are dropped
/// first: the parser rejects a whole scrape for one of them, and real vLLM serves several until its
/// first request (`http_requests_total`, `http_request_size_bytes`, ...), which would lose the
/// cross-check at ready and the baseline of the first cell.
fn scrape(text: &str) -> Option<prom_text_format_parser::Scrape> {
    let sample_name = |l: &str| l.split(['{', ' ']).next().unwrap_or_default().to_string();
    let names: std::collections::HashSet<String> =
        text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(sample_name).collect();
    let has_samples = |family: &str| {
        ["", "_bucket", "_sum", "_count", "_total", "_created", "_info"].iter().any(|s| names.contains(&format!("{family}{s}")))
    };
    let kept: String = text
        .lines()
        .filter(|l| match l.strip_prefix("# HELP ").or_else(|| l.strip_prefix("# TYPE ")) {
            Some(rest) => has_samples(rest.split(' ').next().unwrap_or_default()),
            None => true,
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    prom_text_format_parser::Scrape::parse(&kept).ok()
}

/// Engine gauges and counters by name, summed over their label sets (histograms are left out).
pub fn parse(text: &str) -> BTreeMap<String, f64> {
    scrape(text).map(|s| values(&s)).unwrap_or_default()
}

/// The engine's histograms in a scrape, by name.
pub fn histograms(text: &str) -> BTreeMap<String, super::histogram::Histogram> {
    scrape(text).map(|s| super::histogram::parse(&s)).unwrap_or_default()
}

fn values(scrape: &prom_text_format_parser::Scrape) -> BTreeMap<String, f64> {
    use prom_text_format_parser::{Type, ValueType};
    let mut out = BTreeMap::new();
    let prefixes = crate::engine::spec::metric_prefixes();
    let by_reason = crate::engine::spec::all_names(|m| m.waiting_by_reason);
    for m in &scrape.metrics {
        if !prefixes.iter().any(|p| m.name.starts_with(p)) || matches!(m.kind, Type::Histogram | Type::Summary) {
            continue;
        }
        for s in &m.samples {
            if s.value.value_type != ValueType::Sample {
                continue;
            }
            if let Ok(v) = s.value.value.as_str().parse::<f64>() {
                if v.is_finite() {
                    *out.entry(m.name.clone()).or_insert(0.0) += v;
                    // Why requests wait (capacity: no room in the batch or the KV cache; deferred:
                    // transient constraints), kept apart per reason.
                    if by_reason.contains(&m.name.as_str()) {
                        if let Some(r) = s.labels.iter().find(|l| l.key == "reason") {
                            *out.entry(format!("{}{{{}}}", m.name, r.value)).or_insert(0.0) += v;
                        }
                    }
                }
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// ms from the cell's start.
    pub t_ms: f64,
    pub values: BTreeMap<String, f64>,
}

fn first_of<'a>(s: &'a MetricsSample, names: &[&str]) -> Option<(&'a str, f64)> {
    names.iter().find_map(|n| s.values.get_key_value(*n).map(|(k, v)| (k.as_str(), *v)))
}

fn series(samples: &[MetricsSample], names: &[&str]) -> Vec<f64> {
    samples.iter().filter_map(|s| first_of(s, names).map(|(_, v)| v)).collect()
}

fn delta(samples: &[MetricsSample], names: &[&str]) -> Option<f64> {
    let v = series(samples, names);
    (v.len() >= 2).then(|| (v[v.len() - 1] - v[0]).max(0.0))
}

fn max(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::max)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// One scrape's gauges: (ms from the cell's start, requests running, waiting, KV-cache usage 0..1).
pub fn gauges(s: &MetricsSample) -> crate::results::trace::Gauges {
    let names = |pick: Pick| crate::engine::spec::all_names(pick);
    let one = |pick: Pick| first_of(s, &names(pick)).map(|(_, v)| v);
    (s.t_ms, one(|m| m.running), one(|m| m.waiting), one(|m| m.kv_usage))
}

/// Summarises the samples scraped during one cell: counters as differences last - first over all
/// samples (the first is taken before the load, the last after it), gauges (KV usage, running,
/// waiting) over the samples whose time falls in `window` (ms, the load's start and end) alone, so
/// the idle engine before and after the load never stands for it. No sample in the window: the
/// gauges are not measured (None), never a 0 read off an idle engine.
pub fn summarize(samples: &[MetricsSample], window: (f64, f64)) -> EngineMetricsSummary {
    // Every registered engine's names (their modules under src/engine/); a scrape holds one engine's.
    let names = |pick: Pick| crate::engine::spec::all_names(pick);
    let during: Vec<MetricsSample> = samples.iter().filter(|s| s.t_ms >= window.0 && s.t_ms <= window.1).cloned().collect();
    let kv = series(&during, &names(|m| m.kv_usage));
    let running = series(&during, &names(|m| m.running));
    let waiting = series(&during, &names(|m| m.waiting));
    let hit_rate = match (delta(samples, &names(|m| m.prefix_hits)), delta(samples, &names(|m| m.prefix_queries))) {
        (Some(h), Some(q)) if q > 0.0 => Some(h / q),
        _ => match (delta(samples, &names(|m| m.cached_prompt_tokens)), delta(samples, &names(|m| m.prompt_tokens))) {
            // llama.cpp counts processed prompt tokens excluding cached ones.
            (Some(c), Some(p)) if c + p > 0.0 => Some(c / (c + p)),
            _ => None,
        },
    };
    EngineMetricsSummary {
        samples: samples.len(),
        samples_during_load: Some(during.len()),
        kv_cache_usage_max: max(&kv),
        kv_cache_usage_mean: mean(&kv),
        running_max: max(&running),
        running_mean: mean(&running),
        waiting_max: max(&waiting),
        preemptions: delta(samples, &names(|m| m.preemptions)),
        prefix_cache_hit_rate: hit_rate,
        prompt_tokens: delta(samples, &names(|m| m.prompt_tokens)),
        generation_tokens: delta(samples, &names(|m| m.generation_tokens)),
        prefill_seconds: delta(samples, &names(|m| m.prefill_seconds)),
        decode_seconds: delta(samples, &names(|m| m.decode_seconds)),
        phases: None,
        waiting_by_reason_max: waiting_by_reason(&during),
    }
}

/// The largest count per waiting reason over the samples (the `reason` label of an engine's
/// `MetricNames::waiting_by_reason` gauge, kept by `values` as `<name>{reason}`).
fn waiting_by_reason(samples: &[MetricsSample]) -> BTreeMap<String, f64> {
    let names = crate::engine::spec::all_names(|m| m.waiting_by_reason);
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for s in samples {
        for (k, v) in &s.values {
            let labelled = names.iter().find_map(|n| k.strip_prefix(n).and_then(|r| r.strip_prefix('{')));
            if let Some(reason) = labelled.and_then(|r| r.strip_suffix('}')) {
                let e = out.entry(reason.to_string()).or_insert(0.0);
                *e = e.max(*v);
            }
        }
    }
    out
}

/// The labels of an engine's cache-config info gauge (`MetricNames::cache_config`, vLLM's
/// `vllm:cache_config_info`): its KV-cache configuration as the server states it on `/metrics` (block
/// size, KV size in tokens and bytes, ...). Pure.
pub fn cache_config(text: &str) -> Option<BTreeMap<String, String>> {
    let names = crate::engine::spec::all_names(|m| m.cache_config);
    let m = scrape(text)?.metrics.into_iter().find(|m| names.contains(&m.name.as_str()))?;
    let s = m.samples.into_iter().next()?;
    Some(s.labels.iter().map(|l| (l.key.clone(), l.value.clone())).collect())
}

/// Compares the log's KV tokens and GiB with the metrics' labels (the engine's label names). Pure.
pub fn cross_check(engine: EngineKind, labels: &BTreeMap<String, String>, facts: &super::facts::StartupFacts) -> KvCrossCheck {
    let [tokens_label, bytes_label, block_label] = crate::engine::spec(engine).metrics().cache_config_labels;
    let n = |k: &str| labels.get(k).filter(|_| !k.is_empty()).and_then(|v| v.parse::<f64>().ok()).map(|v| v as u64);
    let (tokens, bytes) = (n(tokens_label), n(bytes_label));
    let tokens_agree = tokens.zip(facts.kv_cache_tokens).is_none_or(|(a, b)| a == b);
    let bytes_agree = bytes.zip(facts.kv_cache_gib).is_none_or(|(b, g)| (b as f64 / 1073741824.0 - g).abs() <= 0.006);
    KvCrossCheck {
        metrics_kv_tokens: tokens,
        metrics_kv_bytes: bytes,
        metrics_block_size: n(block_label),
        log_kv_tokens: facts.kv_cache_tokens,
        log_kv_gib: facts.kv_cache_gib,
        agree: tokens_agree && bytes_agree && (tokens.is_some() || bytes.is_some()),
    }
}

#[cfg(test)]
mod tests {
    use super::{summarize, MetricsSample};

    fn sample(t_ms: f64, running: f64, preempted: f64) -> MetricsSample {
        let values = [("vllm:num_requests_running", running), ("vllm:num_preemptions_total", preempted)];
        MetricsSample { t_ms, values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect() }
    }

    #[test]
    fn gauges_come_from_the_load_alone_counters_from_all_samples() {
        // Before the load (idle), one while 8 requests ran, after it (idle again).
        let s = [sample(1.0, 0.0, 0.0), sample(105.0, 8.0, 1.0), sample(450.0, 0.0, 3.0)];
        let e = summarize(&s, (2.0, 440.0));
        assert_eq!(e.running_max, Some(8.0));
        assert_eq!(e.running_mean, Some(8.0));
        assert_eq!(e.samples_during_load, Some(1));
        assert_eq!(e.preemptions, Some(3.0));
    }

    #[test]
    fn no_sample_during_the_load_is_not_measured_not_zero() {
        // The short cell of issue 22 §6: the samples before and after a 0.44 s load read an idle
        // engine, which used to be reported as a running batch of 0.
        let s = [sample(1.0, 0.0, 0.0), sample(450.0, 0.0, 0.0)];
        let e = summarize(&s, (2.0, 440.0));
        assert_eq!(e.running_max, None);
        assert_eq!(e.samples_during_load, Some(0));
        assert_eq!(e.preemptions, Some(0.0));
    }
}
