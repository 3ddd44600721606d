//! Command-line interface: `runner validate`, `plan`, `estimate`, `facts`, `run`, `merge`, `fleet`,
//! `report`, `import`, `export` and `compare` (`fleet.rs`: merge and fleet; `interop.rs`: import,
//! export and compare). Each command loads what it needs, calls down the
//! flow and prints; no logic of its own lives here. Exit codes: 0 success, 1 error, 2 invalid
//! scenario (nothing started), 3 a merge with missing cells, 4 a compare that found a regression, 130 interrupted, 141 output closed.

mod fleet;
mod interop;

use crate::engine::{process, resolve};
use crate::execute;
use crate::plan;
use crate::progress::Terminal;
use crate::report::table;
use crate::scenario::{LoadError, Loaded};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(name = "runner", version, about = "Measured, reproducible LLM-serving capacity experiments")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a scenario file; prints every problem with file:line:column. Starts nothing.
    Validate { file: PathBuf },
    /// Print the expanded plan: launches with their exact commands, and cells. Starts nothing.
    Plan { file: PathBuf },
    /// Predict, per launch, what vLLM will find (weights, KV budget and tokens, maximum concurrency,
    /// decode roofline) from the model's local config.json and the scenario's GPU. Starts nothing.
    Estimate {
        file: PathBuf,
        /// Print the predictions as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print, as JSON, the startup facts and failure classification of an engine log you already have.
    Facts {
        /// The engine that wrote the log
        #[arg(long, value_enum)]
        engine: crate::scenario::schema::EngineKind,
        log: PathBuf,
    },
    /// Run a scenario: launch each server config, drive the load, store results, print the grid.
    Run {
        file: PathBuf,
        /// Results root (overrides the scenario's `output_dir`).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Name of the run folder (default: UTC timestamp).
        #[arg(long)]
        run_id: Option<String>,
        /// Folder with your own copies of the report templates (same file names).
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Finish an earlier run of the same scenario: only cells without a complete result run.
        #[arg(long, conflicts_with_all = ["output", "run_id"])]
        resume: Option<PathBuf>,
        /// Run only shard K of N (K from 0): whole launches, balanced by expected cost, the same on
        /// every machine. Its folder (default run id `shard-K-of-N`) is resumed when it exists.
        #[arg(long)]
        shard: Option<plan::shard::Shard>,
        /// Label the results with this GPU label instead of the scenario's `gpu` (one fleet, several
        /// GPU classes).
        #[arg(long)]
        gpu: Option<String>,
    },
    /// Join run folders of one scenario (shards, machines, GPUs) into one ordinary run folder; lists
    /// missing cells and refuses conflicting ones. Exit 3 when cells are missing.
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The merged run folder (replaced when it is an earlier merge).
        #[arg(long)]
        out: PathBuf,
        /// A difference between the folders' scenarios to accept: `gpu` (a cross-GPU frontier).
        #[arg(long)]
        allow: Vec<String>,
    },
    /// Write ready-to-submit files that run the scenario's shards on a scheduler, and print how to
    /// submit them and merge the results.
    Fleet {
        file: PathBuf,
        #[arg(long, value_enum)]
        scheduler: crate::fleet::Scheduler,
        /// How many machines per GPU class (at most the scenario's launches).
        #[arg(long, default_value_t = 1)]
        shards: usize,
        /// A GPU class as LABEL=ACCELERATOR (e.g. a100-40gb=A100:1); repeat for several, each
        /// labelling its results. Default: the scenario's `gpu`.
        #[arg(long)]
        gpu: Vec<crate::fleet::GpuClass>,
        /// Where to write the files (default fleet/<scenario>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The results folder the shards write to, as the fleet's machines see it.
        #[arg(long, default_value = "results")]
        results: String,
        /// Names the shards' folders `<id>-<gpu>-shard-<k>` (default <scenario>-<UTC time>).
        #[arg(long)]
        fleet_id: Option<String>,
        /// Kubernetes: the container image with `runner` and the engine.
        #[arg(long)]
        image: Option<String>,
        /// Kubernetes: the PersistentVolumeClaim for the results.
        #[arg(long, default_value = "runner-results")]
        pvc: String,
        /// SkyPilot: the bucket mounted at the results folder.
        #[arg(long)]
        bucket: Option<String>,
    },
    /// Render the reports (Markdown + HTML) from stored results; several folders merge into one
    /// frontier (e.g. an RTX run and an A100 run of the same scenarios).
    Report {
        /// Run folders, or folders holding run folders (results/<scenario>, results).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write the reports (default: <run>/reports for one run, ./reports otherwise).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        templates: Option<PathBuf>,
        /// A TOML file of `[prices.<gpu label>]` tables (per_hour, currency, date, source) to price
        /// the runs' GPUs with (replacing the prices they were run with).
        #[arg(long)]
        prices: Option<PathBuf>,
    },
    /// Import other tools' result files (vllm bench serve JSON, GuideLLM benchmarks.json v2, AIPerf
    /// profile_export_aiperf.json, Benchmark Report documents) into a new run folder that report,
    /// merge, compare and export read. Figures stay as each file defines them, labelled.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The new run folder.
        #[arg(long)]
        out: PathBuf,
        /// The files' format (default: detected from each file).
        #[arg(long, value_enum)]
        format: Option<crate::interop::Format>,
        /// The GPU label of the machine that served the requests (the files do not record it;
        /// default "unlabelled").
        #[arg(long)]
        gpu: Option<String>,
        /// The server config's name (default: from the model the files name).
        #[arg(long)]
        server: Option<String>,
        /// The scenario name the imported run carries (default "import").
        #[arg(long)]
        name: Option<String>,
        /// The engine's version, when you know it (the files do not record it).
        #[arg(long)]
        engine_version: Option<String>,
        /// The load of a file that does not state its own: closed-loop concurrency (with
        /// --request-rate: the cap on requests in flight).
        #[arg(long)]
        concurrency: Option<u32>,
        /// The load of a file that does not state its own: requests per second.
        #[arg(long)]
        request_rate: Option<f64>,
    },
    /// Compare two runs (B against baseline A): matched cells, each metric's change and whether it is
    /// beyond the noise, a verdict per cell and per run, Markdown and HTML reports. Exit 4 when a
    /// regression beyond --threshold was found, 1 when nothing could be compared.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// A worse change at least this large, in %, is a regression (exit code 4).
        #[arg(long, default_value_t = 10.0)]
        threshold: f64,
        /// A change smaller than this, in %, is "no measurable change" even when beyond the noise.
        #[arg(long, default_value_t = 5.0)]
        min_effect: f64,
        /// "This server config or workload in A is that one in B": A_NAME=B_NAME (repeatable).
        #[arg(long)]
        map: Vec<String>,
        /// Where to write compare.md, compare.html and compare.json (default: ./compare).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a run's cells in another format: `benchmark-report` (llm-d Benchmark Report v0.2.1),
    /// one JSON and one YAML document per measured cell.
    Export {
        dir: PathBuf,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The folder for the documents (created; files of the same names are replaced).
        #[arg(long)]
        out: PathBuf,
    },
}

