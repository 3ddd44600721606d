//! End to end against a real llama-server (CPU, tiny random-weight model): a small grid, failed
//! launches recorded as data, and Ctrl-C mid-run. Every test checks that no engine process is left.
//! Skips locally when the engine is not built; fails when CI=true (see common::engine).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_no_engine_left, launch_ports, read_csv, run_dir};

fn runner_bin() -> String {
    env!("CARGO_BIN_EXE_runner").to_string()
}

fn scenario(name: &str, servers: &str, conc: &str, mt: &str, requests: u32) -> String {
    format!(
        r#"
[scenario]
name = "{name}"
gpu = "cpu-test"
seed = 7

{servers}

[[workloads]]
name = "chat"
prompts = "builtin:chat"
ignore_eos = true
requests = {requests}
warmup = 1

[grid]
concurrency = {conc}
max_tokens = {mt}

[slo.chat]
p95_e2e_ms = 60000
"#
    )
}

const GOOD: &str = r#"
[[servers]]
name = "tiny"
engine = "llamacpp"
model = "builtin:tiny-qwen2"
ready_timeout_s = 120
stop_grace_s = 5
[servers.flags]
ctx_size = 2048
parallel = 4
threads = 1
"#;

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn small_grid_end_to_end() {
    common::engine();
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), "e2e.toml", &scenario("e2e", GOOD, "[1, 2]", "[8, 16]", 4));
    let out = dir.path().join("results");
    let st = std::process::Command::new(runner_bin())
        .args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&st.stdout);
    assert!(st.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&st.stderr));
    assert!(stdout.contains("p95 TTFT ms") && stdout.contains("results:"), "{stdout}");
    let run = run_dir(&out, "e2e");
    let rows = read_csv(&run.join("capacity.csv"));
    assert_eq!(rows.len(), 4);
    let order: Vec<(String, String)> = rows.iter().map(|r| (r["concurrency"].clone(), r["max_tokens"].clone())).collect();
    assert_eq!(order, [("1", "8"), ("1", "16"), ("2", "8"), ("2", "16")].map(|(a, b)| (a.to_string(), b.to_string())));
    for r in &rows {
        assert_eq!(r["gpu"], "cpu-test");
        assert_eq!(r["status"], "ok", "{r:?}");
        assert_eq!(r["errors"], "0");
        for k in ["p50_ttft_ms", "p95_ttft_ms", "p50_e2e_ms", "p95_e2e_ms", "throughput_tok_s", "p50_itl_ms"] {
            let v: f64 = r[k].parse().unwrap_or_else(|_| panic!("{k} = {:?}", r[k]));
            assert!(v > 0.0, "{k} = {v}");
        }
        // The runner measured its own CPU share during the cell (a fraction of all cores).
        let cpu: f64 = r["runner_cpu_pct"].parse().unwrap_or_else(|_| panic!("runner_cpu_pct = {:?}", r["runner_cpu_pct"]));
        assert!(cpu > 0.0 && cpu <= 100.0, "runner_cpu_pct = {cpu}");
        // ignore_eos: every request generated exactly max_tokens, as the server's usage says.
        let mt: u64 = r["max_tokens"].parse().unwrap();
        assert_eq!(r["output_tokens"].parse::<u64>().unwrap(), 4 * mt);
        let p95e2e: f64 = r["p95_e2e_ms"].parse().unwrap();
        let p95ttft: f64 = r["p95_ttft_ms"].parse().unwrap();
        assert!(p95e2e > p95ttft);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["scenario_sha256"].as_str().unwrap().len(), 64);
    let log = std::fs::read_to_string(run.join("launches/l00-tiny/server.log")).unwrap();
    assert!(log.contains("llama"), "server log is empty or foreign");
    // The launch carries its estimate from the GGUF header, and it matches what llama-server
    // allocated: 2048 cells of 256 B (ctx_size 2048, 4 slots).
    let launch: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("launches/l00-tiny/launch.json")).unwrap()).unwrap();
    let budget = &launch["prediction"]["budget"];
    assert_eq!((budget["kv_tokens"].as_u64(), budget["kv_bytes_per_token"].as_u64()), (Some(2048), Some(256)), "{launch}");
    assert_eq!(launch["facts"]["kv_cache_tokens"], 2048);
    let predicted_mib = budget["kv_gib"].as_f64().unwrap() * 1024.0;
    assert!((predicted_mib - launch["facts"]["kv_buffer_mib"].as_f64().unwrap()).abs() < 0.01, "{launch}");
    let kv = std::fs::read_to_string(run.join("reports/kv_scaling.md")).unwrap();
    assert!(kv.contains("## Predicted vs measured") && kv.contains("| 2048 / 2048 | 0.00% |"), "{kv}");
    let cells: Vec<_> = std::fs::read_dir(run.join("cells")).unwrap().flatten().collect();
    assert_eq!(cells.len(), 4);
    for c in cells {
        let lines = std::fs::read_to_string(c.path().join("requests.jsonl")).unwrap().lines().count();
        assert_eq!(lines, 5, "4 measured + 1 warm-up records");
    }
    assert_no_engine_left(&run);
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn failed_launches_are_recorded_and_the_run_goes_on() {
    common::engine();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let servers = format!(
        r#"
[[servers]]
name = "exits"
engine = "llamacpp"
model = "builtin:tiny-qwen2"
binary = "/bin/false"
ready_timeout_s = 30

[[servers]]
name = "busy-port"
engine = "llamacpp"
model = "builtin:tiny-qwen2"
port = {port}
ready_timeout_s = 30
{GOOD}"#
    );
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), "faults.toml", &scenario("faults", &servers, "[1]", "[4]", 2));
    let out = dir.path().join("results");
    let st = std::process::Command::new(runner_bin())
        .args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let run = run_dir(&out, "faults");
    let rows = read_csv(&run.join("capacity.csv"));
    let by_server: std::collections::HashMap<_, _> = rows.iter().map(|r| (r["server"].clone(), r.clone())).collect();
    assert_eq!(by_server["exits"]["status"], "infeasible");
    assert!(by_server["exits"]["reason"].contains("crashed"), "{:?}", by_server["exits"]);
    assert_eq!(by_server["busy-port"]["status"], "infeasible");
    assert!(by_server["busy-port"]["reason"].contains("port_in_use"));
    assert_eq!(by_server["tiny"]["status"], "ok");
    let launch: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("launches/l01-busy-port/launch.json")).unwrap()).unwrap();
    assert!(launch["failure"]["message"].as_str().unwrap().contains(&port.to_string()));
    drop(taken);
    assert_no_engine_left(&run);
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn ctrl_c_mid_run_stops_the_engine_and_keeps_results() {
    common::engine();
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), "long.toml", &scenario("long", GOOD, "[1, 2]", "[32]", 400));
    let (mut child, run) = start_until_ready(&path, &dir.path().join("results"), "long");
    std::thread::sleep(Duration::from_millis(1500));
    let ports = launch_ports(&run);
    assert_eq!(ports.len(), 1);
    assert!(!common::processes_with(&["llama-server", &format!("--port {}", ports[0])]).is_empty(), "engine should be running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "runner did not exit after SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(130));
    assert_no_engine_left(&run);
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "interrupted");
    let launch: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("launches/l00-tiny/launch.json")).unwrap()).unwrap();
    assert!(launch["stop"].is_string(), "the stop was recorded: {launch}");
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn runner_killed_with_sigkill_mid_cell_leaves_no_engine_after_10_s() {
    common::engine();
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), "killed.toml", &scenario("killed", GOOD, "[2]", "[32]", 400));
    let (mut child, run) = start_until_ready(&path, &dir.path().join("results"), "killed");
    std::thread::sleep(Duration::from_millis(1500));
    let ports = launch_ports(&run);
    let engine = common::processes_with(&["llama-server", &format!("--port {}", ports[0])]);
    assert_eq!(engine.len(), 1, "one engine runs mid-cell");
    // Nothing of the runner's own clean-up can run: only the guard can stop the engine.
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    while !common::processes_with(&["llama-server", &format!("--port {}", ports[0])]).is_empty() {
        assert!(killed.elapsed() < Duration::from_secs(10), "llama-server (pid {engine:?}) outlived the SIGKILLed runner by 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("engine gone {:.2} s after the runner's SIGKILL", killed.elapsed().as_secs_f64());
    assert_no_engine_left(&run);
    let guard = format!("runner-engine-guard {}", engine[0]);
    while !common::processes_with(&[&guard]).is_empty() {
        assert!(killed.elapsed() < Duration::from_secs(12), "the guard did not exit once the engine was stopped");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn kv_scaling_probe_records_kv_buffer_and_growing_memory() {
    common::engine();
    let text = std::fs::read_to_string(format!("{}/scenarios/kv_scaling_cpu.toml", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("ctx_size = [8192, 16384, 32768, 65536, 131072, 262144]", "ctx_size = [16384, 65536, 131072]")
        .replace("probe_s = 1.0", "probe_s = 0.3");
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), "kv.toml", &text);
    let out = dir.path().join("results");
    let st =
        std::process::Command::new(runner_bin()).args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap()]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let run = run_dir(&out, "kv_scaling_cpu");
    let rows = read_csv(&run.join("capacity.csv"));
    assert_eq!(rows.len(), 3, "one probe per context size");
    let mut points = Vec::new();
    for r in &rows {
        let ctx: f64 = r["ctx_size"].parse().unwrap();
        assert_eq!(r["status"], "ok");
        assert_eq!(r["mem_source"], "process_rss");
        assert_eq!(r["kv_cache_tokens"], r["ctx_size"]);
        // The engine's own KV buffer: exactly 256 bytes per token of context.
        let kv_gib: f64 = r["kv_cache_gib"].parse().unwrap();
        assert!((kv_gib * 1024.0 * 1024.0 * 1024.0 / ctx - 256.0).abs() < 1.0, "{kv_gib} GiB for {ctx}");
        points.push((ctx, r["mem_at_ready_mib"].parse::<f64>().unwrap() * 1024.0 * 1024.0));
    }
    assert!(points.windows(2).all(|w| w[1].1 > w[0].1), "memory grows with context: {points:?}");
    let slope = (points[2].1 - points[0].1) / (points[2].0 - points[0].0);
    assert!((200.0..450.0).contains(&slope), "RSS slope {slope:.0} B/token should be near 256");
    for l in ["l00", "l01", "l02"] {
        let launch =
            std::fs::read_dir(run.join("launches")).unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with(l)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(launch.path().join("launch.json")).unwrap()).unwrap();
        assert!(v["facts"]["kv_buffer_mib"].as_f64().unwrap() > 0.0);
        assert!(v["memory_at_ready"]["rss_bytes"].as_u64().unwrap() > 0);
    }
    assert_no_engine_left(&run);
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn engine_killed_during_a_cell_fails_that_cell_and_the_run_goes_on() {
    common::engine();
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), "kill.toml", &scenario("kill", GOOD, "[1, 2]", "[64]", 300));
    let (child, run) = start_until_ready(&path, &dir.path().join("results"), "kill");
    std::thread::sleep(Duration::from_millis(1000));
    let port = launch_ports(&run).remove(0);
    let pids = common::processes_with(&["llama-server", &format!("--port {port}")]);
    assert_eq!(pids.len(), 1);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pids[0] as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows = read_csv(&run.join("capacity.csv"));
    assert_eq!(rows.len(), 2, "both cells are recorded");
    assert_eq!(rows[0]["status"], "failed");
    assert!(rows[0]["reason"].contains("engine_died"), "{:?}", rows[0]);
    assert_eq!(rows[1]["status"], "failed");
    assert!(rows[1]["reason"].contains("earlier cell"));
    let requests = std::fs::read_to_string(run.join("cells").join(&rows[0]["cell_id"]).join("requests.jsonl")).unwrap();
    assert!(requests.contains("\"error\":\"connect\"") || requests.contains("connection_reset") || requests.contains("truncated_stream"));
    assert_no_engine_left(&run);
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn sigterm_then_resume_ends_with_exactly_the_planned_cells() {
    common::engine();
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), "resume.toml", &scenario("resume", GOOD, "[1, 2]", "[8, 16]", 60));
    let out = dir.path().join("results");
    let run_id = "r1";
    let child = std::process::Command::new(runner_bin())
        .args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap(), "--run-id", run_id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = out.join("resume").join(run_id);
    // Interrupt once the first cell is on disk.
    let deadline = Instant::now() + Duration::from_secs(120);
    while read_rows(&run).is_empty() {
        assert!(Instant::now() < deadline, "no cell finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let first = child.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(130), "{}", String::from_utf8_lossy(&first.stderr));
    assert_no_engine_left(&run);
    let before = read_rows(&run);
    assert!(!before.is_empty() && before.len() < 4, "interrupted mid-run: {} cells", before.len());
    // A changed scenario is refused.
    let changed = common::write_scenario(dir.path(), "changed.toml", &scenario("resume", GOOD, "[1, 2]", "[8, 16]", 61));
    let refused = std::process::Command::new(runner_bin())
        .args(["run", changed.to_str().unwrap(), "--resume", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("changed since the run started"));
    // The same scenario resumes and finishes only what is missing.
    let resumed =
        std::process::Command::new(runner_bin()).args(["run", path.to_str().unwrap(), "--resume", run.to_str().unwrap()]).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let rows = read_rows(&run);
    let ids: Vec<String> = rows.iter().map(|r| r["cell_id"].clone()).collect();
    assert_eq!(ids, ["c000-l00-chat-conc1-mt8", "c001-l00-chat-conc1-mt16", "c002-l00-chat-conc2-mt8", "c003-l00-chat-conc2-mt16"]);
    assert!(rows.iter().all(|r| r["status"] == "ok" && r["requests"] == "60"), "{rows:?}");
    // Cells finished before the interruption were kept as they were, not measured again.
    for b in &before {
        let a = rows.iter().find(|r| r["cell_id"] == b["cell_id"]).unwrap();
        assert_eq!(a["p50_e2e_ms"], b["p50_e2e_ms"]);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["resumed_at"].as_array().unwrap().len(), 1);
    assert_no_engine_left(&run);
}

fn read_rows(run: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    if run.join("capacity.csv").is_file() {
        read_csv(&run.join("capacity.csv"))
    } else {
        vec![]
    }
}

/// Starts `runner run` in the background and waits until its engine is ready (launch.json written).
/// The caller signals and waits for the child.
#[allow(clippy::zombie_processes)]
fn start_until_ready(path: &std::path::Path, out: &std::path::Path, name: &str) -> (std::process::Child, std::path::PathBuf) {
    let child = std::process::Command::new(runner_bin())
        .args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "engine never became ready");
        if let Some(run) = std::fs::read_dir(out.join(name)).ok().and_then(|mut d| d.next()).and_then(|e| e.ok()).map(|e| e.path()) {
            if run.join("launches/l00-tiny/launch.json").exists() {
                return (child, run);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
