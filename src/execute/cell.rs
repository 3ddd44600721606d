//! One cell: build its requests, warm up, drive the measured load while sampling memory and engine
//! metrics, then store `requests.jsonl`, `telemetry.json` and the summary.

use super::launcher::Served;
use super::status::{cell_status, Ended};
use super::{now, Ctx};
use crate::load::driver::{self, Schedule, Stop};
use crate::load::http::LoadClient;
use crate::load::workload::{self, Inputs, Job};
use crate::plan::{self, Cell, Launch, Load};
use crate::progress::{Event, Reporter};
use crate::results::quality::{self, Quality, RepeatFigures};
use crate::results::record::{ErrorClass, Phase, RequestRecord};
use crate::results::records::{CellResult, CellStatus, StartupSnapshot, TelemetrySummary};
use crate::results::{slo, summary};
use crate::store;
use crate::telemetry::sampler::{self, Target};
use anyhow::{Context, Result};
use std::time::{Duration, Instant};

fn target(ctx: &Ctx<'_>, eng: &dyn Served) -> Target {
    Target {
        probe: ctx.probe.clone(),
        pgid: eng.pgid(),
        metrics_url: Some(format!("{}/metrics", eng.base_url())),
        interval: Duration::from_millis(500),
        client: eng.client(),
    }
}

/// What the cells of one launch share: the ready engine, the load client (with the server's API key),
/// the `model` sent in requests, and the launch's startup snapshot.
pub(super) struct Serving<'a> {
    pub eng: &'a dyn Served,
    pub load: LoadClient,
    pub model: Option<String>,
    pub startup: &'a StartupSnapshot,
}

/// Runs one cell; `early` (a search probe's) may stop its measured phase once it is clearly failing.
pub(super) async fn run(
    ctx: &Ctx<'_>,
    launch: &Launch,
    cell: &Cell,
    on: &Serving<'_>,
    early: Option<driver::EarlyCheck>,
    reporter: &mut dyn Reporter,
) -> Result<CellResult> {
    let mut result = new_result(launch, cell, on.startup);
    if cell.is_probe() {
        probe(ctx, cell, on.eng, &mut result, reporter).await?;
        result.finished_at = now();
        return Ok(result);
    }
    let s = ctx.scenario();
    let w = plan::workload(s, &cell.workload).context("cell of an unknown workload")?;
    let client = on.eng.client();
    let inputs = Inputs {
        workload: w,
        cell,
        warmup: w.warmup as usize,
        measured: w.requests() as usize,
        seed: plan::request_seed(s, cell),
        scenario_seed: s.scenario.seed,
        base: &ctx.loaded.base_dir(),
        model: on.model.as_deref(),
        client: &client,
        load: &on.load,
        base_url: on.eng.base_url(),
    };
    let (jobs, note) = workload::build(&inputs).await?;
    let (warm, measured): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|j| j.specs.first().is_some_and(|r| r.phase == Phase::WarmUp));
    let count = |jobs: &[Job]| jobs.iter().map(|j| j.specs.len()).sum::<usize>();
    reporter.event(Event::CellStarted { cell, requests: (count(&warm) + count(&measured) * w.repeats.max(1) as usize) as u64 });
    let schedule = schedule(s, w, cell);
    let t0 = Instant::now();
    let mut records = Vec::new();
    if !warm.is_empty() {
        // Warm-up runs with the cell's own load (same concurrency, or same arrivals and cap), outside
        // the measurement; a trace's warm-up requests go one at a time (they have no trace times).
        let warm_schedule = if cell.load.speed().is_some() { Schedule::Closed { concurrency: 1 } } else { schedule };
        let p = driver::drive(&on.load, on.eng.base_url(), warm, warm_schedule, &Stop::default(), t0, ctx.cancel, |n| {
            reporter.event(Event::RequestsDone(n))
        })
        .await;
        records.extend(p.records);
    }
    let until = Stop { deadline: w.duration_s.map(Duration::from_secs_f64), early };
    let mut m = measure(ctx, cell, w, on, Phased { jobs: measured, schedule, until, t0 }, reporter).await?;
    records.append(&mut m.records);
    store::write_requests(&ctx.store.cell_dir(&cell.id), &records)?;
    let slo_cfg = s.slo.get(&cell.workload);
    let mut summary = quality::median_summary(&m.summaries).unwrap_or_else(|| summary::summarize(&[], 0.0, slo_cfg));
    summary.prompt_build = Some(note);
    if cell.load.speed().is_some() {
        summary.replay = Some(replay_figures(&records, m.last_telemetry.as_ref(), w.sessions));
    }
    let verdict = slo::judge(&summary, slo_cfg);
    let ended = if m.interrupted || ctx.cancel.is_cancelled() {
        Ended::Interrupted
    } else if let Some(why) = m.stopped_early.clone() {
        Ended::StoppedEarly(why)
    } else {
        Ended::Completed
    };
    let (status, reason) = cell_status(&summary, &verdict, &ended);
    result.status = status;
    result.reason = reason;
    result.stopped_early = m.stopped_early.filter(|_| status == CellStatus::SloFail);
    result.summary = Some(summary);
    result.verdict = Some(verdict);
    // Memory and engine metrics of the last repeat (the engine at its warmest); every repeat's
    // series is in telemetry*.json and its CPU shares in `quality.repeats`.
    result.telemetry = m.last_telemetry.map(|tel| TelemetrySummary { memory: tel.memory, engine: tel.engine });
    result.quality = Quality::of(m.figures);
    result.finished_at = now();
    if status == CellStatus::Interrupted {
        store::write_json(&ctx.store.cell_dir(&cell.id).join(store::layout::SUMMARY), &result)?;
    }
    Ok(result)
}

