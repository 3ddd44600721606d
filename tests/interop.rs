//! `runner import` of real peer result files (made here against a local llama-server: vllm bench
//! serve 0.32 with and without --save-detailed, GuideLLM 0.8.1, AIPerf 0.13.0; tests/fixtures/peers),
//! the known traps of each format, bad input, and `runner export --format benchmark-report` checked
//! by the schema's own validator and imported back.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peers").join(name)
}

fn runner(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runner")).args(args).output().unwrap()
}

fn import(files: &[PathBuf], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["import".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = Command::new(env!("CARGO_BIN_EXE_runner")).args(&args).output().unwrap();
    o
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: std::process::Output) -> String {
    assert!(!o.status.success(), "expected a failure: {}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn num(row: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    row[k].parse().unwrap_or_else(|_| panic!("{k} = {:?}", row[k]))
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{what}: {a} vs the file's {b}");
}

/// The summaries of a run folder, by cell order.
fn summaries(run: &Path) -> Vec<Value> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run.join("cells")).unwrap().flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs.iter().map(|d| json(&d.join("summary.json"))).collect()
}

#[test]
fn vllm_bench_files_keep_their_own_figures_and_traps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vllm");
    let files = ["vllm-bench-0.32-conc4.json", "vllm-bench-0.32-rate8.json", "vllm-bench-0.32-plain.json"].map(fixture);
    ok(import(&files, &out, &["--gpu", "cpu-2core"]));
    let rows = common::read_csv(&out.join("capacity.csv"));
    assert_eq!(rows.len(), 3);
    for (row, f) in rows.iter().zip(&files) {
        let file = json(f);
        close(num(row, "p50_ttft_ms"), file["median_ttft_ms"].as_f64().unwrap(), "median TTFT");
        close(num(row, "throughput_tok_s"), file["output_throughput"].as_f64().unwrap(), "output tok/s");
        if let Some(p99) = file["p99_ttft_ms"].as_f64() {
            close(num(row, "p99_ttft_ms"), p99, "p99 TTFT");
        }
        assert_eq!(row["gpu"], "cpu-2core");
        assert!(row["imported_from"].starts_with("vllm bench serve"), "{row:?}");
    }
    // Detailed: the per-request lists are in seconds; percentiles the file did not list come from them.
    let conc4 = json(&files[0]);
    close(num(&rows[0], "p95_ttft_ms"), conc4["p95_ttft_ms"].as_f64().unwrap(), "p95 TTFT");
    let mut ttfts: Vec<f64> = conc4["ttfts"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() * 1000.0).collect();
    ttfts.sort_by(f64::total_cmp);
    let s = summaries(&out);
    close(s[0]["summary"]["ttft_ms"]["max"].as_f64().unwrap(), *ttfts.last().unwrap(), "max TTFT from the per-request list");
    assert_eq!(rows[0]["concurrency"], "4");
    // "p99.9_ttft_ms": a dotted key, not one of runner's percentiles; p50 still read.
    let rate8 = json(&files[1]);
    assert!(rate8.get("p99.9_ttft_ms").is_some());
    assert_eq!(rows[1]["request_rate"], "8");
    // request_rate "inf" without max_concurrency: everything at once, stored as concurrency N, said so.
    assert_eq!(json(&files[2])["request_rate"], "inf");
    assert_eq!(rows[2]["concurrency"], "16");
    let plain = &s[2]["import"];
    let notes = plain["notes"].to_string();
    assert!(notes.contains("all 16 requests were sent at once"), "{notes}");
    assert!(notes.contains("without --save-detailed"), "{notes}");
    assert_eq!(rows[2]["p90_ttft_ms"], "", "a percentile the file does not give is empty, never 0");
    assert!(s[2]["summary"]["ttft_ms"]["p90"].is_null());
    // `date` is local time without a zone: kept as such.
    assert_eq!(s[0]["started_at"], "2026-12-07T22:41:32");
    // Definitions: TTFT stops at the role chunk in vLLM's, so it is marked as differing.
    let ttft = s[0]["import"]["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "ttft").unwrap().clone();
    assert_eq!(ttft["comparable"], "differs");
    assert!(ttft["note"].as_str().unwrap().contains("role-only"));
    // Measured from its own gaps: llama-server sends the role with the first token, so the first gap is tiny.
    let notes = s[0]["import"]["notes"].to_string();
    assert!(notes.contains("the first chunk came with the first token"), "{notes}");
    assert!(out.join("cells").join(s[0]["cell"]["id"].as_str().unwrap()).join("requests.jsonl").is_file());
    // The usual reports render, with the definitions beside the figures.
    let reports = dir.path().join("reports");
    ok(runner(&["report", out.to_str().unwrap(), "--out", reports.to_str().unwrap()]));
    let md = std::fs::read_to_string(reports.join("capacity_frontier.md")).unwrap();
    assert!(md.contains("## Imported figures") && md.contains("*differs"), "{md}");
    assert!(md.contains("imported from vllm bench serve"), "{md}");
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(html.contains("Imported figures"));
}

