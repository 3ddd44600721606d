//! llm-d Benchmark Report v0.2.1 (the schema of the PyPI package `llmd-benchmark-report==0.2.1`,
//! `schema_v0_2.py`): one document per measured cell, and the reading of such a document back into
//! a cell. Units are the schema's exact strings (`ms`, `ms/token`, `tokens/s`, `queries/s`, `count`,
//! `fraction`, `GiB`). TPOT and ITL are filled by vLLM's definitions (runner's own: TPOT per request
//! (E2E - TTFT) / (output tokens - 1), ITL the pooled gaps between streamed chunks), and the document
//! says so in `scenario.load.native.config.definitions`.

use super::json::{num_in, Doc};
use super::peer::{Figures, PeerCell};
use crate::plan::Load;
use crate::results::import::{Comparable, Metric, PeerTool};
use crate::results::records::{CellResult, LaunchRecord};
use crate::results::summary::Dist;
use crate::scenario::schema::Scenario;
use crate::store::read::StoredRun;
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

pub const VERSION: &str = "0.2.1";

/// How runner's TPOT and ITL are defined, as every exported document states it.
pub const DEFINITIONS: &str = "time_per_output_token: per request (E2E - TTFT) / (output tokens - 1), vLLM's TPOT; \
inter_token_latency: gaps between consecutive streamed chunks with text, pooled over requests, vLLM's ITL; \
time_to_first_token: request sent to the first chunk with generated text (a role-only chunk is not a token); \
request_latency: request sent to the last chunk.";

pub fn looks_like(d: &Doc) -> bool {
    d.at("version").and_then(Value::as_str).is_some_and(|v| v.starts_with("0.2")) && d.at("results").is_some() && d.at("run").is_some()
}

/// One document per cell with a summary, in cell order: (cell id, document).
pub fn export(run: &StoredRun) -> Result<Vec<(String, Value)>> {
    let scenario = crate::engine::checks::parse_stored(crate::store::layout::MANIFEST, &run.manifest.scenario_text).ok();
    let plan = scenario.as_ref().map(crate::plan::expand);
    let mut out = Vec::new();
    for c in &run.cells {
        let Some(s) = c.summary.as_ref().filter(|s| s.ok > 0) else { continue };
        let launch = run.launches.iter().find(|l| l.id == c.launch_id);
        let server = plan.as_ref().and_then(|p| p.launches.iter().find(|l| l.id == c.launch_id)).map(|l| &l.server);
        let telemetry: Option<crate::telemetry::sampler::CellTelemetry> =
            crate::store::read_json(&run.dir.join(crate::store::layout::CELLS).join(&c.cell.id).join(crate::store::layout::telemetry(0)))
                .ok();
        out.push((c.cell.id.clone(), document(run, c, s, launch, server, scenario.as_ref(), telemetry.as_ref())));
    }
    Ok(out)
}

fn stats(units: &str, d: &Dist) -> Option<Value> {
    let mut m = Map::new();
    m.insert("units".into(), json!(units));
    if !d.mean.is_finite() {
        return None; // `mean` is required by the schema
    }
    for (k, v) in [("mean", d.mean), ("min", d.min), ("p50", d.p50), ("p90", d.p90), ("p95", d.p95), ("p99", d.p99), ("max", d.max)] {
        if v.is_finite() {
            m.insert(k.into(), json!(v));
        }
    }
    Some(Value::Object(m))
}

/// A sequence length as the schema takes it: the mean, with the integer min and max where known.
fn seq_len(d: Option<&Dist>, mean: Option<f64>) -> Value {
    let mut v = json!({ "distribution": "other", "value": mean.unwrap_or(0.0) });
    if let Some(d) = d.filter(|d| d.min.is_finite() && d.max.is_finite() && d.max >= 1.0) {
        v["min"] = json!(d.min.round() as u64);
        v["max"] = json!(d.max.round() as u64);
    }
    v
}

fn mean_only(units: &str, mean: Option<f64>, max: Option<f64>) -> Option<Value> {
    let mean = mean.filter(|x| x.is_finite())?;
    let mut v = json!({ "units": units, "mean": mean });
    if let Some(x) = max.filter(|x| x.is_finite()) {
        v["max"] = json!(x);
    }
    Some(v)
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.into(), v);
    }
}

fn short_hash(text: &str) -> String {
    crate::store::manifest::sha256_hex(text)[..32].to_string()
}

