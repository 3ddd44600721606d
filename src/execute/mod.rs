//! Executes a plan: for each launch, start the engine, run its cells, stop it. Each cell's results are
//! written as soon as it ends, and `capacity.csv` is rewritten after every cell.

mod cell;
mod launch;
pub mod launcher;
pub use launch::effective as effective_launch;
pub use launcher::{Launcher, Processes, Served};
mod resume;
mod search;
pub mod status;

use crate::plan::{Cell, Launch, Plan};
use crate::progress::Reporter;
use crate::results::records::{CellResult, CellStatus, StartupSnapshot};
use crate::scenario::schema::Scenario;
use crate::scenario::Loaded;
use crate::store::manifest::{self, Manifest, RunStatus, TelemetryInfo};
use crate::store::{self, csv_export, RunStore};
use crate::telemetry::memory::MemoryProbe;
use anyhow::Result;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct RunOutcome {
    pub store: RunStore,
    pub results: Vec<CellResult>,
    pub interrupted: bool,
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn new_run_id() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

pub fn gpu_label(s: &Scenario) -> String {
    s.scenario.gpu.clone().unwrap_or_else(|| "unlabelled".into())
}

/// Everything the launches and cells of one run share.
pub(crate) struct Ctx<'a> {
    pub loaded: &'a Loaded,
    pub plan: &'a Plan,
    pub store: &'a RunStore,
    pub probe: Arc<MemoryProbe>,
    /// Starts each launch's engine (the real processes, or a test's fake).
    pub launcher: &'a dyn Launcher,
    pub cancel: &'a CancellationToken,
    /// Cells that already have a complete result (resume): not run again.
    pub skip: std::collections::HashSet<String>,
    /// The price of this run's GPU (the manifest's), for the CSV's cost column.
    pub price: Option<crate::scenario::schema::Price>,
}

impl Ctx<'_> {
    pub fn scenario(&self) -> &Scenario {
        &self.loaded.scenario
    }

    /// Writes a finished cell, then rewrites `capacity.csv` with every result so far.
    pub fn save(&self, results: &mut Vec<CellResult>, result: CellResult) -> Result<()> {
        store::write_json(&self.store.cell_dir(&result.cell.id).join(store::layout::SUMMARY), &result)?;
        results.push(result);
        results.sort_by_key(|r| r.cell.index);
        let s = self.scenario();
        let axes: Vec<String> = s.grid.server.keys().cloned().collect();
        let csv = csv_export::capacity_csv(&gpu_label(s), &axes, self.price.as_ref(), results)?;
        store::atomic_write(&self.store.csv_path(), &csv)
    }
}

/// A result for a cell that was not measured (infeasible launch, dead engine).
pub(crate) fn unmeasured(cell: &Cell, launch: &Launch, status: CellStatus, reason: &str, startup: Option<StartupSnapshot>) -> CellResult {
    let t = now();
    CellResult {
        cell: cell.clone(),
        launch_id: launch.id.clone(),
        server: launch.server.name.clone(),
        engine: launch.server.engine,
        model: launch.server.model.clone(),
        status,
        reason: Some(reason.into()),
        stopped_early: None,
        summary: None,
        verdict: None,
        startup,
        telemetry: None,
        quality: Default::default(),
        started_at: t.clone(),
        finished_at: t,
        provenance: None,
        import: None,
    }
}

/// Runs every cell of `plan` into a new run folder `dir`.
/// Where a run goes: a new folder, or an earlier run to finish.
pub enum RunTarget {
    New { dir: std::path::PathBuf, run_id: String },
    Resume { dir: std::path::PathBuf },
}

