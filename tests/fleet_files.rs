//! The files `runner fleet` writes, checked by the schedulers' own definitions without a cluster:
//! the Kubernetes manifest deserialized into the Kubernetes API types (k8s-openapi), the SkyPilot
//! task files by SkyPilot's own `Task.from_yaml` (scripts/setup-skypilot.sh), and the two-GPU
//! SkyPilot fleet's shard commands run for real on the CPU engine, labelled as the two GPUs, merged
//! into one two-GPU frontier.

mod common;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

fn runner() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runner"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fleet(args: &[&str], out: &Path) -> String {
    let o =
        runner().current_dir(repo()).arg("fleet").args(args).args(["--out", out.to_str().unwrap(), "--fleet-id", "t"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{text}{}", String::from_utf8_lossy(&o.stderr));
    text
}

#[test]
fn the_kubernetes_manifest_is_an_indexed_job_by_the_kubernetes_api_types() {
    let out = tempfile::tempdir().unwrap();
    fleet(
        &[
            "scenarios/quickstart_cpu.toml",
            "--scheduler",
            "kubernetes",
            "--image",
            "registry.example/runner:1",
            "--gpu",
            "a100-40gb=NVIDIA-A100-SXM4-40GB",
        ],
        out.path(),
    );
    let text = std::fs::read_to_string(out.path().join("quickstart_cpu-a100-40gb.k8s.yaml")).unwrap();
    let docs: Vec<serde_norway::Value> =
        serde_norway::Deserializer::from_str(&text).map(|d| serde_norway::Value::deserialize(d).unwrap()).collect();
    assert_eq!(docs.len(), 2, "{text}");
    let config: ConfigMap = serde_norway::from_value(docs[0].clone()).expect("a ConfigMap");
    let scenario = &config.data.as_ref().unwrap()["quickstart_cpu.toml"];
    assert_eq!(scenario, &std::fs::read_to_string(repo().join("scenarios/quickstart_cpu.toml")).unwrap(), "the scenario travels verbatim");
    let job: Job = serde_norway::from_value(docs[1].clone()).expect("a batch/v1 Job");
    let spec = job.spec.unwrap();
    assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!((spec.completions, spec.parallelism, spec.backoff_limit_per_index), (Some(1), Some(1), Some(1)));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "backoffLimitPerIndex needs restartPolicy Never");
    let c = &pod.containers[0];
    let cmd = c.command.as_ref().unwrap().join(" ");
    assert!(
        cmd.contains("--shard \"${JOB_COMPLETION_INDEX}\"/1")
            && cmd.contains("--gpu a100-40gb")
            && cmd.contains("/scenario/quickstart_cpu.toml"),
        "{cmd}"
    );
    let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(limits["nvidia.com/gpu"].0, "1");
    assert_eq!(pod.node_selector.unwrap()["nvidia.com/gpu.product"], "NVIDIA-A100-SXM4-40GB");
    let volumes: Vec<String> = pod.volumes.unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(volumes, ["scenario", "results"]);
    // Unknown fields would be dropped silently by serde: the manifest must survive a round trip.
    let back = serde_json::to_value(serde_norway::from_value::<Job>(docs[1].clone()).unwrap()).unwrap();
    let original = serde_json::to_value(&docs[1]).unwrap();
    assert_eq!(back, original, "every field of the manifest is a Job field");
}

