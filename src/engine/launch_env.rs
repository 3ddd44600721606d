//! The environment a launch gets beyond the scenario's `env`. Pure.
//!
//! vLLM writes ZMQ socket files and a torchinductor cache into `$TMPDIR` and a compile cache into
//! `~/.cache/vllm` at every start (../shared/DESIGN.md, "Real vLLM on CPU"): each launch gets its own
//! under its results folder, so nothing piles up in /tmp and runs do not share stale caches. A
//! variable the scenario sets itself wins.

use crate::scenario::schema::{EngineKind, Server};
use std::collections::BTreeMap;
use std::path::Path;

/// The variables to add for `srv`, with the folders they name (to be created before the spawn).
pub fn launch_env(srv: &Server, launch_dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if srv.engine == EngineKind::Vllm {
        for (var, sub) in [("TMPDIR", "tmp"), ("VLLM_CACHE_ROOT", "vllm-cache"), ("TORCHINDUCTOR_CACHE_DIR", "torchinductor")] {
            if !srv.env.contains_key(var) {
                out.insert(var.to_string(), launch_dir.join(sub).display().to_string());
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
        assert_eq!(env["TMPDIR"], "/runs/r1/launches/l00/tmp");
        assert_eq!(env["VLLM_CACHE_ROOT"], "/runs/r1/launches/l00/vllm-cache");
        assert_eq!(env["TORCHINDUCTOR_CACHE_DIR"], "/runs/r1/launches/l00/torchinductor");
        // The scenario's own choice wins (e.g. a compile cache shared on purpose).
        let own = launch_env(&server("vllm", "VLLM_CACHE_ROOT = \"/shared/vllm\""), dir);
        assert!(!own.contains_key("VLLM_CACHE_ROOT") && own.contains_key("TMPDIR"));
        assert!(launch_env(&server("llamacpp", ""), dir).is_empty());
    }
}
