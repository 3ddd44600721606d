//! One launch: write its recipes, start the engine, record its startup facts and memory, run its cells,
//! stop it. A launch that does not start becomes a recorded failure and infeasible cells.

use super::launcher::Served;
use super::{cell, unmeasured, Ctx};
use crate::engine::process::read_log;
use crate::engine::{self, argv, resolve, StartFailure};
use crate::load::http::LoadClient;
use crate::plan::{Cell, Launch};
use crate::progress::{Event, Reporter};
use crate::results::records::{CellResult, CellStatus, LaunchRecord, StartupSnapshot};
use crate::store;
use crate::telemetry::facts;
use anyhow::Result;
use std::time::Duration;

fn record(ctx: &Ctx<'_>, launch: &Launch) -> LaunchRecord {
    LaunchRecord {
        id: launch.id.clone(),
        index: launch.index,
        server: launch.server.name.clone(),
        engine: launch.server.engine,
        model: launch.server.model.clone(),
        command: None,
        argv: None,
        base_url: None,
        ready_s: None,
        engine_version: None,
        failure: None,
        stop: None,
        facts: Default::default(),
        memory_at_ready: None,
        memory_source: ctx.probe.source(),
        gpu_memory_released_s: None,
        prediction: None,
        kv_cross_check: None,
        provenance: None,
    }
}

/// An engine that states its KV configuration on /metrics too (`MetricNames::cache_config`): the log's figures are checked
/// against it.
async fn kv_cross_check(
    engine: crate::scenario::schema::EngineKind,
    eng: &dyn Served,
    facts: &crate::telemetry::facts::StartupFacts,
) -> Option<crate::telemetry::prom::KvCrossCheck> {
    let resp = eng.client().get(format!("{}/metrics", eng.base_url())).timeout(Duration::from_secs(5)).send().await.ok()?;
    let labels = crate::telemetry::prom::cache_config(&crate::engine::bounded_text(resp).await?)?;
    Some(crate::telemetry::prom::cross_check(engine, &labels, facts))
}

/// The launch as it is started: a vLLM launch on CPU gets an explicit KV budget when the scenario
/// chose none; whatever else the engine's module adds (`EngineSpec::apply_defaults`).
pub fn effective(s: &crate::scenario::schema::Scenario, launch: &Launch) -> Launch {
    let mut l = launch.clone();
    crate::engine::spec(l.server.engine).apply_defaults(&mut l.server, s.scenario.gpu.as_deref());
    l
}

/// The estimate of this launch (vLLM, with the model's config.json on this machine).
fn predict(ctx: &Ctx<'_>, launch: &Launch) -> Option<crate::estimate::Prediction> {
    crate::estimate::predict_launch(ctx.scenario(), launch, &ctx.loaded.base_dir(), crate::estimate::host_memory_gib()).ok()
}

