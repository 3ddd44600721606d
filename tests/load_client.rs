//! The load client against in-test servers: timing accuracy with injected delays, token counts from
//! usage, role-only first chunks, and every failure mode becoming a classified record.

mod common;

use common::{request_spec as spec, start_mock, Mock};
use runner::load::client::send;
use runner::load::driver::closed_loop;
use runner::results::record::RequestRecord;
use runner::results::summary::{summarize, Dist};
use runner::scenario::schema::Endpoint;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

async fn run_with(
    client: &runner::load::http::LoadClient,
    base: &str,
    n: usize,
    concurrency: u32,
    t0: Instant,
) -> (Vec<RequestRecord>, f64) {
    let specs = (0..n).map(|i| spec(i, Endpoint::Chat)).collect();
    let p = closed_loop(client, base, specs, concurrency, t0, &CancellationToken::new(), |_| {}).await;
    (p.records, p.wall_s)
}

async fn one(m: Mock) -> RequestRecord {
    // (the request's prompt is "request 0")
    let base = start_mock(m).await;
    let client = runner::load::http::LoadClient::new(None);
    let t0 = Instant::now();
    send(&client, &base, &spec(0, Endpoint::Chat), t0, t0).await
}

fn assert_near(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: got {got:.3} ms, want {want:.3} ± {tol} ms");
}

/// Every test of this file runs alone: the timing tests must not share the 2 cores with the others.
static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One measurement; Err describes the first bound it broke.
async fn accuracy_at(concurrency: u32, n: usize, warmup: bool) -> Result<(), String> {
    let _serial = TIMING.lock().await;
    let mock = common::start_raw_timing_mock(Duration::from_millis(20), Duration::from_millis(10), 10, Duration::from_millis(3));
    let (base, emitted) = (&mock.url, &mock.emitted);
    let client = runner::load::http::LoadClient::new(None);
    if warmup {
        let _ = run_with(&client, base, concurrency as usize, concurrency, Instant::now()).await;
    }
    emitted.lock().unwrap().clear();
    let before = mock.accepted.load(std::sync::atomic::Ordering::Relaxed);
    let t0 = Instant::now();
    let (records, wall) = run_with(&client, base, n, concurrency, t0).await;
    // Each closed-loop slot opens its own connection before the phase and keeps it (every stream is
    // read to the end of its body): exactly one connection per slot, and no request connects.
    let accepted = mock.accepted.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert_eq!(accepted, concurrency as usize, "{n} requests at concurrency {concurrency} opened {accepted} connections");
    assert!(records.iter().all(|r| r.connect_ms.is_none()), "a request waited for a connection");
    assert!(
        records.iter().all(|r| r.ok()),
        "errors: {:?}",
        records.iter().filter(|r| !r.ok()).map(|r| &r.error_detail).collect::<Vec<_>>()
    );
    let s = summarize(&records, wall, None);
    // Token counts are the server's usage, not a guess from the chunk count.
    assert_eq!(s.output_tokens, 10 * n as u64);
    // Truth: the instant the mock wrote each content chunk to its socket. For every request the
    // client's TTFT, E2E, each ITL gap and TPOT are compared with the same metric computed from the
    // truth; the error may only be delivery and parsing: within 2 ms at p99, and never negative.
    let emitted = emitted.lock().unwrap();
    let (mut ttft_err, mut e2e_err, mut itl_err, mut tpot_err, mut chunk_err) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut true_itl, mut true_tpots) = (vec![], vec![]);
    for r in &records {
        let truth = &emitted[&format!("request {}", r.index)];
        let ms = |i: Instant| i.duration_since(t0).as_secs_f64() * 1000.0;
        let true_offsets: Vec<f64> = truth.iter().map(|t| ms(*t) - r.sent_ms).collect();
        assert_eq!(true_offsets.len(), r.chunk_offsets_ms.len());
        for (got, want) in r.chunk_offsets_ms.iter().zip(&true_offsets) {
            chunk_err.push(got - want);
        }
        ttft_err.push(r.ttft_ms().unwrap() - true_offsets[0]);
        e2e_err.push(r.e2e_ms().unwrap() - true_offsets[true_offsets.len() - 1]);
        for (g, w) in r.chunk_offsets_ms.windows(2).zip(true_offsets.windows(2)) {
            itl_err.push((g[1] - g[0]) - (w[1] - w[0]));
            true_itl.push(w[1] - w[0]);
        }
        let n = r.output_tokens.unwrap() as f64;
        let true_tpot = (true_offsets[true_offsets.len() - 1] - true_offsets[0]) / (n - 1.0);
        tpot_err.push(r.tpot_ms().unwrap() - true_tpot);
        true_tpots.push(true_tpot);
    }
    assert!(chunk_err.iter().all(|e| *e >= 0.0), "a chunk was timed before it was sent");
    for (name, errs) in [("TTFT", &ttft_err), ("E2E", &e2e_err), ("ITL", &itl_err), ("TPOT", &tpot_err), ("chunk time", &chunk_err)] {
        let d = Dist::of(errs.iter().map(|e| e.abs())).unwrap();
        eprintln!("concurrency {concurrency}: {name} error p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms", d.p50, d.p99, d.max);
        if d.p99 > 2.0 {
            return Err(format!("{name} error p99 {:.3} ms at concurrency {concurrency} (limit 2 ms)", d.p99));
        }
    }
    // And the summary built on them: TTFT never below the injected 20 ms (the mock cannot send
    // earlier, the client cannot time earlier), and the p50 ITL and TPOT within 2 ms of the same
    // figures computed from the mock's own record of when it sent each chunk. (The mock's pacing
    // itself is not the product: on a busy machine it sends its 10 ms gaps late, and the client
    // must report what was sent, not what was asked for.)
    let (ttft, itl, tpot) = (s.ttft_ms.unwrap(), s.itl_ms.unwrap(), s.tpot_ms.unwrap());
    assert!(ttft.min >= 20.0, "TTFT below the injected delay: {}", ttft.min);
    let (true_itl, true_tpot) = (Dist::of(true_itl).unwrap(), Dist::of(true_tpots).unwrap());
    for (name, got, want) in [("p50 ITL", itl.p50, true_itl.p50), ("p50 TPOT", tpot.p50, true_tpot.p50)] {
        if (got - want).abs() > 2.0 {
            return Err(format!("{name}: the client says {got:.3} ms, the mock sent {want:.3} ms (limit 2 ms)"));
        }
    }
    Ok(())
}

