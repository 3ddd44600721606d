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
    let requests = plan.total_requests(s);
    let _ = writeln!(
        out,
        "scenario {}: {} cell{} on {} server launch{}, {} requests (warm-up included)",
        s.scenario.name,
        plan.cells.len(),
        if plan.cells.len() == 1 { "" } else { "s" },
        plan.launches.len(),
        if plan.launches.len() == 1 { "" } else { "es" },
        requests
    );
    for launch in &plan.launches {
        let cells: Vec<_> = plan.cells_of(launch.index).collect();
        let _ = writeln!(out, "\nlaunch {} [{}] - {} cells", launch.id, launch.server.engine.as_str(), cells.len());
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
        if let Some(p) = prediction(launch) {
            let _ = writeln!(out, "  {}", p.replace('\n', "\n  "));
        }
        for c in cells {
            let params: Vec<String> = c.params.iter().map(|(k, v)| format!("{k}={}", v.label())).collect();
            let reqs = crate::plan::workload(s, &c.workload).map_or(0, |w| w.requests);
            let _ = writeln!(out, "  {:<40} workload={} {} requests={}", c.id, c.workload, params.join(" "), reqs);
        }
    }
    out
}
