//! Builds the report model (`view`) from stored runs (one or several machines). Pure: stored runs
//! in, a serializable `ReportData` out.

use super::capacity::{self, CellView, Pick};
use super::kv;
use super::notes::{self, TrustNote};
use super::sequential;
pub use crate::analysis::view::{
    ConfigQueueing, FrontierRow, Group, Life, Outcome, PreemptionPoint, Recipe, RentRow, ReportData, RunInfo, SloView, Surface,
    SurfaceCell, SurfaceRow, UpgradeRow, Verdict,
};
use crate::results::records::{CellResult, CellStatus};
use crate::scenario::schema::{Scenario, Slo};
use crate::store::read::StoredRun;
use crate::telemetry::memory::MemorySource;

impl Verdict {
    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [Outcome::Feasible, Outcome::Degrades, Outcome::SloFail, Outcome::DiesUnderLoad, Outcome::Infeasible];
    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn server_axes(s: Option<&Scenario>) -> Vec<String> {
    s.map(|s| s.grid.server.keys().cloned().collect()).unwrap_or_default()
}

fn slo_view(s: &Slo) -> SloView {
    SloView { p95_ttft_ms: s.p95_ttft_ms, p95_e2e_ms: s.p95_e2e_ms, p95_tpot_ms: s.p95_tpot_ms, max_error_rate: s.max_error_rate }
}

pub fn build(runs: &[StoredRun], generated_at: &str) -> ReportData {
    let mut data = ReportData {
        generated_at: generated_at.into(),
        runner_version: env!("CARGO_PKG_VERSION").into(),
        runs: Vec::new(),
        groups: Vec::new(),
        frontier: Vec::new(),
        kv_scaling: Vec::new(),
        util_tables: Vec::new(),
        reconcile: Vec::new(),
        rent: Vec::new(),
        upgrade: Vec::new(),
        surfaces: Vec::new(),
        comparisons: Vec::new(),
        not_measured: Vec::new(),
        trust: Vec::new(),
        searches: Vec::new(),
        pareto: Vec::new(),
        startup: Vec::new(),
        levers: Vec::new(),
        traces: Vec::new(),
        imports: Vec::new(),
    };
    for run in runs {
        add_run(&mut data, run);
    }
    let groups = std::mem::take(&mut data.groups);
    for g in &groups {
        add_rollups(&mut data, g);
    }
    data.groups = groups;
    data.rent.sort_by(|a, b| {
        a.workload.cmp(&b.workload).then(a.cost_per_mtok.unwrap_or(f64::INFINITY).total_cmp(&b.cost_per_mtok.unwrap_or(f64::INFINITY)))
    });
    data.frontier.sort_by(|a, b| (a.workload.as_str(), a.gpu.as_str()).cmp(&(b.workload.as_str(), b.gpu.as_str())));
    data
}

/// One run's part of the report: its info line, what it did not measure, its searches, groups,
/// KV tables, surface, comparisons and trust notes.
fn add_run(data: &mut ReportData, run: &StoredRun) {
    let m = &run.manifest;
    let scenario: Option<Scenario> = match crate::engine::checks::parse_stored(crate::store::layout::MANIFEST, &m.scenario_text) {
        Ok(s) => Some(s),
        Err(e) => {
            let why = e.to_string();
            data.not_measured.push(format!(
                "the scenario stored in run {} no longer parses or passes this runner's validation ({}): its SLO thresholds, headroom, workload \
                 kinds and server-axis columns are not shown; each cell's stored status and SLO verdict are.",
                m.run_id,
                why.lines().find(|l| l.contains("error")).unwrap_or(why.lines().next().unwrap_or_default()).trim()
            ));
            None
        }
    };
    data.runs.push(RunInfo {
        run_id: m.run_id.clone(),
        scenario: m.scenario_name.clone(),
        gpu: m.gpu_label.clone(),
        gpu_name: m.telemetry.gpu.as_ref().map(|g| g.name.clone()),
        host: m.host.hostname.clone(),
        cpu: m.host.cpu_model.clone(),
        memory_source: m.telemetry.memory_source,
        started_at: m.started_at.clone(),
        status: m.status,
        cells: run.cells.len(),
        dir: run.dir.display().to_string(),
        runner_cpu_max_pct: None,
        client_busy: false,
        imported_from: super::imported::run_source(run),
    });
    if m.telemetry.memory_source != MemorySource::Nvml && super::imported::run_source(run).is_none() {
        data.not_measured.push(format!(
            "GPU memory in run {} ({}): {}; memory figures are the engine process tree's resident memory (RSS).",
            m.run_id,
            m.gpu_label,
            m.telemetry.nvml_note.clone().unwrap_or_else(|| "NVML was not available".into())
        ));
    }
    let results: Vec<&CellResult> = run.cells.iter().filter(|c| c.status != CellStatus::Interrupted).collect();
    let runner_cpu = results.iter().filter_map(|c| c.telemetry.as_ref()?.memory.runner_cpu_pct).max_by(f64::total_cmp);
    if let Some(info) = data.runs.last_mut() {
        info.runner_cpu_max_pct = runner_cpu;
        info.client_busy = runner_cpu.is_some_and(|p| p >= crate::telemetry::sampler::CLIENT_BUSY_PCT);
    }
    if runner_cpu.is_none() && results.iter().any(|c| c.summary.is_some()) {
        data.not_measured
            .push(format!("the runner's own CPU share in run {} (not recorded by the runner version that made it).", m.run_id));
    }
    if results.len() < run.cells.len() {
        data.not_measured.push(format!("{} interrupted cell(s) of run {} are left out.", run.cells.len() - results.len(), m.run_id));
    }
    searches(data, run, scenario.as_ref());
    groups(data, run, scenario.as_ref(), &results);
    data.reconcile.extend(super::reconcile::rows(run));
    data.startup.extend(super::startup::rows(run, &server_axes(scenario.as_ref())));
    if let Some(s) = scenario.as_ref() {
        data.levers.extend(super::levers::pairs(run, &crate::plan::expand(s).launches));
    }
    data.traces.extend(super::trace::views(run, &results));
    data.imports.extend(super::imported::views(run, &results));
    data.kv_scaling.extend(kv::kv_scaling(run));
    let (axis, u) = kv::util_table(run);
    if !u.is_empty() {
        data.util_tables.push((format!("{} / {}", m.gpu_label, m.scenario_name), axis, u));
    }
    if let Some(s) = super::surface::surface(run, scenario.as_ref(), &server_axes(scenario.as_ref())) {
        data.surfaces.push(s);
    }
    let owned: Vec<CellResult> = results.iter().map(|r| (*r).clone()).collect();
    data.comparisons.extend(sequential::compare(&owned));
    data.trust.extend(notes::trust(m, &owned));
}

/// What one group adds to the cross-run tables (frontier, rent, upgrade) and its trust notes.
fn add_rollups(data: &mut ReportData, g: &Group) {
    if g.sweet_spot.as_ref().is_some_and(|p| p.from_disturbed) {
        data.trust.push(TrustNote::SweetSpotDisturbed { workload: g.workload.clone(), gpu: g.gpu.clone(), server: g.server.clone() });
    }
    for c in g.curves.iter().filter(|c| c.uses_disturbed) {
        data.trust.push(TrustNote::CurveDisturbed { workload: g.workload.clone(), gpu: g.gpu.clone(), max_tokens: c.max_tokens });
    }
    data.frontier.push(FrontierRow {
        workload: g.workload.clone(),
        gpu: g.gpu.clone(),
        model: g.model.clone(),
        sweet_spot: g.sweet_spot.clone(),
        best_throughput: g.best_throughput.clone(),
        price: g.price.clone(),
    });
    data.rent.push(RentRow {
        workload: g.workload.clone(),
        gpu: g.gpu.clone(),
        server: g.server.clone(),
        cost_per_mtok: g.sweet_spot.as_ref().and_then(|p| p.cell.cost_per_mtok),
        sweet_spot: g.sweet_spot.clone(),
        price: g.price.clone(),
    });
    let lowest = g.cells.iter().filter(|c| c.load.closed().is_some() && c.throughput_tok_s.is_some()).min_by_key(|c| c.load.closed());
    data.upgrade.push(UpgradeRow {
        workload: g.workload.clone(),
        gpu: g.gpu.clone(),
        fails_at_lowest_load: lowest
            .filter(|c| c.status == CellStatus::SloFail)
            .map(|c| format!("{}, max_tokens {}: {}", c.load_label, c.max_tokens, c.reason.clone().unwrap_or_default())),
        memory_refusals: g
            .cells
            .iter()
            .filter(|c| c.status == CellStatus::Infeasible)
            .filter_map(|c| c.reason.clone())
            .filter(|r| {
                ["kv_cache_too_small", "oom", "no_kv_memory", "insufficient_free_memory", "predicted"].iter().any(|k| r.contains(k))
            })
            .collect(),
        sweet_spot_tok_s: g.sweet_spot.as_ref().and_then(|p| p.cell.throughput_tok_s),
        peak_tok_s: g.best_throughput.as_ref().and_then(|c| c.throughput_tok_s),
    });
}

/// The run's boundary searches: their rows, their Pareto planes, and what may be wrong in them.
fn searches(data: &mut ReportData, run: &StoredRun, scenario: Option<&Scenario>) {
    let axes = server_axes(scenario);
    let rows = super::search::rows(run, &axes);
    for r in &rows {
        if !r.done {
            data.trust.push(TrustNote::SearchUnfinished {
                workload: r.workload.clone(),
                gpu: r.gpu.clone(),
                config: r.config.clone(),
                run_id: r.run_id.clone(),
                dir: run.dir.display().to_string(),
            });
        }
        if r.disturbed_probes > 0 {
            data.trust.push(TrustNote::DisturbedProbes {
                probes: r.disturbed_probes,
                workload: r.workload.clone(),
                gpu: r.gpu.clone(),
                config: r.config.clone(),
            });
        }
    }
    let mut workloads: Vec<&str> = rows.iter().map(|r| r.workload.as_str()).collect();
    workloads.dedup();
    for w in workloads {
        let tpot = scenario.and_then(|s| s.slo.get(w)).and_then(|s| s.p95_tpot_ms).map(|t| 1000.0 / t);
        data.pareto.extend(super::search::pareto(run, w, &axes, tpot));
    }
    data.searches.extend(rows);
}

fn groups(data: &mut ReportData, run: &StoredRun, scenario: Option<&Scenario>, results: &[&CellResult]) {
    let axes = server_axes(scenario);
    // The scenario's launches, for the portable recipes (expanded once per run, not per group).
    let planned: Vec<crate::plan::Launch> = scenario.map(|s| crate::plan::expand(s).launches).unwrap_or_default();
    let price = run.manifest.price.as_ref();
    let mut keys: Vec<(String, String)> =
        results.iter().filter(|r| !r.cell.is_probe()).map(|r| (r.server.clone(), r.cell.workload.clone())).collect();
    keys.sort();
    keys.dedup();
    for (server, workload) in keys {
        let rs: Vec<&CellResult> = results.iter().copied().filter(|r| r.server == server && r.cell.workload == workload).collect();
        let cells: Vec<CellView> = rs
            .iter()
            .map(|r| {
                let mut c = CellView::of(r, &axes);
                c.cost_per_mtok = price.zip(c.throughput_tok_s).and_then(|(p, t)| crate::scenario::prices::cost_per_mtok(p.per_hour, t));
                c
            })
            .collect();
        let slo = scenario.and_then(|s| s.slo.get(&workload));
        let (sweet_spot, runners_up) = capacity::sweet_spot(&cells, slo);
        let best_throughput = cells
            .iter()
            .filter(|c| c.throughput_tok_s.is_some_and(|t| t > 0.0))
            .max_by(|a, b| a.throughput_tok_s.unwrap_or(0.0).total_cmp(&b.throughput_tok_s.unwrap_or(0.0)))
            .cloned();
        let searched: Vec<&super::search::SearchRow> = data
            .searches
            .iter()
            .filter(|r| r.run_id == run.manifest.run_id && r.gpu == run.manifest.gpu_label && r.server == server && r.workload == workload)
            .collect();
        let search = super::search::best(&searched);
        // With a search, the recipe is the config the search recommends.
        let launch = search
            .as_ref()
            .map(|r| r.launch_id.as_str())
            .or(sweet_spot.as_ref().map(|p| p.cell.launch_id.as_str()))
            .and_then(|id| run.launches.iter().find(|l| l.id == id))
            .or_else(|| run.launches.iter().find(|l| l.server == server && l.failure.is_none()));
        // The recipe a client gets: rebuilt from the scenario's server config of that launch, portable
        // (no cache paths, no random port); None when the stored scenario no longer parses.
        let portable =
            launch.and_then(|l| planned.iter().find(|p| p.id == l.id)).map(|p| (p, crate::engine::argv::portable_target(&p.server)));
        let command =
            portable.as_ref().and_then(|(p, t)| crate::engine::argv::argv(&p.server, t)).map(|a| crate::engine::argv::display(&a));
        let recipe = portable.as_ref().and_then(|(p, t)| {
            let spec = crate::engine::spec(p.server.engine);
            spec.recipe_yaml(&p.server, t).map(|text| Recipe {
                how: spec.recipe_how().to_string(),
                file: spec.recipe_file().to_string(),
                text,
            })
        });
        let kind = scenario
            .and_then(|s| s.workloads.iter().find(|w| w.name == workload))
            .map_or("chat".to_string(), |w| w.kind.as_str().to_string());
        let life = life(&rs, sweet_spot.as_ref(), &axes);
        let practice = notes::practice(&rs, scenario, &server, &life);
        let first = rs.first().copied();
        data.groups.push(Group {
            gpu: run.manifest.gpu_label.clone(),
            server: server.clone(),
            engine: first.map_or(String::new(), |r| r.engine.as_str().to_string()),
            engine_histograms: first.is_some_and(|r| !crate::engine::spec(r.engine).metrics().phase_e2e.is_empty()),
            model: first.and_then(|r| r.model.clone()).unwrap_or_default(),
            workload: workload.clone(),
            workload_kind: kind,
            run_id: run.manifest.run_id.clone(),
            slo: slo.map(slo_view),
            curves: capacity::curves(&cells),
            jitter: capacity::jitter_zone(&cells, 2.0),
            streaming: capacity::streaming(&rs),
            failed_cells: cells.iter().filter(|c| matches!(c.status, CellStatus::Failed | CellStatus::Infeasible)).cloned().collect(),
            preempted_cells: cells.iter().filter(|c| c.preemptions.is_some_and(|p| p > 0.0)).cloned().collect(),
            command,
            recipe,
            preemptions_from: first.and_then(|r| crate::engine::spec(r.engine).metrics().preemptions.first().map(|m| m.to_string())),
            sweet_spot,
            runners_up,
            best_throughput,
            cells,
            life,
            practice,
            price: run.manifest.price.clone(),
            search,
        });
    }
}

/// TTFT over the closed-loop concurrencies of one launch (server config) at max_tokens `mt`.
fn queueing(rs: &[&CellResult], launch_id: &str, mt: Option<u32>, server_params: String) -> ConfigQueueing {
    let mut series: Vec<&CellResult> = rs
        .iter()
        .copied()
        .filter(|r| r.launch_id == launch_id && Some(r.cell.max_tokens) == mt && r.cell.load.closed().is_some() && r.summary.is_some())
        .collect();
    series.sort_by_key(|r| r.cell.load.closed());
    let ttft = |r: &CellResult| r.summary.as_ref().and_then(|s| s.ttft_ms.as_ref()).map(|d| (d.p50, d.p95));
    let base = series.first().and_then(|r| ttft(r)).map(|t| t.0);
    ConfigQueueing {
        launch_id: launch_id.to_string(),
        server_params,
        ttft_by_concurrency: series
            .iter()
            .filter_map(|r| Some((r.cell.load.closed()?, ttft(r).map(|t| t.0), ttft(r).map(|t| t.1))))
            .collect(),
        queueing_starts_at: series
            .iter()
            .find(|r| matches!((ttft(r), base), (Some(t), Some(b)) if t.0 > 2.0 * b))
            .and_then(|r| r.cell.load.closed()),
    }
}

fn life(rs: &[&CellResult], spot: Option<&Pick>, axes: &[String]) -> Life {
    let mt = spot.map(|p| p.cell.max_tokens).or_else(|| rs.first().map(|r| r.cell.max_tokens));
    let at = spot.and_then(|p| rs.iter().find(|r| r.cell.id == p.cell.cell_id)).copied().or_else(|| rs.first().copied());
    // One series per server config (launch), the recommended config's first.
    let mut launches: Vec<(&str, String)> = Vec::new();
    for r in at.into_iter().chain(rs.iter().copied()) {
        if !launches.iter().any(|(l, _)| *l == r.launch_id) {
            launches.push((r.launch_id.as_str(), capacity::axes_label(&r.cell.params, axes)));
        }
    }
    let configs: Vec<ConfigQueueing> =
        launches.into_iter().map(|(l, p)| queueing(rs, l, mt, p)).filter(|c| !c.ttft_by_concurrency.is_empty()).collect();
    let own = at.and_then(|a| configs.iter().find(|c| c.launch_id == a.launch_id));
    let s = at.and_then(|r| r.summary.as_ref());
    let st = at.and_then(|r| r.startup.as_ref());
    let eng = at.and_then(|r| r.telemetry.as_ref()).map(|t| &t.engine);
    Life {
        server_params: at.map(|a| capacity::axes_label(&a.cell.params, axes)).unwrap_or_default(),
        ttft_by_concurrency: own.map(|c| c.ttft_by_concurrency.clone()).unwrap_or_default(),
        queueing_starts_at: own.and_then(|c| c.queueing_starts_at),
        engine_phases: eng.and_then(|e| e.phases.clone()),
        client_ttft_mean_ms: s.and_then(|s| s.ttft_ms.as_ref().map(|d| d.mean)),
        client_e2e_mean_ms: s.and_then(|s| s.e2e_ms.as_ref().map(|d| d.mean)),
        waiting_by_reason: eng.map(|e| e.waiting_by_reason_max.clone()).unwrap_or_default(),
        preemptions: eng.and_then(|e| e.preemptions),
        configs,
        engine_waiting_max: rs.iter().filter_map(|r| r.telemetry.as_ref().and_then(|t| t.engine.waiting_max)).reduce(f64::max),
        requests: s.map(|s| s.requests),
        new_connections: s.and_then(|s| s.new_connections),
        connect_p50_ms: s.and_then(|s| s.connect_ms.as_ref().map(|d| d.p50)),
        ttft_p50_ms: s.and_then(|s| s.ttft_ms.as_ref().map(|d| d.p50)),
        decode_p50_ms: match (s.and_then(|s| s.e2e_ms.as_ref()), s.and_then(|s| s.ttft_ms.as_ref())) {
            (Some(e), Some(t)) => Some(e.p50 - t.p50),
            _ => None,
        },
        engine_prefill_s: eng.and_then(|e| e.prefill_seconds),
        engine_decode_s: eng.and_then(|e| e.decode_seconds),
        mean_prompt_tokens: s.and_then(|s| s.prompt_tokens_per_request.as_ref().map(|d| d.mean)),
        kv_cache_tokens: st.and_then(|s| s.facts.kv_cache_tokens),
        kv_cache_gib: st.and_then(|s| s.facts.kv_cache_gib),
        max_concurrency: st.and_then(|s| s.facts.max_concurrency),
        max_concurrency_tokens: st.and_then(|s| s.facts.max_concurrency_tokens_per_request),
        ready_s: st.and_then(|s| s.ready_s),
        kv_usage_max: eng.and_then(|e| e.kv_cache_usage_max),
        cached_share: s.and_then(|s| s.cached_share),
    }
}
