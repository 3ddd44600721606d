//! The in-process fake engine: a `runner::execute::Launcher` whose "engines" are mock servers on
//! threads of the test process, so the executor (order, resume, Ctrl-C, death, never-ready,
//! infeasible, search) is tested in milliseconds with no engine installed. Every step is written to
//! one shared log, together with the reporter's events, so a test can assert the order.

use super::{start_mock, Mock};
use runner::engine::failure::FailureReason;
use runner::engine::process::StopOutcome;
use runner::engine::StartFailure;
use runner::execute::{Launcher, Served};
use runner::progress::{Event, Reporter};
use runner::scenario::schema::Server;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// How the fake engine of one server config behaves.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Ready at once; serves as the mock says (latency law, death, Ctrl-C after n requests).
    Serve(Box<Mock>),
    /// Never answers ready: the launch ends at its `ready_timeout_s`.
    NeverReady,
    /// Refuses to start with this reason (the engine's own log signature).
    Refuses(FailureReason),
}

pub type Log = Arc<Mutex<Vec<String>>>;

/// The fake launcher: a behaviour per server name (`Serve(Mock::default())` where none is given).
#[derive(Default)]
pub struct FakeEngines {
    pub behaviour: HashMap<String, Behaviour>,
    pub log: Log,
    /// The mock of every launch started so far, by server name (the latest launch).
    pub mocks: Mutex<HashMap<String, Mock>>,
}

impl FakeEngines {
    pub fn with(mut self, server: &str, b: Behaviour) -> Self {
        self.behaviour.insert(server.into(), b);
        self
    }
    pub fn entries(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn push(&self, e: String) {
        self.log.lock().unwrap().push(e);
    }
}

fn failure(reason: FailureReason, message: &str) -> StartFailure {
    StartFailure { reason, message: message.into(), decisive_lines: vec![], estimated_max_model_len: None, hint: None, log_tail: vec![] }
}

impl Launcher for FakeEngines {
    fn start<'a>(
        &'a self,
        srv: &'a Server,
        _base: &'a Path,
        log_path: &'a Path,
        cancel: &'a CancellationToken,
    ) -> futures_util::future::BoxFuture<'a, Result<Box<dyn Served>, StartFailure>> {
        Box::pin(async move {
            self.push(format!("start {}", srv.name));
            let _ = std::fs::write(log_path, format!("fake engine for {}\n", srv.name));
            match self.behaviour.get(&srv.name).cloned().unwrap_or_else(|| Behaviour::Serve(Box::default())) {
                Behaviour::Refuses(reason) => {
                    self.push(format!("refused {}", srv.name));
                    Err(failure(reason, "the fake engine refused to start"))
                }
                Behaviour::NeverReady => {
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs_f64(srv.ready_timeout_s)) => {
                            self.push(format!("timeout {}", srv.name));
                            Err(failure(FailureReason::ReadyTimeout, "did not answer 200 within ready_timeout_s"))
                        }
                        _ = cancel.cancelled() => Err(failure(FailureReason::Interrupted, "interrupted while waiting")),
                    }
                }
                Behaviour::Serve(mock) => {
                    // A fresh server per launch (counters and death of its own), like a new process.
                    let mock =
                        Mock { served: Arc::default(), arrived: Arc::default(), dead: Arc::default(), in_flight: Arc::default(), ..*mock };
                    let base_url = start_mock(mock.clone()).await;
                    self.mocks.lock().unwrap().insert(srv.name.clone(), mock.clone());
                    self.push(format!("ready {}", srv.name));
                    Ok(Box::new(FakeServed {
                        name: srv.name.clone(),
                        base_url,
                        mock,
                        log: self.log.clone(),
                        client: reqwest::Client::new(),
                    }) as Box<dyn Served>)
                }
            }
        })
    }
}

struct FakeServed {
    name: String,
    base_url: String,
    mock: Mock,
    log: Log,
    client: reqwest::Client,
}

impl Served for FakeServed {
    fn base_url(&self) -> &str {
        &self.base_url
    }
    fn client(&self) -> reqwest::Client {
        self.client.clone()
    }
    fn pgid(&self) -> Option<i32> {
        None
    }
    fn alive(&self) -> bool {
        !self.mock.dead.load(SeqCst)
    }
    fn argv(&self) -> Option<&[String]> {
        None
    }
    fn ready_s(&self) -> f64 {
        0.01
    }
    fn stop(&mut self) -> Option<StopOutcome> {
        let was_dead = self.mock.dead.swap(true, SeqCst);
        self.log.lock().unwrap().push(format!("stop {}", self.name));
        Some(if was_dead { StopOutcome::AlreadyExited } else { StopOutcome::Terminated })
    }
    fn launched(&self) -> bool {
        false
    }
}

/// A reporter that writes the executor's events into the fake's log.
pub struct Recorder(pub Log);

impl Reporter for Recorder {
    fn event(&mut self, e: Event<'_>) {
        let line = match e {
            Event::LaunchStarting { launch, .. } => format!("launch {}", launch.server.name),
            Event::LaunchReady { launch, .. } => format!("launched {}", launch.server.name),
            Event::LaunchFailed { launch, failure } => format!("failed {} {}", launch.server.name, failure.reason),
            Event::LaunchStopped { launch } => format!("stopped {}", launch.server.name),
            Event::CellStarted { cell, .. } => format!("cell {}", cell.id),
            Event::RequestsDone(_) => return,
            Event::CellFinished { result } => format!("done {} {}", result.cell.id, result.status.as_str()),
        };
        self.0.lock().unwrap().push(line);
    }
}
