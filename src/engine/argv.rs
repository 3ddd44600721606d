//! Pure command-line building for each engine. Scenario values become argv elements only (no shell).

use crate::scenario::schema::{EngineKind, FlagValue, Server};

/// What the argv needs beyond the scenario: resolved executable, model path and port.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchTarget {
    pub program: String,
    pub model: String,
    pub port: Option<u16>,
}

/// `--kebab-case` from a TOML key.
pub fn flag_name(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

/// Flags as argv. `true` is a bare flag. `false` is `--no-<flag>` for vLLM (argparse
/// BooleanOptionalAction, e.g. `--no-enable-prefix-caching`) and omitted for other engines, whose
/// boolean options are off unless given.
pub fn render_flags(engine: EngineKind, flags: &indexmap::IndexMap<String, FlagValue>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in flags {
        match v {
            FlagValue::Bool(true) => out.push(flag_name(k)),
            FlagValue::Bool(false) => {
                if engine == EngineKind::Vllm {
                    out.push(format!("--no-{}", k.replace('_', "-")));
                }
            }
            other => {
                out.push(flag_name(k));
                out.extend(other.render());
            }
        }
    }
    out
}

fn port_text(port: Option<u16>) -> String {
    port.map_or_else(|| "AUTO".to_string(), |p| p.to_string())
}

/// The full argv of a launched engine (`None` for `external`).
pub fn argv(server: &Server, target: &LaunchTarget) -> Option<Vec<String>> {
    let flags = render_flags(server.engine, &server.flags);
    let port = port_text(target.port);
    let mut v: Vec<String> = match server.engine {
        EngineKind::External => return None,
        EngineKind::Vllm => {
            let mut v = vec![target.program.clone(), "serve".into(), target.model.clone()];
            v.extend(flags);
            if let Some(name) = &server.served_model_name {
                v.extend(["--served-model-name".into(), name.clone()]);
            }
            v
        }
        EngineKind::Sglang => {
            let mut v = vec![target.program.clone(), "-m".into(), "sglang.launch_server".into()];
            v.extend(["--model-path".into(), target.model.clone()]);
            v.extend(flags);
            if let Some(name) = &server.served_model_name {
                v.extend(["--served-model-name".into(), name.clone()]);
            }
            v
        }
        EngineKind::Llamacpp => {
            let mut v = vec![target.program.clone(), "--model".into(), target.model.clone()];
            v.extend(flags);
            if !server.flags.contains_key("metrics") {
                v.push("--metrics".into());
            }
            if let Some(name) = &server.served_model_name {
                v.extend(["--alias".into(), name.clone()]);
            }
            v
        }
    };
    v.extend(["--host".into(), server.host.clone(), "--port".into(), port]);
    Some(v)
}

/// Health endpoint polled for readiness.
pub fn health_path(engine: EngineKind) -> &'static str {
    match engine {
        // llama-server answers /v1/models while loading; only /health == 200 means ready.
        EngineKind::Vllm | EngineKind::Sglang | EngineKind::Llamacpp => "/health",
        // An external endpoint may be any OpenAI-compatible server.
        EngineKind::External => "/v1/models",
    }
}

/// Default executable name when the scenario does not set `binary`.
pub fn default_program(engine: EngineKind) -> &'static str {
    match engine {
        EngineKind::Vllm => "vllm",
        EngineKind::Sglang => "python3",
        EngineKind::Llamacpp => "llama-server",
        EngineKind::External => "",
    }
}

/// Shell-quoted text of an argv, for display and `command.txt` (never executed through a shell).
pub fn display(argv: &[String]) -> String {
    shell_words::join(argv)
}
