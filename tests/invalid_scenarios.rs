//! The corpus of invalid scenarios in tests/invalid/: each exits 2 with its expected message (the
//! `.stderr` file beside it) and starts nothing. Regenerate the expected files with RUNNER_BLESS=1.

use std::path::Path;

#[test]
fn every_invalid_scenario_is_refused_with_its_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus holds {} scenarios", files.len());
    let bless = std::env::var("RUNNER_BLESS").is_ok();
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_runner")).current_dir(&dir).args(["validate", name]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.code() != Some(2) {
            failures.push(format!("{name}: exit {:?}, want 2\n{stderr}", out.status.code()));
            continue;
        }
        if !stderr.contains(&format!("{name}:")) || !stderr.contains("no server was started") {
            failures.push(format!("{name}: the message must name the file and say nothing started:\n{stderr}"));
        }
        let expected = f.with_extension("stderr");
        if bless {
            std::fs::write(&expected, &stderr).unwrap();
        } else {
            let want =
                std::fs::read_to_string(&expected).unwrap_or_else(|_| panic!("missing {}; run with RUNNER_BLESS=1", expected.display()));
            if want != stderr {
                failures.push(format!("{name}: message changed\n--- want\n{want}\n--- got\n{stderr}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn run_refuses_invalid_scenarios_before_creating_anything() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let out_dir = tempfile::tempdir().unwrap();
    for name in [
        "unknown_engine.toml",
        "zero_concurrency.toml",
        "syntax_unclosed_table.toml",
        "secret_in_env.toml",
        "issue23_five_cases_at_once.toml",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
            .current_dir(&dir)
            .args(["run", name, "--output", out_dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
    }
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0, "no results folder was created");
}
