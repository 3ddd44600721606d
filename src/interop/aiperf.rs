//! AIPerf's `profile_export_aiperf.json`: schema 1.3 (AIPerf 0.10-0.11) and 1.4 (0.12-0.13, which adds
//! the server's usage counts and names each phase's kind; the fields read here are in both). Its
//! traps: times in ms; a value it could not compute is written as null; its "inter token latency" is
//! per request (E2E - TTFT) / (N - 1), runner's TPOT; its chunk gaps are "inter chunk latency".

use super::json::Doc;
use super::peer::{Figures, PeerCell};
use crate::plan::Load;
use crate::results::import::{Comparable, Metric, PeerTool};
use anyhow::{bail, Result};
use serde_json::Value;

/// The schema versions read (1.4 adds fields only).
const SCHEMAS: &[&str] = &["1.3", "1.4"];

pub fn looks_like(d: &Doc) -> bool {
    d.at("schema_version").is_some() && (d.at("aiperf_version").is_some() || d.at("time_to_first_token").is_some())
}

/// The file AIPerf writes beside the aggregate one, a record per request.
pub const RECORDS: &str = "profile_export.jsonl";

/// The aggregate file, with every request from `profile_export.jsonl` when it lies in `dir`.
pub fn parse_with_records(d: &Doc, dir: Option<&std::path::Path>) -> Result<PeerCell> {
    let mut c = parse(d)?;
    let Some(path) = dir.map(|x| x.join(RECORDS)).filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())) else {
        c.notes
            .push(format!("no {RECORDS} beside the file: no per-request data, so `runner compare` cannot test its latencies for noise."));
        return Ok(c);
    };
    let text = crate::bounded::read_text(&path, super::json::MAX_FILE_BYTES * 2)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let file = path.display().to_string();
    let mut samples = Vec::new();
    let mut t0 = f64::INFINITY;
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let r: Value = serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{file}:{}: not JSON: {e}", i + 1))?;
        let phase = r.pointer("/metadata/benchmark_phase").and_then(Value::as_str).unwrap_or("profiling");
        if phase != "profiling" {
            continue; // warm-up requests are not in the aggregate figures
        }
        let m = |k: &str| r.pointer(&format!("/metrics/{k}/value"));
        let n = |k: &str| m(k).and_then(Value::as_f64);
        let start = r.pointer("/metadata/request_start_ns").and_then(Value::as_f64).map(|ns| ns / 1e6);
        if let Some(s) = start {
            t0 = t0.min(s);
        }
        let ok = r.get("error").is_none_or(Value::is_null);
        let gaps = m("inter_chunk_latency").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_f64).collect());
        samples.push((
            start,
            super::peer::Sample {
                start_ms: 0.0,
                ok,
                error: (!ok).then(|| r.pointer("/error/type").and_then(Value::as_str).unwrap_or("error").to_string()),
                ttft_ms: if ok { n("time_to_first_token") } else { None },
                e2e_ms: if ok { n("request_latency") } else { None },
                gaps_ms: if ok { gaps } else { None },
                input_tokens: n("usage_prompt_tokens").or(n("input_sequence_length")).map(|x| x as u64),
                output_tokens: n("usage_completion_tokens").or(n("output_sequence_length")).map(|x| x as u64),
            },
        ));
    }
    let good = samples.iter().filter(|(_, s)| s.ok).count();
    let ttft: Vec<f64> = samples.iter().filter_map(|(_, s)| s.ttft_ms).collect();
    let median = crate::results::summary::Dist::of(ttft.iter().copied()).map(|x| x.p50);
    let agrees = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * b.abs().max(1.0),
        _ => true,
    };
    if good != c.ok || samples.len() != c.requests || !agrees(median, c.ttft.p50) {
        c.notes.push(format!(
            "{RECORDS} beside the file does not hold this run's requests ({} records, {good} ok, median TTFT {}; the file says {} requests, {} ok): not read.",
            samples.len(),
            median.map_or("none".into(), |m| format!("{m:.3}")),
            c.requests,
            c.ok
        ));
        return Ok(c);
    }
    c.samples = samples
        .into_iter()
        .map(|(start, mut s)| {
            s.start_ms = start.map_or(0.0, |x| x - t0);
            s
        })
        .collect();
    c.notes.push(format!("per-request data from the {RECORDS} beside the file ({} requests).", c.samples.len()));
    Ok(c)
}

