//! Boundary searches as the reports show them: one row per GPU x workload x server config (the
//! highest load under the SLO, how it was found, what the config does there), the best config per
//! GPU x workload, and the Pareto frontier of system vs per-user throughput over every probe. Pure.

use crate::results::records::CellResult;
use crate::store::read::StoredRun;
use crate::store::search::{AtBoundary, SearchRecord};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRow {
    pub run_id: String,
    pub gpu: String,
    pub workload: String,
    pub server: String,
    pub launch_id: String,
    /// The config's server-axis values as text ("parallel=16").
    pub config: String,
    /// "concurrency", "req/s" or "trace speed-up".
    pub unit: String,
    pub boundary: Option<f64>,
    pub first_fail: Option<f64>,
    /// "smooth", "cliff", or none (no failing probe, or nothing passed).
    pub kind: Option<String>,
    pub at: Option<AtBoundary>,
    pub probes: usize,
    pub dense_grid_cells: usize,
    /// probes / dense grid cells, in %.
    pub share_of_grid_pct: f64,
    pub disturbed_probes: usize,
    pub early_stopped: usize,
    pub range_note: Option<String>,
    pub why_stopped: Option<String>,
    pub infeasible: Option<String>,
    pub done: bool,
    pub wall_s: f64,
    /// The search history file, relative to the run folder.
    pub file: String,
}

/// One probe on the throughput plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    pub config: String,
    pub load: f64,
    pub system_tok_s: f64,
    pub user_tok_s: f64,
    /// Met the search's goal (its worst SLO ratio <= 1).
    pub feasible: bool,
    /// Not dominated by a feasible point (more of both): on the frontier.
    pub on_frontier: bool,
}

/// The frontier of one GPU x workload across configs and loads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pareto {
    pub gpu: String,
    pub workload: String,
    pub points: Vec<ParetoPoint>,
    /// Per-user tok/s a TPOT threshold requires (1000 / p95_tpot_ms), when the SLO has one.
    pub min_user_tok_s: Option<f64>,
    /// The chart's file name beside the reports.
    pub svg_file: String,
}

fn row(run: &StoredRun, r: &SearchRecord, axes: &[String]) -> SearchRow {
    let config = super::capacity::axes_label(&r.target.axes, axes);
    let dense = r.dense_grid_cells.max(1);
    SearchRow {
        run_id: run.manifest.run_id.clone(),
        gpu: run.manifest.gpu_label.clone(),
        workload: r.target.workload.clone(),
        server: r.server.clone(),
        launch_id: r.launch_id.clone(),
        config: if config.is_empty() { r.server.clone() } else { config },
        unit: r.load.unit().into(),
        boundary: r.boundary,
        first_fail: r.first_fail,
        kind: r.boundary_kind.map(|k| format!("{k:?}").to_lowercase()),
        at: r.at_boundary.clone(),
        probes: r.probes.len(),
        dense_grid_cells: r.dense_grid_cells,
        share_of_grid_pct: r.probes.len() as f64 / dense as f64 * 100.0,
        disturbed_probes: r.probes.iter().filter(|p| p.probe.disturbed).count(),
        early_stopped: r.probes.iter().filter(|p| p.stopped_early.is_some()).count(),
        range_note: r.range_note.clone(),
        why_stopped: r.why_stopped.clone(),
        infeasible: r.infeasible.clone(),
        done: r.done,
        wall_s: r.wall_s,
        file: format!("{}/{}/{}", crate::store::layout::SEARCHES, r.target.id, crate::store::layout::SEARCH),
    }
}

/// The rows of every search of `run` (server axes named as in its scenario).
pub fn rows(run: &StoredRun, axes: &[String]) -> Vec<SearchRow> {
    run.searches.iter().map(|r| row(run, r, axes)).collect()
}

/// The config to recommend among `rows` (one GPU x workload): the highest boundary, then the higher
/// throughput there. None when no config met the goal at any load.
pub fn best(rows: &[&SearchRow]) -> Option<SearchRow> {
    rows.iter()
        .filter(|r| r.boundary.is_some() && r.at.is_some())
        .max_by(|a, b| {
            let t = |r: &SearchRow| r.at.as_ref().map_or(0.0, |a| a.throughput_tok_s);
            a.boundary.unwrap_or(0.0).total_cmp(&b.boundary.unwrap_or(0.0)).then(t(a).total_cmp(&t(b)))
        })
        .map(|r| (*r).clone())
}

