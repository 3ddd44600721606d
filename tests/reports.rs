//! Reports rendered from committed result fixtures (a real CPU quickstart run and a real KV-scaling
//! run, per-request logs left out): Markdown snapshots, numbers that match capacity.csv, no
//! placeholders, HTML with charts, merged runs, template overrides.

mod common;

use runner::analysis::report::build;
use runner::report::render::render_all;
use runner::store::read::read_run;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(format!("{}/tests/fixtures/results/{name}/run", env!("CARGO_MANIFEST_DIR")))
}

fn rendered(runs: &[&str]) -> Vec<(String, String)> {
    let runs: Vec<_> = runs.iter().map(|r| read_run(&fixture(r)).unwrap()).collect();
    let data = build(&runs, "2026-01-01T00:00:00Z");
    render_all(&data, None).unwrap()
}

fn get<'a>(r: &'a [(String, String)], file: &str) -> &'a str {
    &r.iter().find(|(f, _)| f == file).unwrap().1
}

#[test]
fn markdown_snapshots() {
    let r = rendered(&["quickstart_cpu"]);
    for file in ["capacity_frontier.md", "playbook.md", "life_of_request.md", "capacity_notes.md"] {
        insta::assert_snapshot!(format!("quickstart_{file}"), get(&r, file));
    }
    let k = rendered(&["kv_scaling_cpu"]);
    insta::assert_snapshot!("kv_scaling_cpu_kv_scaling.md", get(&k, "kv_scaling.md"));
}

#[test]
fn no_placeholders_and_numbers_match_the_csv() {
    let r = rendered(&["quickstart_cpu", "kv_scaling_cpu"]);
    let placeholder = regex::Regex::new(r"\[[A-Z][A-Z _]+\]|\{\{|\}\}|TODO|TBD").unwrap();
    for (file, text) in &r {
        assert!(!placeholder.is_match(text), "{file} holds a placeholder: {:?}", placeholder.find(text));
        assert!(!text.contains("| |\n"), "{file} has an empty table row");
    }
    // The sweet spot in the frontier is the highest-throughput ok row of capacity.csv.
    let rows = common::read_csv(&fixture("quickstart_cpu").join("capacity.csv"));
    let best = rows
        .iter()
        .filter(|r| r["status"] == "ok")
        .max_by(|a, b| a["throughput_tok_s"].parse::<f64>().unwrap().total_cmp(&b["throughput_tok_s"].parse::<f64>().unwrap()))
        .unwrap();
    let frontier = get(&r, "capacity_frontier.md");
    let tok: f64 = best["throughput_tok_s"].parse().unwrap();
    assert!(frontier.contains(&format!("concurrency {}, max_tokens {}", best["concurrency"], best["max_tokens"])), "{frontier}");
    assert!(frontier.contains(&format!("{tok:.1}")), "{frontier}");
    let p95: f64 = best["p95_e2e_ms"].parse().unwrap();
    assert!(get(&r, "playbook.md").contains(&format!("| p95 E2E | {p95:.0} ms |")));
}

/// The playbook's recipe is portable: the engine as a client installs it, the scenario's model and
/// port (or the engine's default), never this machine's cache paths or the run's random port.
#[test]
fn the_playbook_command_is_portable() {
    let playbook = get(&rendered(&["quickstart_cpu"]), "playbook.md").to_string();
    let recorded = std::fs::read_to_string(fixture("quickstart_cpu").join("launches/l00-tiny-cpu/command.txt")).unwrap();
    assert!(recorded.contains("/.cache/runner/"), "the fixture's recorded command has local paths: {recorded}");
    assert!(playbook.contains("llama-server --model tiny-qwen2.gguf --ctx-size"), "{playbook}");
    assert!(playbook.contains("--port 8080"), "{playbook}");
    assert!(!playbook.contains("/.cache/") && !playbook.contains("/root/"), "{playbook}");
}

#[test]
fn a_stored_scenario_that_no_longer_parses_is_named_in_the_report() {
    let mut run = read_run(&fixture("quickstart_cpu")).unwrap();
    run.manifest.scenario_text = run.manifest.scenario_text.replace("[scenario]", "[scenario]\nretired_key = 1");
    let data = build(&[run], "2026-01-01T00:00:00Z");
    let note = data.not_measured.iter().find(|n| n.contains("no longer parses")).expect("a note on the unparsable scenario");
    assert!(note.contains("retired_key") && note.contains("SLO thresholds"), "{note}");
    let notes = get(&render_all(&data, None).unwrap(), "capacity_notes.md").to_string();
    assert!(notes.contains("no longer parses"), "{notes}");
}

