//! Harness benchmark: is the load generator ever the bottleneck? Drives `runner`'s own driver and SSE
//! client against a zero-work SSE server in a separate process on loopback, and prints:
//! - sustained streamed chunks/s at concurrency 64 / 512 / 2048,
//! - client CPU seconds per million chunks (getrusage of this process only; the server is another),
//! - peak RSS (VmHWM) with 2048 streams open,
//! - client CPU per request (one-token streams),
//! - TTFT error against an injected 20 ms first-token delay at concurrency 512 (p50 / p99), with
//!   varied stream lengths and with synchronized ones: the first chunk carries the server's
//!   wall-clock send time, so the error is the client's own lateness in timing it; beside it the
//!   rest of TTFT - 20 ms: the client's send delay (request begun -> on the wire) and the server's
//!   lateness (on the wire -> first token sent, beyond 20 ms); and the same client timing chunks
//!   when it parses them instead of by the kernel's receive time, for comparison,
//! - first, the machine's own scheduling noise (how long a spinning thread loses its core), which
//!   bounds any client-side timing on that machine,
//! - last, the replay schedule: a trace of 1,000 requests/s for 60 s, each held ~5 s by the server
//!   (up to ~5,000 in flight), replayed by the trace driver: send lag (actual - scheduled send)
//!   p50 / p99 / max; and the time to prepare a 20,000-request trace (read, reshape, prompt
//!   synthesis) and the Mooncake trace with its prefix blocks.
//!
//! Run: cargo bench --bench harness   (targets and results: docs/performance.md)
//! Knobs: BENCH_WORKERS=N (another client worker count), BENCH_TTFT_ONLY=1 (skip the throughput
//! phases), BENCH_REPLAY_ONLY=1 (only the replay schedule and trace preparation), BENCH_DUMP=FILE (write client ns, server ns, begun ns, on-the-wire ns per first token
//! as CSV, to FILE.20 for varied stream lengths and FILE.0 for synchronized ones).

#[path = "../tests/common/raw_http.rs"]
mod raw_http;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use runner::load::client::RequestSpec;
use runner::load::driver::{drive, Schedule};
use runner::load::prompts::Prompt;
use runner::load::workload::Job;
use runner::results::summary::Dist;
use runner::scenario::schema::Endpoint;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const CHUNKS: usize = 100;

#[derive(Clone)]
struct Cfg {
    first_delay: Duration,
    /// Pause between chunks (0: as fast as possible, for throughput).
    chunk_delay: Duration,
    chunks: usize,
    /// Paced server: stream k has `chunks + (7 k mod (spread + 1))` tokens (0: all the same length).
    spread: usize,
}

async fn sse(State(cfg): State<Arc<Cfg>>) -> Response {
    let chunk = bytes::Bytes::from_static(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n");
    let n = cfg.chunks;
    let usage = bytes::Bytes::from(format!(
        "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":{n}}}}}\n\ndata: [DONE]\n\n"
    ));
    let (delay, gap) = (cfg.first_delay, cfg.chunk_delay);
    let stream = futures_util::stream::unfold(0usize, move |i| {
        let (chunk, usage) = (chunk.clone(), usage.clone());
        async move {
            if i == 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
                // Stamp the first token with the wall-clock instant it is handed to the connection.
                let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
                let first =
                    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{ns};\"}},\"finish_reason\":null}}]}}\n\n");
                return Some((Ok::<_, std::io::Error>(bytes::Bytes::from(first)), 1));
            }
            if i > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            match i {
                i if i < n => Some((Ok::<_, std::io::Error>(chunk), i + 1)),
                i if i == n => Some((Ok(usage), i + 1)),
                _ => None,
            }
        }
    });
    Response::builder().header("content-type", "text/event-stream").body(Body::from_stream(stream)).unwrap()
}

static STREAMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A raw HTTP/1.1 keep-alive server for the TTFT phase: the send time is stamped right before the
/// `write` of the first token, so the measured error is the client's alone.
async fn raw_conn(mut sock: tokio::net::TcpStream, cfg: Arc<Cfg>) {
    use tokio::io::AsyncWriteExt;
    let _ = sock.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    loop {
        if raw_http::read_request(&mut sock, &mut buf).await.is_none() {
            return;
        }
        let chunk = raw_http::chunk_frame;
        if sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n").await.is_err() {
            return;
        }
        let n = cfg.chunks + STREAMS.fetch_add(7, std::sync::atomic::Ordering::Relaxed) % (cfg.spread + 1);
        tokio::time::sleep(cfg.first_delay).await;
        let ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let first = chunk(&format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{ns};\"}}}}]}}\n\n"));
        if sock.write_all(first.as_bytes()).await.is_err() {
            return;
        }
        for _ in 1..n {
            tokio::time::sleep(cfg.chunk_delay).await;
            if sock.write_all(chunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n").as_bytes()).await.is_err() {
                return;
            }
        }
        let tail =
            chunk(&format!("data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":{}}}}}\n\ndata: [DONE]\n\n", n))
                + "0\r\n\r\n";
        if sock.write_all(tail.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn serve(port_file: &str, delay_ms: u64, gap_ms: u64, chunks: usize, spread: usize) {
    // The paced TTFT server runs on one thread: it needs little CPU, and without cross-thread
    // wake-ups it takes less of it from the client on a small machine (p50 error 0.3 -> 0.02 ms on
    // 2 cores). The throughput server keeps every core so that it is not the bottleneck.
    let rt = if delay_ms > 0 {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
    };
    rt.block_on(async {
        let cfg =
            Arc::new(Cfg { first_delay: Duration::from_millis(delay_ms), chunk_delay: Duration::from_millis(gap_ms), chunks, spread });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        std::fs::write(port_file, l.local_addr().unwrap().port().to_string()).unwrap();
        if delay_ms > 0 {
            loop {
                let Ok((sock, _)) = l.accept().await else { continue };
                tokio::spawn(raw_conn(sock, cfg.clone()));
            }
        }
        let app = Router::new().route("/v1/chat/completions", post(sse)).with_state(cfg);
        axum::serve(l, app).tcp_nodelay(true).await.unwrap();
    });
}

struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    /// `cpu`: pin the server to that core (taskset) instead of lowering its priority.
    fn start(delay_ms: u64, gap_ms: u64, chunks: usize, spread: usize, cpu: Option<usize>) -> Server {
        let port_file = std::env::temp_dir().join(format!("runner-bench-port-{}-{delay_ms}", std::process::id()));
        let _ = std::fs::remove_file(&port_file);
        // The server runs at the lowest CPU priority: on a 2-core machine it must not take the cores
        // from the client, whose speed and accuracy are what is measured (a real engine runs elsewhere).
        let mut cmd = match cpu {
            Some(c) => {
                let mut c2 = std::process::Command::new("taskset");
                c2.args(["-c", &c.to_string()]);
                c2
            }
            None => {
                let mut n = std::process::Command::new("nice");
                n.args(["-n", "19"]);
                n
            }
        };
        let child = cmd
            .arg(std::env::current_exe().unwrap())
            .args([
                "--serve",
                port_file.to_str().unwrap(),
                &delay_ms.to_string(),
                &gap_ms.to_string(),
                &chunks.to_string(),
                &spread.to_string(),
            ])
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while !port_file.exists() {
            assert!(t0.elapsed() < Duration::from_secs(10), "bench server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        let port = std::fs::read_to_string(&port_file).unwrap();
        Server { child, url: format!("http://127.0.0.1:{}", port.trim()) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu_seconds() -> f64 {
    runner::telemetry::sampler::own_cpu_seconds().expect("getrusage of this process")
}

fn vm_hwm_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 =
        s.lines().find(|l| l.starts_with("VmHWM")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    kb / 1024.0
}

fn jobs(n: usize) -> Vec<Job> {
    (0..n)
        .map(|i| {
            Job::single(RequestSpec {
                index: i,
                phase: runner::results::record::Phase::Measured,
                conversation: None,
                turn: 0,
                endpoint: Endpoint::Chat,
                model: Some("bench".into()),
                prompt: Prompt::user("hi"),
                max_tokens: CHUNKS as u32,
                temperature: 0.0,
                stream: true,
                ignore_eos: false,
                timeout: Duration::from_secs(120),
                extra: Default::default(),
            })
        })
        .collect()
}

/// One first token: wall-clock ns of the client's first-token time, the server's send stamp, when
/// the client began the request, and when its last byte went to the kernel.
struct FirstToken {
    client: f64,
    stamp: f64,
    sent: f64,
    written: f64,
}

/// (chunks/s, CPU s per million chunks, errors, first tokens)
async fn phase(
    client: &runner::load::http::LoadClient,
    url: &str,
    concurrency: u32,
    requests: usize,
) -> (f64, f64, usize, Vec<FirstToken>) {
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let t0_wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as f64;
    let p = drive(
        client,
        url,
        jobs(requests),
        Schedule::Closed { concurrency },
        &runner::load::driver::Stop::default(),
        t0,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let errors = p.records.iter().filter(|r| !r.ok()).count();
    let chunks: usize = p.records.iter().map(|r| r.chunk_offsets_ms.len()).sum();
    let wall_ns = |ms: f64| t0_wall + ms * 1e6;
    let ttft: Vec<FirstToken> = p
        .records
        .iter()
        .filter_map(|r| {
            let stamp: f64 = r.text.strip_prefix('t')?.split(';').next()?.parse().ok()?;
            Some(FirstToken { client: wall_ns(r.first_token_ms?), stamp, sent: wall_ns(r.sent_ms), written: wall_ns(r.written_ms?) })
        })
        .collect();
    (chunks as f64 / wall, cpu / (chunks as f64 / 1e6), errors, ttft)
}

/// The machine's own scheduling noise, which bounds any client-side timing on it: one thread per
/// core spins for `secs` and counts how often it lost the CPU (for a virtual machine, also the
/// host's doing); then a thread is woken 5,000 times from another one (wake-up latency).
fn noise_floor(secs: f64) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let spins: Vec<_> = (0..cores)
        .map(|_| {
            std::thread::spawn(move || {
                let (t0, mut prev) = (Instant::now(), Instant::now());
                let (mut over_half, mut over_2, mut max) = (0u32, 0u32, Duration::ZERO);
                while t0.elapsed().as_secs_f64() < secs {
                    let now = Instant::now();
                    let gap = now - prev;
                    prev = now;
                    over_half += u32::from(gap > Duration::from_micros(500));
                    over_2 += u32::from(gap > Duration::from_millis(2));
                    max = max.max(gap);
                }
                (over_half, over_2, max)
            })
        })
        .collect();
    let lost: Vec<(u32, u32, Duration)> = spins.into_iter().map(|h| h.join().unwrap()).collect();
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let waker = std::thread::spawn(move || rx.iter().map(|sent| sent.elapsed().as_secs_f64() * 1e3).collect::<Vec<f64>>());
    for _ in 0..5_000 {
        std::thread::sleep(Duration::from_micros(200));
        tx.send(Instant::now()).unwrap();
    }
    drop(tx);
    let wake = Dist::of(waker.join().unwrap()).unwrap();
    println!(
        "machine noise: a spinning thread per core lost the CPU for > 0.5 ms {} times, > 2 ms {} times in {secs} s (longest {:.2} ms); thread wake-up latency p50 {:.3} ms, p99 {:.3} ms, max {:.2} ms",
        lost.iter().map(|l| l.0).sum::<u32>(),
        lost.iter().map(|l| l.1).sum::<u32>(),
        lost.iter().map(|l| l.2).max().unwrap_or_default().as_secs_f64() * 1e3,
        wake.p50,
        wake.p99,
        wake.max
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 7 && args[1] == "--serve" {
        serve(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap(), args[5].parse().unwrap(), args[6].parse().unwrap());
        return;
    }
    if args.iter().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` probes bench targets; nothing to list.
    }
    runner::cli::raise_open_files_limit();
    // The same runtime as `runner run` (set BENCH_WORKERS to try another worker count).
    let rt = match std::env::var("BENCH_WORKERS").ok().and_then(|v| v.parse::<usize>().ok()) {
        Some(w) => tokio::runtime::Builder::new_multi_thread().worker_threads(w).enable_all().build().unwrap(),
        None => runner::cli::runtime().unwrap(),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("harness benchmark: {CHUNKS} chunks per stream, server in a separate process, {cores} cores");
    noise_floor(5.0);
    if std::env::var_os("BENCH_REPLAY_ONLY").is_some() {
        replay(&rt);
        return;
    }
    let ttft_only = std::env::var_os("BENCH_TTFT_ONLY").is_some();
    let server = Server::start(0, 0, CHUNKS, 0, None);
    // One client per server, as `runner run` keeps one per launch: its connections stay open
    // from phase to phase.
    let client = rt.block_on(async { runner::load::http::LoadClient::new(None) });
    rt.block_on(async {
        if ttft_only {
            return;
        }
        let _ = phase(&client, &server.url, 64, 256).await; // warm up
        for (c, n) in [(64usize, 2_000usize), (512, 4_000), (2048, 8_192)] {
            let (rate, cpu_per_m, errors, _) = phase(&client, &server.url, c as u32, n).await;
            println!("concurrency {c:>5}: {rate:>10.0} chunks/s | client CPU {cpu_per_m:.2} s per million chunks | errors {errors} | peak RSS so far {:.1} MB", vm_hwm_mb());
        }
    });
    println!("peak RSS (VmHWM) after 2048 open streams: {:.1} MB", vm_hwm_mb());
    drop(server);
    // Per-request cost: one-token streams, so sending, response heads, SSE framing, the record and
    // its collection dominate.
    let short = Server::start(0, 0, 1, 0, None);
    let client = rt.block_on(async { runner::load::http::LoadClient::new(None) });
    rt.block_on(async {
        if ttft_only {
            return;
        }
        let _ = phase(&client, &short.url, 64, 2_000).await;
        for c in [64u32, 512] {
            // One content chunk per request: per chunk is per request.
            let (per_s, cpu_per_m, errors, _) = phase(&client, &short.url, c, 20_000).await;
            println!("one-token requests at concurrency {c:>3}: {per_s:>6.0} requests/s | client CPU {cpu_per_m:.0} µs per request | errors {errors}");
        }
    });
    drop(short);
    // TTFT accuracy under realistic pacing: 20 ms to the first token, then a token every 20 ms
    // (50 tokens/s per stream, ~25,000 chunks/s over 512 streams), two ways:
    // - streams of 20 to 40 tokens (mean 30): requests end at different times, as with EOS or
    //   varied max_tokens, and the closed loop sends new requests all the time;
    // - every stream 30 tokens: the 512 requests end, and their successors start, within a few ms
    //   of each other (a fixed max_tokens with ignore_eos): the client sends hundreds of requests
    //   while first tokens arrive, and on a small machine shares its cores with the server doing
    //   the same. The worst case of a closed loop.
    // Pinning client and server to a core each (`Some(core)`) measured worse on 2 cores (p99 5.4 ms:
    // the client then has one core); the niced server on shared cores is the default.
    for (label, chunks, spread) in [("streams of 20-40 tokens", 20, 20), ("every stream 30 tokens, synchronized waves", 30, 0)] {
        // The runner's way (chunks timed by the kernel's receive time), then, for comparison, the
        // same client timing chunks when it parses them.
        for kernel_times in [true, false] {
            let delayed = Server::start(20, 20, chunks, spread, None);
            let client = rt.block_on(async { runner::load::http::LoadClient::with_receive_times(None, kernel_times) });
            rt.block_on(async {
                let _ = phase(&client, &delayed.url, 512, 1_024).await; // open the 512 connections first
                let (_, cpu_m, errors, ttft) = phase(&client, &delayed.url, 512, 4_096).await;
                let err = Dist::of(ttft.iter().map(|f| (f.client - f.stamp) / 1e6)).unwrap();
                if !kernel_times {
                    println!(
                        "  the same client timing chunks when it parses them (receive times off): TTFT error p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (errors {errors})",
                        err.p50, err.p99, err.max
                    );
                    return;
                }
                if let Some(p) = std::env::var_os("BENCH_DUMP") {
                    let lines: String = ttft.iter().map(|f| format!("{},{},{},{}\n", f.client, f.stamp, f.sent, f.written)).collect();
                    std::fs::write(format!("{}.{spread}", p.to_string_lossy()), lines).unwrap();
                }
                let send_delay = Dist::of(ttft.iter().map(|f| (f.written - f.sent) / 1e6)).unwrap();
                let server_late = Dist::of(ttft.iter().map(|f| (f.stamp - f.written) / 1e6 - 20.0)).unwrap();
                println!(
                    "TTFT error vs injected 20 ms at concurrency 512, {label} (client first-token time - server send time): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} requests (errors {errors})",
                    err.p50, err.p99, err.max, err.n
                );
                println!(
                    "  the rest of TTFT - 20 ms: the client's send delay (request begun -> on the wire) p50 {:.3} ms, p99 {:.3} ms; the server's lateness (on the wire -> first token sent, beyond 20 ms; not the client's) p50 {:.2} ms, p99 {:.2} ms; client CPU {cpu_m:.1} µs per chunk",
                    send_delay.p50, send_delay.p99, server_late.p50, server_late.p99
                );
            });
        }
    }
    replay(&rt);
}

/// The replay schedule's accuracy and a trace's preparation time.
fn replay(rt: &tokio::runtime::Runtime) {
    use runner::load::trace::{read, shape, text};
    // 1,000 requests/s for 60 s; the server holds each ~5 s (1 s to the first of 5 chunks, 1 s apart).
    let (rate, secs) = (1_000usize, 60usize);
    let held = Server::start(1_000, 1_000, 5, 0, None);
    let client = rt.block_on(async { runner::load::http::LoadClient::new(None) });
    let jobs: Vec<Job> = jobs(rate * secs)
        .into_iter()
        .enumerate()
        .map(|(i, mut j)| {
            j.at_s = vec![i as f64 / rate as f64];
            j
        })
        .collect();
    let cpu0 = cpu_seconds();
    let p = rt.block_on(drive(
        &client,
        &held.url,
        jobs,
        Schedule::Trace { speed: 1.0 },
        &runner::load::driver::Stop::default(),
        Instant::now(),
        &CancellationToken::new(),
        |_| {},
    ));
    let cpu = cpu_seconds() - cpu0;
    drop(held);
    let lag = Dist::of(p.records.iter().map(|r| r.sent_ms - r.scheduled_ms)).unwrap();
    let errors = p.records.iter().filter(|r| !r.ok()).count();
    let fig = runner::results::trace::replay(&p.records, false, &[]);
    println!(
        "replay schedule: {rate} requests/s for {secs} s ({} requests, peak {} in flight, errors {errors}): send lag (actual - scheduled) p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; client CPU {:.0} µs per request",
        lag.n,
        fig.peak_requests_in_flight,
        lag.p50,
        lag.p99,
        lag.max,
        cpu / lag.n as f64 * 1e6
    );
    // Preparation: a 20,000-request trace in the Azure format (its 19,366 rows, then its first rows
    // again a day later), at full length; and the Mooncake trace with its prefix blocks.
    let dir = tempfile::tempdir().unwrap();
    let azure = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/traces/azure_llm_2023_conv.csv");
    let text_in = std::fs::read_to_string(&azure).unwrap();
    let mut rows: Vec<&str> = text_in.lines().collect();
    let header = rows.remove(0);
    let mut big = format!("{header}\n");
    for k in 0..20_000 {
        let row = rows[k % rows.len()];
        let row = if k >= rows.len() { row.replacen("2023-11-16", "2023-11-17", 1) } else { row.to_string() };
        big.push_str(&row);
        big.push('\n');
    }
    let big_path = dir.path().join("azure20k.csv");
    std::fs::write(&big_path, big).unwrap();
    let moon = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/traces/mooncake_synthetic_trace.jsonl");
    use runner::scenario::schema::{TimeUnit, TraceFormat};
    for (label, path, format) in [
        ("20,000 requests (Azure CSV, full lengths)", big_path.as_path(), TraceFormat::Azure),
        ("3,993 requests (Mooncake, full lengths, 121,877 block references)", moon.as_path(), TraceFormat::Mooncake),
    ] {
        let t = Instant::now();
        let src = read::Source { format, columns: None, time_unit: TimeUnit::S };
        let entries = read::read(path, &src, &read::Select::default()).unwrap();
        let t_read = t.elapsed().as_secs_f64();
        let shaped = shape::shape(&entries, &shape::Shaping { scale: 1.0, max_input: None, max_output: None, block_tokens: 512 });
        let sessions = if format == TraceFormat::Mooncake { shape::by_blocks(&entries) } else { shape::by_id(&entries) };
        let prev = shape::previous(&sessions, entries.len());
        let spec = text::Spec { words_per_token: 0.9, block_tokens: shaped.block_tokens, overhead: 18, seed: 1 };
        let texts = text::texts(&entries, &shaped.input, &shaped.output, &prev, &spec);
        let total = t.elapsed().as_secs_f64();
        let mb = texts.iter().map(|t| t.0.len()).sum::<usize>() as f64 / 1e6;
        println!(
            "trace preparation, {label}: read {:.2} s, reshape + sessions + prompt synthesis {:.2} s, total {total:.2} s ({} requests, {mb:.0} MB of prompt text; the engine calibration adds 2 requests and 16 tokenizer calls)",
            t_read,
            total - t_read,
            entries.len()
        );
    }
}
