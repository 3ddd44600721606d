//! Executes a plan: for each launch, start the engine, run its cells, stop it. Each cell's results are
//! written as soon as it ends, and `capacity.csv` and the manifest are rewritten after every cell.

use crate::analysis::{slo, summary};
use crate::engine::{self, RunningEngine};
use crate::load::client::RequestSpec;
use crate::load::{driver, prompts};
use crate::plan::{self, Cell, Launch, Plan};
use crate::progress::{Event, Reporter};
use crate::scenario::schema::{EngineKind, Scenario};
use crate::scenario::Loaded;
use crate::store::manifest::{self, Manifest};
use crate::store::records::{CellResult, CellStatus, LaunchRecord};
use crate::store::{self, csv_export, RunStore};
use anyhow::{Context, Result};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct RunOutcome {
    pub store: RunStore,
    pub results: Vec<CellResult>,
    pub interrupted: bool,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn new_run_id() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// Runs every cell of `plan` into a new run folder `dir`.
pub async fn run(
    loaded: &Loaded,
    plan: &Plan,
    dir: std::path::PathBuf,
    run_id: &str,
    reporter: &mut dyn Reporter,
    cancel: &CancellationToken,
) -> Result<RunOutcome> {
    let s = &loaded.scenario;
    let store = RunStore::create(dir)?;
    let mut manifest = Manifest {
        runner_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: manifest::git_revision(),
        run_id: run_id.to_string(),
        scenario_name: s.scenario.name.clone(),
        scenario_file: loaded.path.display().to_string(),
        scenario_sha256: manifest::sha256_hex(&loaded.text),
        scenario_text: loaded.text.clone(),
        gpu_label: gpu_label(s),
        seed: s.scenario.seed,
        host: manifest::host(),
        started_at: now(),
        finished_at: None,
        status: "running".into(),
        launches: plan.launches.len(),
        cells: plan.cells.len(),
    };
    store::write_json(&store.manifest_path(), &manifest)?;
    let mut results = Vec::new();
    for launch in &plan.launches {
        if cancel.is_cancelled() {
            break;
        }
        run_launch(loaded, plan, launch, &store, &mut results, reporter, cancel).await?;
    }
    let interrupted = cancel.is_cancelled();
    manifest.finished_at = Some(now());
    manifest.status = if interrupted { "interrupted" } else { "complete" }.into();
    store::write_json(&store.manifest_path(), &manifest)?;
    Ok(RunOutcome { store, results, interrupted })
}

pub fn gpu_label(s: &Scenario) -> String {
    s.scenario.gpu.clone().unwrap_or_else(|| "unlabelled".into())
}

fn save_cell(store: &RunStore, s: &Scenario, results: &mut Vec<CellResult>, result: CellResult) -> Result<()> {
    store::write_json(&store.cell_dir(&result.cell.id).join("summary.json"), &result)?;
    results.push(result);
    let axes: Vec<String> = s.grid.server.keys().cloned().collect();
    let csv = csv_export::capacity_csv(&gpu_label(s), &axes, results)?;
    store::atomic_write(&store.csv_path(), &csv)
}

fn launch_record(launch: &Launch) -> LaunchRecord {
    LaunchRecord {
        id: launch.id.clone(),
        index: launch.index,
        server: launch.server.name.clone(),
        engine: launch.server.engine.as_str().into(),
        model: launch.server.model.clone(),
        command: None,
        argv: None,
        base_url: None,
        ready_s: None,
        engine_version: None,
        failure: None,
        stop: None,
    }
}

fn unmeasured(cell: &Cell, launch: &Launch, status: CellStatus, reason: &str) -> CellResult {
    let t = now();
    CellResult {
        cell: cell.clone(),
        launch_id: launch.id.clone(),
        server: launch.server.name.clone(),
        engine: launch.server.engine.as_str().into(),
        model: launch.server.model.clone(),
        status,
        reason: Some(reason.into()),
        summary: None,
        verdict: None,
        started_at: t.clone(),
        finished_at: t,
    }
}

async fn run_launch(
    loaded: &Loaded,
    plan: &Plan,
    launch: &Launch,
    store: &RunStore,
    results: &mut Vec<CellResult>,
    reporter: &mut dyn Reporter,
    cancel: &CancellationToken,
) -> Result<()> {
    let s = &loaded.scenario;
    let dir = store.launch_dir(&launch.id);
    let mut rec = launch_record(launch);
    let display = engine::resolve::target_for_display(&launch.server, &loaded.base_dir());
    let preview = engine::argv::argv(&launch.server, &display).map(|a| engine::argv::display(&a));
    let cells: Vec<&Cell> = plan.cells_of(launch.index).collect();
    reporter.event(Event::LaunchStarting { launch, command: preview.as_deref(), cells: cells.len() });
    let mut eng = match engine::start(launch, &loaded.base_dir(), &dir.join("server.log"), cancel).await {
        Ok(e) => e,
        Err(failure) => {
            reporter.event(Event::LaunchFailed { launch, failure: &failure });
            let interrupted = failure.reason == "interrupted";
            rec.failure = Some(failure.clone());
            store::write_json(&dir.join("launch.json"), &rec)?;
            if !interrupted {
                for cell in cells {
                    let r = unmeasured(cell, launch, CellStatus::Infeasible, &format!("server did not start: {}", failure.reason));
                    reporter.event(Event::CellFinished { result: &r });
                    save_cell(store, s, results, r)?;
                }
            }
            return Ok(());
        }
    };
    rec.argv = eng.argv.clone();
    rec.command = eng.argv.as_ref().map(|a| engine::argv::display(a));
    rec.base_url = Some(eng.base_url.clone());
    rec.ready_s = Some(eng.ready_s);
    rec.engine_version = engine_version(&eng.base_url).await;
    if let Some(cmd) = &rec.command {
        store::atomic_write(&dir.join("command.txt"), format!("{cmd}\n").as_bytes())?;
    }
    store::write_json(&dir.join("launch.json"), &rec)?;
    reporter.event(Event::LaunchReady { launch, ready_s: eng.ready_s });
    let model = request_model(launch, &eng).await;
    let outcome = run_cells(loaded, launch, &cells, &eng, &model, store, results, reporter, cancel).await;
    rec.stop = tokio::task::block_in_place(|| eng.stop());
    store::write_json(&dir.join("launch.json"), &rec)?;
    reporter.event(Event::LaunchStopped { launch });
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn run_cells(
    loaded: &Loaded,
    launch: &Launch,
    cells: &[&Cell],
    eng: &RunningEngine,
    model: &str,
    store: &RunStore,
    results: &mut Vec<CellResult>,
    reporter: &mut dyn Reporter,
    cancel: &CancellationToken,
) -> Result<()> {
    let s = &loaded.scenario;
    let client = engine::http_client();
    let mut dead = false;
    for cell in cells {
        if cancel.is_cancelled() {
            break;
        }
        if dead {
            let r = unmeasured(cell, launch, CellStatus::Failed, "engine_died: the server exited during an earlier cell");
            reporter.event(Event::CellFinished { result: &r });
            save_cell(store, s, results, r)?;
            continue;
        }
        let r = run_cell(loaded, launch, cell, eng, model, &client, store, reporter, cancel).await?;
        dead = !eng.alive();
        reporter.event(Event::CellFinished { result: &r });
        if r.status == CellStatus::Interrupted {
            // Kept on disk for the record; not part of results (resume re-runs it).
            break;
        }
        save_cell(store, s, results, r)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run_cell(
    loaded: &Loaded,
    launch: &Launch,
    cell: &Cell,
    eng: &RunningEngine,
    model: &str,
    client: &reqwest::Client,
    store: &RunStore,
    reporter: &mut dyn Reporter,
    cancel: &CancellationToken,
) -> Result<CellResult> {
    let s = &loaded.scenario;
    let w = plan::workload(s, &cell.workload).context("cell of an unknown workload")?;
    let prompt_set = prompts::load(&w.prompts, &loaded.base_dir())?;
    let total = (w.warmup + w.requests) as usize;
    let chosen = prompts::choose(&prompt_set, total, s.scenario.seed.wrapping_add(cell.index as u64));
    let specs: Vec<RequestSpec> = chosen
        .into_iter()
        .enumerate()
        .map(|(i, prompt)| RequestSpec {
            index: i,
            warmup: i < w.warmup as usize,
            endpoint: w.endpoint,
            model: model.to_string(),
            prompt,
            max_tokens: cell.max_tokens,
            temperature: w.temperature,
            stream: w.stream,
            ignore_eos: w.ignore_eos,
            timeout: Duration::from_secs_f64(w.request_timeout_s),
        })
        .collect();
    let (warm, measured): (Vec<_>, Vec<_>) = specs.into_iter().partition(|r| r.warmup);
    let started_at = now();
    reporter.event(Event::CellStarted { cell, requests: total as u64 });
    let t0 = Instant::now();
    let mut records = Vec::with_capacity(total);
    if !warm.is_empty() {
        let p = driver::closed_loop(client, &eng.base_url, warm, cell.concurrency, t0, cancel, |_| reporter.event(Event::RequestDone)).await;
        records.extend(p.records);
    }
    let phase = driver::closed_loop(client, &eng.base_url, measured, cell.concurrency, t0, cancel, |_| reporter.event(Event::RequestDone)).await;
    records.extend(phase.records);
    let cell_dir = store.cell_dir(&cell.id);
    let mut jsonl = Vec::new();
    for r in &records {
        serde_json::to_writer(&mut jsonl, r)?;
        jsonl.push(b'\n');
    }
    store::atomic_write(&cell_dir.join("requests.jsonl"), &jsonl)?;
    let summary = summary::summarize(&records, phase.wall_s);
    let verdict = slo::judge(&summary, s.slo.get(&cell.workload));
    let (status, reason) = if phase.interrupted || cancel.is_cancelled() {
        (CellStatus::Interrupted, Some("interrupted by the user (Ctrl-C/SIGTERM)".to_string()))
    } else if !eng.alive() {
        (CellStatus::Failed, Some("engine_died: the server exited during this cell".to_string()))
    } else if summary.ok == 0 {
        let reasons: Vec<String> = summary.errors_by_reason.iter().map(|(k, v)| format!("{k} x{v}")).collect();
        (CellStatus::Failed, Some(format!("every request failed: {}", reasons.join(", "))))
    } else if verdict.pass {
        (CellStatus::Ok, None)
    } else {
        (CellStatus::SloFail, Some(verdict.violations.join("; ")))
    };
    let result = CellResult {
        cell: cell.clone(),
        launch_id: launch.id.clone(),
        server: launch.server.name.clone(),
        engine: launch.server.engine.as_str().into(),
        model: launch.server.model.clone(),
        status,
        reason,
        summary: Some(summary),
        verdict: Some(verdict),
        started_at,
        finished_at: now(),
    };
    if status == CellStatus::Interrupted {
        store::write_json(&cell_dir.join("summary.json"), &result)?;
    }
    Ok(result)
}

/// The `model` field sent with requests: served name, model id, or (external) the server's first model.
async fn request_model(launch: &Launch, eng: &RunningEngine) -> String {
    let srv = &launch.server;
    if let Some(n) = &srv.served_model_name {
        return n.clone();
    }
    if let Some(m) = &srv.model {
        if srv.engine != EngineKind::External || !m.is_empty() {
            return m.clone();
        }
    }
    let url = format!("{}/v1/models", eng.base_url);
    let first = async {
        let v: serde_json::Value = engine::http_client().get(&url).send().await.ok()?.json().await.ok()?;
        v["data"][0]["id"].as_str().map(str::to_string)
    };
    first.await.unwrap_or_else(|| "default".into())
}

/// The engine's own version report: vLLM/SGLang `/version`, llama-server `/props` build_info.
async fn engine_version(base_url: &str) -> Option<String> {
    let client = engine::http_client();
    for path in ["/version", "/props"] {
        let resp = client.get(format!("{base_url}{path}")).timeout(Duration::from_secs(3)).send().await.ok()?;
        if !resp.status().is_success() {
            continue;
        }
        let v: serde_json::Value = resp.json().await.ok()?;
        if let Some(s) = v.get("version").and_then(|x| x.as_str()).or_else(|| v.get("build_info").and_then(|x| x.as_str())) {
            return Some(s.to_string());
        }
    }
    None
}