#[test]
fn guidellm_benchmarks_become_one_cell_each_with_its_units_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gl");
    let f = fixture("guidellm-0.8.1-conc1-4.json");
    ok(import(std::slice::from_ref(&f), &out, &[]));
    let file = json(&f);
    let rows = common::read_csv(&out.join("capacity.csv"));
    assert_eq!(rows.len(), 2, "one cell per benchmark");
    for (i, row) in rows.iter().enumerate() {
        let m = &file["benchmarks"][i]["metrics"];
        close(num(row, "p50_ttft_ms"), m["time_to_first_token_ms"]["successful"]["median"].as_f64().unwrap(), "median TTFT");
        // request_latency is in seconds.
        close(num(row, "p50_e2e_ms"), m["request_latency"]["successful"]["median"].as_f64().unwrap() * 1000.0, "median E2E");
        // Its "inter token latency" is runner's TPOT; its own TPOT includes the first token and is not stored as TPOT.
        close(num(row, "p50_tpot_ms"), m["inter_token_latency_ms"]["successful"]["median"].as_f64().unwrap(), "TPOT");
        assert!((num(row, "p50_tpot_ms") - m["time_per_output_token_ms"]["successful"]["median"].as_f64().unwrap()).abs() > 1e-6);
        assert_eq!(row["p50_itl_ms"], "", "GuideLLM records no chunk gaps");
        assert_eq!(row["concurrency"], file["benchmarks"][i]["config"]["strategy"]["streams"].to_string());
    }
    // Metrics split into successful / errored / incomplete: the two latter count as errors.
    let mut split = file.clone();
    split["benchmarks"][0]["metrics"]["request_totals"]["errored"] = Value::from(2);
    split["benchmarks"][0]["metrics"]["request_totals"]["incomplete"] = Value::from(1);
    let p = dir.path().join("split.json");
    std::fs::write(&p, serde_json::to_vec(&split).unwrap()).unwrap();
    ok(import(&[p], &dir.path().join("split"), &[]));
    let row = &common::read_csv(&dir.path().join("split/capacity.csv"))[0];
    assert_eq!((row["requests"].as_str(), row["errors"].as_str()), ("19", "3"));
    let notes = summaries(&dir.path().join("split"))[0]["import"]["notes"].to_string();
    assert!(notes.contains("1 request(s) were still running") && notes.contains("keeps 16 of 19 requests"), "{notes}");
    let s = summaries(&out);
    assert_eq!(s[1]["import"]["benchmark"], 1);
    assert_eq!(s[0]["import"]["tool_version"], "0.8.1");
    assert_eq!(s[0]["import"]["schema_version"], "2");
    let itl = s[0]["import"]["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "itl").unwrap().clone();
    assert_eq!(itl["comparable"], "no");
}

