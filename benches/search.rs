//! Boundary search against a dense grid over the same range, side by side in one run, through the
//! `runner` binary: cells measured, wall time, and the boundary each finds.
//!
//! - `law`: a test server whose first token comes 50 ms + 40 ms per request in flight beyond 4, with a
//!   390 ms p95 TTFT SLO: the true boundary is concurrency 12 (range 1..64, step 1).
//! - `cpu`: `scenarios/search_cpu.toml` (llama-server, `parallel` 4 and 16, range 1..32) against the same
//!   scenario as a grid of every concurrency 1..32. Needs RUNNER_LLAMA_SERVER/RUNNER_TINY_MODEL (or
//!   the cache) as the scenario does.
//! - `trace`: `scenarios/search_trace_cpu.toml` (llama-server replaying a 60 s window of the Azure
//!   conversation trace, speed-up 1..16 at resolution 1) against the same scenario as a grid of every
//!   speed 1..16. Needs the engine as `cpu` does.
//! - `vllm`: `scenarios/search_vllm_cpu.toml` (real vLLM, CPU build, `max_num_seqs` 2 and 8): the
//!   search only, to see the boundary move with max_num_seqs. Needs RUNNER_VLLM.
//!
//! Run: cargo bench --bench search -- law cpu trace vllm   (figures: docs/performance.md, "Boundary search")
//! A dense grid's boundary is the last load before its first failing one.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs a scenario text into `out`; (run folder, wall seconds).
fn run(dir: &Path, name: &str, text: &str) -> (std::path::PathBuf, f64) {
    let path = common::write_scenario(dir, &format!("{name}.toml"), text);
    let out = dir.join("results");
    let t0 = Instant::now();
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{name} failed");
    (common::run_dir(&out, name), t0.elapsed().as_secs_f64())
}

/// Per config (its server-axis value, or "-"): (cells, boundary) of a search run.
fn searched(run: &Path, axis: Option<&str>) -> BTreeMap<String, (usize, Option<f64>, String)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(run.join("searches")).unwrap().flatten() {
        let s: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path().join("search.json")).unwrap()).unwrap();
        let key = axis.map_or("-".to_string(), |a| s["target"]["axes"][a].to_string());
        let kind = s["boundary_kind"].as_str().unwrap_or("-").to_string();
        out.insert(key, (s["probes"].as_array().unwrap().len(), s["boundary"].as_f64(), kind));
    }
    out
}

/// Per config: (cells, last load before the first failing one) of a grid run over `load` (a CSV
/// column: concurrency, trace_speed).
fn gridded(run: &Path, axis: Option<&str>, load: &str) -> BTreeMap<String, (usize, Option<f64>)> {
    let mut by: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
    for r in common::read_csv(&run.join("capacity.csv")) {
        let key = axis.map_or("-".to_string(), |a| r[a].clone());
        by.entry(key).or_default().push((r[load].parse().unwrap(), r["status"] == "ok"));
    }
    by.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            let first_fail = v.iter().position(|x| !x.1);
            let boundary = match first_fail {
                Some(0) => None,
                Some(i) => Some(v[i - 1].0),
                None => v.last().map(|x| x.0),
            };
            (k, (v.len(), boundary))
        })
        .collect()
}

/// The scenario with its `[search]` replaced by a grid of every whole load 1..=max on `axis`.
fn without_search(text: &str, axis: &str, max: u32) -> String {
    let head = text.split("\n[search]").next().unwrap();
    let levels: Vec<String> = (1..=max).map(|c| if axis == "concurrency" { c.to_string() } else { format!("{c}.0") }).collect();
    format!("{head}\n[grid]\n{axis} = [{}]\n", levels.join(", "))
}

