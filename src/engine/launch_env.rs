//! The environment a launch gets beyond the scenario's `env`. Pure.
//!
//! vLLM writes ZMQ socket files and a torchinductor cache into `$TMPDIR` and a compile cache into
//! `~/.cache/vllm` at every start (../shared/DESIGN.md, "Real vLLM on CPU"): each launch gets its own
//! under its results folder, so nothing piles up in /tmp and runs do not share stale caches. A
//! variable the scenario sets itself wins.

use crate::scenario::schema::{EngineKind, Server};

/// The KV budget, in GiB, that a vLLM launch on CPU gets when the scenario sets none: without one,
/// the CPU build takes about 92% of the host's memory (../shared/DESIGN.md).
pub const CPU_KV_DEFAULT_GIB: u32 = 1;

/// True for the GPU labels that name the host's CPU ("cpu", "cpu-..."): there, vLLM can only be its
/// CPU build.
pub fn is_cpu_label(gpu_label: Option<&str>) -> bool {
    gpu_label.is_some_and(|l| l == "cpu" || l.starts_with("cpu-"))
}

/// Gives a vLLM server on CPU an explicit KV budget (`VLLM_CPU_KVCACHE_SPACE`) unless the scenario
/// chose one itself: that variable, `kv_cache_memory_bytes`, or `gpu_memory_utilization` (which sizes
/// host memory on CPU). Returns whether it added the default. Applied to every launch, and to what
/// `runner plan` / `runner estimate` show, so that all three see the same budget.
pub fn apply_cpu_kv_default(srv: &mut Server, gpu_label: Option<&str>) -> bool {
    let chosen = srv.env.contains_key("VLLM_CPU_KVCACHE_SPACE")
        || srv.flags.contains_key("kv_cache_memory_bytes")
        || srv.flags.contains_key("gpu_memory_utilization");
    if srv.engine != EngineKind::Vllm || !is_cpu_label(gpu_label) || chosen {
        return false;
    }
    srv.env.insert("VLLM_CPU_KVCACHE_SPACE".into(), CPU_KV_DEFAULT_GIB.to_string());
    true
}
use std::collections::BTreeMap;
use std::path::Path;

/// The longest TMPDIR vLLM can use: it makes ZMQ sockets `$TMPDIR/<36-character uuid>`, and a Unix
/// socket path holds at most 107 bytes. A longer one makes vLLM crash at start-up ("ipc path ... is
/// longer than 107 characters"), which a results folder a few levels deep easily is.
pub const MAX_TMPDIR_LEN: usize = 107 - 37;

/// The variables to add for `srv`, with the folders they name (to be created before the spawn).
/// TMPDIR is `None` when the launch folder's path is too long for it: the caller then makes a short
/// scratch folder under the system's temporary directory and removes it after the stop.
pub fn launch_env(srv: &Server, launch_dir: &Path) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    if srv.engine == EngineKind::Vllm {
        for (var, sub) in [("TMPDIR", "tmp"), ("VLLM_CACHE_ROOT", "vllm-cache"), ("TORCHINDUCTOR_CACHE_DIR", "torchinductor")] {
            if !srv.env.contains_key(var) {
                let dir = launch_dir.join(sub).display().to_string();
                out.insert(var.to_string(), (var != "TMPDIR" || dir.len() <= MAX_TMPDIR_LEN).then_some(dir));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(engine: &str, env: &str) -> Server {
        let text = format!(
            "[scenario]\nname = \"e\"\n[[servers]]\nname = \"s\"\nengine = \"{engine}\"\nmodel = \"m.gguf\"\n[servers.env]\n{env}\n"
        );
        toml::from_str::<crate::scenario::schema::Scenario>(&text).unwrap().servers.remove(0)
    }

    #[test]
    fn vllm_launches_keep_their_scratch_under_the_launch_folder() {
        let dir = Path::new("/runs/r1/launches/l00");
        let env = launch_env(&server("vllm", ""), dir);
        assert_eq!(env["TMPDIR"].as_deref(), Some("/runs/r1/launches/l00/tmp"));
        assert_eq!(env["VLLM_CACHE_ROOT"].as_deref(), Some("/runs/r1/launches/l00/vllm-cache"));
        assert_eq!(env["TORCHINDUCTOR_CACHE_DIR"].as_deref(), Some("/runs/r1/launches/l00/torchinductor"));
        // A results folder too deep for ZMQ's socket paths: TMPDIR is left to a short scratch folder.
        let deep = Path::new("/tmp/vrun/vllm_cpu/20261130T113524Z/launches/l00-vllm-tiny-max_num_seqs=2");
        let env = launch_env(&server("vllm", ""), deep);
        assert_eq!(env["TMPDIR"], None);
        assert!(env["VLLM_CACHE_ROOT"].is_some());
        // The scenario's own choice wins (e.g. a compile cache shared on purpose).
        let own = launch_env(&server("vllm", "VLLM_CACHE_ROOT = \"/shared/vllm\""), dir);
        assert!(!own.contains_key("VLLM_CACHE_ROOT") && own.contains_key("TMPDIR"));
        assert!(launch_env(&server("llamacpp", ""), dir).is_empty());
    }

    #[test]
    fn vllm_on_cpu_always_gets_an_explicit_kv_budget() {
        let mut s = server("vllm", "");
        assert!(apply_cpu_kv_default(&mut s, Some("cpu-2core")));
        assert_eq!(s.env["VLLM_CPU_KVCACHE_SPACE"], "1");
        // The scenario's own budget wins, in any of its three forms; GPUs and other engines are left alone.
        let mut own = server("vllm", "VLLM_CPU_KVCACHE_SPACE = \"3\"");
        assert!(!apply_cpu_kv_default(&mut own, Some("cpu")) && own.env["VLLM_CPU_KVCACHE_SPACE"] == "3");
        let mut flag = server("vllm", "");
        flag.flags.insert("kv_cache_memory_bytes".into(), crate::scenario::schema::FlagValue::Int(1 << 28));
        assert!(!apply_cpu_kv_default(&mut flag, Some("cpu")));
        assert!(!apply_cpu_kv_default(&mut server("vllm", ""), Some("h100-80gb")));
        assert!(!apply_cpu_kv_default(&mut server("llamacpp", ""), Some("cpu")));
    }
}