pub(super) async fn run(ctx: &Ctx<'_>, launch: &Launch, results: &mut Vec<CellResult>, reporter: &mut dyn Reporter) -> Result<()> {
    let launch = &effective(ctx.scenario(), launch);
    let dir = ctx.store.launch_dir(&launch.id);
    let log_path = dir.join(store::layout::SERVER_LOG);
    let mut rec = record(ctx, launch);
    rec.prediction = predict(ctx, launch);
    let target = resolve::target_for_display(&launch.server, &ctx.loaded.base_dir());
    let preview = argv::argv(&launch.server, &target).map(|a| argv::display(&a));
    if let Some(cmd) = &preview {
        store::atomic_write(&dir.join(store::layout::COMMAND), format!("{cmd}\n").as_bytes())?;
    }
    let spec = engine::spec(launch.server.engine);
    if let Some(yaml) = spec.recipe_yaml(&launch.server, &target) {
        store::atomic_write(&dir.join(spec.recipe_file()), yaml.as_bytes())?;
    }
    let cells: Vec<&Cell> = ctx.plan.cells_of(launch.index).filter(|c| !ctx.skip.contains(&c.id)).collect();
    if let Some(p) = rec.prediction.as_ref().filter(|p| p.budget.refusal.is_some() && ctx.scenario().scenario.skip_predicted_infeasible) {
        let failure = predicted_refusal(p);
        return failed(ctx, launch, &cells, rec, failure, results, reporter);
    }
    keep_earlier_log(&log_path);
    let searches = ctx.plan.searches_of(launch.index).count();
    let what = crate::plan::work_words(cells.len(), searches);
    reporter.event(Event::LaunchStarting { launch, command: preview.as_deref(), what });
    let gpu_before = ctx.probe.gpu_used_bytes();
    let mut eng = match ctx.launcher.start(&launch.server, &ctx.loaded.base_dir(), &log_path, ctx.cancel).await {
        Ok(e) => e,
        Err(failure) => return failed(ctx, launch, &cells, rec, failure, results, reporter),
    };
    record_ready(ctx, launch, eng.as_ref(), &log_path, &mut rec).await;
    if let Some(cmd) = &rec.command {
        store::atomic_write(&dir.join(store::layout::COMMAND), format!("{cmd}\n").as_bytes())?;
    }
    store::write_json(&dir.join(store::layout::LAUNCH), &rec)?;
    reporter.event(Event::LaunchReady { launch, ready_s: eng.ready_s() });
    let startup = StartupSnapshot {
        ready_s: rec.ready_s,
        facts: rec.facts.clone(),
        memory_at_ready: rec.memory_at_ready.clone(),
        memory_source: rec.memory_source,
    };
    let key = crate::engine::api_key(&launch.server).ok().flatten();
    let on = cell::Serving {
        eng: eng.as_ref(),
        load: LoadClient::new(key.as_deref()),
        model: request_model(launch, eng.as_ref()).await,
        startup: &startup,
    };
    let outcome = if ctx.plan.searches_of(launch.index).next().is_some() {
        super::search::run(ctx, launch, &on, results, reporter).await
    } else {
        run_cells(ctx, launch, &cells, &on, results, reporter).await
    };
    drop(on);
    rec.stop = tokio::task::block_in_place(|| eng.stop());
    // The next launch needs the GPU memory back, not only the port.
    if eng.launched() {
        let probe = ctx.probe.clone();
        rec.gpu_memory_released_s = tokio::task::block_in_place(|| probe.wait_gpu_released(gpu_before, std::time::Duration::from_secs(60)));
    }
    store::write_json(&dir.join(store::layout::LAUNCH), &rec)?;
    reporter.event(Event::LaunchStopped { launch });
    outcome
}

/// The start failure of a launch the estimate predicts the engine would refuse (not launched).
fn predicted_refusal(p: &crate::estimate::Prediction) -> StartFailure {
    let estimated = match p.budget.refusal {
        Some(crate::estimate::Refusal::KvCacheTooSmall { estimated_max_model_len }) => Some(estimated_max_model_len),
        _ => None,
    };
    StartFailure {
        reason: crate::telemetry::failure::FailureReason::Predicted,
        message: format!("not launched (skip_predicted_infeasible): {}", p.summary().replace('\n', " ").replace("    ", " ")),
        decisive_lines: vec![],
        estimated_max_model_len: estimated,
        hint: Some("lower max-model-len or max-num-seqs, raise gpu-memory-utilization, or use a bigger GPU".into()),
        log_tail: vec![],
    }
}