/// The 2 ms bound is a property of the client; a single scheduling hiccup of a shared 2-core CI
/// machine is not. The bound must hold in one of three independent measurements, and every attempt
/// is printed.
fn accuracy(concurrency: u32, n: usize, warmup: bool) {
    let mut failures = Vec::new();
    for attempt in 1..=3 {
        match runner::cli::runtime().unwrap().block_on(accuracy_at(concurrency, n, warmup)) {
            Ok(()) => return,
            Err(e) => {
                eprintln!("attempt {attempt}: {e}");
                failures.push(e);
            }
        }
    }
    panic!("timing bound broken in 3 of 3 attempts: {failures:?}");
}

/// The timing tests run on the runtime `runner run` uses (runner::cli::runtime), as shipped.
#[test]
fn timing_accuracy_concurrency_1() {
    accuracy(1, 20, true);
}

#[test]
fn timing_accuracy_concurrency_64() {
    accuracy(64, 256, true);
}

/// The first wave with no warm-up: 256 slots start together against a fresh server. Each slot's
/// connection is made before the phase, so its set-up is in no request's TTFT (with pooled
/// connections, requests raced for connections while connects were in flight).
#[test]
fn timing_accuracy_first_wave_at_concurrency_256_without_warmup() {
    accuracy(256, 256, false);
}

/// A server that keeps the body open after `[DONE]` holds up neither the request's times nor the
/// next request of the closed loop.
#[tokio::test]
async fn body_held_open_after_done_does_not_delay_the_loop() {
    let _serial = TIMING.lock().await;
    let mock = common::start_raw_timing_mock(Duration::from_millis(5), Duration::from_millis(1), 3, Duration::from_secs(3));
    let t0 = Instant::now();
    let (records, wall) = run_with(&runner::load::http::LoadClient::new(None), &mock.url, 4, 1, t0).await;
    assert!(records.iter().all(|r| r.ok()), "{:?}", records.iter().map(|r| &r.error_detail).collect::<Vec<_>>());
    assert!(wall < 1.0, "4 requests took {wall:.2} s: the loop waited for the held-open bodies");
    assert!(records.iter().all(|r| r.e2e_ms().unwrap() < 500.0));
}

