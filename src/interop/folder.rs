//! Imported cells as an ordinary run folder: a scenario that says what was measured (an `external`
//! server per model, a workload per request shape, the loads as a grid), a launch record per server,
//! a cell per benchmark with the file's own figures and its definitions, and `capacity.csv`. Every
//! command that reads run folders (report, merge, compare, export) then reads it.

use super::peer::{PeerCell, Sample};
use crate::plan::{cell_params, slug, Cell, Load};
use crate::results::import::ImportNote;
use crate::results::record::{ErrorClass, RequestRecord};
use crate::results::records::{CellResult, CellStatus, LaunchRecord};
use crate::results::summary::{CellSummary, Dist};
use crate::scenario::schema::EngineKind;
use crate::store::manifest::{Host, Manifest, RunStatus, TelemetryInfo};
use crate::store::{self, layout, RunStore};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the command line adds: labels the files do not hold (never guessed), and a load for a file
/// that does not state its own.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    /// The GPU label (`gpu` column); "unlabelled" when not given.
    pub gpu: Option<String>,
    /// The server config's name (default: from the model the file names).
    pub server: Option<String>,
    /// The scenario name (default: `import`).
    pub name: Option<String>,
    /// The engine and its version, when the user knows them (the files do not say).
    pub engine_version: Option<String>,
    /// A load for files that do not state one.
    pub concurrency: Option<u32>,
    pub request_rate: Option<f64>,
}

/// One file's cells, with the file's name and hash.
pub struct FileCells {
    pub name: String,
    pub sha256: String,
    pub cells: Vec<PeerCell>,
}

/// What `import` wrote.
pub struct Written {
    pub dir: PathBuf,
    pub cells: usize,
    pub per_request: usize,
}

struct Placed<'a> {
    file: &'a FileCells,
    peer: &'a PeerCell,
    load: Load,
    server: usize,
    workload: usize,
    max_tokens: u32,
}

