//! Engine lifecycle: resolve, spawn, wait for readiness, stop. `argv` is pure; `process` owns spawning.

pub mod argv;
pub mod checks;
pub mod external;
pub mod facts;
pub mod failure;
pub mod fake;
pub mod flag_check;
pub mod flags;
pub mod llamacpp;
pub mod process;
pub mod resolve;
pub mod sglang;
pub mod spec;
pub mod vllm;

pub use spec::spec;

pub use crate::results::launch::StartFailure;
use crate::scenario::schema::{EngineKind, Server};
use failure::FailureReason;
use process::{EngineProcess, StopOutcome};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A started, ready engine (or an external endpoint).
pub struct RunningEngine {
    /// What the runner started: None for an `external` server, which it only checked.
    pub launched: Option<Launched>,
    pub base_url: String,
    pub ready_s: f64,
    /// The control-plane HTTP client of this launch (readiness, metrics, tokenizer; sending its API
    /// key, if any), so that every cell reuses its keep-alive connections. The load has its own
    /// client (`load::http::LoadClient`), made by the executor.
    client: reqwest::Client,
}

/// A server the runner started: its process, the address it binds (waited on to be free again
/// after the stop) and its command line.
pub struct Launched {
    pub process: EngineProcess,
    pub host: String,
    pub port: u16,
    pub argv: Vec<String>,
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)?;
        for l in &self.log_tail {
            write!(f, "\n    | {l}")?;
        }
        Ok(())
    }
}

fn failure(reason: FailureReason, message: impl Into<String>, log: Option<&Path>) -> StartFailure {
    StartFailure {
        reason,
        message: message.into(),
        decisive_lines: vec![],
        estimated_max_model_len: None,
        hint: None,
        log_tail: log.map(|p| process::tail_lines(p, 15)).unwrap_or_default(),
    }
}

/// Refines a `crashed`/`ready_timeout` failure with the signature found in the engine's log.
fn classify_from_log(mut f: StartFailure, engine: EngineKind, log_path: &Path) -> StartFailure {
    let log = process::read_log(log_path);
    let c = failure::classify(engine, &log);
    if c.reason != FailureReason::Crashed {
        f.message = format!("{} ({})", f.message, c.reason);
        f.reason = c.reason;
    }
    f.decisive_lines = c.decisive_lines;
    f.estimated_max_model_len = c.estimated_max_model_len;
    f.hint = Some(c.hint);
    f.log_tail = process::tail_lines(log_path, 15);
    f
}

/// The longest a control-plane connection (TCP and TLS) may take.
pub const CONTROL_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest any control-plane request (health, /metrics, /version, tokenize) may take.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest control-plane response read (a /metrics page is tens of KB).
pub const MAX_CONTROL_BODY: usize = 16 << 20;

