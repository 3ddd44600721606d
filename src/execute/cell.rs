//! One cell: build its requests, warm up, drive the measured load while sampling memory and engine
//! metrics, then store `requests.jsonl`, `telemetry.json` and the summary.

use super::{now, Ctx};
use crate::analysis::{slo, summary};
use crate::engine::{self, RunningEngine};
use crate::load::client::RequestSpec;
use crate::load::{driver, prompts};
use crate::plan::{self, Cell, Launch};
use crate::progress::{Event, Reporter};
use crate::store;
use crate::store::records::{CellResult, CellStatus, StartupSnapshot, TelemetrySummary};
use crate::telemetry::sampler::{self, Target};
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

fn target(ctx: &Ctx<'_>, eng: &RunningEngine) -> Target {
    Target {
        probe: ctx.probe.clone(),
        pgid: eng.pgid(),
        metrics_url: Some(format!("{}/metrics", eng.base_url)),
        interval: Duration::from_millis(500),
    }
}

fn specs(ctx: &Ctx<'_>, cell: &Cell, model: &str) -> Result<Vec<RequestSpec>> {
    let s = ctx.scenario();
    let w = plan::workload(s, &cell.workload).context("cell of an unknown workload")?;
    let prompt_set = prompts::load(&w.prompts, &ctx.loaded.base_dir())?;
    let total = (w.warmup + w.requests) as usize;
    let chosen = prompts::choose(&prompt_set, total, s.scenario.seed.wrapping_add(cell.index as u64));
    Ok(chosen
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
        .collect())
}

pub(super) async fn run(
    ctx: &Ctx<'_>,
    launch: &Launch,
    cell: &Cell,
    eng: &RunningEngine,
    model: &str,
    startup: &StartupSnapshot,
    reporter: &mut dyn Reporter,
) -> Result<CellResult> {
    let started_at = now();
    let cell_dir = ctx.store.cell_dir(&cell.id);
    let mut result = CellResult {
        cell: cell.clone(),
        launch_id: launch.id.clone(),
        server: launch.server.name.clone(),
        engine: launch.server.engine.as_str().into(),
        model: launch.server.model.clone(),
        status: CellStatus::Ok,
        reason: None,
        summary: None,
        verdict: None,
        startup: Some(startup.clone()),
        telemetry: None,
        started_at,
        finished_at: String::new(),
    };
    let t0 = Instant::now();
    if cell.probe {
        reporter.event(Event::CellStarted { cell, requests: 0 });
        let wait = tokio::time::sleep(Duration::from_secs_f64(ctx.scenario().scenario.probe_s));
        let (_, tel) = sampler::during(&target(ctx, eng), t0, async {
            tokio::select! { _ = wait => {}, _ = ctx.cancel.cancelled() => {} }
        })
        .await;
        store::write_json(&cell_dir.join("telemetry.json"), &tel)?;
        result.telemetry = Some(TelemetrySummary { memory: tel.memory, engine: tel.engine });
        if ctx.cancel.is_cancelled() {
            result.status = CellStatus::Interrupted;
            result.reason = Some("interrupted by the user (Ctrl-C/SIGTERM)".into());
        }
        result.finished_at = now();
        return Ok(result);
    }
    let (warm, measured): (Vec<_>, Vec<_>) = specs(ctx, cell, model)?.into_iter().partition(|r| r.warmup);
    reporter.event(Event::CellStarted { cell, requests: (warm.len() + measured.len()) as u64 });
    let client = engine::http_client();
    let mut records = Vec::new();
    if !warm.is_empty() {
        let p = driver::closed_loop(&client, &eng.base_url, warm, cell.concurrency, t0, ctx.cancel, |_| reporter.event(Event::RequestDone)).await;
        records.extend(p.records);
    }
    // Telemetry covers the measured phase only, like the statistics.
    let (phase, tel) = sampler::during(
        &target(ctx, eng),
        t0,
        driver::closed_loop(&client, &eng.base_url, measured, cell.concurrency, t0, ctx.cancel, |_| reporter.event(Event::RequestDone)),
    )
    .await;
    records.extend(phase.records);
    let mut jsonl = Vec::new();
    for r in &records {
        serde_json::to_writer(&mut jsonl, r)?;
        jsonl.push(b'\n');
    }
    store::atomic_write(&cell_dir.join("requests.jsonl"), &jsonl)?;
    store::write_json(&cell_dir.join("telemetry.json"), &tel)?;
    let summary = summary::summarize(&records, phase.wall_s);
    let verdict = slo::judge(&summary, ctx.scenario().slo.get(&cell.workload));
    let (status, reason) = if phase.interrupted || ctx.cancel.is_cancelled() {
        (CellStatus::Interrupted, Some("interrupted by the user (Ctrl-C/SIGTERM)".to_string()))
    } else if summary.ok == 0 {
        let reasons: Vec<String> = summary.errors_by_reason.iter().map(|(k, v)| format!("{k} x{v}")).collect();
        (CellStatus::Failed, Some(format!("every request failed: {}", reasons.join(", "))))
    } else if verdict.pass {
        (CellStatus::Ok, None)
    } else {
        (CellStatus::SloFail, Some(verdict.violations.join("; ")))
    };
    result.status = status;
    result.reason = reason;
    result.summary = Some(summary);
    result.verdict = Some(verdict);
    result.telemetry = Some(TelemetrySummary { memory: tel.memory, engine: tel.engine });
    result.finished_at = now();
    if status == CellStatus::Interrupted {
        store::write_json(&cell_dir.join("summary.json"), &result)?;
    }
    Ok(result)
}
