//! `searches/<id>/search.json`: one boundary search's history, rewritten atomically after every
//! probe, so an interrupted search resumes where it stopped and a report can show how it decided.

use crate::plan::search::{BoundaryKind, Decision, Probe, Spec, Target};
use crate::scenario::schema::{SearchGoal, SearchLoad};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchRecord {
    pub target: Target,
    pub launch_id: String,
    pub server: String,
    pub load: SearchLoad,
    pub goal: SearchGoal,
    #[serde(default)]
    pub min_good_share: Option<f64>,
    /// The search as it ran (its `max` may be the engine's limit, see `range_note`).
    pub spec: Spec,
    /// Why the range differs from the scenario's, when it does.
    #[serde(default)]
    pub range_note: Option<String>,
    /// Every probe in the order measured.
    pub probes: Vec<ProbeRecord>,
    /// The monotone fit over the undisturbed probes: (load, fitted worst SLO ratio).
    pub fit: Vec<(f64, f64)>,
    /// The highest load that meets the goal (None: not even the lower bound does).
    pub boundary: Option<f64>,
    /// The lowest load that fails it, when one was measured.
    pub first_fail: Option<f64>,
    pub boundary_kind: Option<BoundaryKind>,
    /// The last measurement at the boundary load.
    pub at_boundary: Option<AtBoundary>,
    /// True once the search has ended; `why_stopped` says how.
    pub done: bool,
    pub why_stopped: Option<String>,
    /// The config could not start: its reason (as the grid's infeasible cells give it).
    #[serde(default)]
    pub infeasible: Option<String>,
    /// Cells a dense grid over the same range at the same resolution would need.
    pub dense_grid_cells: usize,
    pub wall_s: f64,
    /// Where the search ran, when it came into this folder by `runner merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::results::records::Provenance>,
}

/// One probe: its cell, its figure, and the decision that chose it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeRecord {
    pub cell_id: String,
    #[serde(flatten)]
    pub probe: Probe,
    pub status: crate::results::records::CellStatus,
    /// Why this probe was taken (the search's decision).
    pub why: String,
    #[serde(default)]
    pub stopped_early: Option<String>,
}

/// What the config does at its boundary load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AtBoundary {
    pub cell_id: String,
    pub load: f64,
    pub throughput_tok_s: f64,
    pub mean_user_tok_s: Option<f64>,
    pub p95_ttft_ms: Option<f64>,
    pub p95_e2e_ms: Option<f64>,
    pub p95_tpot_ms: Option<f64>,
    pub good_share: Option<f64>,
    /// The measured worst SLO ratio there; headroom is 1 - ratio.
    pub ratio: f64,
}

impl AtBoundary {
    pub fn headroom_pct(&self) -> f64 {
        (1.0 - self.ratio) * 100.0
    }
}

impl SearchRecord {
    /// The decision that ended the search, as stored.
    pub fn final_decision(&self) -> Option<Decision> {
        self.done.then(|| Decision::Done { boundary: self.boundary, why: self.why_stopped.clone().unwrap_or_default() })
    }
}
