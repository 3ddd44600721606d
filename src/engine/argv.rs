//! Pure command-line building for each engine. Scenario values become argv elements only (no shell).

use super::spec::spec;
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

/// Flags as argv. `true` is a bare flag; `false` is what the engine's module says (vLLM:
/// `--no-<flag>`, argparse BooleanOptionalAction; others omit it: their boolean options are off unless
/// given).
pub fn render_flags(engine: EngineKind, flags: &indexmap::IndexMap<String, FlagValue>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in flags {
        match v {
            FlagValue::Bool(true) => out.push(flag_name(k)),
            FlagValue::Bool(false) => out.extend(spec(engine).false_flag(k)),
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

/// The full argv of a launched engine (`None` for `external`): the engine's own command, then its
/// host and port arguments (`EngineSpec::bind_args`).
pub fn argv(server: &Server, target: &LaunchTarget) -> Option<Vec<String>> {
    let flags = render_flags(server.engine, &server.flags);
    let e = spec(server.engine);
    let mut v = e.argv(server, target, flags)?;
    v.extend(e.bind_args(&server.host, &port_text(target.port)));
    Some(v)
}

/// The target of a recipe handed to a client: the engine as they would install it (its plain
/// program name), the model as the scenario names it (the built-in tiny model by its file name), and
/// the scenario's port or the engine's default. Never this machine's paths or a run's random port.
pub fn portable_target(server: &Server) -> LaunchTarget {
    let model = match server.model.as_deref() {
        Some(m) => super::checks::builtin(m).map_or_else(|| m.to_string(), |(_, b)| b.portable.to_string()),
        None => String::new(),
    };
    let e = spec(server.engine);
    let port = if server.port != 0 { Some(server.port) } else { e.default_port() };
    LaunchTarget { program: e.default_program().to_string(), model, port }
}

/// Shell-quoted text of an argv, for display and `command.txt` (never executed through a shell).
pub fn display(argv: &[String]) -> String {
    shell_words::join(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::checks::parse;
    use std::path::Path;

    fn server(engine: &str, extra: &str) -> Server {
        let text = format!(
            r#"
[scenario]
name = "t"
[[servers]]
name = "s"
engine = "{engine}"
model = "Qwen/Qwen2.5-1.5B-Instruct"
port = 8000
{extra}
[servers.flags]
dtype = "bfloat16"
gpu_memory_utilization = 0.9
max_model_len = 4096
enable_prefix_caching = false
enable_chunked_prefill = true
[[workloads]]
name = "chat"
"#
        );
        parse("t.toml", &text, Path::new(".")).expect("valid").servers.remove(0)
    }

    fn target(program: &str) -> LaunchTarget {
        LaunchTarget { program: program.into(), model: "Qwen/Qwen2.5-1.5B-Instruct".into(), port: Some(8000) }
    }

    #[test]
    fn argv_per_engine() {
        let vllm = argv(&server("vllm", ""), &target("vllm")).unwrap();
        // vLLM's flag names, passed to the other engines unchecked, to compare how each writes them.
        let unchecked =
            "unchecked_flags = [\"gpu_memory_utilization\", \"max_model_len\", \"enable_prefix_caching\", \"enable_chunked_prefill\"]";
        let sglang = argv(&server("sglang", &format!("served_model_name = \"qwen\"\n{unchecked}")), &target("python3")).unwrap();
        let mut llama = server("sglang", unchecked);
        llama.engine = EngineKind::Llamacpp;
        let llama = argv(&llama, &LaunchTarget { program: "llama-server".into(), model: "/m/tiny.gguf".into(), port: None }).unwrap();
        insta::assert_snapshot!(format!("vllm:     {}\nsglang:   {}\nllamacpp: {}", display(&vllm), display(&sglang), display(&llama)));
    }

    #[test]
    fn external_has_no_argv() {
        let mut s = server("vllm", "");
        s.engine = EngineKind::External;
        assert!(argv(&s, &target("x")).is_none());
    }

    #[test]
    fn values_stay_single_argv_elements() {
        let mut s = server("vllm", "");
        s.flags.clear();
        s.flags.insert("chat_template".into(), FlagValue::Str("{{ x }}; rm -rf /".into()));
        let a = argv(&s, &target("vllm")).unwrap();
        assert!(a.contains(&"{{ x }}; rm -rf /".to_string()));
    }
}
