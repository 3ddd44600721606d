//! The report model: everything the templates show, computed from stored runs (one or several
//! machines). Pure: stored runs in, a serializable `ReportData` out.

use super::capacity::{self, CellView, Curve, Pick, StreamingCheck};
use super::kv::{self, KvScaling, UtilRow};
use super::notes::{self, PracticeNote, TrustNote};
use super::sequential::{self, Comparison};
use crate::results::records::{CellResult, CellStatus};
use crate::scenario::schema::{Scenario, Slo};
use crate::store::read::StoredRun;
use crate::telemetry::memory::MemorySource;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub scenario: String,
    pub gpu: String,
    pub gpu_name: Option<String>,
    pub host: String,
    pub cpu: Option<String>,
    pub memory_source: MemorySource,
    pub started_at: String,
    pub status: crate::store::manifest::RunStatus,
    pub cells: usize,
    pub dir: String,
    /// The most CPU the runner itself used in any cell with load, in percent of all the client
    /// machine's cores (None: not recorded in this run).
    pub runner_cpu_max_pct: Option<f64>,
    /// That share reached 50%: the client may have queued its own timings.
    pub client_busy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloView {
    pub p95_ttft_ms: Option<f64>,
    pub p95_e2e_ms: Option<f64>,
    pub p95_tpot_ms: Option<f64>,
    pub max_error_rate: f64,
}

/// TTFT over concurrency for one server config (one launch), at one max_tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigQueueing {
    /// The launch that ran this config.
    #[serde(default)]
    pub launch_id: String,
    /// The config's server-axis values ("max_num_seqs=2"; empty without server axes).
    pub server_params: String,
    /// (concurrency, p50 TTFT, p95 TTFT).
    pub ttft_by_concurrency: Vec<(u32, Option<f64>, Option<f64>)>,
    /// First concurrency whose p50 TTFT is more than twice the lowest concurrency's.
    pub queueing_starts_at: Option<u32>,
}

/// What a run's user sees of one request's life at this operating point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Life {
    /// The server config of the recommended point (its server-axis values; empty without axes).
    #[serde(default)]
    pub server_params: String,
    /// (concurrency, p50 TTFT, p95 TTFT) for the max_tokens of the sweet spot, on its server config.
    pub ttft_by_concurrency: Vec<(u32, Option<f64>, Option<f64>)>,
    /// First concurrency whose p50 TTFT is more than twice the lowest concurrency's (that config).
    pub queueing_starts_at: Option<u32>,
    /// The same per server config of the group, the recommended one first: configs are never mixed
    /// in one series.
    #[serde(default)]
    pub configs: Vec<ConfigQueueing>,
    /// The recommended cell by the engine's own clock (vLLM histograms), when it exposes them.
    #[serde(default)]
    pub engine_phases: Option<crate::telemetry::histogram::EnginePhases>,
    /// Client mean TTFT and E2E at that cell, beside the engine's (their difference is HTTP,
    /// tokenization, detokenization, and the runner's own share).
    #[serde(default)]
    pub client_ttft_mean_ms: Option<f64>,
    #[serde(default)]
    pub client_e2e_mean_ms: Option<f64>,
    /// Peak waiting requests by reason at that cell (vLLM: capacity, deferred).
    #[serde(default)]
    pub waiting_by_reason: std::collections::BTreeMap<String, f64>,
    /// Preemptions at that cell.
    #[serde(default)]
    pub preemptions: Option<f64>,
    /// At the recommended point: measured requests, those that waited for a new connection, and the
    /// p50 of that wait (inside TTFT).
    #[serde(default)]
    pub requests: Option<usize>,
    #[serde(default)]
    pub new_connections: Option<usize>,
    #[serde(default)]
    pub connect_p50_ms: Option<f64>,
    /// Largest number of requests the engine itself reported waiting.
    pub engine_waiting_max: Option<f64>,
    /// Client-side split at the sweet spot: p50 TTFT (queue + prefill) and p50 decode (E2E - TTFT).
    pub ttft_p50_ms: Option<f64>,
    pub decode_p50_ms: Option<f64>,
    /// Engine-side prefill / decode seconds during the sweet-spot cell (llama.cpp counters).
    pub engine_prefill_s: Option<f64>,
    pub engine_decode_s: Option<f64>,
    pub mean_prompt_tokens: Option<f64>,
    pub kv_cache_tokens: Option<u64>,
    pub kv_cache_gib: Option<f64>,
    pub max_concurrency: Option<f64>,
    pub max_concurrency_tokens: Option<u64>,
    pub ready_s: Option<f64>,
    pub kv_usage_max: Option<f64>,
    pub cached_share: Option<f64>,
}

