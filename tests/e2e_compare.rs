//! `runner compare` on the real CPU llama-server: two runs of scenarios/compare_cpu.toml say "no
//! measurable change" for every cell; a third with one slot instead of four (requests at concurrency
//! 4 queue behind each other) says "worse" for that cell with the size of the change, and exits 4.
//! Checks direction and verdict, not figures; the minimum effect is set wide (40%) because two runs
//! of one 2-core machine drift by up to ~20% at concurrency 4 (docs/interop.md, "The noise it does not see").
//! Skips locally without the engine; fails when CI=true.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(dir: &Path, name: &str, slots: &str) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/compare_cpu.toml")).unwrap();
    assert!(text.contains("parallel = 4 "));
    let path = common::write_scenario(dir, &format!("{name}.toml"), &text.replace("parallel = 4 ", &format!("parallel = {slots} ")));
    let out = dir.join(name);
    let (run, _) = common::run_ok(dir, &path, &out, "compare_cpu");
    common::assert_no_engine_left(&run);
    run
}

fn compare(a: &Path, b: &Path, out: &Path) -> (Option<i32>, String, serde_json::Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args([
            "compare",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--min-effect",
            "40",
            "--threshold",
            "50",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let json = serde_json::from_slice(&std::fs::read(out.join("compare.json")).unwrap()).unwrap();
    (o.status.code(), stdout, json)
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn the_same_scenario_twice_is_no_change_and_one_slot_is_worse() {
    common::engine();
    let dir = tempfile::tempdir().unwrap();
    let a = run(dir.path(), "a", "4");
    let b = run(dir.path(), "b", "4");
    let slow = run(dir.path(), "slow", "1");
    let (code, stdout, c) = compare(&a, &b, &dir.path().join("ab"));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.starts_with("no measurable change in 2 matched cell(s)"), "{stdout}");
    assert!(c["pairs"].as_array().unwrap().iter().all(|p| p["verdict"] == "no_measurable_change"), "{stdout}");
    let (code, stdout, c) = compare(&a, &slow, &dir.path().join("aslow"));
    assert_eq!(code, Some(4), "a regression beyond the threshold: {stdout}");
    let pairs = c["pairs"].as_array().unwrap();
    let conc4 = pairs.iter().find(|p| p["load_label"] == "concurrency 4").unwrap();
    assert_eq!(conc4["verdict"], "worse", "{stdout}");
    assert!(conc4["worst_pct"].as_f64().unwrap() >= 50.0, "the size of the change is given: {stdout}");
    let ttft = conc4["deltas"].as_array().unwrap().iter().find(|d| d["metric"] == "p50 TTFT ms").unwrap();
    assert_eq!(ttft["verdict"], "worse");
    assert!(ttft["ci_pct"][0].as_f64().unwrap() > 0.0, "the interval is above zero: {ttft}");
    // One request at a time is not slowed by fewer slots.
    let conc1 = pairs.iter().find(|p| p["load_label"] == "concurrency 1").unwrap();
    assert_eq!(conc1["verdict"], "no_measurable_change", "{stdout}");
    let md = std::fs::read_to_string(dir.path().join("aslow/compare.md")).unwrap();
    assert!(md.contains("**worse**") && md.contains("(regression)"), "{md}");
    let html = std::fs::read_to_string(dir.path().join("aslow/compare.html")).unwrap();
    assert!(html.matches("<svg").count() >= 2, "both frontiers drawn");
}
