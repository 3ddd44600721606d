//! Startup facts parsed from an engine's log (vLLM 0.10 -> 0.33, SGLang 0.5, llama.cpp): the shared
//! record and log normalisation; each engine's patterns live in its module (`src/engine/`). Pure.
//!
//! Logs are normalised first: ANSI colour codes removed, `\r` treated as a line break. Patterns match
//! anywhere in a line, so process-name prefixes (`(EngineCore_DP0 pid=..)`, `(EngineCore pid=..)`) and
//! timestamps do not matter. Numbers may carry thousands separators.

pub use crate::results::launch::{KvBudget, StartupFacts};
use crate::scenario::schema::EngineKind;
use regex::Regex;
use std::sync::LazyLock;

static ANSI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").expect("ansi regex"));

/// Log lines with colour codes stripped and `\r` splitting lines.
pub fn clean_lines(log: &str) -> Vec<String> {
    let plain = ANSI.replace_all(log, "");
    plain.split(['\n', '\r']).map(|l| l.trim_end().to_string()).filter(|l| !l.is_empty()).collect()
}

/// A number as logs print it (thousands separators allowed).
pub fn num(s: &str) -> Option<f64> {
    s.replace(',', "").parse().ok()
}

pub fn int(s: &str) -> Option<u64> {
    s.replace(',', "").parse().ok()
}

/// Parses the startup facts of `engine` from its log text, line by line with the engine's own
/// patterns (its module under `src/engine/`). Absent facts stay `None`.
pub fn parse(engine: EngineKind, log: &str) -> StartupFacts {
    let spec = crate::engine::spec(engine);
    let mut f = StartupFacts::default();
    for l in &clean_lines(log) {
        spec.facts_line(l, &mut f);
    }
    spec.facts_finish(&mut f);
    f
}

/// Fills the common quantities of facts stored by an older runner from that engine's own fields
/// (the engine's `facts_finish`, which only fills what is absent): run when a launch is read.
pub fn normalise(engine: EngineKind, mut f: StartupFacts) -> StartupFacts {
    crate::engine::spec(engine).facts_finish(&mut f);
    f
}

/// Bytes of KV cache per token in theory: 2 (K and V) x layers x KV heads x head dim x element bytes.
pub fn theoretical_kv_bytes_per_token(f: &StartupFacts) -> Option<f64> {
    let elem = crate::model::dtype::element_bytes(f.type_k.as_deref().or(f.dtype.as_deref())?)?;
    Some(2.0 * f.n_layer? as f64 * f.n_head_kv? as f64 * f.head_dim? as f64 * elem)
}