/// Writes `files` as a new run folder `out` (refused when it exists).
pub fn write(files: &[FileCells], labels: &Labels, out: PathBuf) -> Result<Written> {
    for (what, v) in [("--gpu", &labels.gpu), ("--server", &labels.server), ("--engine-version", &labels.engine_version)] {
        if let Some(v) = v {
            check_label(what, v)?;
        }
    }
    for f in files {
        for p in &f.cells {
            let texts = [("model", &p.model), ("server address", &p.url), ("tool version", &p.tool_version), ("started at", &p.started_at)];
            for (what, v) in texts {
                if let Some(v) = v.as_deref().filter(|v| !crate::scenario::validate::is_plain_text(v) || v.len() > 500) {
                    bail!(
                        "{}: its {what} {:?} holds a line break, a control character or one of < > ` | (or is over 500 bytes), \
                         which no tool writes there; the file was altered",
                        f.name,
                        v.chars().take(80).collect::<String>()
                    );
                }
            }
        }
    }
    let mut servers: Vec<(Option<String>, Option<String>)> = Vec::new(); // (model, url)
    let mut workloads: Vec<(String, Option<u64>, u32, bool)> = Vec::new(); // (endpoint, prompt tokens, max_tokens, stream)
    let mut placed: Vec<Placed> = Vec::new();
    for f in files {
        for p in &f.cells {
            let load = match (p.load, labels.concurrency, labels.request_rate) {
                (Some(l), None, None) => l,
                (Some(l), _, _) => bail!(
                    "{}: the file states its load ({}); --concurrency/--request-rate are only for files that do not",
                    f.name,
                    l.label()
                ),
                (None, _, Some(rate)) => Load::Open { rate, max_in_flight: labels.concurrency },
                (None, Some(c), None) => Load::Closed { concurrency: c },
                (None, None, None) => bail!(
                    "{}: the file does not say its load (concurrency or request rate); give it with --concurrency N or --request-rate R",
                    f.name
                ),
            };
            let sane = match load {
                Load::Closed { concurrency } => concurrency >= 1,
                Load::Open { rate, max_in_flight } => rate.is_finite() && rate > 0.0 && max_in_flight != Some(0),
                Load::Trace { .. } | Load::Probe => false,
            };
            if !sane {
                bail!(
                    "{} (benchmark {}): its load ({}) is not one a benchmark runs; the file was altered",
                    f.name,
                    p.benchmark,
                    load.label()
                );
            }
            let key = (p.model.clone(), p.url.clone());
            let server = servers.iter().position(|s| *s == key).unwrap_or_else(|| {
                servers.push(key);
                servers.len() - 1
            });
            let max_tokens = p.mean_output().map_or(0, |m| m.round() as u32);
            let shape =
                (p.endpoint.clone().unwrap_or_else(|| "chat".into()), p.mean_input().map(|m| m.round() as u64), max_tokens, p.streamed);
            let workload = workloads.iter().position(|w| *w == shape).unwrap_or_else(|| {
                workloads.push(shape);
                workloads.len() - 1
            });
            if let Some(other) = placed.iter().find(|o| (o.server, o.workload, o.load) == (server, workload, load)) {
                bail!(
                    "{} (benchmark {}) and {} (benchmark {}) measured the same server, request shape and load ({}); \
                     import them into separate folders and compare them with `runner compare`",
                    other.file.name,
                    other.peer.benchmark,
                    f.name,
                    p.benchmark,
                    load.label()
                );
            }
            placed.push(Placed { file: f, peer: p, load, server, workload, max_tokens });
        }
    }
    if placed.is_empty() {
        bail!("no benchmark in the given files");
    }
    if servers.len() > 1 && labels.server.is_some() {
        bail!(
            "--server names one server config, but the files measured {} models or endpoints; import them one model at a time",
            servers.len()
        );
    }
    let server_names: Vec<String> = servers
        .iter()
        .map(|(model, _)| {
            labels.server.clone().unwrap_or_else(|| model.as_deref().map_or("imported".into(), |m| slug(m.rsplit('/').next().unwrap_or(m))))
        })
        .collect();
    let workload_names: Vec<String> =
        workloads.iter().map(|(ep, inp, out, _)| format!("{ep}-in{}-out{out}", inp.map_or("unknown".into(), |i| i.to_string()))).collect();
    let scenario_name = labels.name.clone().unwrap_or_else(|| "import".into());
    store::safe_id("--name", &scenario_name)?;
    let text = scenario_text(&scenario_name, labels, files, &servers, &server_names, &workloads, &workload_names, &placed);
    crate::engine::checks::parse_stored("the imported scenario", &text)
        .map_err(|e| anyhow::anyhow!("runner made an invalid scenario for this import (a bug): {e}"))?;
    let launches: Vec<LaunchRecord> = servers
        .iter()
        .enumerate()
        .map(|(i, (model, url))| LaunchRecord {
            id: format!("l{i:02}-{}", slug(&server_names[i])),
            index: i,
            server: server_names[i].clone(),
            engine: EngineKind::External,
            model: model.clone(),
            command: None,
            argv: None,
            base_url: url.clone(),
            ready_s: None,
            engine_version: labels.engine_version.clone(),
            failure: None,
            stop: None,
            facts: Default::default(),
            memory_at_ready: None,
            memory_source: Default::default(),
            gpu_memory_released_s: None,
            prediction: None,
            kv_cross_check: None,
            provenance: None,
        })
        .collect();
    let mut cells = Vec::new();
    let mut records: Vec<Vec<RequestRecord>> = Vec::new();
    for (i, p) in placed.iter().enumerate() {
        let wname = &workload_names[p.workload];
        let cell = Cell {
            index: i,
            id: format!("c{i:03}-l{:02}-{}-{}-mt{}", p.server, slug(wname), p.load.id_part(), p.max_tokens),
            launch: p.server,
            workload: wname.clone(),
            load: p.load,
            max_tokens: p.max_tokens,
            params: cell_params(&Default::default(), p.load, p.max_tokens),
        };
        let (result, recs) = cell_result(cell, &launches[p.server], p);
        cells.push(result);
        records.push(recs);
    }
    let run_id = out.file_name().and_then(|n| n.to_str()).unwrap_or("import").to_string();
    store::safe_id("the output folder's name", &run_id)?;
    let store = RunStore::create(out)?;
    let started = cells.iter().map(|c| c.started_at.clone()).filter(|s| !s.is_empty()).min().unwrap_or_default();
    let manifest = Manifest {
        runner_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: crate::store::manifest::git_revision(),
        run_id,
        scenario_name,
        scenario_file: format!("runner import {}", files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(" ")),
        scenario_sha256: crate::store::manifest::sha256_hex(&text),
        scenario_text: text,
        gpu_label: labels.gpu.clone().unwrap_or_else(|| "unlabelled".into()),
        seed: 0,
        host: Host {
            hostname: "not recorded (imported)".into(),
            os: String::new(),
            arch: String::new(),
            cpu_model: None,
            cpus: 0,
            memory_total_bytes: None,
        },
        telemetry: TelemetryInfo {
            nvml_note: Some("imported from another tool's result file, which holds no memory readings".into()),
            ..Default::default()
        },
        started_at: started,
        finished_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        status: RunStatus::Complete,
        launches: launches.len(),
        cells: cells.len(),
        engines: Vec::new(),
        resumed_at: Vec::new(),
        price: None,
        shard: None,
        merged_from: Vec::new(),
    };
    for l in &launches {
        store::write_json(&store.launch_dir(&l.id).join(layout::LAUNCH), l)?;
    }
    let mut per_request = 0;
    for (c, recs) in cells.iter().zip(&records) {
        let dir = store.cell_dir(&c.cell.id);
        store::write_json(&dir.join(layout::SUMMARY), c)?;
        if !recs.is_empty() {
            per_request += 1;
            store::write_requests(&dir, recs)?;
        }
    }
    let csv = crate::store::csv_export::capacity_csv(&manifest.gpu_label, &[], None, &cells)?;
    store::atomic_write(&store.csv_path(), &csv)?;
    store::write_json(&store.manifest_path(), &manifest)?;
    Ok(Written { dir: store.dir, cells: cells.len(), per_request })
}