/// A runner too busy to read when the first token arrives still times it by its arrival (the
/// kernel's receive time), not by when it gets round to parsing it.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_busy_runner_times_the_first_token_by_its_arrival() {
    let _serial = TIMING.lock().await;
    // First token 20-24 ms after the request, the second 80 ms later.
    let mock = common::start_raw_timing_mock(Duration::from_millis(20), Duration::from_millis(80), 2, Duration::from_millis(3));
    let client = runner::load::http::LoadClient::new(None);
    // The kernel switches receive stamps on a moment after they are first asked for.
    let warm = Instant::now();
    let _ = send(&client, &mock.url, &spec(99, Endpoint::Chat), warm, warm).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    for attempt in 0..3 {
        let t0 = Instant::now();
        // This test's runtime has one thread: blocking it from 5 to 60 ms keeps the client from
        // reading the first token until 60 ms.
        let busy = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            std::thread::sleep(Duration::from_millis(55));
            Instant::now()
        };
        let request = spec(attempt, Endpoint::Chat);
        let (r, busy_until) = tokio::join!(send(&client, &mock.url, &request, t0, t0), busy);
        assert!(r.ok(), "{:?}", r.error_detail);
        let ms = |i: Instant| i.duration_since(t0).as_secs_f64() * 1000.0;
        let truth = ms(mock.emitted.lock().unwrap()[&format!("request {attempt}")][0]);
        if truth > ms(busy_until) - 10.0 {
            eprintln!("attempt {attempt}: the mock itself sent the first token late ({truth:.1} ms); not a test of the client");
            continue;
        }
        let got = r.first_token_ms.unwrap();
        eprintln!("attempt {attempt}: first token sent at {truth:.2} ms, timed at {got:.2} ms, client busy until {:.1} ms", ms(busy_until));
        assert!(got >= truth, "timed {got:.3} ms, before it was sent ({truth:.3} ms)");
        assert!(got - truth < 2.0, "timed {got:.3} ms, sent at {truth:.3} ms: the busy client's read time, not the arrival");
        assert!(r.written_ms.is_some_and(|w| w >= r.sent_ms && w < truth), "written {:?}", r.written_ms);
        return;
    }
    panic!("the mock was late in every attempt");
}

#[tokio::test]
async fn role_only_first_chunk_is_not_the_first_token() {
    let _serial = TIMING.lock().await;
    let r = one(Mock { role_chunk: true, first_token_delay: Duration::from_millis(40), chunks: 3, ..Mock::default() }).await;
    assert!(r.ok());
    assert!(r.ttft_ms().unwrap() >= 39.9, "ttft {:?}", r.ttft_ms());
    assert_eq!(r.chunk_offsets_ms.len(), 3);
}

#[tokio::test]
async fn multi_token_chunks_use_usage_counts() {
    let _serial = TIMING.lock().await;
    let r = one(Mock { chunks: 5, tokens_per_chunk: 3, chunk_delay: Duration::from_millis(10), ..Mock::default() }).await;
    assert_eq!(r.output_tokens, Some(15));
    assert_eq!(r.chunk_offsets_ms.len(), 5);
    // TPOT spreads 4 gaps of 10 ms over 14 tokens after the first.
    assert_near("tpot", r.tpot_ms().unwrap(), 40.0 / 14.0, 1.0);
}

#[tokio::test]
async fn tokens_without_visible_text_are_served_requests_without_ttft() {
    let _serial = TIMING.lock().await;
    // Random weights emit special tokens: the server counts 6 output tokens, every delta is "".
    let r = one(Mock { chunks: 6, content: "", ..Mock::default() }).await;
    assert!(r.ok(), "{:?}: {:?}", r.error, r.error_detail);
    assert!(r.no_visible_text);
    assert_eq!(r.output_tokens, Some(6));
    assert_eq!((r.ttft_ms(), r.tpot_ms()), (None, None), "TTFT is undefined without visible text");
    let e2e = r.e2e_ms().expect("E2E runs to the end of the response");
    assert!(e2e >= 20.0 + 5.0 * 5.0 - 1.0, "e2e {e2e}");
    let s = runner::results::summary::summarize(std::slice::from_ref(&r), 1.0, None);
    assert_eq!((s.ok, s.errors, s.no_visible_text, s.output_tokens), (1, 0, 1, 6));
    assert!(s.ttft_ms.is_none() && s.e2e_ms.is_some());
    // No text and no token reported: an empty response, a failure.
    let r = one(Mock { chunks: 0, ..Mock::default() }).await;
    assert_eq!(r.error.map(|e| e.as_str()), Some("empty_response"));
}

#[tokio::test]
async fn failures_are_classified_records() {
    let _serial = TIMING.lock().await;
    let cases = [
        (Mock { error_after: Some(2), ..Mock::default() }, "stream_error"),
        (Mock { status: Some(503), ..Mock::default() }, "http_5xx"),
        (Mock { status: Some(400), ..Mock::default() }, "http_4xx"),
        (Mock { malformed: true, ..Mock::default() }, "malformed_sse"),
        (Mock { cut_after: Some(3), ..Mock::default() }, "connection_reset"),
    ];
    for (m, want) in cases {
        let r = one(m.clone()).await;
        assert_eq!(r.error.map(|e| e.as_str()), Some(want), "{m:?}: {:?}", r.error_detail);
        eprintln!("{want}: {}", r.error_detail.as_deref().unwrap_or(""));
    }
    let client = runner::load::http::LoadClient::new(None);
    let t0 = Instant::now();
    let r = send(&client, "http://127.0.0.1:9", &spec(0, Endpoint::Chat), t0, t0).await;
    assert_eq!(r.error.map(|e| e.as_str()), Some("connect"));
    // The detail says what happened, in the OS's words.
    let detail = r.error_detail.unwrap_or_default();
    assert!(detail.contains("Connection refused"), "{detail}");
    let r = send(&client, "not a url", &spec(0, Endpoint::Chat), t0, t0).await;
    assert_eq!(r.error.map(|e| e.as_str()), Some("request_error"));
    assert!(r.error_detail.as_deref().unwrap_or("").contains("not a valid URL: not a url/v1/chat/completions"), "{:?}", r.error_detail);
}