/// What the launch record keeps of a ready engine: its argv, URL, ready time, version, startup
/// facts (with the model's architecture when the log leaves it out), KV cross-check and memory.
async fn record_ready(ctx: &Ctx<'_>, launch: &Launch, eng: &dyn Served, log_path: &std::path::Path, rec: &mut LaunchRecord) {
    rec.argv = eng.argv().map(<[String]>::to_vec);
    rec.command = eng.argv().map(argv::display);
    rec.base_url = Some(eng.base_url().to_string());
    rec.ready_s = Some(eng.ready_s());
    rec.engine_version = engine_version(&eng.client(), eng.base_url(), engine::spec(launch.server.engine).version_paths()).await;
    rec.facts = facts::parse(launch.server.engine, &read_log(log_path));
    if rec.facts.n_layer.is_none() {
        if let Some(m) = &launch.server.model {
            crate::telemetry::arch::fill_from_local_config(
                &mut rec.facts,
                m,
                launch.server.model_config.as_deref(),
                &ctx.loaded.base_dir(),
            );
        }
    }
    if !engine::spec(launch.server.engine).metrics().cache_config.is_empty() {
        rec.kv_cross_check = kv_cross_check(launch.server.engine, eng, &rec.facts).await;
    }
    let (probe, pgid) = (ctx.probe.clone(), eng.pgid());
    rec.memory_at_ready = tokio::task::spawn_blocking(move || probe.sample(pgid, 0.0)).await.ok();
}

fn failed(
    ctx: &Ctx<'_>,
    launch: &Launch,
    cells: &[&Cell],
    mut rec: LaunchRecord,
    failure: StartFailure,
    results: &mut Vec<CellResult>,
    reporter: &mut dyn Reporter,
) -> Result<()> {
    let dir = ctx.store.launch_dir(&launch.id);
    reporter.event(Event::LaunchFailed { launch, failure: &failure });
    rec.facts = facts::parse(launch.server.engine, &read_log(&dir.join(store::layout::SERVER_LOG)));
    rec.failure = Some(failure.clone());
    store::write_json(&dir.join(store::layout::LAUNCH), &rec)?;
    if failure.reason == crate::telemetry::failure::FailureReason::Interrupted {
        return Ok(());
    }
    let mut reason = if failure.reason == crate::telemetry::failure::FailureReason::Predicted {
        failure.message.clone()
    } else {
        format!("server did not start: {}", failure.label())
    };
    if let Some(line) = failure.decisive_lines.first() {
        reason.push_str(&format!(" | {line}"));
    }
    let startup = StartupSnapshot { ready_s: None, facts: rec.facts.clone(), memory_at_ready: None, memory_source: rec.memory_source };
    let probes = super::search::infeasible(ctx, launch, &reason)?;
    for c in cells.iter().copied().chain(probes.iter()) {
        let r = unmeasured(c, launch, CellStatus::Infeasible, &reason, Some(startup.clone()));
        reporter.event(Event::CellFinished { result: &r });
        ctx.save(results, r)?;
    }
    Ok(())
}

async fn run_cells(
    ctx: &Ctx<'_>,
    launch: &Launch,
    cells: &[&Cell],
    on: &cell::Serving<'_>,
    results: &mut Vec<CellResult>,
    reporter: &mut dyn Reporter,
) -> Result<()> {
    let mut dead: Option<String> = None;
    for c in cells {
        if ctx.cancel.is_cancelled() {
            break;
        }
        if let Some(why) = &dead {
            let r =
                unmeasured(c, launch, CellStatus::Failed, &format!("engine_died during an earlier cell: {why}"), Some(on.startup.clone()));
            reporter.event(Event::CellFinished { result: &r });
            ctx.save(results, r)?;
            continue;
        }
        let r = cell::run(ctx, launch, c, on, None, reporter).await?;
        if settle(ctx, launch, on.eng, r, &mut dead, results, reporter)?.is_none() {
            break;
        }
    }
    Ok(())
}

/// After a cell: a server that exited during it fails it (and `dead` says why); the cell is reported
/// and saved. An interrupted cell is only reported (kept on disk for the record; a resumed run
/// measures it again): None.
pub(super) fn settle(
    ctx: &Ctx<'_>,
    launch: &Launch,
    eng: &dyn Served,
    mut r: CellResult,
    dead: &mut Option<String>,
    results: &mut Vec<CellResult>,
    reporter: &mut dyn Reporter,
) -> Result<Option<CellResult>> {
    if !eng.alive() {
        let log = read_log(&ctx.store.launch_dir(&launch.id).join(store::layout::SERVER_LOG));
        let c = crate::engine::failure::classify(launch.server.engine, &log);
        let why = format!("{} {}", c.reason, c.decisive_lines.first().cloned().unwrap_or_default());
        if r.status != CellStatus::Interrupted {
            r.status = CellStatus::Failed;
            r.reason = Some(format!("engine_died: the server exited during this cell ({why})"));
        }
        *dead = Some(why);
    }
    reporter.event(Event::CellFinished { result: &r });
    if r.status == CellStatus::Interrupted {
        return Ok(None);
    }
    ctx.save(results, r.clone())?;
    Ok(Some(r))
}

