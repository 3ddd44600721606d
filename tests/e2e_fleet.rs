//! The fleet, end to end: `runner fleet --scheduler slurm` writes an array script, a real one-node
//! SLURM cluster (scripts/slurm-cluster.sh: Debian's slurm-wlm and munge) runs its 3 shards against
//! the real CPU engine, and `runner merge` joins them into exactly the cells of an unsharded run. A
//! shard killed mid-run shows up as missing cells, and its `--resume` completes the merge. The
//! Kubernetes and SkyPilot files are checked without a cluster (tests/fleet_files.rs).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Three launches (parallel 1, 2, 4) of two cells each: a shard is one launch.
const SCENARIO: &str = r#"
[scenario]
name = "fleet"
gpu = "cpu"
seed = 3
[[servers]]
name = "tiny"
engine = "llamacpp"
model = "builtin:tiny-qwen2"
ready_timeout_s = 120
[servers.flags]
ctx_size = 4096
threads = 1
[grid.server]
parallel = [1, 2, 4]
[[workloads]]
name = "chat"
prompts = "builtin:chat"
ignore_eos = true
requests = 6
warmup = 0
max_tokens = 24
[grid]
concurrency = [1, 2]
[slo.chat]
p95_ttft_ms = 5000
"#;

fn runner() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runner"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cluster's daemons, stopped however the test ends.
struct Cluster {
    dir: PathBuf,
    conf: String,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let out = Command::new(repo().join("scripts/slurm-cluster.sh")).args(["start", dir.to_str().unwrap()]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "the SLURM cluster did not start:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        let conf = text.lines().find_map(|l| l.strip_prefix("SLURM_CONF=")).expect("SLURM_CONF").to_string();
        Cluster { dir: dir.to_path_buf(), conf }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/slurm-cluster.sh")).args(["stop", self.dir.to_str().unwrap()]).status();
    }
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// Cell ids of a run folder, and whether every one was measured (a summary with requests).
fn cells(run: &Path) -> (BTreeSet<String>, bool) {
    let mut ids = BTreeSet::new();
    let mut measured = true;
    for e in std::fs::read_dir(run.join("cells")).unwrap().flatten() {
        let v = read_json(&e.path().join("summary.json"));
        ids.insert(v["cell"]["id"].as_str().unwrap().to_string());
        measured &= v["summary"]["requests"].as_u64().unwrap_or(0) > 0 && v["status"] == "ok";
    }
    (ids, measured)
}

fn merge(inputs: &[PathBuf], out: &Path) -> (Option<i32>, String) {
    let o = runner().arg("merge").args(inputs).args(["--out", out.to_str().unwrap()]).output().unwrap();
    (o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

fn no_llama_server_left(dir: &Path) {
    // Every launch of every shard: no process left on its port (the port is free).
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().join("launches").is_dir() {
            common::assert_no_engine_left(&e.path());
        }
    }
}

#[test]
// One attribute for both needs: two `ignore`s on one test are an unused-attribute error where both
// are missing.
#[cfg_attr(
    any(runner_no_engine, runner_no_slurm),
    ignore = "needs llama-server and the tiny model, and slurm-wlm and munge: scripts/test.sh sets them up"
)]
fn slurm_array_of_three_shards_merges_into_the_cells_of_an_unsharded_run() {
    common::engine();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scenario = common::write_scenario(dir, "fleet.toml", SCENARIO);
    // The reference: the same scenario on one machine.
    let st = runner().current_dir(dir).args(["run", "fleet.toml", "--output", "single", "--run-id", "one"]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let (want, _) = cells(&dir.join("single/fleet/one"));
    assert_eq!(want.len(), 6);

    let cluster = Cluster::start(&dir.join("slurm"));
    let results = dir.join("results");
    let o = runner()
        .current_dir(dir)
        .args(["fleet", "fleet.toml", "--scheduler", "slurm", "--shards", "3", "--out", "fleet", "--fleet-id", "f1"])
        .args(["--results", results.to_str().unwrap()])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{printed}{}", String::from_utf8_lossy(&o.stderr));
    let script = std::fs::read_to_string(dir.join("fleet/fleet-cpu.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-2") && script.contains("--shard \"${SLURM_ARRAY_TASK_ID}\"/3"), "{script}");
    std::fs::create_dir_all(dir.join("fleet/logs")).unwrap();
    // Submitted as printed; the tasks run in the submitting environment (engine paths, RUNNER).
    let t0 = Instant::now();
    let mut sbatch = Command::new("sbatch")
        .current_dir(dir.join("fleet"))
        .args(["--wait", "fleet-cpu.sbatch"])
        .env("SLURM_CONF", &cluster.conf)
        .env("RUNNER", env!("CARGO_BIN_EXE_runner"))
        .spawn()
        .unwrap();
    loop {
        if let Some(st) = sbatch.try_wait().unwrap() {
            let logs: Vec<String> = std::fs::read_dir(dir.join("fleet/logs"))
                .unwrap()
                .flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect();
            assert!(st.success(), "the array job failed:\n{}", logs.join("\n----\n"));
            break;
        }
        if t0.elapsed() > Duration::from_secs(300) {
            let _ = Command::new("scancel").arg("--name=runner-fleet-cpu").env("SLURM_CONF", &cluster.conf).status();
            let _ = sbatch.kill();
            panic!("the array job did not finish in 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let shards: Vec<PathBuf> = (0..3).map(|k| results.join(format!("fleet/f1-cpu-shard-{k}"))).collect();
    let merged = results.join("fleet/f1");
    let (code, text) = merge(&shards, &merged);
    assert_eq!(code, Some(0), "{text}");
    let (got, measured) = cells(&merged);
    assert_eq!(got, want, "the merged run has exactly the unsharded run's cells");
    assert!(measured, "every merged cell was measured and met the SLO");
    let manifest = read_json(&merged.join("manifest.json"));
    assert_eq!(manifest["status"], "complete");
    let shard_of: BTreeSet<String> = std::fs::read_dir(merged.join("cells"))
        .unwrap()
        .flatten()
        .map(|e| read_json(&e.path().join("summary.json"))["provenance"]["shard"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shard_of, ["0/3", "1/3", "2/3"].map(String::from).into_iter().collect(), "each cell keeps its shard");
    assert_eq!(common::read_csv(&merged.join("capacity.csv")).len(), 6);
    let st = runner().args(["report", merged.to_str().unwrap()]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    no_llama_server_left(&results.join("fleet"));
    drop(cluster);
    let _ = scenario;
}

/// A shard killed with SIGKILL mid-run: merge lists its cells as missing (exit 3, status
/// incomplete), `runner run --shard K/N --resume` finishes it, and the merge is then complete.
#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn a_killed_shard_is_missing_in_the_merge_until_resumed() {
    common::engine();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::write_scenario(dir, "fleet.toml", &SCENARIO.replace("requests = 6", "requests = 12"));
    let run =
        |k: usize| runner().current_dir(dir).args(["run", "fleet.toml", "--shard", &format!("{k}/3"), "--output", "res"]).output().unwrap();
    for k in [0, 1] {
        assert!(run(k).status.success());
    }
    let shard2 = dir.join("res/fleet/shard-2-of-3");
    let mut child = runner()
        .current_dir(dir)
        .args(["run", "fleet.toml", "--shard", "2/3", "--output", "res"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once its first cell is stored, while the second runs.
    let t0 = Instant::now();
    while !std::fs::read_dir(shard2.join("cells")).map(|d| d.flatten().any(|e| e.path().join("summary.json").is_file())).unwrap_or(false) {
        assert!(t0.elapsed() < Duration::from_secs(120), "shard 2 stored no cell");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let inputs: Vec<PathBuf> = (0..3).map(|k| dir.join(format!("res/fleet/shard-{k}-of-3"))).collect();
    let merged = dir.join("res/fleet/merged");
    let (code, text) = merge(&inputs, &merged);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("missing (1)") && text.contains("c005-l02-chat-conc2-mt24 (shard 2/3)"), "{text}");
    assert_eq!(read_json(&merged.join("manifest.json"))["status"], "incomplete");
    // The guard stopped the killed shard's engine.
    let t0 = Instant::now();
    while common::launch_ports(&shard2).iter().any(|p| !common::processes_with(&["llama-server", &format!("--port {p}")]).is_empty()) {
        assert!(t0.elapsed() < Duration::from_secs(10), "the killed shard's engine is still running");
        std::thread::sleep(Duration::from_millis(50));
    }
    let st =
        runner().current_dir(dir).args(["run", "fleet.toml", "--shard", "2/3", "--resume", shard2.to_str().unwrap()]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let (code, text) = merge(&inputs, &merged);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(cells(&merged).0.len(), 6);
    // Running a finished shard again changes nothing (it resumes a complete folder).
    let before = std::fs::read_to_string(shard2.join("capacity.csv")).unwrap();
    assert!(run(2).status.success());
    assert_eq!(std::fs::read_to_string(shard2.join("capacity.csv")).unwrap(), before);
    // The wrong shard's folder is refused.
    let st =
        runner().current_dir(dir).args(["run", "fleet.toml", "--shard", "1/3", "--resume", shard2.to_str().unwrap()]).output().unwrap();
    assert!(!st.status.success() && String::from_utf8_lossy(&st.stderr).contains("resume it with the same --shard"));
}
