//! The engines' own checks of a scenario, and the scenario entry points that include them. The
//! scenario layer checks what every server config shares (names, host, timeouts, flag syntax); what
//! only an engine knows (does it need a model, which built-in models it serves, a model file that
//! must exist, how it takes its API key, what an endpoint it does not launch needs) is asked of that
//! engine's module through `EngineSpec::check`.

use super::spec::{spec, BuiltinModel};
use crate::kp;
use crate::scenario::diag::{Issue, ScenarioErrors};
use crate::scenario::load::{LoadError, Loaded};
use crate::scenario::schema::{EngineKind, Scenario};
use crate::scenario::validate::{is_plain_text, shown};
use std::path::Path;

/// `scenario::validate::EngineCheck` for every engine: server `i`'s engine checks it.
/// A scenario about to run also has its flags checked against the engine's flag table
/// (`flag_check`); a stored one (`base` None: another machine's run, perhaps of a newer engine) is
/// data to read, and is not refused for flags this runner's tables do not know.
pub fn check(s: &Scenario, i: usize, base: Option<&Path>, out: &mut Vec<Issue>) {
    spec(s.servers[i].engine).check(s, i, base, out);
    if base.is_some() {
        super::flag_check::check(s, i, out);
    }
}

/// Reads, parses and validates a scenario file, the engines' checks included.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    crate::scenario::load::load(path, check)
}

/// Parses and validates scenario text, the engines' checks included.
pub fn parse(file: &str, text: &str, base: &Path) -> Result<Scenario, ScenarioErrors> {
    crate::scenario::load::parse(file, text, base, check)
}

/// Parses a scenario stored in a results folder (another machine's files are not checked).
pub fn parse_stored(file: &str, text: &str) -> Result<Scenario, ScenarioErrors> {
    crate::scenario::load::parse_stored(file, text, check)
}

/// Every engine's built-in models, with the engine that serves each.
pub fn builtin_models() -> impl Iterator<Item = (EngineKind, &'static BuiltinModel)> {
    EngineKind::ALL.iter().flat_map(|k| spec(*k).builtin_models().iter().map(move |m| (*k, m)))
}

/// The built-in model a scenario names (`builtin:...`), with its engine.
pub fn builtin(model: &str) -> Option<(EngineKind, &'static BuiltinModel)> {
    builtin_models().find(|(_, m)| m.name == model)
}

/// The checks every launched engine shares: no `url`, a model when the engine needs one, a known
/// built-in model of this engine, model text that is safe to print.
pub fn launched(s: &Scenario, i: usize, out: &mut Vec<Issue>) {
    let srv = &s.servers[i];
    let engine = srv.engine;
    if srv.url.is_some() {
        out.push(
            Issue::new(
                kp!["servers", i, "url"],
                format!("`url` is only for `external` servers; `{}` is launched by the runner", engine.as_str()),
            )
            .help("remove `url`; set `host`/`port` instead"),
        );
    }
    let Some(m) = &srv.model else {
        if spec(engine).needs_model() {
            out.push(
                Issue::new(kp!["servers", i, "engine"], format!("a `{}` server needs `model`", engine.as_str()))
                    .help("add model = \"Qwen/Qwen2.5-1.5B-Instruct\" (or a GGUF path for llamacpp)"),
            );
        }
        return;
    };
    if m.starts_with("builtin:") {
        match builtin(m) {
            None => {
                let known: Vec<String> = builtin_models().map(|(k, b)| format!("`{}` ({}, {})", b.name, b.format, k.as_str())).collect();
                out.push(
                    Issue::new(kp!["servers", i, "model"], format!("unknown built-in model `{m}`"))
                        .help(format!("the built-in models are {}", known.join(" and "))),
                );
            }
            Some((owner, b)) if owner != engine => {
                let mine: Vec<String> =
                    spec(engine).builtin_models().iter().map(|o| format!("`{}` (made by {})", o.name, o.setup)).collect();
                let fix = if mine.is_empty() {
                    format!("for {} use {}", engine.as_str(), spec(engine).model_hint())
                } else {
                    format!("for {} use {} or {}", engine.as_str(), mine.join(" or "), spec(engine).model_hint())
                };
                out.push(
                    Issue::new(kp!["servers", i, "model"], format!("`{m}` is {} for the {} engine", b.what, owner.as_str())).help(fix),
                );
            }
            Some(_) => {}
        }
    } else if m.trim().is_empty() {
        out.push(Issue::new(kp!["servers", i, "model"], "model is empty"));
    } else if !is_plain_text(m) {
        out.push(
            Issue::new(kp!["servers", i, "model"], format!("model {} holds a line break, a control character or one of < > ` |", shown(m)))
                .help("a Hugging Face id (org/name) or a file path; it is printed in commands and reports"),
        );
    }
}