/// A label from the command line becomes a CSV field and a report heading: plain text only.
fn check_label(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || !crate::scenario::validate::is_plain_text(v) || v.len() > 200 {
        bail!("{what} {v:?}: give a short label without line breaks, control characters or < > ` |");
    }
    Ok(())
}

/// The cell of one benchmark: the file's own figures under runner's names, and its requests.
fn cell_result(cell: Cell, launch: &LaunchRecord, p: &Placed) -> (CellResult, Vec<RequestRecord>) {
    let peer = p.peer;
    let out = peer.output_tokens.unwrap_or(0);
    let wall = peer.duration_s;
    let per_s = |x: f64| if wall > 0.0 { x / wall } else { 0.0 };
    let records = records(&peer.samples);
    let summary = CellSummary {
        requests: peer.requests,
        ok: peer.ok,
        errors: peer.errors,
        error_rate: if peer.requests == 0 { 0.0 } else { peer.errors as f64 / peer.requests as f64 },
        errors_by_reason: if peer.errors > 0 { BTreeMap::from([(ErrorClass::RequestError, peer.errors)]) } else { BTreeMap::new() },
        wall_s: wall,
        output_tokens: out,
        prompt_tokens: peer.input_tokens.unwrap_or(0),
        requests_with_usage: peer.ok,
        throughput_tok_s: peer.throughput_tok_s.unwrap_or_else(|| per_s(out as f64)),
        requests_per_s: per_s(peer.ok as f64),
        mean_user_tok_s: peer.tpot.mean.filter(|t| *t > 0.0).map(|t| 1000.0 / t),
        ttft_ms: peer.ttft.dist(),
        itl_ms: peer.itl.dist(),
        tpot_ms: peer.tpot.dist(),
        e2e_ms: peer.e2e.dist(),
        streamed: peer.streamed,
        ttft_from_scheduled_ms: None,
        e2e_from_scheduled_ms: None,
        queue_delay_ms: None,
        goodput_rps: None,
        good_share: None,
        cached_tokens: peer.cached_tokens.unwrap_or(0),
        cached_share: peer.cached_tokens.zip(peer.input_tokens).filter(|(_, i)| *i > 0).map(|(c, i)| c as f64 / i as f64),
        prompt_tokens_per_request: peer.mean_input().map(|m| Dist { n: peer.ok, mean: m, ..nan_dist() }),
        prompt_build: None,
        excluded: 0,
        new_connections: None,
        connect_ms: None,
        no_visible_text: 0,
        replay: None,
    };
    let note = ImportNote {
        tool: peer.tool,
        tool_version: peer.tool_version.clone(),
        schema_version: peer.schema_version.clone(),
        file: p.file.name.clone(),
        sha256: p.file.sha256.clone(),
        benchmark: peer.benchmark,
        metrics: peer.metrics.clone(),
        notes: peer.notes.clone(),
        per_request: !records.is_empty(),
    };
    let status = if peer.ok == 0 { CellStatus::Failed } else { CellStatus::Ok };
    let result = CellResult {
        cell,
        launch_id: launch.id.clone(),
        server: launch.server.clone(),
        engine: launch.engine,
        model: launch.model.clone(),
        status,
        reason: (status == CellStatus::Failed).then(|| format!("every request failed in {}", p.file.name)),
        stopped_early: None,
        summary: Some(summary),
        verdict: None,
        startup: None,
        telemetry: None,
        quality: Default::default(),
        started_at: peer.started_at.clone().unwrap_or_default(),
        finished_at: String::new(),
        provenance: None,
        import: Some(note),
    };
    (result, records)
}

