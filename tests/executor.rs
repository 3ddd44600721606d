//! The executor in-process, on the fake engine (`common::fake_engine`): no engine installed, no
//! process spawned, milliseconds per test. What is asserted is the executor's own behaviour: the order
//! of start, ready, cells and stop; what is recorded for an engine that never becomes ready, refuses
//! to start or dies mid-cell; Ctrl-C and the resume after it; a search's probes in order.

mod common;

use common::fake_engine::{Behaviour, FakeEngines, Recorder};
use common::{read_csv, Law, Mock};
use runner::engine::failure::FailureReason;
use runner::execute::{self, RunTarget};
use runner::scenario::load::Loaded;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn scenario(dir: &Path, servers: &[&str], tail: &str) -> Loaded {
    let mut text = String::from("[scenario]\nname = \"fake\"\ngpu = \"fake\"\ndisturbed_above_pct = 100\n\n");
    for s in servers {
        text.push_str(&format!("[[servers]]\nname = \"{s}\"\nengine = \"fake\"\nready_timeout_s = 0.3\n\n"));
    }
    text.push_str(tail);
    let path = common::write_scenario(dir, "fake.toml", &text);
    runner::engine::checks::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

const GRID: &str = r#"
[[workloads]]
name = "chat"
requests = 4
warmup = 0
max_tokens = 4

[grid]
concurrency = [1, 2]
"#;

async fn run(l: &Loaded, target: RunTarget, fake: &FakeEngines, cancel: &CancellationToken) -> execute::RunOutcome {
    let plan = runner::plan::expand(&l.scenario);
    let mut rec = Recorder(fake.log.clone());
    execute::run(l, &plan, target, fake, &mut rec, cancel).await.expect("the run itself does not fail")
}

fn new_run(dir: &Path) -> RunTarget {
    RunTarget::New { dir: dir.join("run"), run_id: "fake-run".into() }
}

fn csv_rows(run: &Path) -> Vec<std::collections::HashMap<String, String>> {
    read_csv(&run.join("capacity.csv"))
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The cell ids of the plan, in order.
fn cell_ids(l: &Loaded) -> Vec<String> {
    runner::plan::expand(&l.scenario).cells.iter().map(|c| c.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_launch_starts_is_ready_runs_its_cells_in_order_and_stops_before_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let l = scenario(dir.path(), &["a", "b"], GRID);
    let fake = FakeEngines::default();
    let out = run(&l, new_run(dir.path()), &fake, &CancellationToken::new()).await;
    assert!(!out.interrupted);
    let ids = cell_ids(&l);
    assert_eq!(ids.len(), 4);
    let mut expected = Vec::new();
    for (server, cells) in [("a", &ids[..2]), ("b", &ids[2..])] {
        expected.extend([format!("launch {server}"), format!("start {server}"), format!("ready {server}"), format!("launched {server}")]);
        for c in cells {
            expected.extend([format!("cell {c}"), format!("done {c} ok")]);
        }
        expected.extend([format!("stop {server}"), format!("stopped {server}")]);
    }
    assert_eq!(fake.entries(), expected);
    let rows = csv_rows(&out.store.dir);
    assert_eq!(rows.iter().map(|r| r["status"].as_str()).collect::<Vec<_>>(), ["ok"; 4]);
    // Every measured request went to the launch's own server.
    let served: Vec<usize> =
        ["a", "b"].iter().map(|s| fake.mocks.lock().unwrap()[*s].served.load(std::sync::atomic::Ordering::SeqCst)).collect();
    assert_eq!(served, [8, 8]);
    assert_eq!(json(out.store.dir.join("manifest.json"))["status"], "complete");
    // The fake engine's `/metrics` names reach the capacity table through its spec alone
    // (src/engine/fake.rs): its KV gauge is scraped as any engine's.
    assert!(rows.iter().all(|r| r["kv_usage_max"].parse::<f64>() == Ok(0.25)), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_that_never_becomes_ready_is_recorded_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let l = scenario(dir.path(), &["stuck", "good"], GRID);
    let fake = FakeEngines::default().with("stuck", Behaviour::NeverReady);
    let out = run(&l, new_run(dir.path()), &fake, &CancellationToken::new()).await;
    let log = fake.entries();
    let at = |e: &str| log.iter().position(|x| x == e).unwrap_or_else(|| panic!("no {e:?} in {log:?}"));
    assert!(at("timeout stuck") < at("failed stuck ready_timeout") && at("failed stuck ready_timeout") < at("start good"));
    assert!(!log.contains(&"ready stuck".to_string()) && !log.contains(&"stop stuck".to_string()), "{log:?}");
    let rows = csv_rows(&out.store.dir);
    assert_eq!(rows.iter().map(|r| r["status"].as_str()).collect::<Vec<_>>(), ["infeasible", "infeasible", "ok", "ok"]);
    assert!(rows[0]["reason"].contains("ready_timeout"), "{:?}", rows[0]);
    let launch = json(out.store.launch_dir(&runner::plan::expand(&l.scenario).launches[0].id).join("launch.json"));
    assert_eq!(launch["failure"]["reason"], "ready_timeout");

    // A ready timeout is environmental (a busy machine, a slow download): --resume tries it again,
    // and leaves the measured launch alone.
    let again = FakeEngines::default();
    let out = run(&l, RunTarget::Resume { dir: out.store.dir.clone() }, &again, &CancellationToken::new()).await;
    assert_eq!(again.entries().iter().filter(|e| e.starts_with("start ")).cloned().collect::<Vec<_>>(), ["start stuck"]);
    assert_eq!(csv_rows(&out.store.dir).iter().map(|r| r["status"].as_str()).collect::<Vec<_>>(), ["ok"; 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_refuses_to_start_makes_its_cells_infeasible_and_resume_does_not_retry_it() {
    let dir = tempfile::tempdir().unwrap();
    let l = scenario(dir.path(), &["small"], GRID);
    let fake = FakeEngines::default().with("small", Behaviour::Refuses(FailureReason::KvCacheTooSmall));
    let out = run(&l, new_run(dir.path()), &fake, &CancellationToken::new()).await;
    assert_eq!(
        fake.entries(),
        ["launch small", "start small", "refused small", "failed small kv_cache_too_small",]
            .iter()
            .map(|s| s.to_string())
            .chain(cell_ids(&l).iter().map(|c| format!("done {c} infeasible")))
            .collect::<Vec<_>>()
    );
    let rows = csv_rows(&out.store.dir);
    assert!(rows.iter().all(|r| r["status"] == "infeasible" && r["reason"].contains("kv_cache_too_small")), "{rows:?}");
    // What the config cannot do is a result: a resumed run does not launch it again.
    let again = FakeEngines::default();
    run(&l, RunTarget::Resume { dir: out.store.dir.clone() }, &again, &CancellationToken::new()).await;
    assert!(again.entries().iter().all(|e| !e.starts_with("start ")), "{:?}", again.entries());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_dies_mid_cell_fails_that_cell_and_the_rest_without_sending_more() {
    let dir = tempfile::tempdir().unwrap();
    let l = scenario(dir.path(), &["fragile"], GRID);
    // Four requests per cell; the server dies after serving two, inside the first cell.
    let fake = FakeEngines::default().with("fragile", Behaviour::Serve(Box::new(Mock { die_after: Some(2), ..Mock::default() })));
    let out = run(&l, new_run(dir.path()), &fake, &CancellationToken::new()).await;
    let rows = csv_rows(&out.store.dir);
    assert_eq!(rows.iter().map(|r| r["status"].as_str()).collect::<Vec<_>>(), ["failed", "failed"]);
    assert!(rows[0]["reason"].starts_with("engine_died: the server exited during this cell"), "{:?}", rows[0]);
    assert!(rows[1]["reason"].starts_with("engine_died during an earlier cell"), "{:?}", rows[1]);
    let ids = cell_ids(&l);
    // The second cell sent nothing, and the (dead) engine was still stopped.
    assert!(!fake.entries().contains(&format!("cell {}", ids[1])), "{:?}", fake.entries());
    assert!(fake.entries().ends_with(&["stop fragile".to_string(), "stopped fragile".to_string()]));
    assert!(!out.store.cell_dir(&ids[1]).join("requests.jsonl").exists(), "no request of the second cell was sent");
    let launch = json(out.store.launch_dir(&runner::plan::expand(&l.scenario).launches[0].id).join("launch.json"));
    assert_eq!(launch["stop"], "already_exited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_engine_keeps_what_finished_and_resume_measures_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let l = scenario(dir.path(), &["a", "b"], GRID);
    let ids = cell_ids(&l);
    let cancel = CancellationToken::new();
    // The 6th request (the second cell of `a`) is Ctrl-C.
    let fake =
        FakeEngines::default().with("a", Behaviour::Serve(Box::new(Mock { cancel_after: Some((6, cancel.clone())), ..Mock::default() })));
    let out = run(&l, new_run(dir.path()), &fake, &cancel).await;
    assert!(out.interrupted);
    let log = fake.entries();
    assert!(log.ends_with(&["stop a".to_string(), "stopped a".to_string()]), "the engine is stopped on Ctrl-C: {log:?}");
    assert!(log.contains(&format!("done {} interrupted", ids[1])), "{log:?}");
    assert!(!log.iter().any(|e| e.ends_with(" b")), "no launch after Ctrl-C: {log:?}");
    assert_eq!(json(out.store.dir.join("manifest.json"))["status"], "interrupted");
    let kept = csv_rows(&out.store.dir);
    assert_eq!(kept.len(), 1, "only the finished cell is a result: {kept:?}");
    assert_eq!(kept[0]["status"], "ok");

    let again = FakeEngines::default();
    let out = run(&l, RunTarget::Resume { dir: out.store.dir.clone() }, &again, &CancellationToken::new()).await;
    assert!(!out.interrupted);
    let cells: Vec<String> = again.entries().into_iter().filter_map(|e| e.strip_prefix("cell ").map(str::to_string)).collect();
    assert_eq!(cells, ids[1..], "resume measures the interrupted cell and the rest, not the finished one");
    assert_eq!(csv_rows(&out.store.dir).iter().map(|r| r["status"].as_str()).collect::<Vec<_>>(), ["ok"; 4]);
    let manifest = json(out.store.dir.join("manifest.json"));
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["resumed_at"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_waiting_for_readiness_records_an_interrupted_launch_that_resume_retries() {
    let dir = tempfile::tempdir().unwrap();
    let l = scenario(dir.path(), &["slow"], GRID);
    let cancel = CancellationToken::new();
    let fake = FakeEngines::default().with("slow", Behaviour::NeverReady);
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.cancel();
    });
    let out = run(&l, new_run(dir.path()), &fake, &cancel).await;
    assert!(out.interrupted);
    assert!(!out.store.dir.join("capacity.csv").exists(), "nothing measured, nothing recorded as a result");
    assert_eq!(fake.entries(), ["launch slow", "start slow", "failed slow interrupted"]);
    let again = FakeEngines::default();
    let out = run(&l, RunTarget::Resume { dir: out.store.dir.clone() }, &again, &CancellationToken::new()).await;
    assert_eq!(csv_rows(&out.store.dir).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_probes_in_the_order_its_decisions_say_and_each_probe_is_one_cell_on_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    // First token at 20 ms + 100 ms per request in flight beyond 2: a p95 TTFT of 170 ms holds up
    // to concurrency 3 (120 ms) and fails from 4 (220 ms): 50 ms of margin each side.
    let law = Law { base: Duration::from_millis(20), per: Duration::from_millis(100), knee: 2 };
    let tail = r#"
[[workloads]]
name = "chat"
requests = 12
warmup = 0
max_tokens = 2

[slo.chat]
p95_ttft_ms = 170

[search]
load = "concurrency"
min = 1
max = 8
resolution = 1
"#;
    let l = scenario(dir.path(), &["law"], tail);
    let fake = FakeEngines::default().with(
        "law",
        Behaviour::Serve(Box::new(Mock { law: Some(law), chunks: 2, chunk_delay: Duration::from_millis(1), ..Mock::default() })),
    );
    let out = run(&l, new_run(dir.path()), &fake, &CancellationToken::new()).await;
    let plan = runner::plan::expand(&l.scenario);
    let target = &plan.searches[0];
    let s = json(out.store.search_path(&target.id));
    assert_eq!(s["done"], true, "{s}");
    assert_eq!(s["boundary"], 3.0, "{s}");
    // The cells the engine ran are the search's probes, in the order search.json records them, each
    // load the one the pure search chose from the probes before it.
    let probes = s["probes"].as_array().unwrap();
    let ran: Vec<String> = fake.entries().into_iter().filter_map(|e| e.strip_prefix("cell ").map(str::to_string)).collect();
    let recorded: Vec<String> = probes.iter().map(|p| p["cell_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ran, recorded);
    let spec = runner::plan::search::Spec::of(l.scenario.search.as_ref().unwrap());
    let mut so_far: Vec<runner::plan::search::Probe> = Vec::new();
    for p in probes {
        let probe: runner::plan::search::Probe = serde_json::from_value(p.clone()).unwrap();
        match runner::plan::search::next(&spec, &so_far) {
            runner::plan::search::Decision::Probe { load, .. } => assert_eq!(load, probe.load, "after {so_far:?}"),
            d => panic!("the search went on after it was done: {d:?}"),
        }
        so_far.push(probe);
    }
    assert!(matches!(runner::plan::search::next(&spec, &so_far), runner::plan::search::Decision::Done { .. }));
    assert!(probes.len() < 8, "fewer probes than a dense grid: {}", probes.len());
    assert_eq!(fake.entries().iter().filter(|e| e.starts_with("start ")).count(), 1, "one launch for the whole search");
}