fn compare(label: &str, axis: Option<&str>, search: (&Path, f64), grid: Option<(&Path, f64, &str)>) {
    let s = searched(search.0, axis);
    let g = grid.map(|(d, _, load)| gridded(d, axis, load)).unwrap_or_default();
    println!("\n{label}");
    println!("| config | search: cells | search: boundary | kind | grid: cells | grid: boundary | within one step | cells, % of grid |");
    println!("| --- | ---: | ---: | --- | ---: | ---: | --- | ---: |");
    let (mut sc, mut gc) = (0, 0);
    for (k, (cells, b, kind)) in &s {
        let (gcells, gb) = g.get(k).copied().unwrap_or((0, None));
        sc += cells;
        gc += gcells;
        let within = match (b, gb) {
            (Some(a), Some(b)) => ((a - b).abs() <= 1.0).to_string(),
            (None, None) if gcells > 0 => "true".into(),
            _ if gcells == 0 => "-".into(),
            _ => "false".into(),
        };
        let f = |x: Option<f64>| x.map_or("none".into(), |x| format!("{x}"));
        let share = if gcells > 0 { format!("{:.0}%", *cells as f64 / gcells as f64 * 100.0) } else { "-".into() };
        println!("| {k} | {cells} | {} | {kind} | {gcells} | {} | {within} | {share} |", f(*b), f(gb));
    }
    match grid {
        Some((_, gw, _)) => println!(
            "all configs: search {sc} cells in {:.0} s, dense grid {gc} cells in {gw:.0} s: {:.0}% of the cells, {:.0}% of the wall time",
            search.1,
            sc as f64 / gc.max(1) as f64 * 100.0,
            search.1 / gw * 100.0
        ),
        None => println!("all configs: search {sc} cells in {:.0} s", search.1),
    }
}

fn law() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let law = common::Law { base: Duration::from_millis(50), per: Duration::from_millis(40), knee: 4 };
    let url = rt.block_on(common::start_mock(common::Mock {
        law: Some(law),
        chunks: 4,
        chunk_delay: Duration::from_millis(1),
        ..Default::default()
    }));
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[scenario]\nname = \"law\"\ngpu = \"mock\"\n[[servers]]\nname = \"law\"\nengine = \"external\"\nurl = \"{url}\"\n\
         [[workloads]]\nname = \"chat\"\nrequests = 24\nwarmup = 0\nmax_tokens = 4\n[slo.chat]\np95_ttft_ms = 390\n\
         [search]\nload = \"concurrency\"\nmin = 1\nmax = 64\nresolution = 1\n"
    );
    let s = run(dir.path(), "law", &text);
    let g =
        run(dir.path(), "law_grid", &without_search(&text, "concurrency", 64).replace("name = \"law\"\ngpu", "name = \"law_grid\"\ngpu"));
    compare("known law (true boundary: concurrency 12), range 1..64, step 1", None, (&s.0, s.1), Some((&g.0, g.1, "concurrency")));
}

fn scenario(name: &str) -> String {
    std::fs::read_to_string(format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn cpu() {
    let dir = tempfile::tempdir().unwrap();
    let text = scenario("search_cpu");
    let s = run(dir.path(), "search_cpu", &text);
    let g = run(
        dir.path(),
        "search_cpu_grid",
        &without_search(&text, "concurrency", 32).replace("name = \"search_cpu\"", "name = \"search_cpu_grid\""),
    );
    compare("CPU llama-server (search_cpu.toml), range 1..32, step 1", Some("parallel"), (&s.0, s.1), Some((&g.0, g.1, "concurrency")));
}

fn trace() {
    let dir = tempfile::tempdir().unwrap();
    // The scenario's trace path is relative to the scenario; the copy runs from a temporary folder.
    let traces = format!("{}/scenarios/traces/", env!("CARGO_MANIFEST_DIR"));
    let text = scenario("search_trace_cpu").replace("trace = \"traces/", &format!("trace = \"{traces}"));
    let s = run(dir.path(), "search_trace_cpu", &text);
    let grid = without_search(&text, "trace_speed", 16).replace("name = \"search_trace_cpu\"", "name = \"search_trace_cpu_grid\"");
    let g = run(dir.path(), "search_trace_cpu_grid", &grid);
    compare(
        "CPU llama-server replaying the Azure trace (search_trace_cpu.toml), speed-up 1..16, step 1",
        None,
        (&s.0, s.1),
        Some((&g.0, g.1, "trace_speed")),
    );
}

fn vllm() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(dir.path(), "search_vllm_cpu", &scenario("search_vllm_cpu"));
    compare("real vLLM, CPU build (search_vllm_cpu.toml), range 1..16, step 1", Some("max_num_seqs"), (&s.0, s.1), None);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let all = args.is_empty();
    for (name, f) in [("law", law as fn()), ("cpu", cpu), ("trace", trace), ("vllm", vllm)] {
        if all || args.iter().any(|a| a == name) {
            f();
        }
    }
}