/// Every measured probe of `run`'s searches for one workload on the throughput plane, with the
/// frontier marked.
pub fn pareto(run: &StoredRun, workload: &str, axes: &[String], min_user_tok_s: Option<f64>) -> Option<Pareto> {
    let by_id = |id: &str| -> Option<&CellResult> { run.cells.iter().find(|c| c.cell.id == id) };
    let mut points = Vec::new();
    for r in run.searches.iter().filter(|r| r.target.workload == workload) {
        let config = super::capacity::axes_label(&r.target.axes, axes);
        for p in r.probes.iter().filter(|p| !p.probe.disturbed) {
            let Some(s) = by_id(&p.cell_id).and_then(|c| c.summary.as_ref()) else { continue };
            let Some(user) = s.mean_user_tok_s else { continue };
            points.push(ParetoPoint {
                config: config.clone(),
                load: p.probe.load,
                system_tok_s: s.throughput_tok_s,
                user_tok_s: user,
                feasible: p.probe.ratio <= 1.0,
                on_frontier: false,
            });
        }
    }
    if points.is_empty() {
        return None;
    }
    mark_frontier(&mut points);
    let gpu = run.manifest.gpu_label.clone();
    let svg_file =
        format!("pareto-{}-{}-{}.svg", crate::plan::slug(&gpu), crate::plan::slug(workload), crate::plan::slug(&run.manifest.run_id));
    Some(Pareto { gpu, workload: workload.into(), points, min_user_tok_s, svg_file })
}

/// Marks the feasible points no other feasible point beats on both system and per-user tok/s.
pub fn mark_frontier(points: &mut [ParetoPoint]) {
    let feasible: Vec<(f64, f64)> = points.iter().filter(|p| p.feasible).map(|p| (p.system_tok_s, p.user_tok_s)).collect();
    for p in points.iter_mut() {
        p.on_frontier = p.feasible
            && !feasible.iter().any(|&(s, u)| s >= p.system_tok_s && u >= p.user_tok_s && (s > p.system_tok_s || u > p.user_tok_s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(s: f64, u: f64, feasible: bool) -> ParetoPoint {
        ParetoPoint { config: "c".into(), load: 1.0, system_tok_s: s, user_tok_s: u, feasible, on_frontier: false }
    }

    #[test]
    fn best_prefers_the_higher_boundary_then_throughput() {
        let at = |t: f64| {
            Some(AtBoundary {
                cell_id: "x".into(),
                load: 1.0,
                throughput_tok_s: t,
                mean_user_tok_s: None,
                p95_ttft_ms: None,
                p95_e2e_ms: None,
                p95_tpot_ms: None,
                good_share: None,
                ratio: 0.9,
            })
        };
        let mk = |b: Option<f64>, t: f64, c: &str| SearchRow {
            run_id: "r".into(),
            gpu: "g".into(),
            workload: "w".into(),
            server: "s".into(),
            launch_id: c.into(),
            config: c.into(),
            unit: "concurrency".into(),
            boundary: b,
            first_fail: None,
            kind: None,
            at: at(t),
            probes: 3,
            dense_grid_cells: 10,
            share_of_grid_pct: 30.0,
            disturbed_probes: 0,
            early_stopped: 0,
            range_note: None,
            why_stopped: None,
            infeasible: None,
            done: true,
            wall_s: 1.0,
            file: String::new(),
        };
        let rows = [mk(Some(8.0), 100.0, "a"), mk(Some(9.0), 90.0, "b"), mk(Some(9.0), 95.0, "c"), mk(None, 500.0, "d")];
        assert_eq!(best(&rows.iter().collect::<Vec<_>>()).unwrap().config, "c");
        assert!(best(&[&rows[3]]).is_none());
    }

    #[test]
    fn frontier_is_the_undominated_feasible_points() {
        // (150, 20) is beaten by (200, 30); the infeasible (300, 10) is never on it and beats nothing.
        let mut pts = vec![pt(100.0, 50.0, true), pt(200.0, 30.0, true), pt(150.0, 20.0, true), pt(300.0, 10.0, false)];
        mark_frontier(&mut pts);
        assert_eq!(pts.iter().map(|p| p.on_frontier).collect::<Vec<_>>(), vec![true, true, false, false]);
    }
}
