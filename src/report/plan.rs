//! Text of `runner plan`: launches with their exact command, then their cells. Pure given the targets
//! (a rendering of the plan, so it lives with the other renderings, not in `plan`).

use crate::engine::argv::{self, LaunchTarget};
use crate::plan::{Launch, Plan};
use crate::scenario::schema::Scenario;
use std::fmt::Write;

/// Renders the plan; `target` resolves each launch's program and model for display.
/// `prediction` gives each launch's estimate line (`runner estimate`), when there is one.
pub fn render(
    s: &Scenario,
    plan: &Plan,
    target: impl Fn(&Launch) -> LaunchTarget,
    prediction: impl Fn(&Launch) -> Option<String>,
) -> String {
    let mut out = String::new();
    let requests = match plan.total_requests(s) {
        (n, 0) => format!("{n}"),
        (n, w) => format!("{n} + {w} trace window(s) of"),
    };
    let launches = plan.launches_label();
    if plan.searches.is_empty() {
        let _ = writeln!(out, "scenario {}: {} on {launches}, {requests} requests (warm-up included)", s.scenario.name, plan.work_label());
    } else {
        let _ = writeln!(out, "scenario {}: {} on {launches}; probes are chosen as the search runs", s.scenario.name, plan.work_label());
    }
    if let Some(x) = &s.search {
        out.push_str(&search_space(s, x, plan));
    }
    for launch in &plan.launches {
        let cells: Vec<_> = plan.cells_of(launch.index).collect();
        let searches: Vec<_> = plan.searches_of(launch.index).collect();
        let what = crate::plan::work_words(cells.len(), searches.len());
        let _ = writeln!(out, "\nlaunch {} [{}] - {what}", launch.id, launch.server.engine.as_str());
        let t = target(launch);
        match argv::argv(&launch.server, &t) {
            Some(a) => {
                let _ = writeln!(out, "  $ {}", argv::display(&a));
                if !launch.server.env.is_empty() {
                    let env: Vec<String> = launch.server.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let _ = writeln!(out, "    env: {}", env.join(" "));
                }
                if t.port.is_none() {
                    let _ = writeln!(out, "    (AUTO: a free port is chosen at launch)");
                }
            }
            None => {
                let _ = writeln!(out, "  external endpoint {} (not launched)", launch.server.url.clone().unwrap_or_default());
            }
        }
        let most = cells
            .iter()
            .filter_map(|c| c.load.concurrency())
            // A search capped at the engine's limit never offers more than it runs at once.
            .chain(
                s.search
                    .iter()
                    .filter(|x| {
                        !searches.is_empty() && x.load == crate::scenario::schema::SearchLoad::Concurrency && !x.cap_at_engine_limit
                    })
                    .map(|x| x.max as u32),
            )
            .max();
        for note in crate::engine::flag_check::plan_notes(&launch.server, most) {
            let _ = writeln!(out, "  note: {note}");
        }
        if let Some(p) = prediction(launch) {
            let _ = writeln!(out, "  {}", p.replace('\n', "\n  "));
        }
        // A trace workload without `requests` replays its whole window.
        let requests = |name: &str| match crate::plan::workload(s, name) {
            Some(w) if w.is_trace() && w.requests.is_none() => "the trace's".to_string(),
            w => w.map_or(0, |w| w.requests()).to_string(),
        };
        for t in searches {
            let reqs = requests(&t.workload);
            let _ = writeln!(out, "  search {:<32} workload={} max_tokens={} requests={reqs} per probe", t.id, t.workload, t.max_tokens);
        }
        for c in cells {
            let params: Vec<String> = c.params.iter().map(|(k, v)| format!("{k}={}", v.label())).collect();
            let _ = writeln!(out, "  {:<40} workload={} {} requests={}", c.id, c.workload, params.join(" "), requests(&c.workload));
        }
    }
    out
}

/// The search space of `[search]`: load variable, range, resolution, goal, the most probes per search
/// and what a dense grid over the same range would take.
fn search_space(s: &Scenario, x: &crate::scenario::schema::Search, plan: &Plan) -> String {
    use crate::scenario::schema::{SearchGoal, SearchLoad};
    let spec = crate::plan::search::Spec::of(x);
    let unit = match x.load {
        SearchLoad::Concurrency => "concurrency",
        SearchLoad::RequestRate => "request_rate (req/s)",
        SearchLoad::TraceSpeed => "trace_speed (x the trace's arrival rate)",
    };
    let step = match spec.resolution {
        crate::plan::search::Resolution::Absolute(a) => format!("{a}"),
        crate::plan::search::Resolution::Relative(p) => format!("{p}% of the load"),
    };
    let mut out = String::new();
    let _ = writeln!(out, "search: {unit} from {} to {}, resolution {step}", x.min, x.max);
    let goal = match x.goal {
        SearchGoal::Slo => "the highest load meeting every SLO of the workload".to_string(),
        SearchGoal::Goodput => {
            format!(
                "the highest load where at least {:.0}% of requests meet the per-request thresholds",
                x.min_good_share.unwrap_or(0.0) * 100.0
            )
        }
    };
    let _ = writeln!(out, "  goal: {goal}");
    for t in plan.searches.iter().map(|t| &t.workload).collect::<std::collections::BTreeSet<_>>() {
        if let Some(slo) = s.slo.get(t) {
            let mut th = Vec::new();
            for (name, v) in slo.p95_limits() {
                if let Some(v) = v {
                    th.push(format!("{name} <= {v} ms"));
                }
            }
            th.push(format!("errors <= {:.1}%", slo.max_error_rate * 100.0));
            let _ = writeln!(out, "  SLO of {t}: {}", th.join(", "));
        }
    }
    let most = spec.most_probes();
    let _ = writeln!(
        out,
        "  at most {most} probes per search ({} in all for {} search(es)); a dense grid over the same range needs {} cells per search",
        most * plan.searches.len(),
        plan.searches.len(),
        spec.dense_grid_cells()
    );
    let _ = writeln!(
        out,
        "  near-threshold probes (within {:.0}%) are measured up to {} times; disturbed probes are re-run; {}",
        x.near * 100.0,
        x.max_measurements,
        if x.early_stop_factor > 1.0 {
            format!("a probe stops early once its running p95 is above {} x a threshold", x.early_stop_factor)
        } else {
            "probes never stop early".into()
        }
    );
    if x.load == SearchLoad::Concurrency && x.cap_at_engine_limit {
        let _ =
            writeln!(out, "  the upper bound is lowered at launch to the engine's own limit (slots, max_num_seqs) when that is smaller");
    }
    if x.best_only {
        let _ = writeln!(out, "  best_only: a config stops as soon as it fails at or below the best boundary found so far");
    }
    out
}
