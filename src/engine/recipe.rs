//! Reusable recipes of a server config: the `vllm serve --config` YAML. Pure.
//! Values are written as JSON scalars and flow sequences, which YAML reads as the same values.

use super::argv::LaunchTarget;
use crate::scenario::schema::{EngineKind, FlagValue, Server};

fn yaml_value(v: &FlagValue) -> String {
    match v {
        FlagValue::Bool(b) => b.to_string(),
        FlagValue::Int(i) => i.to_string(),
        FlagValue::Float(f) => serde_json::to_string(f).unwrap_or_else(|_| f.to_string()),
        FlagValue::Str(s) => serde_json::to_string(s).unwrap_or_default(),
        FlagValue::List(items) => format!("[{}]", items.iter().map(yaml_value).collect::<Vec<_>>().join(", ")),
    }
}

/// `vllm serve --config recipe.yaml` equivalent of a vLLM server config; None for other engines.
pub fn vllm_config_yaml(server: &Server, target: &LaunchTarget) -> Option<String> {
    if server.engine != EngineKind::Vllm {
        return None;
    }
    let mut out = String::new();
    out.push_str(&format!("# vLLM recipe for server `{}`, written by runner.\n", server.name));
    out.push_str(&format!("# Use: vllm serve {} --config vllm-config.yaml\n", target.model));
    for (k, v) in &server.flags {
        out.push_str(&format!("{}: {}\n", k.replace('_', "-"), yaml_value(v)));
    }
    if let Some(n) = &server.served_model_name {
        out.push_str(&format!("served-model-name: {}\n", yaml_value(&FlagValue::Str(n.clone()))));
    }
    out.push_str(&format!("host: {}\n", yaml_value(&FlagValue::Str(server.host.clone()))));
    if let Some(p) = target.port {
        out.push_str(&format!("port: {p}\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    #[test]
    fn yaml_recipe_matches_flags() {
        let mut flags = IndexMap::new();
        flags.insert("dtype".to_string(), FlagValue::Str("bfloat16".into()));
        flags.insert("gpu_memory_utilization".to_string(), FlagValue::Float(0.8));
        flags.insert("enable_prefix_caching".to_string(), FlagValue::Bool(false));
        flags.insert("max_model_len".to_string(), FlagValue::Int(4096));
        let server = Server {
            name: "s".into(),
            engine: EngineKind::Vllm,
            model: Some("Qwen/Qwen2.5-1.5B-Instruct".into()),
            served_model_name: None,
            host: "127.0.0.1".into(),
            port: 8000,
            url: None,
            binary: None,
            flags,
            env: Default::default(),
            api_key_env: None,
            ready_timeout_s: 600.0,
            stop_grace_s: 15.0,
        };
        let t = LaunchTarget { program: "vllm".into(), model: "Qwen/Qwen2.5-1.5B-Instruct".into(), port: Some(8000) };
        let y = vllm_config_yaml(&server, &t).unwrap();
        assert!(y.contains("dtype: \"bfloat16\"\ngpu-memory-utilization: 0.8\nenable-prefix-caching: false\nmax-model-len: 4096\nhost: \"127.0.0.1\"\nport: 8000\n"), "{y}");
        let mut other = server.clone();
        other.engine = EngineKind::Llamacpp;
        assert!(vllm_config_yaml(&other, &t).is_none());
    }
}
