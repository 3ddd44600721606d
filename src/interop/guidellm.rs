//! GuideLLM's `benchmarks.json`, schema version 2 (GuideLLM 0.8): one cell per benchmark. Its traps:
//! everything in ms except `request_latency` (seconds); its "time per output token" includes the
//! first token (E2E / output tokens) and its "inter token latency" is runner's TPOT; each metric is
//! split into successful / errored / incomplete; its token metrics are weighted by tokens.

use super::json::{num_in, Doc};
use super::peer::{iso_utc, Figures, PeerCell, Sample};
use crate::plan::Load;
use crate::results::import::{Comparable, Metric, PeerTool};
use anyhow::{bail, Result};
use serde_json::Value;

pub fn looks_like(d: &Doc) -> bool {
    d.at("benchmarks").is_some_and(Value::is_array) && (d.at("metadata.guidellm_version").is_some() || d.at("metadata.version").is_some())
}

pub fn parse(d: &Doc) -> Result<Vec<PeerCell>> {
    if !looks_like(d) {
        bail!("{} is not a GuideLLM benchmarks.json (no `benchmarks` list with `metadata`){}", d.file, super::guess_hint(d));
    }
    let version = d.text("metadata.version")?;
    if version.as_deref() != Some("2") {
        bail!(
            "{}: GuideLLM schema version {} is not one runner reads (it reads version 2, written by GuideLLM 0.8); \
             re-export the file with GuideLLM 0.8 (`guidellm export`) or import the numbers by hand",
            d.file,
            version.as_deref().unwrap_or("(none)")
        );
    }
    let tool_version = d.text("metadata.guidellm_version")?;
    let Some(Value::Array(benches)) = d.at("benchmarks") else { unreachable!("checked by looks_like") };
    if benches.is_empty() {
        bail!("{}: the file holds no benchmark (`benchmarks` is empty)", d.file);
    }
    benches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut c = bench(&d.file, i, b)?;
            c.tool_version = tool_version.clone();
            c.schema_version = version.clone();
            Ok(c)
        })
        .collect()
}

fn bench(file: &str, i: usize, b: &Value) -> Result<PeerCell> {
    let at = |p: &str| num_in(file, b, p).map_err(|e| anyhow::anyhow!("{e:#} (in `benchmarks.{i}`)"));
    let need = |p: &str| at(p)?.ok_or_else(|| anyhow::anyhow!("{file}: `benchmarks.{i}.{p}` is missing; the file is incomplete"));
    let text = |p: &str| super::json::at(b, p).and_then(Value::as_str).map(str::to_string);
    let mut c = PeerCell::new(PeerTool::Guidellm);
    c.benchmark = i;
    c.model = text("config.backend.model");
    c.url = text("config.backend.target");
    c.endpoint = text("config.backend.request_format").map(|f| if f.contains("chat") { "chat".into() } else { "completions".into() });
    c.streamed = super::json::at(b, "config.backend.stream").and_then(Value::as_bool).unwrap_or(true);
    c.started_at = at("start_time")?.and_then(iso_utc);
    c.load = strategy(file, i, b, &mut c.notes)?;
    c.ok = need("metrics.request_totals.successful")? as usize;
    let errored = at("metrics.request_totals.errored")?.unwrap_or(0.0) as usize;
    let incomplete = at("metrics.request_totals.incomplete")?.unwrap_or(0.0) as usize;
    c.errors = errored + incomplete;
    c.requests = c.ok + c.errors;
    if incomplete > 0 {
        c.notes.push(format!(
            "{incomplete} request(s) were still running when the benchmark ended (GuideLLM's `incomplete`): counted as errors."
        ));
    }
    c.duration_s = need("duration")?;
    c.input_tokens = at("metrics.prompt_token_count.successful.total_sum")?.map(|x| x.round() as u64);
    c.output_tokens = at("metrics.output_token_count.successful.total_sum")?.map(|x| x.round() as u64);
    let fig = |name: &str| figures(file, i, b, name);
    c.ttft = fig("time_to_first_token_ms")?;
    c.tpot = fig("inter_token_latency_ms")?;
    c.e2e = fig("request_latency")?.times(1000.0);
    c.throughput_tok_s = c.output_tokens.filter(|_| c.duration_s > 0.0).map(|o| o as f64 / c.duration_s);
    let their_tpot = fig("time_per_output_token_ms")?;
    c.notes.push(format!(
        "GuideLLM's own \"time per output token\" (E2E / output tokens, the first token's wait included) is not runner's TPOT and is not stored \
         as one: its median was {} ms.",
        their_tpot.p50.map_or("not given".into(), |x| format!("{x:.2}"))
    ));
    c.notes.push("GuideLLM's percentiles take the nearest sample (no interpolation); its TPOT and ITL distributions count each request once per output token.".into());
    c.define(Metric::Ttft, "time_to_first_token_ms", Comparable::Same, "");
    c.define(
        Metric::Tpot,
        "inter_token_latency_ms",
        Comparable::Differs,
        "GuideLLM's \"inter token latency\" is (E2E - TTFT) / (output tokens - 1) per request, runner's TPOT, but its percentiles weigh each request by its tokens.",
    );
    c.define(Metric::Itl, "(none)", Comparable::No, "GuideLLM records no gaps between chunks.");
    c.define(Metric::E2e, "request_latency (s)", Comparable::Same, "");
    c.define(Metric::Throughput, "output tokens / duration", Comparable::Same, "");
    samples(file, i, b, &mut c)?;
    Ok(c)
}