/// Serves a captured or constructed SSE fixture verbatim.
async fn replay(fixture: &str, endpoint: Endpoint) -> RequestRecord {
    use axum::routing::post;
    let path = format!("{}/tests/fixtures/engine/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read_to_string(&path).unwrap();
    let route = match endpoint {
        Endpoint::Chat => "/v1/chat/completions",
        Endpoint::Completions => "/v1/completions",
    };
    let app = axum::Router::new().route(
        route,
        post(move || {
            let body = body.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], body) }
        }),
    );
    let base = common::serve_on_own_thread(app);
    let client = runner::load::http::LoadClient::new(None);
    let t0 = Instant::now();
    send(&client, &base, &spec(0, endpoint), t0, t0).await
}

#[tokio::test]
async fn llamacpp_fixture_stream() {
    let _serial = TIMING.lock().await;
    let r = replay("llamacpp-b11434-chat-stream.sse", Endpoint::Chat).await;
    assert!(r.ok(), "{:?}", r.error_detail);
    // Six "\n" content chunks after a role-only chunk (content null); usage says 6 and 19.
    assert_eq!(r.chunk_offsets_ms.len(), 6);
    assert_eq!((r.output_tokens, r.prompt_tokens, r.cached_tokens), (Some(6), Some(19), Some(0)));
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    let c = replay("llamacpp-b11434-completions-stream.sse", Endpoint::Completions).await;
    assert!(c.ok(), "{:?}", c.error_detail);
    assert_eq!(c.output_tokens, Some(6));
    assert_eq!(c.chunk_offsets_ms.len(), 6);
}

#[tokio::test]
async fn vllm_fixture_streams() {
    let _serial = TIMING.lock().await;
    let r = replay("vllm-0.33-chat-stream.sse", Endpoint::Chat).await;
    assert!(r.ok(), "{:?}", r.error_detail);
    assert_eq!((r.output_tokens, r.prompt_tokens), (Some(8), Some(31)));
    // The role chunk and the final empty-content chunk carry no text.
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/engine/vllm-0.33-chat-stream.sse", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let non_empty = text.lines().filter(|l| l.contains("\"content\":\"") && !l.contains("\"content\":\"\"")).count();
    assert_eq!(r.chunk_offsets_ms.len(), non_empty);
    let e = replay("vllm-0.33-chat-stream-error.sse", Endpoint::Chat).await;
    assert_eq!(e.error.map(|e| e.as_str()), Some("stream_error"));
    assert!(e.error_detail.unwrap().contains("longer than the maximum model length"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_beyond_capacity_shows_growing_queueing() {
    use runner::load::driver::{drive, Schedule};
    use runner::load::workload::Job;
    use runner::scenario::schema::Arrival;
    let _serial = TIMING.lock().await;
    // Each request takes ~65 ms and at most one is in flight: capacity ~15/s. Arrivals at 40/s queue.
    let base = start_mock(Mock::default()).await;
    let client = runner::load::http::LoadClient::new(None);
    let jobs: Vec<Job> = (0..40).map(|i| Job::single(spec(i, Endpoint::Chat))).collect();
    let schedule = Schedule::Open { rate: 40.0, arrival: Arrival::Poisson, burstiness: 1.0, seed: 1, max_in_flight: Some(1) };
    let p =
        drive(&client, &base, jobs, schedule, &runner::load::driver::Stop::default(), Instant::now(), &CancellationToken::new(), |_| {})
            .await;
    assert!(p.records.iter().all(|r| r.ok()));
    let mut recs = p.records.clone();
    recs.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
    let mean = |rs: &[RequestRecord]| rs.iter().map(|r| r.e2e_from_scheduled_ms().unwrap()).sum::<f64>() / rs.len() as f64;
    let (first, last) = (mean(&recs[..10]), mean(&recs[30..]));
    assert!(last > first + 500.0, "scheduled-time E2E should grow: first 10 {first:.0} ms, last 10 {last:.0} ms");
    // Measured from the actual send it does not grow: the wait is the client's queue, now visible.
    let sent_e2e = |rs: &[RequestRecord]| rs.iter().map(|r| r.e2e_ms().unwrap()).sum::<f64>() / rs.len() as f64;
    assert!(sent_e2e(&recs[30..]) < sent_e2e(&recs[..10]) + 30.0);
}
