//! The fake engine: a stand-in for a real one, for the test tiers that need no engine installed.
//! Nothing is installed and nothing is built in: it runs the program `binary` names (a shell script
//! that never becomes ready, say), or the in-process fake of `tests/common/fake_engine.rs` serves it.
//! It is registered like any engine, so it is also the worked example of CONTRIBUTING.md's "adding
//! an engine": a module and one registry line, and its `/metrics`, startup log and failure signature
//! reach every report through this spec alone. Pure.

use super::argv::LaunchTarget;
use super::facts::{int, StartupFacts};
use super::failure::{FailureReason, Rule};
use super::spec::{EngineSpec, MetricNames};
use crate::scenario::schema::Server;
use regex::Regex;
use std::sync::LazyLock;

pub struct Fake;

impl EngineSpec for Fake {
    fn default_program(&self) -> &'static str {
        "fake-engine"
    }
    fn default_port(&self) -> Option<u16> {
        None
    }
    fn missing_program(&self) -> String {
        "the fake engine runs the program `binary` names (a test double that serves the OpenAI API): set `binary`".to_string()
    }
    fn needs_model(&self) -> bool {
        false
    }
    fn model_hint(&self) -> &'static str {
        "any name"
    }
    /// `<binary> [--model M] <flags> --host H --port P`.
    fn argv(&self, server: &Server, target: &LaunchTarget, flags: Vec<String>) -> Option<Vec<String>> {
        let mut v = vec![target.program.clone()];
        if server.model.is_some() {
            v.extend(["--model".into(), target.model.clone()]);
        }
        v.extend(flags);
        Some(v)
    }
    fn api_key_var(&self) -> &'static str {
        "FAKE_ENGINE_API_KEY"
    }
    /// `fake engine: KV cache 4096 tokens, 4 slots`.
    fn facts_line(&self, l: &str, f: &mut StartupFacts) {
        if let Some(c) = FACTS.captures(l) {
            f.kv_cache_tokens = int(&c[1]);
            f.slots = int(&c[2]);
        }
    }
    fn concurrency_limit(&self, _srv: &Server, facts: &StartupFacts) -> Option<(u32, String)> {
        let n = u32::try_from(facts.slots?).ok()?;
        Some((n, format!("the fake engine runs {n} slot(s) (from its log)")))
    }
    fn failure_rules(&self) -> &'static [Rule] {
        &[Rule {
            reason: FailureReason::NoKvMemory,
            needles: &["fake engine: no memory left for the KV cache"],
            hint: "give the fake engine a smaller kv_tokens",
        }]
    }
    fn metrics(&self) -> MetricNames {
        MetricNames {
            prefix: "fake:",
            kv_usage: &["fake:kv_cache_usage"],
            running: &["fake:running"],
            waiting: &["fake:waiting"],
            preemptions: &["fake:preemptions_total"],
            ..MetricNames::default()
        }
    }
}

static FACTS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"fake engine: KV cache ([\d,]+) tokens, (\d+) slots").expect("valid regex"));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::failure::classify;
    use crate::scenario::schema::EngineKind;

    #[test]
    fn its_log_and_signature_are_read_through_the_registry() {
        let f = crate::engine::facts::parse(EngineKind::Fake, "boot\nfake engine: KV cache 4,096 tokens, 4 slots\n");
        assert_eq!((f.kv_cache_tokens, f.slots), (Some(4096), Some(4)));
        let c = classify(EngineKind::Fake, "fake engine: no memory left for the KV cache\n");
        assert_eq!(c.reason, FailureReason::NoKvMemory);
        assert_eq!(c.hint, "give the fake engine a smaller kv_tokens");
        // Another engine's log does not match its rule.
        assert_ne!(classify(EngineKind::Llamacpp, "fake engine: no memory left for the KV cache\n").reason, FailureReason::NoKvMemory);
    }
}