/// The cell's result before it runs: status ok until the measurement says otherwise
/// (`unmeasured`'s record, with no reason and no finish time yet).
fn new_result(launch: &Launch, cell: &Cell, startup: &StartupSnapshot) -> CellResult {
    let mut r = super::unmeasured(cell, launch, CellStatus::Ok, "", Some(startup.clone()));
    r.reason = None;
    r.finished_at = String::new();
    r
}

/// A probe cell: no load, the engine idle for `probe_s` while its memory and metrics are sampled.
async fn probe(ctx: &Ctx<'_>, cell: &Cell, eng: &dyn Served, result: &mut CellResult, reporter: &mut dyn Reporter) -> Result<()> {
    let t0 = Instant::now();
    reporter.event(Event::CellStarted { cell, requests: 0 });
    let wait = tokio::time::sleep(Duration::from_secs_f64(ctx.scenario().scenario.probe_s));
    let (_, tel) = sampler::during(&target(ctx, eng), t0, async {
        tokio::select! { _ = wait => {}, _ = ctx.cancel.cancelled() => {} }
    })
    .await;
    store::write_json(&ctx.store.cell_dir(&cell.id).join(store::layout::telemetry(0)), &tel)?;
    result.telemetry = Some(TelemetrySummary { memory: tel.memory, engine: tel.engine });
    if ctx.cancel.is_cancelled() {
        result.status = CellStatus::Interrupted;
        result.reason = Some("interrupted by the user (Ctrl-C/SIGTERM)".into());
    }
    Ok(())
}

/// How the cell's requests are sent: closed loop at its concurrency, or open-loop arrivals.
fn schedule(s: &crate::scenario::schema::Scenario, w: &crate::scenario::schema::Workload, cell: &Cell) -> Schedule {
    match cell.load {
        Load::Closed { concurrency } => Schedule::Closed { concurrency },
        Load::Open { rate, max_in_flight } => {
            Schedule::Open { rate, arrival: w.arrival, burstiness: w.burstiness, seed: plan::request_seed(s, cell) ^ 0x5eed, max_in_flight }
        }
        Load::Trace { speed } => Schedule::Trace { speed },
        Load::Probe => unreachable!("probe cells have no schedule"),
    }
}

/// The measured phase as it is driven, once per repeat.
struct Phased {
    jobs: Vec<Job>,
    schedule: Schedule,
    until: Stop,
    t0: Instant,
}