fn document(
    run: &StoredRun,
    c: &CellResult,
    s: &crate::results::summary::CellSummary,
    launch: Option<&LaunchRecord>,
    server: Option<&crate::scenario::schema::Server>,
    scenario: Option<&Scenario>,
    tel: Option<&crate::telemetry::sampler::CellTelemetry>,
) -> Value {
    let m = &run.manifest;
    let label = c.launch_id.clone();
    let version = launch.and_then(|l| l.engine_version.clone()).unwrap_or_else(|| "unknown".into());
    let accelerator = m.telemetry.gpu.as_ref().map_or(m.gpu_label.clone(), |g| g.name.clone());
    let args: Map<String, Value> = server
        .map(|srv| {
            srv.flags.iter().map(|(k, v)| (format!("--{}", k.replace('_', "-")), serde_json::to_value(v).unwrap_or(Value::Null))).collect()
        })
        .unwrap_or_default();
    let envars: Map<String, Value> = server.map(|srv| srv.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect()).unwrap_or_default();
    let tp = server.and_then(|srv| srv.flags.get("tensor_parallel_size")).and_then(|v| v.as_f64()).map_or(1, |x| x as i64);
    let stack = json!([{
        "metadata": { "schema_version": "0.0.1", "label": label, "cfg_id": short_hash(&format!("{}|{:?}", c.server, args)),
                      "description": format!("server config `{}` of runner scenario `{}`", c.server, m.scenario_name) },
        "standardized": {
            "kind": "inference_engine", "tool": c.engine.as_str(), "tool_version": version, "role": "replica", "replicas": 1,
            "model": { "name": c.model.clone().unwrap_or_else(|| "unknown".into()) },
            "accelerator": { "model": accelerator, "count": tp.max(1), "parallelism": { "tp": tp.max(1) } }
        },
        "native": { "args": args, "envars": envars }
    }]);
    let workload = scenario.and_then(|sc| sc.workloads.iter().find(|w| w.name == c.cell.workload));
    let mean_in = s.prompt_tokens_per_request.as_ref().map(|d| d.mean).filter(|x| x.is_finite());
    let mean_out = (s.ok > 0).then(|| s.output_tokens as f64 / s.ok as f64);
    let source = match (&c.import, workload) {
        (Some(_), _) => "unknown",
        (None, Some(w)) if w.prompts.starts_with("builtin:") || w.prompt_tokens.is_some() => "random",
        (None, Some(_)) => "sampled",
        (None, None) => "unknown",
    };
    let mut load_std = json!({
        "tool": c.import.as_ref().map_or("runner".to_string(), |i| i.tool.label().to_string()),
        "tool_version": c.import.as_ref().map_or(env!("CARGO_PKG_VERSION").to_string(), |i| i.tool_version.clone().unwrap_or_else(|| "unknown".into())),
        "source": source,
        "input_seq_len": seq_len(s.prompt_tokens_per_request.as_ref(), mean_in),
        "output_seq_len": { "distribution": "other", "value": mean_out.unwrap_or(0.0) },
    });
    match c.cell.load {
        Load::Closed { concurrency } => load_std["concurrency"] = json!(concurrency.max(1)),
        Load::Open { rate, max_in_flight } => {
            load_std["rate_qps"] = json!(rate);
            // Uncapped: no concurrency (JSON cannot hold the schema's `.inf`).
            if let Some(c) = max_in_flight {
                load_std["concurrency"] = json!(c.max(1));
            }
        }
        Load::Trace { .. } | Load::Probe => {}
    }
    let load = json!({
        "metadata": { "schema_version": "0.0.1", "cfg_id": short_hash(&format!("{}|{}|{}", c.cell.workload, c.cell.load.label(), c.cell.max_tokens)),
                      "description": format!("workload `{}`, {}, max_tokens {}", c.cell.workload, c.cell.load.label(), c.cell.max_tokens) },
        "standardized": load_std,
        "native": { "config": {
            "runner_cell": c.cell.id, "runner_run": m.run_id, "workload": c.cell.workload, "load": c.cell.load.label(),
            "max_tokens": c.cell.max_tokens, "definitions": DEFINITIONS,
            "imported_from": c.import.as_ref().map(|i| json!({ "tool": i.tool.label(), "version": i.tool_version, "file": i.file, "sha256": i.sha256, "metrics": i.metrics }))
        } }
    });
    let mut latency = Map::new();
    put(&mut latency, "time_to_first_token", s.ttft_ms.as_ref().and_then(|d| stats("ms", d)));
    put(&mut latency, "time_per_output_token", s.tpot_ms.as_ref().and_then(|d| stats("ms/token", d)));
    put(&mut latency, "inter_token_latency", s.itl_ms.as_ref().and_then(|d| stats("ms/token", d)));
    put(&mut latency, "request_latency", s.e2e_ms.as_ref().and_then(|d| stats("ms", d)));
    let mut requests = json!({ "total": s.requests, "failures": s.errors });
    if let Some(v) = s.prompt_tokens_per_request.as_ref().and_then(|d| stats("count", d)) {
        requests["input_length"] = v;
    }
    if let Some(v) = mean_out.and_then(|x| mean_only("count", Some(x), None)) {
        requests["output_length"] = v;
    }
    let wall = s.wall_s;
    let mut throughput = json!({
        "output_token_rate": { "units": "tokens/s", "mean": s.throughput_tok_s },
        "request_rate": { "units": "queries/s", "mean": s.requests_per_s },
    });
    if wall > 0.0 && s.prompt_tokens > 0 {
        throughput["input_token_rate"] = json!({ "units": "tokens/s", "mean": s.prompt_tokens as f64 / wall });
        throughput["total_token_rate"] = json!({ "units": "tokens/s", "mean": (s.prompt_tokens + s.output_tokens) as f64 / wall });
    }
    let mut results =
        json!({ "request_performance": { "aggregate": { "requests": requests, "latency": latency, "throughput": throughput } } });
    if let Some(obs) = observability(c, tel, &label) {
        results["observability"] = obs;
    }
    let start = c.started_at.clone();
    let mut time = json!({ "duration": format!("PT{wall}S") });
    if looks_like_rfc3339(&start) {
        time["start"] = json!(start);
    }
    if looks_like_rfc3339(&c.finished_at) {
        time["end"] = json!(c.finished_at);
    }
    json!({
        "version": VERSION,
        "run": {
            "uid": short_hash(&format!("{}|{}", m.run_id, c.cell.id)),
            "eid": short_hash(&m.run_id),
            "time": time,
            "description": format!("runner run {} of scenario {}, cell {} ({}), GPU label {}", m.run_id, m.scenario_name, c.cell.id, c.cell.load.label(), m.gpu_label),
            "keywords": ["runner", m.scenario_name, m.gpu_label],
        },
        "scenario": { "stack": stack, "load": load },
        "results": results,
    })
}

