//! `runner validate` and `runner plan` through the binary: located errors, exit codes, exact commands.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

fn runner() -> Command {
    Command::cargo_bin("runner").expect("runner binary")
}

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Every shipped scenario validates and plans, so that a later rule can never break one unseen
/// (the secret check once refused the batch recipes' `max_num_batched_tokens`).
#[test]
fn every_shipped_scenario_validates_and_plans() {
    let mut files: Vec<_> = std::fs::read_dir(repo("scenarios"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for f in &files {
        let f = f.to_str().unwrap();
        runner().args(["validate", f]).assert().success().stdout(predicate::str::contains("ok ("));
        runner().args(["plan", f]).assert().success().stdout(predicate::str::contains(" cell"));
    }
}

/// "1 server launches" was printed for a one-launch scenario.
#[test]
fn validate_counts_in_words_that_agree_with_the_number() {
    runner()
        .args(["validate", &repo("scenarios/chat_rtx16.toml")])
        .assert()
        .success()
        .stdout(predicate::str::contains("ok (12 cells on 1 server launch)"));
}

#[test]
fn plan_chat_rtx16_is_12_cells_on_one_vllm_launch() {
    let out = runner().args(["plan", &repo("scenarios/chat_rtx16.toml")]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("12 cells on 1 server launch"), "{text}");
    assert!(
        text.contains(
            "$ vllm serve Qwen/Qwen2.5-1.5B-Instruct --dtype bfloat16 --gpu-memory-utilization 0.8 --max-model-len 4096 \
         --max-num-seqs 128 --max-num-batched-tokens 2048 --enable-prefix-caching --enable-chunked-prefill --host 127.0.0.1 --port 8000"
        ),
        "{text}"
    );
    assert_eq!(text.lines().filter(|l| l.trim_start().starts_with('c') && l.contains("workload=chat")).count(), 12);
}

#[test]
fn misspelt_key_is_located_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/quickstart_cpu.toml")).unwrap().replace("concurrency = [", "concurency = [");
    let line = text.lines().position(|l| l.starts_with("concurency")).unwrap() + 1;
    let path = common::write_scenario(dir.path(), "bad.toml", &text);
    runner()
        .args(["validate", path.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("bad.toml:{line}:1")))
        .stderr(predicate::str::contains("unknown key `concurency`"))
        .stderr(predicate::str::contains("key: grid.concurency"))
        .stderr(predicate::str::contains("did you mean `concurrency`?"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/quickstart_cpu.toml"))
        .unwrap()
        .replace("requests = 16", "requets = 16")
        .replace("concurrency = [1, 2, 4, 8]", "concurency = [1, 2, 4, 8]");
    let path = common::write_scenario(dir.path(), "bad.toml", &text);
    let out = runner().args(["run", path.to_str().unwrap(), "--output", dir.path().to_str().unwrap()]).assert().code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("`requets`") && err.contains("`concurency`"), "{err}");
    assert!(err.contains("2 problems found; no server was started"), "{err}");
    // Nothing was created: no server started, no results folder.
    assert!(!dir.path().join("quickstart_cpu").exists());
}

#[test]
fn semantic_errors_name_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/quickstart_cpu.toml"))
        .unwrap()
        .replace("concurrency = [1, 2, 4, 8]", "concurrency = [0, 2]")
        .replace("[slo.chat]", "[slo.chta]");
    let path = common::write_scenario(dir.path(), "bad.toml", &text);
    runner()
        .args(["validate", path.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("concurrency = 0 is out of range"))
        .stderr(predicate::str::contains("key: grid.concurrency[0]"))
        .stderr(predicate::str::contains("SLO for unknown workload `chta`"))
        .stderr(predicate::str::contains("did you mean `chat`?"));
}

#[test]
fn absurd_grid_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conc: Vec<String> = (1..=200).map(|i| i.to_string()).collect();
    let mt: Vec<String> = (1..=60).map(|i| i.to_string()).collect();
    let text = std::fs::read_to_string(repo("scenarios/quickstart_cpu.toml"))
        .unwrap()
        .replace("concurrency = [1, 2, 4, 8]", &format!("concurrency = [{}]", conc.join(",")))
        .replace("max_tokens = [32, 64]", &format!("max_tokens = [{}]", mt.join(",")));
    let path = common::write_scenario(dir.path(), "big.toml", &text);
    runner()
        .args(["validate", path.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("12000 cells, more than the limit of 10000"));
}

/// An open loop without a concurrency axis is uncapped: no 10000 sentinel in the plan's ids or
/// parameters.
#[test]
fn open_loop_plan_without_a_concurrency_axis_shows_no_sentinel() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/chat_rtx16.toml"))
        .unwrap()
        .lines()
        .map(|l| if l.starts_with("concurrency = ") { "request_rate = [2.0, 4.5]" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let path = common::write_scenario(dir.path(), "open.toml", &text);
    let out = runner().args(["plan", path.to_str().unwrap()]).assert().success().get_output().stdout.clone();
    let plan = String::from_utf8(out).unwrap();
    assert!(plan.contains("-rate2-mt64") && plan.contains("request_rate=4.5"), "{plan}");
    assert!(!plan.contains("10000") && !plan.contains("concurrency="), "{plan}");
}

/// `runner plan` ends with the campaign's expected wall time, from an earlier run of the same
/// scenario in its output folder, and its cost at the scenario's price.
#[test]
fn plan_states_expected_wall_time_and_cost_from_earlier_runs() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("results/quickstart_cpu");
    std::fs::create_dir_all(&runs).unwrap();
    let fixture = std::path::PathBuf::from(repo("tests/fixtures/results/quickstart_cpu/run"));
    copy_dir(&fixture, &runs.join("earlier"));
    let text = std::fs::read_to_string(repo("scenarios/quickstart_cpu.toml")).unwrap()
        + "\n[prices.cpu]\nper_hour = 3.6\ndate = \"2026-11-30\"\nsource = \"test price\"\n";
    let path = common::write_scenario(dir.path(), "q.toml", &text);
    let out = runner().current_dir(dir.path()).args(["plan", path.to_str().unwrap()]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    let line = out.lines().find(|l| l.starts_with("expected wall time")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("from 1 earlier run(s) (1 of 1 launches' start-up, 8 of 8 cells timed)"), "{line}");
    // 3.6 per hour is 0.001 per second: the cost is the wall time in seconds / 1000.
    let minutes: f64 = line.split("expected wall time: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let cost: f64 = line.split("costing ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(minutes > 0.0 && (cost - minutes * 60.0 / 1000.0).abs() < 0.01, "{line}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// The lab's A100 anchor is "same scripts, different GPU" (issue 22 §5): each A100 recipe has its
/// 16 GB twin's servers, flags, workloads and SLOs, to the letter; only the scenario's name, GPU
/// and load range differ.
#[test]
fn the_a100_anchor_runs_the_16gb_recipe_to_the_letter() {
    let read = |name: &str| -> toml::Table { std::fs::read_to_string(repo(&format!("scenarios/{name}.toml"))).unwrap().parse().unwrap() };
    for (small, anchor) in [("chat_rtx16", "chat_a100"), ("batch_rtx16", "batch_a100"), ("search_chat_rtx16", "search_chat_a100")] {
        let (a, b) = (read(small), read(anchor));
        for key in ["servers", "workloads", "slo"] {
            assert_eq!(a.get(key), b.get(key), "{anchor}.toml's [{key}] differs from {small}.toml's");
        }
        assert_eq!(b["scenario"]["gpu"].as_str(), Some("a100-40gb"), "{anchor}: the seed's column is the A100 40GB");
        assert_ne!(a["scenario"]["gpu"], b["scenario"]["gpu"]);
    }
}
