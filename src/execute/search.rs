//! A launch's boundary searches (`[search]`): each probe is an ordinary cell, chosen by
//! `plan::search::next` from the probes so far; `searches/<id>/search.json` is rewritten after every
//! probe. A resumed run replays the stored probes through the same decisions and goes on.

use super::cell::{self, Serving};
use super::Ctx;
use crate::plan::search::{self, Decision, Probe, Spec, Target};
use crate::plan::Launch;
use crate::progress::Reporter;
use crate::results::records::CellResult;
use crate::results::slo;
use crate::scenario::schema::{Search, SearchGoal, SearchLoad};
use crate::store::search::{AtBoundary, ProbeRecord, SearchRecord};
use crate::store::{self, read_json};
use anyhow::Result;
use std::time::Instant;

/// The figure of a probe where no request succeeded or a threshold could not be measured: failing,
/// far from the threshold (finite, so the history stays valid JSON).
const FAILED_RATIO: f64 = 1e6;

fn config<'a>(ctx: &'a Ctx<'_>) -> &'a Search {
    ctx.scenario().search.as_ref().expect("a plan with searches comes from a scenario with [search]")
}

/// Whether the stored search of `t` has ended (a resumed run does not relaunch for it).
pub(super) fn finished(ctx: &Ctx<'_>, t: &Target) -> bool {
    read_json::<SearchRecord>(&ctx.store.search_path(&t.id)).is_ok_and(|r| r.done)
}

/// The worst SLO ratio of a measured probe (see `slo::ratio`).
fn ratio_of(ctx: &Ctx<'_>, r: &CellResult) -> f64 {
    let x = config(ctx);
    let good = (x.goal == SearchGoal::Goodput).then_some(x.min_good_share).flatten();
    let slo = ctx.scenario().slo.get(&r.cell.workload);
    match (r.summary.as_ref(), slo) {
        (Some(s), Some(slo)) => slo::ratio(s, slo, good).unwrap_or(FAILED_RATIO).min(FAILED_RATIO),
        _ => FAILED_RATIO,
    }
}

fn probe_of(ctx: &Ctx<'_>, r: &CellResult) -> Probe {
    Probe { load: Target::load_of(&r.cell).unwrap_or(0.0), ratio: ratio_of(ctx, r), disturbed: r.quality.disturbed }
}

/// The search of `t` on this launch: the scenario's range, lowered to the engine's own limit when
/// asked; with `best_only`, the best boundary of the configs searched before it to beat.
fn spec_for(ctx: &Ctx<'_>, launch: &Launch, t: &Target, on: &Serving<'_>) -> (Spec, Option<String>) {
    let x = config(ctx);
    let mut spec = Spec::of(x);
    let mut note = None;
    if x.load == SearchLoad::Concurrency && x.cap_at_engine_limit {
        let limit = crate::engine::spec(launch.server.engine).concurrency_limit(&launch.server, &on.startup.facts);
        if let Some((n, why)) = limit.filter(|(n, _)| f64::from(*n) < spec.max) {
            let max = f64::from(n).max(spec.min);
            note = Some(format!("upper bound lowered from {} to {max}: {why}; above it requests only queue", spec.max));
            spec.max = max;
        }
    }
    if x.best_only {
        let earlier = crate::store::read::read_searches(&ctx.store.dir).unwrap_or_default();
        spec.to_beat = earlier
            .iter()
            .filter(|r| r.done && r.target.workload == t.workload && r.target.id != t.id)
            .filter_map(|r| r.boundary)
            .reduce(f64::max);
    }
    (spec, note)
}

pub(super) async fn run(
    ctx: &Ctx<'_>,
    launch: &Launch,
    on: &Serving<'_>,
    results: &mut Vec<CellResult>,
    reporter: &mut dyn Reporter,
) -> Result<()> {
    for t in ctx.plan.searches_of(launch.index) {
        if ctx.cancel.is_cancelled() {
            break;
        }
        if finished(ctx, t) {
            continue;
        }
        if let Some(dead) = one(ctx, launch, t, on, results, reporter).await? {
            // Later searches of this launch cannot run on a dead engine: recorded as such.
            for rest in ctx.plan.searches_of(launch.index).filter(|o| o.index > t.index) {
                let mut rec = new_record(ctx, launch, rest, Spec::of(config(ctx)), None);
                rec.done = true;
                rec.why_stopped = Some(format!("not searched: the engine died during an earlier search ({dead})"));
                store::write_json(&ctx.store.search_path(&rest.id), &rec)?;
            }
            break;
        }
    }
    Ok(())
}

fn new_record(ctx: &Ctx<'_>, launch: &Launch, t: &Target, spec: Spec, note: Option<String>) -> SearchRecord {
    let x = config(ctx);
    SearchRecord {
        target: t.clone(),
        launch_id: launch.id.clone(),
        server: launch.server.name.clone(),
        load: x.load,
        goal: x.goal,
        min_good_share: x.min_good_share,
        dense_grid_cells: spec.dense_grid_cells(),
        spec,
        range_note: note,
        probes: Vec::new(),
        fit: Vec::new(),
        boundary: None,
        first_fail: None,
        boundary_kind: None,
        at_boundary: None,
        done: false,
        why_stopped: None,
        infeasible: None,
        wall_s: 0.0,
        provenance: None,
    }
}