/// `runner export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// llm-d Benchmark Report v0.2.1 (JSON and YAML).
    BenchmarkReport,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    install_panic_cleanup();
    raise_open_files_limit();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            process::kill_all();
            if is_broken_pipe(&e) {
                return ExitCode::from(BROKEN_PIPE_EXIT as u8);
            }
            if let Some(LoadError::Invalid(errs)) = e.downcast_ref::<LoadError>() {
                eprintln!("{errs}");
                return ExitCode::from(2);
            }
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The runtime of the load generator: at least 4 workers even on 2 cores. When hundreds of streams
/// deliver a token in the same instant, more workers than cores let the burst be drained in parallel
/// with whatever else holds a core, which halves the TTFT tail at concurrency 512 on 2 cores
/// (docs/performance.md).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Without jemalloc (the default allocator): glibc gives every thread that allocates its own
    // arena; with more workers than cores that only adds resident memory.
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc")))]
    // SAFETY: mallopt only changes allocator tuning; it is called before the runtime's threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, cores.max(2) as libc::c_int);
    }
    tokio::runtime::Builder::new_multi_thread().worker_threads(cores.max(4)).enable_all().build()
}

/// High concurrency needs one socket per stream: lift the soft open-files limit to the hard one.
pub fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// The exit code of a command whose output was closed (`runner plan x | head`): 128 + SIGPIPE, as
/// any Unix tool killed by the signal, without a message.
const BROKEN_PIPE_EXIT: i32 = 141;