#[test]
fn html_report_is_self_contained_with_charts() {
    let r = rendered(&["quickstart_cpu", "kv_scaling_cpu"]);
    let html = get(&r, "report.html");
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.matches("<svg").count() >= 4, "frontier, throughput, latency and KV charts");
    assert!(html.contains("<polyline") || html.contains("<path"), "charts have lines");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing external");
}

#[test]
fn html_escapes_user_text() {
    let run = read_run(&fixture("quickstart_cpu")).unwrap();
    let mut evil = run.clone();
    evil.manifest.gpu_label = "<script>alert(1)</script>".into();
    let data = build(&[evil], "2026-01-01T00:00:00Z");
    let out = render_all(&data, None).unwrap();
    let html = get(&out, "report.html");
    assert!(!html.contains("<script>"), "user text must be escaped");
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn report_merges_two_machines_into_one_frontier() {
    let dir = tempfile::tempdir().unwrap();
    for (name, gpu) in [("a", "rtx16-demo"), ("b", "a100-demo")] {
        let dst = dir.path().join(name);
        copy_dir(&fixture("quickstart_cpu"), &dst);
        let m = dst.join("manifest.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
        v["gpu_label"] = gpu.into();
        v["run_id"] = format!("run-{name}").into();
        std::fs::write(&m, serde_json::to_vec(&v).unwrap()).unwrap();
    }
    let out = dir.path().join("merged");
    assert_cmd::Command::cargo_bin("runner")
        .unwrap()
        .args(["report", dir.path().join("a").to_str().unwrap(), dir.path().join("b").to_str().unwrap(), "--out", out.to_str().unwrap()])
        .assert()
        .success();
    let frontier = std::fs::read_to_string(out.join("capacity_frontier.md")).unwrap();
    assert!(frontier.contains("| chat | a100-demo |") && frontier.contains("| chat | rtx16-demo |"), "{frontier}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("frontier: chat"));
    // Priced: $ per 1M output tokens at each GPU's sweet spot, in the frontier and the playbook.
    let prices = dir.path().join("prices.toml");
    std::fs::write(
        &prices,
        "[prices.rtx16-demo]\nper_hour = 0.25\ndate = \"2026-11-30\"\nsource = \"test price\"\n\n\
         [prices.a100-demo]\nper_hour = 1.5\ndate = \"2026-11-30\"\nsource = \"test price\"\n",
    )
    .unwrap();
    let priced = dir.path().join("priced");
    assert_cmd::Command::cargo_bin("runner")
        .unwrap()
        .args(["report", dir.path().join("a").to_str().unwrap(), dir.path().join("b").to_str().unwrap()])
        .args(["--out", priced.to_str().unwrap(), "--prices", prices.to_str().unwrap()])
        .assert()
        .success();
    // Sweet spot 695.2 tok/s: 2,502,720 tokens an hour; $0.25/h -> 0.100 per 1M, $1.50/h -> 0.599.
    let frontier = std::fs::read_to_string(priced.join("capacity_frontier.md")).unwrap();
    assert!(frontier.contains("0.100 USD (at 0.25 USD/h, 2026-11-30)") && frontier.contains("0.599 USD (at 1.5 USD/h"), "{frontier}");
    assert!(
        frontier
            .contains("rtx16-demo at 0.25 USD/h serves chat at p95 E2E 391 ms for 0.100 USD per 1M output tokens; a100-demo at 1.5 USD/h"),
        "{frontier}"
    );
    let playbook = std::fs::read_to_string(priced.join("playbook.md")).unwrap();
    let rent = playbook.split("## Which GPU to rent").nth(1).expect("a rent section");
    let (cheap, dear) = (rent.find("| chat | rtx16-demo |").unwrap(), rent.find("| chat | a100-demo |").unwrap());
    assert!(cheap < dear, "cheapest first: {rent}");
    assert!(rent.contains("0.100 USD") && rent.contains("0.599 USD"), "{rent}");
}

#[test]
fn user_templates_override_embedded_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("playbook.md.j2"), "custom playbook for {{ data.groups | length }} group(s)\n").unwrap();
    let runs = vec![read_run(&fixture("quickstart_cpu")).unwrap()];
    let out = render_all(&build(&runs, "t"), Some(dir.path())).unwrap();
    assert_eq!(get(&out, "playbook.md"), "custom playbook for 1 group(s)\n");
    assert!(get(&out, "capacity_frontier.md").starts_with("# Capacity frontier"));
}

/// A run that recorded the runner's own CPU share names it, per run, in the capacity notes; a cell
/// at 50% or more makes the note say that the tails may include the client's queueing.
#[test]
fn capacity_notes_state_the_load_generators_cpu_share() {
    let mut runs = vec![read_run(&fixture("quickstart_cpu")).unwrap()];
    for (i, c) in runs[0].cells.iter_mut().enumerate() {
        if let Some(t) = c.telemetry.as_mut() {
            t.memory.runner_cpu_pct = Some(if i == 1 { 64.25 } else { 3.0 });
        }
    }
    let data = build(&runs, "t");
    assert_eq!(data.runs[0].runner_cpu_max_pct, Some(64.25));
    assert!(data.runs[0].client_busy);
    let notes = render_all(&data, None).unwrap();
    let notes = get(&notes, "capacity_notes.md");
    assert!(
        notes.contains("used at most 64.2% of the client machine's CPU")
            || notes.contains("used at most 64.3% of the client machine's CPU"),
        "{notes}"
    );
    assert!(notes.contains("may include the client's own queueing"), "{notes}");
    assert!(!notes.contains("runner's own CPU share in run"), "{notes}");
}

fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// The frontier chart draws one line per GPU: its sweet-spot server config at the sweet-spot
/// max_tokens, one point per load (a run with two `parallel` configs once zigzagged between them).
#[test]
fn the_frontier_chart_follows_one_config_per_gpu() {
    let dir = PathBuf::from(format!("{}/results/reference/search_cpu/20261130T143706Z", env!("CARGO_MANIFEST_DIR")));
    let run = read_run(&dir).unwrap();
    let data = build(std::slice::from_ref(&run), "2026-01-01T00:00:00Z");
    let svg = runner::report::charts::frontier(&data, "chat").unwrap();
    let g = data.groups.iter().find(|g| g.workload == "chat").unwrap();
    let at = &g.sweet_spot.as_ref().unwrap().cell;
    assert!(svg.contains(&format!("{}, max_tokens {}", at.server_params, at.max_tokens)), "{svg}");
    // The series is the one 2 px polyline (the axes and the grid are 1 px).
    let points = |s: &str| -> usize {
        let line = s.split("<polyline").find(|p| p.contains("stroke-width=\"2\"")).unwrap();
        line.split("points=\"").nth(1).unwrap().split('"').next().unwrap().split_whitespace().count()
    };
    let of_config = g
        .cells
        .iter()
        .filter(|c| c.server_params == at.server_params && c.max_tokens == at.max_tokens && c.load.closed().is_some())
        .count();
    assert!(of_config < g.cells.len(), "the run has cells of another config");
    assert_eq!(points(&svg), of_config, "{svg}");
}

/// The quickstart's reference TTFTs were helped by llama-server's prompt cache (~97% of prompt tokens
/// cached) and no note said so; vLLM's run without prefix hits gets no such note. The way to turn
/// the cache off is the engine's own: a vLLM run was told llama-server's.
#[test]
fn a_ttft_served_from_the_prompt_cache_carries_a_trust_note() {
    let note = "served more than half of the prompt tokens from its cache";
    // (run, whether the note is there, what its way to turn the cache off says and must not say)
    for (run, expected, hint) in [
        ("quickstart_cpu/20261130T093718Z", true, Some(("cache_prompt = false", "enable_prefix_caching"))),
        ("vllm_cpu/20261130T124734Z", false, None),
        ("levers_vllm_cpu/20261207T021806Z", true, Some(("`enable_prefix_caching = false`", "cache_prompt"))),
    ] {
        let dir = PathBuf::from(format!("{}/results/reference/{run}", env!("CARGO_MANIFEST_DIR")));
        let data = build(&[read_run(&dir).unwrap()], "2026-01-01T00:00:00Z");
        let out = runner::report::render::render_all(&data, None).unwrap();
        let md = &out.iter().find(|(n, _)| n == "playbook.md").unwrap().1;
        assert_eq!(md.contains(note), expected, "{run}:\n{md}");
        if let Some((says, not)) = hint {
            let line = md.lines().find(|l| l.contains(note)).unwrap_or_default();
            assert!(line.contains(says) && !line.contains(not), "{run}: {line}");
        }
    }
}