/// One search; Some(why) when the engine died during it.
async fn one(
    ctx: &Ctx<'_>,
    launch: &Launch,
    t: &Target,
    on: &Serving<'_>,
    results: &mut Vec<CellResult>,
    reporter: &mut dyn Reporter,
) -> Result<Option<String>> {
    let x = config(ctx).clone();
    let (spec, note) = spec_for(ctx, launch, t, on);
    let path = ctx.store.search_path(&t.id);
    let earlier_wall = read_json::<SearchRecord>(&path).map_or(0.0, |r| r.wall_s);
    let mut rec = new_record(ctx, launch, t, spec.clone(), note);
    // Replay what was measured before (resume): the same probes through the same decisions.
    let mut probes: Vec<Probe> = Vec::new();
    let mut owned: Vec<CellResult> = results.iter().filter(|r| t.owns(&r.cell)).cloned().collect();
    owned.sort_by_key(|r| r.cell.index);
    for r in &owned {
        let why = match search::next(&spec, &probes) {
            Decision::Probe { why, .. } => why,
            Decision::Done { why, .. } => format!("(measured before the search was resumed; it would now stop: {why})"),
        };
        push(ctx, &mut rec, &mut probes, r, why);
    }
    let t0 = Instant::now();
    let slo = ctx.scenario().slo.get(&t.workload).cloned();
    // Requests per probe: a trace's selection (read as its cells read it), else the workload's count.
    let total = match crate::plan::workload(ctx.scenario(), &t.workload) {
        Some(w) if w.is_trace() => crate::load::trace::entries(w, &ctx.loaded.base_dir()).map_or(0, |e| e.len()),
        w => w.map_or(0, |w| w.requests() as usize),
    };
    let mut dead = None;
    loop {
        rec.wall_s = earlier_wall + t0.elapsed().as_secs_f64();
        let decision = search::next(&spec, &probes);
        let (load, why) = match decision {
            Decision::Probe { load, why } => (load, why),
            Decision::Done { why, .. } => {
                finish(&mut rec, &probes, results, why);
                store::write_json(&path, &rec)?;
                return Ok(None);
            }
        };
        if ctx.cancel.is_cancelled() {
            store::write_json(&path, &rec)?;
            return Ok(None);
        }
        let cell = t.probe_cell(probes.len(), x.load, load);
        let early = slo.clone().filter(|_| x.early_stop_factor > 1.0 && x.goal == SearchGoal::Slo).map(|slo| {
            let factor = x.early_stop_factor;
            let min_done = (total / 4).max(8);
            std::sync::Arc::new(move |recs: &[crate::results::record::RequestRecord]| {
                slo::clearly_failing(recs, &slo, factor, min_done, total)
            }) as crate::load::driver::EarlyCheck
        });
        let r = cell::run(ctx, launch, &cell, on, early, reporter).await?;
        let Some(r) = super::launch::settle(ctx, launch, on.eng, r, &mut dead, results, reporter)? else {
            // Interrupted: the probe is measured again on resume.
            store::write_json(&path, &rec)?;
            return Ok(None);
        };
        push(ctx, &mut rec, &mut probes, &r, why);
        if let Some(d) = &dead {
            rec.wall_s = earlier_wall + t0.elapsed().as_secs_f64();
            finish(&mut rec, &probes, results, format!("the engine died during the probe at {load}: {d}"));
            store::write_json(&path, &rec)?;
            return Ok(dead);
        }
        rec.fit = search::fit(&probes);
        store::write_json(&path, &rec)?;
    }
}

fn push(ctx: &Ctx<'_>, rec: &mut SearchRecord, probes: &mut Vec<Probe>, r: &CellResult, why: String) {
    let p = probe_of(ctx, r);
    probes.push(p);
    let stopped_early = r.stopped_early.clone();
    rec.probes.push(ProbeRecord { cell_id: r.cell.id.clone(), probe: p, status: r.status, why, stopped_early });
}

/// The search's end: boundary, first failing load, kind and the figures at the boundary.
fn finish(rec: &mut SearchRecord, probes: &[Probe], results: &[CellResult], why: String) {
    let (pass, fail) = search::bracket(probes);
    rec.fit = search::fit(probes);
    rec.boundary = pass;
    rec.first_fail = fail;
    rec.boundary_kind = search::boundary_kind(probes);
    rec.at_boundary = pass.and_then(|b| {
        let last = rec.probes.iter().rev().find(|p| p.probe.load == b && !p.probe.disturbed)?;
        let r = results.iter().find(|r| r.cell.id == last.cell_id)?;
        let s = r.summary.as_ref()?;
        Some(AtBoundary {
            cell_id: last.cell_id.clone(),
            load: b,
            throughput_tok_s: s.throughput_tok_s,
            mean_user_tok_s: s.mean_user_tok_s,
            p95_ttft_ms: s.ttft_seen().map(|d| d.p95),
            p95_e2e_ms: s.e2e_seen().map(|d| d.p95),
            p95_tpot_ms: s.tpot_ms.as_ref().map(|d| d.p95),
            good_share: s.good_share,
            ratio: last.probe.ratio,
        })
    });
    rec.done = true;
    rec.why_stopped = Some(why);
}

/// A launch that did not start: each of its searches is recorded as infeasible, with one infeasible
/// cell at the lower bound so the CSV and the reports list the config as a grid would.
pub(super) fn infeasible(ctx: &Ctx<'_>, launch: &Launch, reason: &str) -> Result<Vec<crate::plan::Cell>> {
    let Some(x) = ctx.scenario().search.as_ref() else { return Ok(Vec::new()) };
    let mut cells = Vec::new();
    for t in ctx.plan.searches_of(launch.index) {
        let mut rec = new_record(ctx, launch, t, Spec::of(x), None);
        rec.done = true;
        rec.infeasible = Some(reason.to_string());
        rec.why_stopped = Some(format!("infeasible: {reason}"));
        store::write_json(&ctx.store.search_path(&t.id), &rec)?;
        cells.push(t.probe_cell(0, x.load, x.min));
    }
    Ok(cells)
}