/// A start or end time the schema's datetime takes (vLLM imports keep a local time without zone).
fn looks_like_rfc3339(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// The engine's own readings during the cell (KV usage, cache hit rate, batch, preemptions, GPU
/// memory from NVML), where they were read. The waiting queue has its peak only, and the schema
/// needs a mean: it is left out.
fn observability(c: &CellResult, tel: Option<&crate::telemetry::sampler::CellTelemetry>, label: &str) -> Option<Value> {
    let e = &c.telemetry.as_ref()?.engine;
    let mut agg = Map::new();
    put(&mut agg, "kv_cache_usage", mean_only("fraction", e.kv_cache_usage_mean, e.kv_cache_usage_max));
    put(&mut agg, "cache_hit_rate", mean_only("fraction", e.prefix_cache_hit_rate, None));
    put(&mut agg, "running_requests", mean_only("count", e.running_mean, e.running_max));
    put(&mut agg, "preemptions", mean_only("count", e.preemptions, None));
    if let Some(t) = tel {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let gpu: Vec<f64> = t.memory_series.iter().filter_map(|m| m.gpu_used_bytes.map(gib)).collect();
        if !gpu.is_empty() {
            let mean = gpu.iter().sum::<f64>() / gpu.len() as f64;
            put(&mut agg, "gpu_memory_usage", mean_only("GiB", Some(mean), gpu.iter().copied().reduce(f64::max)));
        }
    }
    (!agg.is_empty()).then(|| json!({ "components": [{ "component_label": label, "aggregate": agg }] }))
}

/// A Benchmark Report document as an imported cell: its figures converted to ms, its definitions
/// taken from the tool that made it (runner's own when `load.standardized.tool` is `runner`).
pub fn parse(d: &Doc) -> Result<PeerCell> {
    if !looks_like(d) {
        bail!("{} is not a Benchmark Report v0.2 document (no `version: 0.2.x` with `run` and `results`){}", d.file, super::guess_hint(d));
    }
    let version = d.text("version")?.unwrap_or_default();
    if version != "0.2" && version != VERSION {
        bail!("{}: Benchmark Report version {version} is not one runner reads (0.2 or 0.2.1)", d.file);
    }
    let mut c = PeerCell::new(PeerTool::BenchmarkReport);
    c.schema_version = Some(version);
    let tool = d.text("scenario.load.standardized.tool")?.unwrap_or_else(|| "unknown".into());
    let tool_version = d.text("scenario.load.standardized.tool_version")?;
    c.tool_version = Some(format!("{tool} {}", tool_version.clone().unwrap_or_default()).trim().to_string());
    c.model = d.text("scenario.stack.0.standardized.model.name")?;
    c.started_at = d.text("run.time.start")?;
    let conc = d.at("scenario.load.standardized.concurrency").and_then(Value::as_f64);
    let rate = d.num("scenario.load.standardized.rate_qps")?;
    c.load = match (rate, conc) {
        (Some(rate), cap) => Some(Load::Open { rate, max_in_flight: cap.filter(|x| x.is_finite()).map(|x| x as u32) }),
        (None, Some(x)) if x.is_finite() => Some(Load::Closed { concurrency: x as u32 }),
        _ => None,
    };
    let agg = "results.request_performance.aggregate";
    let total = d.need_num(&format!("{agg}.requests.total"))? as usize;
    let failures = d.num(&format!("{agg}.requests.failures"))?.unwrap_or(0.0) as usize;
    c.requests = total;
    c.errors = failures;
    c.ok = total.saturating_sub(failures);
    c.duration_s = d.text("run.time.duration")?.as_deref().and_then(iso_seconds).unwrap_or(0.0);
    let per = |x: Option<f64>| x.map(|m| (m * c.ok as f64).round() as u64);
    c.input_tokens = per(d.num(&format!("{agg}.requests.input_length.mean"))?);
    c.output_tokens = per(d.num(&format!("{agg}.requests.output_length.mean"))?);
    c.throughput_tok_s = d.num(&format!("{agg}.throughput.output_token_rate.mean"))?;
    c.ttft = stat(d, &format!("{agg}.latency.time_to_first_token"), c.ok)?;
    c.tpot = stat(d, &format!("{agg}.latency.time_per_output_token"), c.ok)?;
    c.itl = stat(d, &format!("{agg}.latency.inter_token_latency"), 0)?;
    c.e2e = stat(d, &format!("{agg}.latency.request_latency"), c.ok)?;
    let runner = tool == "runner";
    let same = |c: &mut PeerCell, m: Metric, src: &str| {
        if runner {
            c.define(m, src, Comparable::Same, "")
        } else {
            c.define(
                m,
                src,
                Comparable::Differs,
                &format!("as the report's maker ({tool}) filled it; its converter's definition is not stated in the document"),
            )
        }
    };
    same(&mut c, Metric::Ttft, "time_to_first_token");
    same(&mut c, Metric::Tpot, "time_per_output_token");
    same(&mut c, Metric::Itl, "inter_token_latency");
    same(&mut c, Metric::E2e, "request_latency");
    same(&mut c, Metric::Throughput, "output_token_rate");
    if !runner {
        c.notes.push("the llm-d converters put AIPerf's and GuideLLM's per-request TPOT under inter_token_latency: check which one the maker filled.".into());
    }
    Ok(c)
}

/// A Statistics block in ms (`s`, `s/token` converted).
fn stat(d: &Doc, path: &str, n: usize) -> Result<Figures> {
    let Some(block) = d.at(path) else { return Ok(Figures::default()) };
    let units = block.get("units").and_then(Value::as_str).unwrap_or_default();
    let k = match units {
        "ms" | "ms/token" => 1.0,
        "s" | "s/token" => 1000.0,
        other => bail!("{}: `{path}.units` is {other:?}; a latency is in ms, s, ms/token or s/token", d.file),
    };
    let g = |key: &str| num_in(&d.file, block, key);
    Ok(Figures { n, mean: g("mean")?, min: g("min")?, p50: g("p50")?, p90: g("p90")?, p95: g("p95")?, p99: g("p99")?, max: g("max")? }
        .times(k))
}

/// "PT12.5S" (the only form runner writes; minutes and hours are read too).
fn iso_seconds(s: &str) -> Option<f64> {
    let rest = s.strip_prefix("PT")?;
    let mut total = 0.0;
    let mut num = String::new();
    for ch in rest.chars() {
        match ch {
            'H' => total += num.parse::<f64>().ok()? * 3600.0,
            'M' => total += num.parse::<f64>().ok()? * 60.0,
            'S' => total += num.parse::<f64>().ok()?,
            c if c.is_ascii_digit() || c == '.' => {
                num.push(c);
                continue;
            }
            _ => return None,
        }
        num.clear();
    }
    Some(total)
}