/// One (GPU, server, workload): its cells and what they mean.
/// A recipe file a client can reuse, as the engine writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// How the playbook names it ("a `vllm serve --config` file").
    pub how: String,
    /// Its file name in the launch folder.
    pub file: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub gpu: String,
    pub server: String,
    pub engine: String,
    /// Whether the engine serves request-phase histograms on `/metrics` (its module names them).
    #[serde(default)]
    pub engine_histograms: bool,
    pub model: String,
    pub workload: String,
    pub workload_kind: String,
    pub run_id: String,
    pub slo: Option<SloView>,
    pub cells: Vec<CellView>,
    pub sweet_spot: Option<Pick>,
    pub runners_up: Vec<Pick>,
    pub best_throughput: Option<CellView>,
    pub curves: Vec<Curve>,
    pub jitter: Vec<(CellView, f64)>,
    pub streaming: StreamingCheck,
    pub failed_cells: Vec<CellView>,
    /// Cells in which the engine preempted running requests (the early sign of KV exhaustion).
    #[serde(default)]
    pub preempted_cells: Vec<CellView>,
    pub command: Option<String>,
    /// The engine's reusable recipe file, when it has one (vLLM: `vllm serve --config` YAML).
    pub recipe: Option<Recipe>,
    /// The `/metrics` counter the preemptions come from (the engine's name for it).
    #[serde(default)]
    pub preemptions_from: Option<String>,
    pub life: Life,
    pub practice: Vec<PracticeNote>,
    /// The price of this run's GPU, when the run had one.
    #[serde(default)]
    pub price: Option<crate::scenario::schema::Price>,
    /// With `[search]`: the config with the highest load under the SLO; the recipe is its.
    #[serde(default)]
    pub search: Option<super::search::SearchRow>,
}

