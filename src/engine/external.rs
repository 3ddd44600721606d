//! An endpoint the runner does not launch (any OpenAI-compatible server, most often vLLM): no argv,
//! readiness on `/v1/models`, and vLLM's log patterns for a log the user hands to `runner facts`.

use super::argv::LaunchTarget;
use super::facts::StartupFacts;
use super::spec::EngineSpec;
use crate::scenario::schema::Server;

pub struct External;

impl EngineSpec for External {
    fn default_program(&self) -> &'static str {
        ""
    }
    fn default_port(&self) -> Option<u16> {
        None
    }
    /// Any OpenAI-compatible server answers this; not every one has `/health`.
    fn health_path(&self) -> &'static str {
        "/v1/models"
    }
    fn version_paths(&self) -> &'static [&'static str] {
        &["/version", "/props"]
    }
    fn argv(&self, _server: &Server, _target: &LaunchTarget, _flags: Vec<String>) -> Option<Vec<String>> {
        None
    }
    fn api_key_var(&self) -> &'static str {
        "OPENAI_API_KEY"
    }
    fn facts_line(&self, l: &str, f: &mut StartupFacts) {
        super::vllm::facts_line(l, f)
    }
}