fn nan_dist() -> Dist {
    Dist { n: 0, mean: f64::NAN, min: f64::NAN, p50: f64::NAN, p90: f64::NAN, p95: f64::NAN, p99: f64::NAN, max: f64::NAN }
}

/// The file's requests as runner's records (chunk times from the file's gaps where it keeps them,
/// else the first token and the end only; an error keeps the tool's text).
fn records(samples: &[Sample]) -> Vec<RequestRecord> {
    samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let chunks: Vec<f64> = match (s.ttft_ms, &s.gaps_ms, s.e2e_ms) {
                (Some(t), Some(g), _) => std::iter::once(t)
                    .chain(g.iter().scan(t, |acc, x| {
                        *acc += x;
                        Some(*acc)
                    }))
                    .collect(),
                (Some(t), None, Some(e)) => vec![t, e.max(t)],
                _ => Vec::new(),
            };
            RequestRecord {
                index: i,
                scheduled_ms: s.start_ms,
                sent_ms: s.start_ms,
                first_token_ms: s.ttft_ms.map(|t| s.start_ms + t),
                chunk_offsets_ms: chunks,
                end_ms: s.start_ms + s.e2e_ms.unwrap_or(0.0),
                streamed: true,
                output_tokens: s.output_tokens,
                prompt_tokens: s.input_tokens,
                error: (!s.ok).then_some(ErrorClass::RequestError),
                error_detail: s.error.as_ref().map(|e| e.chars().take(500).collect()),
                ..RequestRecord::default()
            }
        })
        .collect()
}

/// The scenario an import stands for: what was measured, in runner's words. Never run: its servers
/// are `external`, at the address the file names (or one under `.invalid`, which never resolves,
/// where the file names none).
#[allow(clippy::too_many_arguments)]
fn scenario_text(
    name: &str,
    labels: &Labels,
    files: &[FileCells],
    servers: &[(Option<String>, Option<String>)],
    server_names: &[String],
    workloads: &[(String, Option<u64>, u32, bool)],
    workload_names: &[String],
    placed: &[Placed],
) -> String {
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut t = String::new();
    t.push_str("# Made by `runner import`: what the imported files measured, in runner's words. Not meant to be run.\n");
    for f in files {
        t.push_str(&format!("# {} (sha256 {})\n", f.name.replace(['\n', '\r'], " "), f.sha256));
    }
    t.push_str(&format!("\n[scenario]\nname = {}\n", q(name)));
    let tools: Vec<String> = {
        let mut v: Vec<String> = placed.iter().map(|p| p.peer.tool.label().to_string()).collect();
        v.dedup();
        v
    };
    t.push_str(&format!("description = {}\n", q(&format!("Imported from {} result files", tools.join(", ")))));
    if let Some(g) = &labels.gpu {
        t.push_str(&format!("gpu = {}\n", q(g)));
    }
    for (i, (model, url)) in servers.iter().enumerate() {
        t.push_str(&format!("\n[[servers]]\nname = {}\nengine = \"external\"\n", q(&server_names[i])));
        match url.as_deref().filter(|u| u.starts_with("http://") || u.starts_with("https://")) {
            Some(u) => t.push_str(&format!("url = {}\n", q(u))),
            None => t.push_str("url = \"http://not-recorded.invalid\"   # the file does not record the server's address\n"),
        }
        if let Some(m) = model {
            t.push_str(&format!("model = {}\n", q(m)));
        }
        if let Some(v) = &labels.engine_version {
            t.push_str(&format!("engine_version = {}\n", q(v)));
        }
    }
    for (i, (endpoint, prompt, max_tokens, stream)) in workloads.iter().enumerate() {
        t.push_str(&format!("\n[[workloads]]\nname = {}\nendpoint = {}\nstream = {stream}\n", q(&workload_names[i]), q(endpoint)));
        if let Some(p) = prompt.filter(|p| *p > 0) {
            t.push_str(&format!("prompt_tokens = {p}   # the files' mean prompt length (server's count)\n"));
        }
        if *max_tokens > 0 {
            t.push_str(&format!("max_tokens = {max_tokens}   # the files' mean output length\n"));
        }
    }
    let mut conc: Vec<u32> = placed.iter().filter_map(|p| p.load.closed()).collect();
    conc.sort_unstable();
    conc.dedup();
    let mut rates: Vec<f64> = placed.iter().filter_map(|p| p.load.rate()).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    t.push_str("\n[grid]\n");
    if !conc.is_empty() {
        t.push_str(&format!("concurrency = [{}]\n", conc.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")));
    } else if !rates.is_empty() {
        t.push_str(&format!(
            "request_rate = [{}]\n",
            rates.iter().map(|r| toml::Value::Float(*r).to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    t
}
