//! Whether figures can be trusted, end to end through the binary: a verdict that flips between
//! repeats is `unstable` (with median and spread), and a run beside busy loops is `disturbed`
//! (against the real CPU engine). In a test binary of their own: no other test shares the cores.

mod common;

use common::{read_csv, Mock};
use std::time::Duration;

/// One run at a time: the disturbance test must not be disturbed by the other test of this file.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(dir: &std::path::Path, name: &str, text: &str) -> (std::path::PathBuf, String) {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let path = common::write_scenario(dir, &format!("{name}.toml"), text);
    // Run from a folder outside any git checkout, as a user of an installed runner would.
    common::run_ok(dir, &path, &dir.join("results").join(name), name)
}

fn report(run: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(run.join("reports").join(file)).unwrap()
}

/// Repeat 0 is fast, repeats 1 and 2 are slow (the mock slows down after 8 requests): the cell's
/// figures are the medians (slow: the SLO fails), the spread spans both, and the verdict flipped.
#[test]
fn repeats_give_median_and_spread_and_a_flipped_verdict_is_unstable() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = Mock { slow_after: Some((8, Duration::from_millis(300))), chunks: 4, ..Mock::default() };
    let url = rt.block_on(common::start_mock(mock));
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[scenario]
name = "repeats"
gpu = "mock"
[[servers]]
name = "mock"
engine = "external"
url = "{url}"
[[workloads]]
name = "chat"
requests = 8
repeats = 3
[grid]
concurrency = [2]
max_tokens = [4]
[slo.chat]
p95_ttft_ms = 150
"#
    );
    let (run, stdout) = run(dir.path(), "repeats", &text);
    let rows = read_csv(&run.join("capacity.csv"));
    let r = &rows[0];
    assert_eq!((r["status"].as_str(), r["unstable"].as_str(), r["repeats"].as_str()), ("slo_fail", "true", "3"), "{r:?}");
    let (lo, hi, p95): (f64, f64, f64) =
        (r["p95_ttft_ms_min"].parse().unwrap(), r["p95_ttft_ms_max"].parse().unwrap(), r["p95_ttft_ms"].parse().unwrap());
    assert!(lo < 100.0 && hi >= 300.0 && p95 >= 300.0, "spread {lo}..{hi}, median p95 {p95}");
    assert!(stdout.contains("unstable") && stdout.contains("3 repeats"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("cells").join(&r["cell_id"]).join("summary.json")).unwrap()).unwrap();
    let passes: Vec<bool> = summary["quality"]["repeats"].as_array().unwrap().iter().map(|x| x["pass"].as_bool().unwrap()).collect();
    assert_eq!(passes, [true, false, false]);
    let requests = std::fs::read_to_string(run.join("cells").join(&r["cell_id"]).join("requests.jsonl")).unwrap();
    assert_eq!(requests.lines().filter(|l| l.contains("\"repeat\":2")).count(), 8, "each repeat's requests are stored");
    // The manifest names the runner's own build, not the git state of the folder it ran from.
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    let head =
        std::process::Command::new("git").args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short=12", "HEAD"]).output().unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let recorded = manifest["git_revision"].as_str().unwrap_or_default();
    assert!(!head.is_empty() && recorded.starts_with(&head), "manifest git_revision {recorded:?}, runner built from {head}");
    let notes = report(&run, "capacity_notes.md");
    assert!(notes.contains("unstable") && notes.contains("3 repeats: p95 TTFT"), "{notes}");
    for file in ["playbook.md", "capacity_frontier.md", "life_of_request.md", "kv_scaling.md"] {
        assert!(report(&run, file).contains("`unstable`"), "{file} does not name the unstable cell");
    }
}

/// Busy loops, one per core, beside a run against the real engine make its cells `disturbed`; the
/// same run on a quiet machine is not. It checks the direction, not a figure.
#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn a_run_beside_busy_loops_is_disturbed_and_a_quiet_one_is_not() {
    common::engine();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(format!("{}/scenarios/quickstart_cpu.toml", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("concurrency = [1, 2, 4, 8]", "concurrency = [1, 2]")
        .replace("max_tokens = [32, 64]", "max_tokens = [32]");
    let others = |rows: &[std::collections::HashMap<String, String>]| -> Vec<f64> {
        rows.iter().map(|r| r["others_cpu_pct"].parse::<f64>().unwrap()).collect()
    };
    // Quiet: a stray neighbour on a shared CI machine may disturb an attempt; three are allowed.
    let mut quiet = Vec::new();
    for attempt in 0..3 {
        let (run, _) = run(dir.path(), &format!("quiet{attempt}"), &text.replace("quickstart_cpu", &format!("quiet{attempt}")));
        quiet = read_csv(&run.join("capacity.csv"));
        if quiet.iter().all(|r| r["disturbed"] == "false") {
            break;
        }
    }
    assert!(quiet.iter().all(|r| r["disturbed"] == "false"), "quiet run disturbed: {:?}", others(&quiet));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut loops: Vec<std::process::Child> =
        (0..cores).map(|_| std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap()).collect();
    let busy = std::panic::catch_unwind(|| run(dir.path(), "busy", &text.replace("quickstart_cpu", "busy")));
    for l in &mut loops {
        let _ = l.kill();
        let _ = l.wait();
    }
    let (run, stdout) = busy.unwrap();
    let rows = read_csv(&run.join("capacity.csv"));
    assert!(rows.iter().all(|r| r["disturbed"] == "true"), "busy run not disturbed: {:?}", others(&rows));
    let (q, b) = (others(&quiet), others(&rows));
    eprintln!("others' CPU share, % of all cores: quiet {q:?}, beside {cores} busy loops {b:?}");
    assert!(
        b.iter().cloned().fold(f64::INFINITY, f64::min) > q.iter().cloned().fold(0.0, f64::max),
        "others' CPU: quiet {q:?}, busy {b:?}"
    );
    assert!(stdout.contains("disturbed (others"), "{stdout}");
    for file in ["playbook.md", "capacity_frontier.md", "life_of_request.md", "capacity_notes.md", "kv_scaling.md", "report.html"] {
        assert!(report(&run, file).contains("disturbed"), "{file} does not say the run was disturbed");
    }
    // Nothing else exists: a recommended point (if any cell met the SLO beside the busy loops) comes
    // from disturbed cells, and the playbook says so.
    let playbook = report(&run, "playbook.md");
    assert!(!playbook.contains("**Operate at**") || playbook.contains("chosen among disturbed cells"), "{playbook}");
}