/// What became of one server config on the OOM surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// Started, and a cell met the SLO (or it was a probe).
    Feasible,
    /// Started, but no cell met the SLO.
    SloFail,
    /// Did not start.
    Infeasible,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Feasible, Outcome::SloFail, Outcome::Infeasible];
    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurfaceRow {
    pub launch_id: String,
    /// The launch's server-axis values, typed, and as text for tables.
    pub axes: indexmap::IndexMap<String, crate::scenario::schema::FlagValue>,
    pub server_params: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Surface {
    pub gpu: String,
    pub server: String,
    pub rows: Vec<SurfaceRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierRow {
    pub workload: String,
    pub gpu: String,
    pub model: String,
    pub sweet_spot: Option<Pick>,
    pub best_throughput: Option<CellView>,
    #[serde(default)]
    pub price: Option<crate::scenario::schema::Price>,
}

/// One GPU for one workload, as the "which GPU to rent" table shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RentRow {
    pub workload: String,
    pub gpu: String,
    pub server: String,
    /// The sweet spot (None: no cell met the SLO on this GPU).
    pub sweet_spot: Option<Pick>,
    pub price: Option<crate::scenario::schema::Price>,
    /// Cost of a million output tokens at the sweet spot.
    pub cost_per_mtok: Option<f64>,
}

/// The lab logs' "when to upgrade GPU" questions, answered from one GPU x workload's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradeRow {
    pub workload: String,
    pub gpu: String,
    /// The lowest-load measured cell already failed the SLO: more concurrency cannot help; a faster GPU may.
    pub fails_at_lowest_load: Option<String>,
    /// Server configs that did not start for memory (KV cache too small, OOM): more VRAM.
    pub memory_refusals: Vec<String>,
    /// The highest throughput within the SLO, and the highest measured at all.
    pub sweet_spot_tok_s: Option<f64>,
    pub peak_tok_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    pub generated_at: String,
    pub runner_version: String,
    pub runs: Vec<RunInfo>,
    pub groups: Vec<Group>,
    pub frontier: Vec<FrontierRow>,
    pub kv_scaling: Vec<KvScaling>,
    /// (run label, budget axis, rows).
    pub util_tables: Vec<(String, String, Vec<UtilRow>)>,
    /// Per workload, every GPU's sweet spot and its cost (cheapest first).
    #[serde(default)]
    pub rent: Vec<RentRow>,
    #[serde(default)]
    pub upgrade: Vec<UpgradeRow>,
    /// Predicted (`runner estimate`) vs measured, per launch that carried a prediction.
    #[serde(default)]
    pub reconcile: Vec<super::reconcile::Row>,
    pub surfaces: Vec<Surface>,
    pub comparisons: Vec<Comparison>,
    /// What was not measured in these runs, and why.
    pub not_measured: Vec<String>,
    /// Where a figure may be wrong: disturbed or unstable cells, picks that rest on them, withheld
    /// comparisons. Every report shows these first.
    #[serde(default)]
    pub trust: Vec<TrustNote>,
    /// Boundary searches: one row per GPU x workload x server config.
    #[serde(default)]
    pub searches: Vec<super::search::SearchRow>,
    /// Per GPU x workload searched: every probe on the system vs per-user throughput plane.
    #[serde(default)]
    pub pareto: Vec<super::search::Pareto>,
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
    };
    for run in runs {
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
        });
        if m.telemetry.memory_source != MemorySource::Nvml {
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
        searches(&mut data, run, scenario.as_ref());
        groups(&mut data, run, scenario.as_ref(), &results);
        data.reconcile.extend(super::reconcile::rows(run));
        data.kv_scaling.extend(kv::kv_scaling(run));
        let (axis, u) = kv::util_table(run);
        if !u.is_empty() {
            data.util_tables.push((format!("{} / {}", m.gpu_label, m.scenario_name), axis, u));
        }
        if let Some(s) = surface(run, scenario.as_ref()) {
            data.surfaces.push(s);
        }
        let owned: Vec<CellResult> = results.iter().map(|r| (*r).clone()).collect();
        data.comparisons.extend(sequential::compare(&owned));
        data.trust.extend(notes::trust(m, &owned));
    }
    for g in &data.groups {
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
    data.rent.sort_by(|a, b| {
        a.workload.cmp(&b.workload).then(a.cost_per_mtok.unwrap_or(f64::INFINITY).total_cmp(&b.cost_per_mtok.unwrap_or(f64::INFINITY)))
    });
    data.frontier.sort_by(|a, b| (a.workload.as_str(), a.gpu.as_str()).cmp(&(b.workload.as_str(), b.gpu.as_str())));
    data
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

fn surface(run: &StoredRun, scenario: Option<&Scenario>) -> Option<Surface> {
    let axes = server_axes(scenario);
    if axes.is_empty() || run.launches.len() < 2 {
        return None;
    }
    let rows = run
        .launches
        .iter()
        .map(|l| {
            let cells: Vec<&CellResult> = run.cells.iter().filter(|c| c.launch_id == l.id).collect();
            let typed: indexmap::IndexMap<_, _> = cells
                .first()
                .map(|c| axes.iter().filter_map(|k| Some((k.clone(), c.cell.params.get(k)?.clone()))).collect())
                .unwrap_or_default();
            let params = cells.first().map_or(String::new(), |c| crate::analysis::capacity::axes_label(&c.cell.params, &axes));
            let (outcome, reason) = if let Some(f) = &l.failure {
                (
                    Outcome::Infeasible,
                    Some(format!(
                        "{}{}",
                        f.reason,
                        f.estimated_max_model_len.map_or(String::new(), |n| format!(" (engine estimates max model len {n})"))
                    )),
                )
            } else if cells.iter().any(|c| c.status == CellStatus::Ok || c.cell.is_probe()) {
                (Outcome::Feasible, None)
            } else {
                (Outcome::SloFail, cells.iter().find_map(|c| c.reason.clone()))
            };
            SurfaceRow { launch_id: l.id.clone(), axes: typed, server_params: params, outcome, reason }
        })
        .collect();
    Some(Surface { gpu: run.manifest.gpu_label.clone(), server: run.launches[0].server.clone(), rows })
}
