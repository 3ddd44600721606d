//! An endpoint the runner does not launch (any OpenAI-compatible server, most often vLLM): no argv,
//! readiness on `/v1/models`. It writes no log the runner reads (for `runner facts`, name the engine
//! that wrote the log).

use super::argv::LaunchTarget;
use super::spec::EngineSpec;
use crate::kp;
use crate::scenario::diag::Issue;
use crate::scenario::schema::{Scenario, Server};
use crate::scenario::validate::url_problem;
use std::path::Path;

pub struct External;

impl EngineSpec for External {
    fn default_program(&self) -> &'static str {
        ""
    }
    fn default_port(&self) -> Option<u16> {
        None
    }
    fn launched(&self) -> bool {
        false
    }
    fn needs_model(&self) -> bool {
        false
    }
    /// It is reached by `url` and takes no flags: nothing launches it.
    fn check(&self, s: &Scenario, i: usize, _base: Option<&Path>, out: &mut Vec<Issue>) {
        let srv = &s.servers[i];
        match &srv.url {
            None => out.push(
                Issue::new(kp!["servers", i, "engine"], "an `external` server needs `url`").help("add url = \"http://127.0.0.1:8000\""),
            ),
            Some(u) => {
                if let Some(problem) = url_problem(u) {
                    out.push(Issue::new(kp!["servers", i, "url"], problem).help("write it as http://HOST:PORT"));
                }
            }
        }
        if !srv.flags.is_empty() {
            out.push(
                Issue::new(kp!["servers", i, "flags"], "an `external` server is not launched, so it takes no flags")
                    .help("remove [servers.flags] or use a launched engine"),
            );
        }
        if !s.grid.server.is_empty() {
            out.push(
                Issue::new(kp!["grid", "server"], format!("server `{}` is external, so server-flag axes cannot apply to it", srv.name))
                    .help("remove [grid.server] or use a launched engine"),
            );
        }
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
}