/// SkyPilot's own validation (`sky.Task.from_yaml`), from the venv scripts/setup-skypilot.sh makes.
fn sky_validate(file: &Path) -> Result<(), String> {
    let python = std::env::var("RUNNER_SKY_PYTHON")
        .ok()
        .map(PathBuf::from)
        .unwrap_or_else(|| runner::engine::resolve::cache_dir().join("skypilot-0.14.1/bin/python"));
    let o = Command::new(&python)
        .args(["-c", "import sys, sky; t = sky.Task.from_yaml(sys.argv[1]); print(t.name, t.resources)"])
        .arg(file)
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

#[test]
#[cfg_attr(runner_no_skypilot, ignore = "needs SkyPilot: run scripts/setup-skypilot.sh (scripts/test.sh does)")]
fn skypilot_accepts_the_task_files_and_refuses_a_broken_one() {
    let out = tempfile::tempdir().unwrap();
    let printed = fleet(
        &["scenarios/chat_rtx16.toml", "--scheduler", "skypilot", "--gpu", "rtx2000ada-16gb=RTX2000Ada:1", "--gpu", "a100-40gb=A100:1"],
        out.path(),
    );
    assert!(printed.contains("--allow gpu"), "{printed}");
    for f in ["chat_rtx16-rtx2000ada-16gb.sky.yaml", "chat_rtx16-a100-40gb.sky.yaml"] {
        sky_validate(&out.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    // The check can fail: a misspelt key is refused by SkyPilot.
    let bad = out.path().join("bad.yaml");
    let text = std::fs::read_to_string(out.path().join("chat_rtx16-a100-40gb.sky.yaml")).unwrap().replace("accelerators:", "acclerators:");
    std::fs::write(&bad, text).unwrap();
    let e = sky_validate(&bad).expect_err("a misspelt key");
    assert!(e.contains("acclerators"), "{e}");
}

/// The two-GPU SkyPilot fleet of a CPU scenario: each task's `run` command executed here (as the VM
/// would, with its shard variables and the bucket folder), then the printed merge and a report with
/// one frontier row per GPU label.
#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn a_two_gpu_skypilot_fleet_merges_into_one_two_gpu_frontier() {
    common::engine();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = std::fs::read_to_string(repo().join("scenarios/quickstart_cpu.toml"))
        .unwrap()
        .replace("concurrency = [1, 2, 4, 8]", "concurrency = [1, 2]")
        .replace("max_tokens = [32, 64]", "max_tokens = [16]")
        .replace("requests = 16", "requests = 4");
    let scenario = common::write_scenario(
        &repo().join("target"),
        "fleet_two_gpus.toml",
        &text.replace("name = \"quickstart_cpu\"", "name = \"two_gpus\""),
    );
    let out = dir.join("files");
    let printed = fleet(
        &[scenario.to_str().unwrap(), "--scheduler", "skypilot", "--gpu", "rtx2000ada-16gb=RTX2000Ada:1", "--gpu", "a100-40gb=A100:1"],
        &out,
    );
    let bucket = dir.join("bucket");
    for label in ["rtx2000ada-16gb", "a100-40gb"] {
        let task: serde_norway::Value =
            serde_norway::from_str(&std::fs::read_to_string(out.join(format!("two_gpus-{label}.sky.yaml"))).unwrap()).unwrap();
        let run = task["run"].as_str().unwrap().replace("/results", bucket.to_str().unwrap()).replace(". \"$HOME/.cargo/env\"", "true");
        let st = Command::new("sh")
            .current_dir(repo())
            .args(["-c", &run])
            .env("RUNNER", env!("CARGO_BIN_EXE_runner"))
            .env("SHARD_INDEX", "0")
            .env("SHARD_COUNT", task["envs"]["SHARD_COUNT"].as_u64().unwrap().to_string())
            .output()
            .unwrap();
        assert!(st.status.success(), "{run}\n{}", String::from_utf8_lossy(&st.stderr));
    }
    // The printed merge, with the bucket copied to results/ (here: the bucket folder itself).
    let merge = printed
        .lines()
        .find(|l| l.trim_start().starts_with("runner merge"))
        .unwrap()
        .trim()
        .replace("results/", &format!("{}/", bucket.display()));
    let st = Command::new("sh").args(["-c", &merge.replacen("runner", env!("CARGO_BIN_EXE_runner"), 1)]).output().unwrap();
    assert!(st.status.success(), "{merge}\n{}{}", String::from_utf8_lossy(&st.stdout), String::from_utf8_lossy(&st.stderr));
    let merged = bucket.join("two_gpus/t");
    let st = runner().args(["report", merged.to_str().unwrap()]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let frontier = std::fs::read_to_string(merged.join("reports/capacity_frontier.md")).unwrap();
    for label in ["rtx2000ada-16gb", "a100-40gb"] {
        assert!(frontier.contains(&format!("| chat | {label} | builtin:tiny-qwen2 | concurrency")), "{label} row missing:\n{frontier}");
    }
    let _ = std::fs::remove_file(scenario);
}