/// The successful figures of one metric: mean, median, min, max, count and p50..p99.
fn figures(file: &str, i: usize, b: &Value, name: &str) -> Result<Figures> {
    let base = format!("metrics.{name}.successful");
    let n = |k: &str| num_in(file, b, &format!("{base}.{k}")).map_err(|e| anyhow::anyhow!("{e:#} (in `benchmarks.{i}`)"));
    Ok(Figures {
        n: n("count")?.unwrap_or(0.0) as usize,
        mean: n("mean")?,
        min: n("min")?,
        p50: n("median")?.or(n("percentiles.p50")?),
        p90: n("percentiles.p90")?,
        p95: n("percentiles.p95")?,
        p99: n("percentiles.p99")?,
        max: n("max")?,
    })
}

/// The benchmark's strategy as runner's load.
fn strategy(file: &str, i: usize, b: &Value, notes: &mut Vec<String>) -> Result<Option<Load>> {
    let s = |p: &str| num_in(file, b, &format!("config.strategy.{p}"));
    let kind = super::json::at(b, "config.strategy.type_").and_then(Value::as_str).unwrap_or_default();
    Ok(match kind {
        "synchronous" => Some(Load::Closed { concurrency: 1 }),
        "concurrent" => s("streams")?.map(|n| Load::Closed { concurrency: n as u32 }),
        "constant" | "poisson" | "async" => {
            if kind == "constant" {
                notes.push("GuideLLM's constant rate sends at even intervals (runner's open loop is Poisson or gamma).".into());
            }
            s("rate")?.map(|rate| Load::Open { rate, max_in_flight: s("max_concurrency").ok().flatten().map(|c| c as u32) })
        }
        "throughput" => {
            notes.push(
                "GuideLLM's throughput strategy sends as fast as its workers allow; stored as a closed loop at its worker limit.".into(),
            );
            s("max_concurrency")?.map(|c| Load::Closed { concurrency: c as u32 })
        }
        other => {
            notes.push(format!("GuideLLM strategy {other:?} of benchmark {i} is not one runner maps to a load."));
            None
        }
    })
}

/// Every request, when the file kept them all (GuideLLM may keep a sample only).
fn samples(file: &str, i: usize, b: &Value, c: &mut PeerCell) -> Result<()> {
    let list = |k: &str| super::json::at(b, &format!("requests.{k}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let (good, bad): (Vec<Value>, Vec<Value>) = (list("successful"), [list("errored"), list("incomplete")].concat());
    if good.len() != c.ok || bad.len() != c.errors {
        c.notes.push(format!(
            "the file keeps {} of {} requests (GuideLLM's sample_size): no per-request data is imported.",
            good.len() + bad.len(),
            c.requests
        ));
        return Ok(());
    }
    let t0 = good.iter().chain(&bad).filter_map(|r| r.get("request_start_time")?.as_f64()).fold(f64::INFINITY, f64::min);
    for (k, r) in good.iter().chain(&bad).enumerate() {
        let ok = k < good.len();
        let n = |p: &str| num_in(file, r, p).map_err(|e| anyhow::anyhow!("{e:#} (in `benchmarks.{i}.requests`)"));
        c.samples.push(Sample {
            start_ms: n("request_start_time")?.map_or(0.0, |s| (s - t0) * 1000.0),
            ok,
            error: (!ok).then(|| super::json::at(r, "info.error").and_then(Value::as_str).unwrap_or("error").to_string()),
            ttft_ms: if ok { n("time_to_first_token_ms")? } else { None },
            e2e_ms: if ok { n("request_latency")?.map(|s| s * 1000.0) } else { None },
            gaps_ms: None,
            input_tokens: n("prompt_tokens")?.map(|x| x as u64),
            output_tokens: n("output_tokens")?.map(|x| x as u64),
        });
    }
    Ok(())
}
