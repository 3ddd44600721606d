//! The executor's seam: what it needs from an engine, and who starts one. The executor never calls
//! `engine::start` itself; it asks a [`Launcher`]. [`Processes`] is the real one (engine processes in
//! their own process group, external endpoints checked for readiness); the test support has a fake
//! that serves from inside the test process, so that execution order, resume, Ctrl-C, an engine that
//! dies mid-cell or never becomes ready are tested in milliseconds without any engine installed.

use crate::engine::process::StopOutcome;
use crate::engine::{RunningEngine, StartFailure};
use crate::scenario::schema::Server;
use futures_util::future::BoxFuture;
use std::path::Path;
use tokio_util::sync::CancellationToken;

/// A started, ready engine as the executor sees it.
pub trait Served: Send + Sync {
    /// Where it serves (`http://host:port`, no trailing slash).
    fn base_url(&self) -> &str;
    /// The control-plane client (readiness, metrics, tokenizer), with the server's API key if any.
    fn client(&self) -> reqwest::Client;
    /// Its process group, for memory sampling (None: not a process of this runner).
    fn pgid(&self) -> Option<i32>;
    /// False once the engine has exited (an endpoint the runner did not start is always alive).
    fn alive(&self) -> bool;
    /// The argv it was started with (None: not started by the runner).
    fn argv(&self) -> Option<&[String]>;
    /// Seconds from spawn (or first probe) until it answered ready.
    fn ready_s(&self) -> f64;
    /// Stops it and waits for its port to be free; None when there was nothing to stop.
    fn stop(&mut self) -> Option<StopOutcome>;
    /// Whether it ran as a process of this runner (the next launch then waits for GPU memory back).
    fn launched(&self) -> bool;
}

/// Starts the engine of a server config; its log goes to `log_path`.
pub trait Launcher: Sync {
    fn start<'a>(
        &'a self,
        srv: &'a Server,
        base: &'a Path,
        log_path: &'a Path,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Box<dyn Served>, StartFailure>>;
}

/// The real launcher: `engine::start`.
pub struct Processes;

impl Launcher for Processes {
    fn start<'a>(
        &'a self,
        srv: &'a Server,
        base: &'a Path,
        log_path: &'a Path,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<Box<dyn Served>, StartFailure>> {
        Box::pin(async move { crate::engine::start(srv, base, log_path, cancel).await.map(|e| Box::new(e) as Box<dyn Served>) })
    }
}

impl Served for RunningEngine {
    fn base_url(&self) -> &str {
        &self.base_url
    }
    fn client(&self) -> reqwest::Client {
        RunningEngine::client(self)
    }
    fn pgid(&self) -> Option<i32> {
        RunningEngine::pgid(self)
    }
    fn alive(&self) -> bool {
        RunningEngine::alive(self)
    }
    fn argv(&self) -> Option<&[String]> {
        self.launched.as_ref().map(|l| l.argv.as_slice())
    }
    fn ready_s(&self) -> f64 {
        self.ready_s
    }
    fn stop(&mut self) -> Option<StopOutcome> {
        RunningEngine::stop(self)
    }
    fn launched(&self) -> bool {
        self.launched.is_some()
    }
}