pub fn parse(d: &Doc) -> Result<PeerCell> {
    if !looks_like(d) {
        bail!("{} is not an AIPerf profile_export_aiperf.json (no `schema_version` with AIPerf's metrics){}", d.file, super::guess_hint(d));
    }
    let schema = d.text("schema_version")?.unwrap_or_default();
    if !SCHEMAS.contains(&schema.as_str()) {
        bail!(
            "{}: AIPerf schema {schema} is not one runner reads ({}); export it with an AIPerf that writes one of them",
            d.file,
            SCHEMAS.join(", ")
        );
    }
    let mut c = PeerCell::new(PeerTool::Aiperf);
    c.schema_version = Some(schema);
    c.tool_version = d.text("aiperf_version")?;
    c.model = d.text("input_config.models.items.0.name")?;
    c.url = d.text("input_config.endpoint.urls.0")?;
    c.endpoint = d.text("input_config.endpoint.type")?.map(|t| if t.contains("chat") { "chat".into() } else { "completions".into() });
    c.streamed = d.at("input_config.endpoint.streaming").and_then(Value::as_bool).unwrap_or(true);
    c.started_at = d.text("start_time")?.map(|t| if t.ends_with('Z') || t.contains('+') { t } else { format!("{t}Z") });
    c.load = load(d)?;
    c.ok = d.need_num("request_count.avg")? as usize;
    c.errors = d.num("error_request_count.avg")?.unwrap_or(0.0) as usize;
    c.requests = c.ok + c.errors;
    c.duration_s = d.need_num("benchmark_duration.avg")?;
    c.input_tokens = d.num("total_usage_prompt_tokens.avg")?.or(d.num("total_isl.avg")?).map(|x| x as u64);
    let usage = d.num("total_usage_completion_tokens.avg")?;
    c.output_tokens = usage.or(d.num("total_osl.avg")?).map(|x| x as u64);
    c.cached_tokens = d.num("total_usage_prompt_cache_read_tokens.avg")?.map(|x| x as u64);
    c.throughput_tok_s = c.output_tokens.filter(|_| c.duration_s > 0.0).map(|o| o as f64 / c.duration_s);
    if usage.is_none() && c.output_tokens.is_some() {
        c.notes.push(
            "output tokens are AIPerf's own tokenizer count (`total_osl`; this schema has no server usage count), not the server's.".into(),
        );
    }
    if usage.is_some() && d.num("total_osl.avg")? != usage {
        c.notes.push(format!(
            "output tokens are the server's usage count ({}); AIPerf's own tokenizer counted {} (its output_token_throughput, {} tok/s, uses that count).",
            usage.unwrap_or_default(),
            d.num("total_osl.avg")?.map_or("none".into(), |x| x.to_string()),
            d.num("output_token_throughput.avg")?.map_or("not given".into(), |x| format!("{x:.1}"))
        ));
    }
    c.ttft = figures(d, "time_to_first_token")?;
    c.tpot = figures(d, "inter_token_latency")?;
    c.itl = figures(d, "inter_chunk_latency")?;
    c.e2e = figures(d, "request_latency")?;
    c.define(
        Metric::Ttft,
        "time_to_first_token",
        Comparable::Differs,
        "AIPerf's TTFT runs to its first parsed response; whether a role-only chunk counts was not checked against a server that sends one first.",
    );
    c.define(Metric::Tpot, "inter_token_latency", Comparable::Same, "AIPerf calls runner's TPOT \"inter token latency\".");
    c.define(Metric::Itl, "inter_chunk_latency", Comparable::Same, "");
    c.define(Metric::E2e, "request_latency", Comparable::Same, "");
    c.define(Metric::Throughput, "output tokens (server usage) / benchmark_duration", Comparable::Same, "");
    Ok(c)
}

/// The load of the profiling phase (`input_config.phases`, AIPerf 0.13) or of `loadgen` (schema 1.3).
fn load(d: &Doc) -> Result<Option<Load>> {
    let phases = d.at("input_config.phases").and_then(Value::as_array).cloned().unwrap_or_default();
    // 0.13 (schema 1.4) names the phase's kind; 0.11 (schema 1.3) only its name.
    let is_profiling = |p: &&Value| ["kind", "name"].iter().any(|k| p.get(*k).and_then(Value::as_str) == Some("profiling"));
    let phase = phases.iter().find(is_profiling);
    let get = |k: &str| -> Option<f64> {
        phase.and_then(|p| p.get(k)).and_then(Value::as_f64).or_else(|| d.at(&format!("input_config.loadgen.{k}")).and_then(Value::as_f64))
    };
    Ok(match (get("request_rate"), get("concurrency")) {
        (Some(rate), cap) => Some(Load::Open { rate, max_in_flight: cap.map(|c| c as u32) }),
        (None, Some(c)) => Some(Load::Closed { concurrency: c as u32 }),
        (None, None) => None,
    })
}

/// `{avg, min, max, p50, p90, p95, p99, count}` of one metric (null: not computed).
fn figures(d: &Doc, name: &str) -> Result<Figures> {
    let n = |k: &str| d.num(&format!("{name}.{k}"));
    Ok(Figures {
        n: n("count")?.unwrap_or(0.0) as usize,
        mean: n("avg")?,
        min: n("min")?,
        p50: n("p50")?,
        p90: n("p90")?,
        p95: n("p95")?,
        p99: n("p99")?,
        max: n("max")?,
    })
}
