//! The OOM and instability surface of a run: per server config and load, whether it is safe,
//! degrades (preemptions, a full KV cache), is too slow, was refused at start or lost its engine under
//! load, with the figure that shows it; and per config the predicted preemption point
//! (`estimate::kv_demand`) against the first concurrency that preempted. Pure.

use super::view::{Outcome, PreemptionPoint, Surface, SurfaceCell, SurfaceRow, Verdict};
use crate::estimate::kv_demand;
use crate::results::records::{CellResult, CellStatus, LaunchRecord};
use crate::scenario::schema::{FlagValue, Scenario};
use crate::store::read::StoredRun;

/// KV usage at or above this is a full cache (the engine reports a share; 0.99 allows for its rounding).
pub const KV_FULL: f64 = 0.99;

/// What one measured (or refused) cell says.
pub fn verdict(r: &CellResult) -> Option<(Verdict, String)> {
    let eng = r.telemetry.as_ref().map(|t| &t.engine);
    match r.status {
        CellStatus::Interrupted => None,
        CellStatus::Infeasible => Some((Verdict::RefusedAtStart, r.reason.clone().unwrap_or_default())),
        // "engine_died: the server exited during this cell" (execute::launch); the cells after it
        // ("engine_died during an earlier cell") were not tried, and stay `failed`.
        CellStatus::Failed if r.reason.as_deref().is_some_and(|x| x.starts_with("engine_died:")) => {
            Some((Verdict::DiesUnderLoad, r.reason.clone().unwrap_or_default()))
        }
        CellStatus::Failed => Some((Verdict::Failed, r.reason.clone().unwrap_or_default())),
        CellStatus::Ok | CellStatus::SloFail => {
            let mut evidence = Vec::new();
            if let Some(p) = eng.and_then(|e| e.preemptions).filter(|p| *p > 0.0) {
                evidence.push(format!("{p:.0} preemption(s)"));
            }
            let usage = eng.and_then(|e| e.kv_cache_usage_max);
            if let Some(u) = usage.filter(|u| *u >= KV_FULL) {
                evidence.push(format!("KV cache {:.0}% used", u * 100.0));
            }
            if let Some(w) = eng.and_then(|e| e.waiting_max).filter(|w| *w > 0.0 && !evidence.is_empty()) {
                evidence.push(format!("up to {w:.0} request(s) waiting"));
            }
            let peak = usage.map_or(String::new(), |u| format!("KV peak {:.0}%", u * 100.0));
            let e2e = r.summary.as_ref().and_then(|s| s.e2e_seen()).map(|x| format!("p95 E2E {:.0} ms", x.p95));
            let figures: Vec<String> = e2e.into_iter().chain((!peak.is_empty()).then_some(peak)).collect();
            if !evidence.is_empty() {
                let ttft = r.summary.as_ref().and_then(|s| s.ttft_seen()).map(|x| format!("p95 TTFT {:.0} ms", x.p95));
                let mut text = evidence.into_iter().chain(ttft).collect::<Vec<_>>().join(", ");
                if r.status == CellStatus::SloFail {
                    text.push_str(&format!("; SLO missed: {}", r.reason.clone().unwrap_or_default()));
                }
                Some((Verdict::Degrades, text))
            } else if r.status == CellStatus::Ok {
                Some((Verdict::Safe, figures.join(", ")))
            } else {
                Some((Verdict::Slow, r.reason.clone().unwrap_or_default()))
            }
        }
    }
}

/// The config's outcome from its cells' verdicts: the worst one.
fn outcome(l: &LaunchRecord, verdicts: &[Verdict], any_probe: bool) -> Outcome {
    if l.failure.is_some() {
        Outcome::Infeasible
    } else if verdicts.contains(&Verdict::DiesUnderLoad) {
        Outcome::DiesUnderLoad
    } else if verdicts.contains(&Verdict::Degrades) {
        Outcome::Degrades
    } else if verdicts.contains(&Verdict::Safe) || any_probe {
        Outcome::Feasible
    } else {
        Outcome::SloFail
    }
}