/// What the measured repeats gave.
struct Measured {
    records: Vec<RequestRecord>,
    summaries: Vec<summary::CellSummary>,
    figures: Vec<RepeatFigures>,
    last_telemetry: Option<sampler::CellTelemetry>,
    interrupted: bool,
    stopped_early: Option<String>,
}

/// Drives the measured phase `repeats` times (each repeat's telemetry stored as it ends), until the
/// user interrupts or the early check stops it.
async fn measure(
    ctx: &Ctx<'_>,
    cell: &Cell,
    w: &crate::scenario::schema::Workload,
    on: &Serving<'_>,
    p: Phased,
    reporter: &mut dyn Reporter,
) -> Result<Measured> {
    let slo_cfg = ctx.scenario().slo.get(&cell.workload);
    let cell_dir = ctx.store.cell_dir(&cell.id);
    let mut m =
        Measured { records: vec![], summaries: vec![], figures: vec![], last_telemetry: None, interrupted: false, stopped_early: None };
    for repeat in 0..w.repeats.max(1) {
        if ctx.cancel.is_cancelled() {
            break;
        }
        // Telemetry covers the measured phase only, like the statistics.
        let drive = driver::drive(&on.load, on.eng.base_url(), p.jobs.clone(), p.schedule, &p.until, p.t0, ctx.cancel, |n| {
            reporter.event(Event::RequestsDone(n))
        });
        let (phase, tel) = sampler::during(&target(ctx, on.eng), p.t0, drive).await;
        let mut recs = phase.records;
        mark_cooldown(&mut recs, w.cooldown as usize);
        recs.iter_mut().for_each(|r| r.repeat = repeat);
        // Requests the early stop cancelled are kept on disk, not counted as the server's failures.
        let counted: Vec<_> = recs.iter().filter(|r| r.error != Some(ErrorClass::StoppedEarly)).cloned().collect();
        let summary = summary::summarize(&counted, summary::counted_wall_s(&counted, phase.start_ms, phase.wall_s), slo_cfg);
        let cancelled = recs.len() - counted.len();
        let verdict = slo::judge(&summary, slo_cfg);
        let host = tel.memory.host_cpu;
        m.figures.push(RepeatFigures {
            p95_ttft_ms: summary.ttft_seen().map(|d| d.p95),
            p95_e2e_ms: summary.e2e_seen().map(|d| d.p95),
            throughput_tok_s: summary.throughput_tok_s,
            pass: verdict.pass,
            others_cpu_pct: host.map(|h| h.others_pct),
            disturbed: host.is_some_and(|h| h.disturbed(ctx.scenario().scenario.disturbed_above_pct)),
        });
        store::write_json(&cell_dir.join(store::layout::telemetry(repeat)), &tel)?;
        m.interrupted |= phase.interrupted;
        m.records.extend(recs);
        m.summaries.push(summary);
        m.last_telemetry = Some(tel);
        if let Some(why) = phase.stopped_early {
            m.stopped_early = Some(format!("{why} ({cancelled} request(s) in flight cancelled, not counted)"));
        }
        if m.interrupted || m.stopped_early.is_some() {
            break;
        }
    }
    Ok(m)
}

/// A trace replay's figures from its records (those the early stop cancelled left out), with the
/// engine's gauges of the last repeat (the telemetry kept).
fn replay_figures(records: &[RequestRecord], tel: Option<&sampler::CellTelemetry>, sessions: bool) -> crate::results::trace::Replay {
    let counted: Vec<RequestRecord> = records.iter().filter(|r| r.error != Some(ErrorClass::StoppedEarly)).cloned().collect();
    let gauges: Vec<_> = tel.map(|t| t.metrics_series.iter().map(crate::telemetry::prom::gauges).collect()).unwrap_or_default();
    crate::results::trace::replay(&counted, sessions, &gauges)
}

/// Marks the last `n` measured requests by scheduled time as cool-down (excluded from statistics).
fn mark_cooldown(records: &mut [RequestRecord], n: usize) {
    if n == 0 {
        return;
    }
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|a, b| records[*a].scheduled_ms.total_cmp(&records[*b].scheduled_ms));
    for &i in order.iter().rev().take(n) {
        records[i].phase = Phase::CoolDown;
    }
}
