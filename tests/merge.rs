//! `runner merge` refuses what it would have to guess, against runs of an in-test server: the same
//! cell measured in two folders, folders of different scenarios, and (without `--allow gpu`) folders
//! of different GPU labels; with `--allow gpu` the merged folder reports one frontier row per GPU.

mod common;

use common::Mock;
use std::path::{Path, PathBuf};

fn scenario(url: &str, requests: u32) -> String {
    format!(
        "[scenario]\nname = \"m\"\ngpu = \"mock\"\n[[servers]]\nname = \"mock\"\nengine = \"external\"\nurl = \"{url}\"\n\
         [[workloads]]\nname = \"chat\"\nrequests = {requests}\nwarmup = 0\n[grid]\nconcurrency = [1, 2]\nmax_tokens = [4]\n"
    )
}

fn run(dir: &Path, file: &str, args: &[&str]) -> PathBuf {
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(dir)
        .args(["run", file, "--output", "res"])
        .args(args)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let id = args.iter().position(|a| *a == "--run-id").map(|i| args[i + 1]).unwrap();
    dir.join("res/m").join(id)
}

fn merge(dir: &Path, inputs: &[&Path], extra: &[&str]) -> (Option<i32>, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(dir)
        .arg("merge")
        .args(inputs)
        .args(["--out", "res/m/merged"])
        .args(extra)
        .output()
        .unwrap();
    (o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn merge_refuses_duplicates_other_scenarios_and_unallowed_gpu_mixes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(common::start_mock(Mock::default()));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::write_scenario(dir, "m.toml", &scenario(&url, 4));
    common::write_scenario(dir, "other.toml", &scenario(&url, 5));
    let a = run(dir, "m.toml", &["--run-id", "a"]);
    let b = run(dir, "m.toml", &["--run-id", "b"]);
    let (code, text) = merge(dir, &[&a, &a], &[]);
    assert_eq!(code, Some(0), "one folder named twice is one source: {text}");
    let (code, text) = merge(dir, &[&a, &b], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("2 cell(s) were measured in more than one folder") && text.contains("c000-l00-chat-conc1-mt4"), "{text}");
    let other = run(dir, "other.toml", &["--run-id", "o"]);
    let (code, text) = merge(dir, &[&a, &other], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("runs of different scenarios") && text.contains("they differ in: workloads"), "{text}");
    let rtx = run(dir, "m.toml", &["--run-id", "rtx", "--gpu", "rtx2000ada-16gb"]);
    let (code, text) = merge(dir, &[&a, &rtx], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("runs on different GPUs (mock, rtx2000ada-16gb): pass --allow gpu"), "{text}");
    let (code, text) = merge(dir, &[&a, &rtx], &["--allow", "gpu"]);
    assert_eq!(code, Some(0), "{text}");
    let merged = dir.join("res/m/merged");
    assert_eq!(common::read_csv(&merged.join("capacity.csv")).iter().filter(|r| r["gpu"] == "rtx2000ada-16gb").count(), 2);
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_runner")).args(["report", merged.to_str().unwrap()]).output().unwrap();
    assert!(st.status.success());
    let frontier = std::fs::read_to_string(merged.join("reports/capacity_frontier.md")).unwrap();
    assert!(frontier.contains("| chat | mock |") && frontier.contains("| chat | rtx2000ada-16gb |"), "{frontier}");
    // An output folder that is not an earlier merge is never replaced.
    let (code, text) = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(dir)
        .args(["merge", a.to_str().unwrap(), "--out", b.to_str().unwrap()])
        .output()
        .map(|o| (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned()))
        .unwrap();
    assert_eq!(code, Some(1));
    assert!(text.contains("is not the output of an earlier merge"), "{text}");
}