/// Predicted against observed preemption, per workload and max_tokens of one launch.
fn preemption_points(
    l: &LaunchRecord,
    flags: &indexmap::IndexMap<String, FlagValue>,
    cells: &[&CellResult],
    scenario: Option<&Scenario>,
) -> Vec<PreemptionPoint> {
    let mut keys: Vec<(String, u32)> = cells
        .iter()
        .filter(|c| !c.cell.is_probe() && c.cell.load.closed().is_some())
        .map(|c| (c.cell.workload.clone(), c.cell.max_tokens))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(workload, max_tokens)| {
            let mut measured: Vec<(u32, f64)> = cells
                .iter()
                .filter(|c| c.cell.workload == workload && c.cell.max_tokens == max_tokens && c.summary.is_some())
                .filter_map(|c| Some((c.cell.load.closed()?, c.telemetry.as_ref()?.engine.preemptions?)))
                .collect();
            measured.sort_by_key(|(c, _)| *c);
            let observed = measured.iter().find(|(_, p)| *p > 0.0).map(|(c, _)| *c);
            let clean_below = measured.iter().filter(|(c, p)| *p == 0.0 && observed.is_none_or(|o| *c < o)).map(|(c, _)| *c).max();
            let predicted = predicted(l, flags, scenario, &workload, max_tokens);
            let (predicted_from, not_predicted) = match predicted {
                Ok(d) => (d.preempt_from, None),
                Err(why) => (None, Some(why)),
            };
            let agrees = match (predicted_from, observed) {
                (Some(p), Some(o)) => Some(clean_below.map_or(0, u64::from) < p && p <= u64::from(o)),
                (Some(p), None) => measured.last().map(|(c, _)| u64::from(*c) < p),
                (None, Some(_)) => Some(false),
                (None, None) => None,
            };
            PreemptionPoint {
                workload,
                max_tokens,
                predicted_from,
                not_predicted,
                observed_from: observed,
                clean_below,
                largest_measured: measured.last().map(|(c, _)| *c),
                agrees,
                counted: !measured.is_empty(),
            }
        })
        .collect()
}

/// The launch's stored prediction applied to the scenario's workload.
fn predicted(
    l: &LaunchRecord,
    flags: &indexmap::IndexMap<String, FlagValue>,
    scenario: Option<&Scenario>,
    workload: &str,
    max_tokens: u32,
) -> Result<kv_demand::Demand, String> {
    let p = l.prediction.as_ref().ok_or("no prediction was stored for this launch (runner estimate found no model config)")?;
    if p.weights_from == crate::results::launch::WeightsFrom::Gguf {
        return Err("llama.cpp gives every slot its own context: it queues, it does not preempt".into());
    }
    let s = scenario.ok_or("the run's scenario is not readable")?;
    let w = s.workloads.iter().find(|w| w.name == workload).ok_or("the workload is not in the run's scenario")?;
    let cap = crate::engine::flags::lookup(flags, "max_num_seqs").and_then(FlagValue::as_f64).map(|v| v as u64);
    kv_demand::demand(w, max_tokens, &p.budget, kv_demand::block_tokens(p.request.device, flags), cap).map_err(str::to_string)
}

/// The run's surface over its server axes (two launches at least), or None.
pub fn surface(run: &StoredRun, scenario: Option<&Scenario>, axes: &[String]) -> Option<Surface> {
    if axes.is_empty() || run.launches.len() < 2 {
        return None;
    }
    // The flags each stored launch started with: its planned server's (the scenario the run stored).
    let planned = scenario.map(|s| crate::plan::expand(s).launches).unwrap_or_default();
    let rows = run
        .launches
        .iter()
        .map(|l| {
            let cells: Vec<&CellResult> = run.cells.iter().filter(|c| c.launch_id == l.id).collect();
            let typed: indexmap::IndexMap<_, _> = cells
                .first()
                .map(|c| axes.iter().filter_map(|k| Some((k.clone(), c.cell.params.get(k)?.clone()))).collect())
                .unwrap_or_default();
            let params = cells.first().map_or(String::new(), |c| super::capacity::axes_label(&c.cell.params, axes));
            let surface_cells: Vec<SurfaceCell> = cells
                .iter()
                .filter(|c| !c.cell.is_probe())
                .filter_map(|c| {
                    let (verdict, figure) = verdict(c)?;
                    Some(SurfaceCell {
                        cell_id: c.cell.id.clone(),
                        workload: c.cell.workload.clone(),
                        load_label: c.cell.load.label(),
                        concurrency: c.cell.load.closed(),
                        max_tokens: c.cell.max_tokens,
                        verdict,
                        figure,
                    })
                })
                .collect();
            let verdicts: Vec<Verdict> = surface_cells.iter().map(|c| c.verdict).collect();
            let outcome = outcome(l, &verdicts, cells.iter().any(|c| c.cell.is_probe()));
            let reason = match (&l.failure, outcome) {
                (Some(f), _) => Some(f.label()),
                (None, Outcome::Feasible) => None,
                (None, o) => {
                    let want = match o {
                        Outcome::DiesUnderLoad => Verdict::DiesUnderLoad,
                        Outcome::Degrades => Verdict::Degrades,
                        _ => Verdict::Slow,
                    };
                    surface_cells.iter().find(|c| c.verdict == want).map(|c| format!("{}: {}", c.load_label, c.figure))
                }
            };
            let flags = planned.iter().find(|p| p.id == l.id).map(|p| p.server.flags.clone()).unwrap_or_default();
            let preemption = if l.failure.is_some() { Vec::new() } else { preemption_points(l, &flags, &cells, scenario) };
            SurfaceRow { launch_id: l.id.clone(), axes: typed, server_params: params, outcome, reason, cells: surface_cells, preemption }
        })
        .collect();
    Some(Surface { gpu: run.manifest.gpu_label.clone(), server: run.launches[0].server.clone(), rows })
}