/// A control-plane response's body as text, read up to [`MAX_CONTROL_BODY`] bytes; None when it
/// failed, was not a success or was larger.
pub async fn bounded_text(resp: reqwest::Response) -> Option<String> {
    if !resp.status().is_success() || resp.content_length().is_some_and(|n| n > MAX_CONTROL_BODY as u64) {
        return None;
    }
    let mut resp = resp;
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.ok()? {
        if bytes.len() + chunk.len() > MAX_CONTROL_BODY {
            return None;
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).ok()
}

/// A control-plane response's body as JSON (bounded as [`bounded_text`]).
pub async fn bounded_json(resp: reqwest::Response) -> Option<serde_json::Value> {
    serde_json::from_str(&bounded_text(resp).await?).ok()
}

/// A client that sends `Authorization: Bearer <key>` with every request when a key is given.
pub fn client_with_key(key: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(v) = key.and_then(bearer) {
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    reqwest::Client::builder()
        // Direct, like the load client (src/load/http.rs): a proxy would add its own latency, and a
        // readiness probe through a proxy the load does not use would prove nothing.
        .no_proxy()
        // Every control-plane request ends: an endpoint that accepts TCP and never answers (TLS or
        // HTTP) cannot hang a run. Calls with a tighter bound of their own set it per request.
        .connect_timeout(CONTROL_CONNECT_TIMEOUT)
        .timeout(CONTROL_TIMEOUT)
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .default_headers(headers)
        .build()
        .expect("reqwest client with default TLS settings")
}

/// `Bearer <key>` as a sensitive header value (kept out of debug output); None for a key that
/// cannot be a header value. The load client and the control-plane client both send it.
pub fn bearer(key: &str) -> Option<reqwest::header::HeaderValue> {
    let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The API key named by the server's `api_key_env`, read from the runner's environment.
pub fn api_key(server: &crate::scenario::schema::Server) -> Result<Option<String>, String> {
    match &server.api_key_env {
        None => Ok(None),
        Some(name) => std::env::var(name)
            .map(Some)
            .map_err(|_| format!("server `{}`: api_key_env names {name}, which is not set in the environment", server.name)),
    }
}

/// Launches (or, for `external`, checks) server `srv`; its log goes to `log_path`.
pub async fn start(srv: &Server, base: &Path, log_path: &Path, cancel: &CancellationToken) -> Result<RunningEngine, StartFailure> {
    let key = api_key(srv).map_err(|m| failure(FailureReason::ApiKeyMissing, m, None))?;
    let client = client_with_key(key.as_deref());
    let deadline = Duration::from_secs_f64(srv.ready_timeout_s);
    if !spec(srv.engine).launched() {
        let base_url = srv.url.clone().unwrap_or_default().trim_end_matches('/').to_string();
        let t0 = Instant::now();
        let url = format!("{base_url}{}", spec(srv.engine).health_path());
        return match wait_ready(&client, &url, deadline, None, cancel).await {
            Ok(()) => Ok(RunningEngine { launched: None, base_url, ready_s: t0.elapsed().as_secs_f64(), client }),
            Err(f) => Err(f),
        };
    }
    // A port the kernel picked (`port = 0`) is free when picked, but another process (a second
    // array task on the node) may bind it before the engine does: then the engine fails to bind, or
    // the readiness probe is answered by the other engine. Either way this launch is made again on
    // a new port, up to 3 times; a port the scenario fixed is tried once.
    let attempts = if srv.port == 0 { 3 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        match launch_once(srv, base, log_path, cancel, key.as_deref(), &client, deadline).await {
            Err(f) if f.reason == FailureReason::PortInUse && srv.port == 0 => last = Some(f),
            r => return r,
        }
    }
    Err(last.expect("at least one attempt"))
}

/// One launch of a server on a port: spawn, wait until ready, check that the engine that answers
/// is this one.
async fn launch_once(
    srv: &Server,
    base: &Path,
    log_path: &Path,
    cancel: &CancellationToken,
    key: Option<&str>,
    client: &reqwest::Client,
    deadline: Duration,
) -> Result<RunningEngine, StartFailure> {
    let port = if srv.port == 0 {
        process::free_port(&srv.host).map_err(|e| failure(FailureReason::PortInUse, format!("{e:#}"), None))?
    } else {
        srv.port
    };
    if std::net::TcpListener::bind((srv.host.as_str(), port)).is_err() {
        return Err(failure(FailureReason::PortInUse, format!("{}:{port} is already in use by another process", srv.host), None));
    }
    let target = resolve::target_for_launch(srv, base, port).map_err(|e| failure(FailureReason::EngineMissing, format!("{e:#}"), None))?;
    let argv = argv::argv(srv, &target).expect("launched engines have an argv");
    let grace = Duration::from_secs_f64(srv.stop_grace_s);
    let mut env = srv.env.clone();
    let mut scratch = None;
    for (var, dir) in spec(srv.engine).launch_env(srv, log_path.parent().unwrap_or(Path::new("."))) {
        let dir = match dir {
            Some(d) => d,
            None => {
                // /tmp when it exists: a system temporary directory of its own may be long too.
                let base = Some(Path::new("/tmp")).filter(|p| p.is_dir()).map_or_else(std::env::temp_dir, Path::to_path_buf);
                let t = tempfile::Builder::new()
                    .prefix("runner-")
                    .tempdir_in(base)
                    .map_err(|e| failure(FailureReason::SpawnFailed, format!("cannot create a scratch folder for {var}: {e}"), None))?;
                let d = t.path().display().to_string();
                scratch = Some(t);
                d
            }
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return Err(failure(FailureReason::SpawnFailed, format!("cannot create {dir} for {var}: {e}"), None));
        }
        env.insert(var, dir);
    }
    if let Some(k) = key {
        // Through the environment, never the argv (visible in `ps` and stored as command.txt).
        env.insert(spec(srv.engine).api_key_var().to_string(), k.to_string());
    }
    let proc = EngineProcess::spawn(&argv, &env, log_path, grace, scratch)
        .map_err(|e| failure(FailureReason::SpawnFailed, format!("{e:#}"), None))?;
    let base_url = format!("http://{}:{port}", connect_host(&srv.host));
    let url = format!("{base_url}{}", spec(srv.engine).health_path());
    match wait_ready(client, &url, deadline, Some(&proc), cancel).await {
        Ok(()) if process::listens_in_group(proc.pgid, port) == Some(false) => {
            let mut proc = proc;
            proc.stop();
            Err(failure(
                FailureReason::PortInUse,
                format!("{}:{port} answered, but from another process: the engine lost the port to it", srv.host),
                None,
            ))
        }
        Ok(()) => Ok(RunningEngine {
            ready_s: proc.started.elapsed().as_secs_f64(),
            launched: Some(Launched { process: proc, host: srv.host.clone(), port, argv }),
            base_url,
            client: client.clone(),
        }),
        Err(f) => {
            let mut proc = proc;
            proc.stop();
            if f.reason == FailureReason::Interrupted {
                return Err(f);
            }
            Err(classify_from_log(f, srv.engine, log_path))
        }
    }
}

/// The address to connect to for a bind address (`0.0.0.0` listens everywhere, connect on loopback).
fn connect_host(host: &str) -> &str {
    match host {
        "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        h => h,
    }
}

async fn wait_ready(
    client: &reqwest::Client,
    url: &str,
    deadline: Duration,
    proc: Option<&EngineProcess>,
    cancel: &CancellationToken,
) -> Result<(), StartFailure> {
    let t0 = Instant::now();
    loop {
        if cancel.is_cancelled() {
            return Err(failure(FailureReason::Interrupted, "interrupted while waiting for the engine to become ready", None));
        }
        if let Some(p) = proc {
            if let Some(status) = p.exit_status() {
                return Err(failure(FailureReason::Crashed, format!("the engine exited before it was ready ({status})"), None));
            }
        }
        let probe = client.get(url).timeout(Duration::from_secs(2)).send().await;
        if let Ok(resp) = probe {
            if resp.status().is_success() {
                return Ok(());
            }
        }
        if t0.elapsed() >= deadline {
            return Err(failure(
                FailureReason::ReadyTimeout,
                format!("{url} did not answer 200 within {:.0} s (ready_timeout_s)", deadline.as_secs_f64()),
                None,
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

impl RunningEngine {
    /// Stops the engine and waits for its port to be free again.
    pub fn stop(&mut self) -> Option<StopOutcome> {
        let l = self.launched.as_mut()?;
        let outcome = l.process.stop();
        process::wait_port_free(&l.host, l.port, Duration::from_secs(30));
        Some(outcome)
    }

    /// The HTTP client for this engine (with its API key, if any); clones share one connection pool.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    pub fn pgid(&self) -> Option<i32> {
        self.launched.as_ref().map(|l| l.process.pgid)
    }

    /// True while the launched engine is running (always true for external endpoints).
    pub fn alive(&self) -> bool {
        self.launched.as_ref().is_none_or(|l| l.process.exit_status().is_none())
    }
}