fn install_panic_cleanup() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        process::kill_all();
        // `println!` panics when stdout is closed: that is the reader going away, not a bug.
        let msg = info.payload().downcast_ref::<String>().map(String::as_str).or_else(|| info.payload().downcast_ref::<&str>().copied());
        if msg.is_some_and(|m| m.starts_with("failed printing to std") && m.contains("Broken pipe")) {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        default(info);
    }));
}

/// Whether an error is the output being closed under the runner.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn load(file: &std::path::Path) -> anyhow::Result<Loaded> {
    let l = crate::engine::checks::load(file)?;
    for w in &l.warnings {
        eprint!("{w}");
    }
    for w in crate::scenario::validate::warnings(&l.scenario) {
        eprintln!("{w}");
    }
    Ok(l)
}

fn dispatch(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Import { files, out, format, gpu, server, name, engine_version, concurrency, request_rate } => {
            let labels = crate::interop::folder::Labels { gpu, server, name, engine_version, concurrency, request_rate };
            interop::import(&files, format, &labels, out)
        }
        Command::Export { dir, format: ExportFormat::BenchmarkReport, out } => interop::export(&dir, &out),
        Command::Compare { a, b, threshold, min_effect, map, out } => interop::compare(&a, &b, threshold, min_effect, &map, out),
        Command::Validate { file } => {
            let l = load(&file)?;
            let p = plan::expand(&l.scenario);
            println!("{}: ok ({} on {})", file.display(), p.work_label(), p.launches_label());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { file } => {
            let l = load(&file)?;
            // Launches as they would start (the engine's defaults on this machine applied).
            let mut p = plan::expand(&l.scenario);
            for launch in &mut p.launches {
                *launch = crate::execute::effective_launch(&l.scenario, launch);
            }
            let base = l.base_dir();
            let predictions = predictions(&l, &p);
            print!(
                "{}",
                crate::report::plan::render(
                    &l.scenario,
                    &p,
                    |launch| resolve::target_for_display(&launch.server, &base),
                    |launch| { predictions.get(launch.index).cloned().flatten() }
                )
            );
            // Earlier runs of the same scenario (same output folder) time its launches and cells.
            let root = PathBuf::from(&l.scenario.scenario.output_dir).join(&l.scenario.scenario.name);
            let earlier: Vec<_> = crate::store::read::find_runs(std::slice::from_ref(&root))
                .unwrap_or_default()
                .iter()
                .filter_map(|d| crate::store::read::read_run(d).ok())
                .collect();
            let price =
                crate::scenario::prices::resolve(&l.scenario, &base).ok().and_then(|p| p.get(&execute::gpu_label(&l.scenario)).cloned());
            println!("\n{}", crate::analysis::campaign::campaign(&p, &earlier, price.as_ref()).summary());
            Ok(ExitCode::SUCCESS)
        }
        Command::Estimate { file, json } => {
            let l = load(&file)?;
            let p = plan::expand(&l.scenario);
            let base = l.base_dir();
            let host = crate::estimate::host_memory_gib();
            let mut out = Vec::new();
            for launch in &p.launches {
                let launch = &crate::execute::effective_launch(&l.scenario, launch);
                let pred = crate::estimate::predict_launch(&l.scenario, launch, &base, host);
                if !json {
                    match &pred {
                        Ok(x) => println!(
                            "launch {}
  {}",
                            launch.id,
                            crate::estimate::summary_with_demand(&l.scenario, launch, x).replace('\n', "\n  ")
                        ),
                        Err(why) => println!(
                            "launch {}
  not estimated: {why}",
                            launch.id
                        ),
                    }
                }
                out.push(serde_json::json!({
                    "launch": launch.id,
                    "prediction": pred.as_ref().ok(),
                    "kv_demand": pred.as_ref().map(|x| crate::estimate::demand_lines(&l.scenario, launch, x)).unwrap_or_default(),
                    "not_estimated": pred.as_ref().err(),
                }));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Facts { engine: kind, log } => {
            if let Err(e) = std::fs::metadata(&log) {
                anyhow::bail!("cannot read {}: {e}", log.display());
            }
            // The log's last 32 MiB (a bound for logs from other machines).
            let text = process::read_log(&log);
            let out = serde_json::json!({
                "engine": kind.as_str(),
                "log": log.display().to_string(),
                "facts": crate::telemetry::facts::parse(kind, &text),
                "theoretical_kv_bytes_per_token": crate::telemetry::facts::theoretical_kv_bytes_per_token(&crate::telemetry::facts::parse(kind, &text)),
                "failure": crate::telemetry::failure::detect(kind, &text),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { file, output, run_id, templates, resume, shard, gpu } => {
            let mut l = load(&file)?;
            if let Some(g) = gpu {
                if plan::slug(&g) != g || g.is_empty() {
                    anyhow::bail!("--gpu {g:?}: a label of letters, digits, `-`, `_` or `.`");
                }
                l.scenario.scenario.gpu = Some(g);
            }
            runtime()?.block_on(run(l, output, run_id, templates, resume, shard))
        }
        Command::Merge { dirs, out, allow } => fleet::merge(&dirs, &out, &allow),
        Command::Fleet { file, scheduler, shards, gpu, out, results, fleet_id, image, pvc, bucket } => {
            let l = load(&file)?;
            fleet::fleet(&l, &file, fleet::FleetArgs { scheduler, shards, gpu, out, results, fleet_id, image, pvc, bucket })
        }
        Command::Report { dirs, out, templates, prices } => {
            let runs = crate::store::read::find_runs(&dirs)?;
            let out = out.unwrap_or_else(|| if runs.len() == 1 { runs[0].join("reports") } else { PathBuf::from("reports") });
            let written = crate::report::report_runs_priced(&runs, &out, templates.as_deref(), prices.as_deref())?;
            println!("reports from {} run(s):", runs.len());
            for p in written {
                println!("  {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Each launch's prediction line for `runner plan` (None where there is none); `p`'s launches are
/// already as they would start (`execute::effective_launch`).
fn predictions(l: &Loaded, p: &plan::Plan) -> Vec<Option<String>> {
    let base = l.base_dir();
    let host = crate::estimate::host_memory_gib();
    p.launches
        .iter()
        .map(|launch| match crate::estimate::predict_launch(&l.scenario, launch, &base, host) {
            Ok(x) => Some(crate::estimate::summary_with_demand(&l.scenario, launch, &x)),
            // Said where the engine has a memory model (`EngineSpec::memory_model`) that could not run.
            Err(why) if crate::engine::spec(launch.server.engine).memory_model().is_some() => Some(format!("not estimated: {why}")),
            Err(_) => None,
        })
        .collect()
}

/// Cancels on the first SIGINT/SIGTERM (engines are stopped, results kept); a second one kills the
/// engines' process groups and exits at once.
fn watch_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        for round in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                eprintln!("\ninterrupted: stopping the engine and saving what was measured (again to force)");
                cancel.cancel();
            } else {
                process::kill_all();
                std::process::exit(130);
            }
        }
    });
}

async fn run(
    l: Loaded,
    output: Option<PathBuf>,
    run_id: Option<String>,
    templates: Option<PathBuf>,
    resume: Option<PathBuf>,
    shard: Option<plan::shard::Shard>,
) -> anyhow::Result<ExitCode> {
    let missing: Vec<String> = l.scenario.servers.iter().filter_map(|s| crate::engine::api_key(s).err()).collect();
    if !missing.is_empty() {
        anyhow::bail!("{}; export it before running (nothing was started)", missing.join("; "));
    }
    let cancel = CancellationToken::new();
    watch_signals(cancel.clone());
    let whole = plan::expand(&l.scenario);
    let p = match shard {
        Some(sh) => plan::shard::part(&l.scenario, &whole, sh),
        None => whole,
    };
    let target = match resume {
        Some(dir) => execute::RunTarget::Resume { dir },
        None => {
            let run_id = run_id.unwrap_or_else(|| shard.map_or_else(execute::new_run_id, |s| format!("shard-{}-of-{}", s.k, s.n)));
            let root = output.unwrap_or_else(|| PathBuf::from(&l.scenario.scenario.output_dir));
            let dir = root.join(&l.scenario.scenario.name).join(&run_id);
            // A shard run again into its own folder goes on where it stopped (idempotent).
            if shard.is_some() && dir.join(crate::store::layout::MANIFEST).is_file() {
                eprintln!("runner: {} exists: resuming it (complete cells are kept)", dir.display());
                execute::RunTarget::Resume { dir }
            } else {
                execute::RunTarget::New { dir, run_id }
            }
        }
    };
    let dir = match &target {
        execute::RunTarget::New { dir, .. } | execute::RunTarget::Resume { dir } => dir.clone(),
    };
    match l.scenario.search.as_ref().filter(|_| !p.searches.is_empty()) {
        Some(x) => eprintln!(
            "runner: {} on {}, at most {} probes each -> {}",
            p.work_label(),
            p.launches_label(),
            plan::search::Spec::of(x).most_probes(),
            dir.display()
        ),
        None => eprintln!("runner: {} on {} -> {}", p.work_label(), p.launches_label(), dir.display()),
    }
    let mut reporter = Terminal::new();
    let outcome = execute::run(&l, &p, target, &execute::Processes, &mut reporter, &cancel).await?;
    println!("{}", table::grid_table(&outcome.results, l.scenario.scenario.disturbed_above_pct));
    let searched = crate::store::read::read_run(&outcome.store.dir)
        .map(|run| crate::analysis::search::rows(&run, &l.scenario.grid.server.keys().cloned().collect::<Vec<_>>()))
        .unwrap_or_default();
    if let Some(t) = table::search_table(&searched) {
        println!("boundary search (history: searches/<id>/search.json):\n{t}");
    }
    let comparisons = crate::analysis::sequential::compare(&outcome.results);
    // A search's probes are not a sequential-vs-concurrent experiment.
    if let Some(t) = table::comparison_table(&comparisons).filter(|_| p.searches.is_empty()) {
        println!("sequential vs concurrent (same requests):\n{t}");
    }
    let withheld = crate::analysis::sequential::withheld(&outcome.results);
    if withheld > 0 {
        println!("sequential vs concurrent: {withheld} comparison(s) withheld, a side was measured on a disturbed machine");
    }
    let reports = outcome.store.dir.join("reports");
    match crate::report::report_runs(std::slice::from_ref(&outcome.store.dir), &reports, templates.as_deref()) {
        Ok(_) => println!(
            "reports: {}/ (playbook.md, capacity_frontier.md, life_of_request.md, kv_scaling.md, capacity_notes.md, report.html)",
            reports.display()
        ),
        Err(e) => eprintln!(
            "warning: the reports could not be rendered ({e:#}); results are intact, retry with `runner report {}`",
            outcome.store.dir.display()
        ),
    }
    println!("results: {}", outcome.store.dir.display());
    println!("csv:     {}", outcome.store.csv_path().display());
    if outcome.interrupted && !p.searches.is_empty() {
        eprintln!(
            "run interrupted: {} probes measured; finish the searches with `runner run {} --resume {}`",
            outcome.results.len(),
            l.path.display(),
            outcome.store.dir.display()
        );
        return Ok(ExitCode::from(130));
    }
    if outcome.interrupted {
        eprintln!("run interrupted: {} of {} cells finished", outcome.results.len(), p.cells.len());
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
