//! What a plan will take, from earlier runs of the same scenario: each launch's start-up and each
//! cell's duration where an earlier run measured them, and the cost at the GPU's price. Pure.

use crate::plan::Plan;
use crate::store::read::StoredRun;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Seconds that earlier runs measured for the launches and cells they share with this plan.
    pub known_s: f64,
    pub launches_known: usize,
    pub cells_known: usize,
    pub launches: usize,
    pub cells: usize,
    pub earlier_runs: usize,
    /// Cost of `known_s` on one GPU at the price, when there is one.
    pub cost: Option<f64>,
    pub currency: Option<String>,
}

fn seconds(from: &str, to: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(to).ok()?;
    Some((b - a).num_milliseconds() as f64 / 1000.0).filter(|s| *s >= 0.0)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

/// Launches by id and cells by id, timed by the median of the earlier runs that have them.
pub fn campaign(plan: &Plan, earlier: &[StoredRun], price: Option<&crate::scenario::schema::Price>) -> Campaign {
    let mut known_s = 0.0;
    let mut launches_known = 0;
    for l in &plan.launches {
        let times: Vec<f64> = earlier.iter().flat_map(|r| r.launches.iter()).filter(|x| x.id == l.id).filter_map(|x| x.ready_s).collect();
        if let Some(t) = median(times) {
            known_s += t;
            launches_known += 1;
        }
    }
    let mut cells_known = 0;
    for c in &plan.cells {
        let times: Vec<f64> = earlier
            .iter()
            .flat_map(|r| r.cells.iter())
            .filter(|x| x.cell.id == c.id && x.summary.is_some())
            .filter_map(|x| seconds(&x.started_at, &x.finished_at))
            .collect();
        if let Some(t) = median(times) {
            known_s += t;
            cells_known += 1;
        }
    }
    Campaign {
        known_s,
        launches_known,
        cells_known,
        launches: plan.launches.len(),
        cells: plan.cells.len(),
        earlier_runs: earlier.len(),
        cost: price.map(|p| known_s / 3600.0 * p.per_hour),
        currency: price.map(|p| p.currency.clone()),
    }
}

impl Campaign {
    /// The line `runner plan` ends with.
    pub fn summary(&self) -> String {
        if self.launches_known + self.cells_known == 0 {
            return format!(
                "expected wall time: not known (no earlier run of this scenario measured its launches or cells; {} earlier run(s) found)",
                self.earlier_runs
            );
        }
        let mut line = format!(
            "expected wall time: {:.1} min from {} earlier run(s) ({} of {} launches' start-up, {} of {} cells timed",
            self.known_s / 60.0,
            self.earlier_runs,
            self.launches_known,
            self.launches,
            self.cells_known,
            self.cells
        );
        if self.cells_known < self.cells || self.launches_known < self.launches {
            line.push_str("; the rest not known, so this is a lower bound");
        }
        line.push(')');
        if let (Some(c), Some(cur)) = (self.cost, &self.currency) {
            line.push_str(&format!(", costing {c:.2} {cur} on one GPU at the scenario's price"));
        }
        line
    }
}