/// Where the `model` field of a server config's requests comes from.
#[derive(Debug, PartialEq)]
enum ModelName {
    /// The name the scenario gives: `served_model_name`, else `model` as the engine serves it.
    Given(String),
    /// The engine's first model in `/v1/models`: an external endpoint without a model, or a
    /// built-in model, which the engine serves under its path on this machine (vLLM answers 404 to
    /// `builtin:tiny-qwen2-hf`).
    Served,
}

fn model_name(srv: &crate::scenario::schema::Server) -> ModelName {
    if let Some(n) = &srv.served_model_name {
        return ModelName::Given(n.clone());
    }
    match srv.model.as_ref().filter(|m| !m.is_empty() && !m.starts_with("builtin:")) {
        Some(m) => ModelName::Given(m.clone()),
        None => ModelName::Served,
    }
}

/// The `model` field sent with requests ([`model_name`]); None when it is to be asked and the server
/// lists none (requests then carry no `model`).
async fn request_model(launch: &Launch, eng: &dyn Served) -> Option<String> {
    if let ModelName::Given(n) = model_name(&launch.server) {
        return Some(n);
    }
    let url = format!("{}/v1/models", eng.base_url());
    let first = async {
        let resp = eng.client().get(&url).timeout(Duration::from_secs(10)).send().await.ok()?;
        let v = crate::engine::bounded_json(resp).await?;
        v["data"][0]["id"].as_str().map(str::to_string)
    };
    first.await
}

/// The engine's own version report, from the endpoints its module names (vLLM `/version`,
/// llama-server `/props` build_info).
async fn engine_version(client: &reqwest::Client, base_url: &str, paths: &[&str]) -> Option<String> {
    for path in paths {
        let Ok(resp) = client.get(format!("{base_url}{path}")).timeout(Duration::from_secs(3)).send().await else { continue };
        let Some(v) = crate::engine::bounded_json(resp).await else { continue };
        if let Some(s) = v.get("version").and_then(|x| x.as_str()).or_else(|| v.get("build_info").and_then(|x| x.as_str())) {
            return Some(s.to_string());
        }
    }
    None
}

/// A resumed run starts the engine again: the earlier attempt's log is kept as server-<n>.log.
fn keep_earlier_log(log_path: &std::path::Path) {
    if !log_path.exists() {
        return;
    }
    for n in 1.. {
        let old = log_path.with_file_name(format!("server-{n}.log"));
        if !old.exists() {
            let _ = std::fs::rename(log_path, old);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(extra: &str) -> crate::scenario::schema::Server {
        let text =
            format!("[scenario]\nname = \"t\"\n[[servers]]\nname = \"s\"\nengine = \"vllm\"\n{extra}\n[[workloads]]\nname = \"chat\"\n");
        crate::engine::checks::parse_stored("t.toml", &text).expect("valid").servers.remove(0)
    }

    /// A built-in model is served under its path on this machine, never as `builtin:...` (vLLM
    /// answered 404 to every request of such a run).
    #[test]
    fn requests_name_the_model_the_engine_serves() {
        assert_eq!(model_name(&server("model = \"builtin:tiny-qwen2-hf\"")), ModelName::Served);
        assert_eq!(model_name(&server("model = \"Qwen/Qwen2.5-1.5B-Instruct\"")), ModelName::Given("Qwen/Qwen2.5-1.5B-Instruct".into()));
        let named = server("model = \"builtin:tiny-qwen2-hf\"\nserved_model_name = \"tiny\"");
        assert_eq!(model_name(&named), ModelName::Given("tiny".into()));
    }
}