/// Runs the cells of `plan` that have no complete result yet.
pub async fn run(
    loaded: &Loaded,
    plan: &Plan,
    target: RunTarget,
    launcher: &dyn Launcher,
    reporter: &mut dyn Reporter,
    cancel: &CancellationToken,
) -> Result<RunOutcome> {
    let probe = Arc::new(tokio::task::spawn_blocking(MemoryProbe::new).await?);
    // Held until the run returns: no second runner writes this folder meanwhile.
    let (store, mut manifest, done, _lock) = match target {
        RunTarget::New { dir, run_id } => {
            let store = RunStore::create(dir)?;
            let lock = store::lock::RunLock::acquire(&store.dir)?;
            let manifest = new_manifest(loaded, plan, &run_id, &probe);
            (store, manifest, Vec::new(), lock)
        }
        RunTarget::Resume { dir } => {
            let lock = store::lock::RunLock::acquire(&dir)?;
            let (store, manifest, done) = resume::open(loaded, plan, &dir)?;
            (store, manifest, done, lock)
        }
    };
    manifest.status = RunStatus::Running;
    store::write_json(&store.manifest_path(), &manifest)?;
    let skip: std::collections::HashSet<String> = done.iter().map(|r: &CellResult| r.cell.id.clone()).collect();
    let ctx = Ctx { loaded, plan, store: &store, probe, launcher, cancel, skip, price: manifest.price.clone() };
    let mut results = done;
    for l in &plan.launches {
        if cancel.is_cancelled() {
            break;
        }
        if plan.cells_of(l.index).all(|c| ctx.skip.contains(&c.id)) && plan.searches_of(l.index).all(|t| search::finished(&ctx, t)) {
            continue;
        }
        launch::run(&ctx, l, &mut results, reporter).await?;
    }
    let interrupted = cancel.is_cancelled();
    // Only the launch records (not every cell) are read back: resumed runs have launches from earlier.
    if let Ok(launches) = crate::store::read::read_launches(&store.dir) {
        manifest.engines = launches
            .iter()
            .map(|l| crate::store::manifest::EngineInfo {
                launch_id: l.id.clone(),
                engine: l.engine,
                command: l.command.clone(),
                version: l.engine_version.clone().or_else(|| l.facts.engine_version.clone()),
                ready_s: l.ready_s,
                failure: l.failure.as_ref().map(|f| f.reason),
            })
            .collect();
    }
    manifest.finished_at = Some(now());
    manifest.status = if interrupted { RunStatus::Interrupted } else { RunStatus::Complete };
    store::write_json(&store.manifest_path(), &manifest)?;
    results.sort_by_key(|r| r.cell.index);
    Ok(RunOutcome { store, results, interrupted })
}

fn new_manifest(loaded: &Loaded, plan: &Plan, run_id: &str, probe: &MemoryProbe) -> Manifest {
    let s = &loaded.scenario;
    Manifest {
        runner_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: manifest::git_revision(),
        run_id: run_id.to_string(),
        scenario_name: s.scenario.name.clone(),
        scenario_file: loaded.path.display().to_string(),
        scenario_sha256: manifest::sha256_hex(&loaded.text),
        scenario_text: loaded.text.clone(),
        gpu_label: gpu_label(s),
        seed: s.scenario.seed,
        host: manifest::host(),
        telemetry: TelemetryInfo {
            memory_source: probe.source(),
            nvml_note: probe.nvml_note.clone(),
            gpu: probe.gpu_info(),
            disturbed_above_pct: s.scenario.disturbed_above_pct,
        },
        started_at: now(),
        finished_at: None,
        status: RunStatus::Running,
        launches: plan.launches.len(),
        cells: plan.cells.len(),
        resumed_at: Vec::new(),
        price: crate::scenario::prices::resolve(s, &loaded.base_dir()).ok().and_then(|p| p.get(&gpu_label(s)).cloned()),
        engines: Vec::new(),
        shard: plan
            .shard
            .map(|sh| crate::store::manifest::ShardInfo { shard: sh, launches: plan.launches.iter().map(|l| l.id.clone()).collect() }),
        merged_from: Vec::new(),
    }
}