#[test]
fn aiperf_profile_export_maps_its_itl_to_tpot_and_reads_null_as_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture("aiperf-0.13.0-conc2/profile_export_aiperf.json");
    let out = dir.path().join("ap");
    ok(import(std::slice::from_ref(&f), &out, &[]));
    let file = json(&f);
    let row = &common::read_csv(&out.join("capacity.csv"))[0];
    close(num(row, "p50_ttft_ms"), file["time_to_first_token"]["p50"].as_f64().unwrap(), "TTFT p50");
    close(num(row, "p50_tpot_ms"), file["inter_token_latency"]["p50"].as_f64().unwrap(), "its ITL is runner's TPOT");
    close(num(row, "p50_itl_ms"), file["inter_chunk_latency"]["p50"].as_f64().unwrap(), "chunk gaps");
    assert_eq!(row["concurrency"], "2");
    assert_eq!(row["errors"], file["error_request_count"]["avg"].as_f64().unwrap().to_string());
    // Schema 1.3 (AIPerf 0.11): its phases have no `kind`, and no server usage count.
    let f13 = fixture("aiperf-0.11.0-conc2/profile_export_aiperf.json");
    let out13 = dir.path().join("ap13");
    ok(import(std::slice::from_ref(&f13), &out13, &[]));
    let file13 = json(&f13);
    assert_eq!(file13["schema_version"], "1.3");
    let row13 = &common::read_csv(&out13.join("capacity.csv"))[0];
    close(num(row13, "p50_ttft_ms"), file13["time_to_first_token"]["p50"].as_f64().unwrap(), "1.3 TTFT p50");
    assert_eq!(row13["concurrency"], "2");
    assert_eq!(row13["output_tokens"], file13["total_osl"]["avg"].as_f64().unwrap().to_string());
    assert!(summaries(&out13)[0]["import"]["notes"].to_string().contains("AIPerf's own tokenizer count"));
    // Every request from the profile_export.jsonl beside it (the error included), in ms.
    let recs =
        std::fs::read_to_string(out.join("cells").join(summaries(&out)[0]["cell"]["id"].as_str().unwrap()).join("requests.jsonl")).unwrap();
    assert_eq!(recs.lines().count(), 16);
    assert_eq!(recs.lines().filter(|l| l.contains("\"error\":null")).count(), 15);
    // AIPerf writes a value it could not compute as null: not given, never zero.
    let mut nulled = file.clone();
    nulled["time_to_first_token"]["p90"] = Value::Null;
    // Alone in its folder: no per-request data, said so.
    let p = dir.path().join("nulled.json");
    std::fs::write(&p, serde_json::to_vec(&nulled).unwrap()).unwrap();
    ok(import(&[p], &dir.path().join("nulled"), &[]));
    let row = &common::read_csv(&dir.path().join("nulled/capacity.csv"))[0];
    assert_eq!(row["p90_ttft_ms"], "");
    assert!(summaries(&dir.path().join("nulled"))[0]["import"]["notes"].to_string().contains("no profile_export.jsonl beside the file"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // Truncated JSON.
    let text = std::fs::read(fixture("vllm-bench-0.32-conc4.json")).unwrap();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let e = err(import(&[cut], &dir.path().join("a"), &[]));
    assert!(e.contains("cut.json") && e.contains("ends early") && e.contains("cut off"), "{e}");
    // Another tool's file under the wrong format.
    let e = err(import(&[fixture("guidellm-0.8.1-conc2.json")], &dir.path().join("b"), &["--format", "vllm"]));
    assert!(e.contains("is not a vllm bench serve result") && e.contains("--format guidellm"), "{e}");
    let e = err(import(&[fixture("vllm-bench-0.32-conc4.json")], &dir.path().join("b2"), &["--format", "aiperf"]));
    assert!(e.contains("not an AIPerf") && e.contains("--format vllm"), "{e}");
    // A GuideLLM file of an unknown schema version.
    let mut gl = json(&fixture("guidellm-0.8.1-conc2.json"));
    gl["metadata"]["version"] = Value::from(3);
    let p = dir.path().join("gl3.json");
    std::fs::write(&p, serde_json::to_vec(&gl).unwrap()).unwrap();
    let e = err(import(&[p], &dir.path().join("c"), &[]));
    assert!(e.contains("schema version 3 is not one runner reads"), "{e}");
    // A file of no known tool; an existing output folder is never overwritten.
    let p = dir.path().join("other.json");
    std::fs::write(&p, br#"{"hello": 1}"#).unwrap();
    let e = err(import(&[p], &dir.path().join("d"), &[]));
    assert!(e.contains("not a result file runner can import"), "{e}");
    ok(import(&[fixture("aiperf-0.13.0-conc2/profile_export_aiperf.json")], &dir.path().join("e"), &[]));
    let e = err(import(&[fixture("aiperf-0.13.0-conc2/profile_export_aiperf.json")], &dir.path().join("e"), &[]));
    assert!(e.contains("already exists"), "{e}");
    // Two files of the same load: refused, not merged silently.
    let e = err(import(
        &[fixture("aiperf-0.13.0-conc2/profile_export_aiperf.json"), fixture("aiperf-0.13.0-conc2/profile_export_aiperf.json")],
        &dir.path().join("f"),
        &[],
    ));
    assert!(e.contains("same server, request shape and load"), "{e}");
    // Text from a file that reports would print as markup, and a load no benchmark runs: refused.
    let mut v = json(&fixture("vllm-bench-0.32-conc4.json"));
    v["model_id"] = Value::from("tiny|<script>\nx");
    let p = dir.path().join("hostile.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = err(import(&[p], &dir.path().join("h"), &[]));
    assert!(e.contains("hostile.json") && e.contains("the file was altered"), "{e}");
    let mut v = json(&fixture("vllm-bench-0.32-conc4.json"));
    v["max_concurrency"] = Value::from(0);
    let p = dir.path().join("zero.json");
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = err(import(&[p], &dir.path().join("z"), &[]));
    assert!(e.contains("concurrency 0") && e.contains("not one a benchmark runs"), "{e}");
    // Two runs with no cell in common: "nothing to compare", exit 1.
    ok(import(&[fixture("guidellm-0.8.1-conc1-4.json")], &dir.path().join("g"), &[]));
    let o = runner(&[
        "compare",
        dir.path().join("e").to_str().unwrap(),
        dir.path().join("g").to_str().unwrap(),
        "--out",
        dir.path().join("cmp").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to compare"));
}

#[test]
fn compare_across_tools_judges_only_what_both_define_alike() {
    let dir = tempfile::tempdir().unwrap();
    let (gl, vb) = (dir.path().join("gl"), dir.path().join("vb"));
    ok(import(&[fixture("guidellm-0.8.1-conc1-4.json")], &gl, &[]));
    ok(import(&[fixture("vllm-bench-0.32-conc1.json"), fixture("vllm-bench-0.32-conc4.json")], &vb, &[]));
    let out = dir.path().join("cmp");
    let o = runner(&["compare", gl.to_str().unwrap(), vb.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(matches!(o.status.code(), Some(0) | Some(4)), "{}", String::from_utf8_lossy(&o.stderr));
    let c = json(&out.join("compare.json"));
    let pairs = c["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 2, "concurrency 1 and 4 matched across the tools: {c}");
    for p in pairs {
        let d = |m: &str| p["deltas"].as_array().unwrap().iter().find(|d| d["metric"] == m).unwrap().clone();
        // TTFT: vLLM's stops at the role chunk; TPOT: GuideLLM's percentiles are token-weighted.
        for m in ["p50 TTFT ms", "p50 TPOT ms"] {
            assert_eq!(d(m)["verdict"], "not_judged", "{m}: {}", d(m));
            assert!(d(m)["test"].as_str().unwrap().contains("defined otherwise on one side"), "{}", d(m));
            assert!(d(m)["a"].is_number() && d(m)["b"].is_number(), "shown beside each other");
        }
        // E2E is the same quantity in both, with per-request data on both sides: tested.
        assert!(d("p50 E2E ms")["test"].as_str().unwrap().starts_with("bootstrap"), "{}", d("p50 E2E ms"));
        assert!(p["flags"].to_string().contains("from GuideLLM") && p["flags"].to_string().contains("from vllm bench serve"));
    }
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("defined otherwise on one side"));
}

/// The schema's own validator (`llmd_benchmark_report.core.import_benchmark_report`), from the venv
/// scripts/setup-benchmark-report.sh makes.
fn validate(files: &[PathBuf]) -> Result<(), String> {
    let python = std::env::var("RUNNER_BR_PYTHON")
        .ok()
        .map(PathBuf::from)
        .unwrap_or_else(|| runner::engine::resolve::cache_dir().join("benchmark-report-0.2.1/bin/python"));
    let script = "import sys\nfrom llmd_benchmark_report.core import import_benchmark_report\nfor f in sys.argv[1:]:\n    r = import_benchmark_report(f)\n    assert type(r).__name__ == 'BenchmarkReportV02' and r.version == '0.2.1', (f, type(r), r.version)\nprint('valid', len(sys.argv) - 1)\n";
    let o = Command::new(&python).args(["-c", script]).args(files).output().map_err(|e| format!("{}: {e}", python.display()))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

fn reference_runs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference");
    runner::store::read::find_runs(&[root]).unwrap()
}

#[test]
#[cfg_attr(
    runner_no_benchmark_report,
    ignore = "needs llmd-benchmark-report: run scripts/setup-benchmark-report.sh (scripts/test.sh does)"
)]
fn exported_benchmark_reports_pass_the_schemas_validator_and_import_back() {
    let dir = tempfile::tempdir().unwrap();
    let runs = reference_runs();
    assert!(runs.len() >= 5, "{runs:?}");
    let mut all = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let out = dir.path().join(format!("br{i}"));
        let o = runner(&["export", run.to_str().unwrap(), "--format", "benchmark-report", "--out", out.to_str().unwrap()]);
        if !o.status.success() {
            // A run of probe cells only (no load) has no request performance to report.
            assert!(String::from_utf8_lossy(&o.stderr).contains("no measured cell"), "{}", String::from_utf8_lossy(&o.stderr));
            let stored = runner::store::read::read_run(run).unwrap();
            assert!(stored.cells.iter().all(|c| c.summary.as_ref().is_none_or(|s| s.ok == 0)), "{}", run.display());
            continue;
        }
        let mut docs: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.path()).collect();
        docs.sort();
        assert!(!docs.is_empty());
        all.extend(docs.iter().cloned());
        // Import each JSON document back: the figures round-trip.
        let original = runner::store::read::read_run(run).unwrap();
        for (j, doc) in docs.iter().filter(|p| p.extension().is_some_and(|e| e == "json")).enumerate() {
            let back = dir.path().join(format!("back{i}-{j}"));
            ok(import(std::slice::from_ref(doc), &back, &[]));
            let imported = runner::store::read::read_run(&back).unwrap();
            let c = &imported.cells[0];
            let cell_id = json(doc)["scenario"]["load"]["native"]["config"]["runner_cell"].as_str().unwrap().to_string();
            let o = original.cells.iter().find(|x| x.cell.id == cell_id).unwrap();
            let (so, si) = (o.summary.as_ref().unwrap(), c.summary.as_ref().unwrap());
            for (what, a, b) in [
                ("p50 TTFT", so.ttft_ms.as_ref().map(|d| d.p50), si.ttft_ms.as_ref().map(|d| d.p50)),
                ("p95 TTFT", so.ttft_ms.as_ref().map(|d| d.p95), si.ttft_ms.as_ref().map(|d| d.p95)),
                ("p95 E2E", so.e2e_ms.as_ref().map(|d| d.p95), si.e2e_ms.as_ref().map(|d| d.p95)),
                ("p50 TPOT", so.tpot_ms.as_ref().map(|d| d.p50), si.tpot_ms.as_ref().map(|d| d.p50)),
                ("tok/s", Some(so.throughput_tok_s), Some(si.throughput_tok_s)),
            ] {
                match (a, b) {
                    (Some(a), Some(b)) => close(b, a, &format!("{} {what}", o.cell.id)),
                    (None, None) => {}
                    other => panic!("{} {what}: {other:?}", o.cell.id),
                }
            }
            assert_eq!((c.cell.load, si.requests, si.errors), (o.cell.load, so.requests, so.errors), "{}", o.cell.id);
            let tpot = c.import.as_ref().unwrap().metric(runner::results::import::Metric::Tpot).unwrap().comparable;
            assert_eq!(tpot, runner::results::import::Comparable::Same, "a runner document keeps runner's definitions");
        }
    }
    // An imported run exports too (its tool named in the load), an open loop's rate included.
    let imported = dir.path().join("imported");
    ok(import(&[fixture("vllm-bench-0.32-rate8.json"), fixture("vllm-bench-0.32-conc4.json")], &imported, &[]));
    let out = dir.path().join("br-imported");
    ok(runner(&["export", imported.to_str().unwrap(), "--format", "benchmark-report", "--out", out.to_str().unwrap()]));
    let docs: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(docs.len(), 4);
    let rate = docs.iter().map(|p| std::fs::read_to_string(p).unwrap()).find(|t| t.contains("\"rate_qps\"")).expect("the rate cell");
    assert!(rate.contains("\"tool\": \"vllm bench serve\""), "{rate}");
    all.extend(docs);
    validate(&all).unwrap();
    // The validator refuses a broken document (a unit the schema does not know).
    let mut bad = json(all.iter().find(|p| p.extension().is_some_and(|e| e == "json")).unwrap());
    bad["results"]["request_performance"]["aggregate"]["latency"]["time_to_first_token"]["units"] = Value::from("fortnights");
    let p = dir.path().join("bad.json");
    std::fs::write(&p, serde_json::to_vec(&bad).unwrap()).unwrap();
    assert!(validate(&[p]).is_err());
}
