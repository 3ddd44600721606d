//! The OOM surface (issue 22 §1): the committed run of real vLLM (CPU build) with a small KV budget
//! shows refused at start, safe and degrading cells, each with its figure, and the preemption point
//! `runner plan` predicted before the run against the one observed; every verdict of a cell; and the
//! 16 GB GPU recipe's plan predicts a refused corner and preemption inside its grid.

mod common;

use runner::analysis::report::{Outcome, Verdict};
use runner::analysis::surface::{surface, verdict};
use runner::results::records::CellStatus;
use runner::store::read::read_run;
use std::path::{Path, PathBuf};

const REFERENCE: &str = "results/reference/oom_surface_vllm_cpu";

fn reference_run() -> runner::store::read::StoredRun {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE);
    let dir = std::fs::read_dir(&root).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.is_dir()).unwrap();
    read_run(&dir).unwrap()
}

/// The scenario the run stored in its manifest.
fn scenario(run: &runner::store::read::StoredRun) -> runner::scenario::schema::Scenario {
    runner::engine::checks::parse_stored("manifest.json", &run.manifest.scenario_text).unwrap()
}

#[test]
fn the_committed_cpu_run_shows_refused_safe_and_degrading_with_the_predicted_point() {
    let run = reference_run();
    let s = scenario(&run);
    let axes: Vec<String> = s.grid.server.keys().cloned().collect();
    let surf = surface(&run, Some(&s), &axes).unwrap();
    let outcomes: Vec<Outcome> = surf.rows.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Infeasible, Outcome::Degrades, Outcome::Feasible], "{surf:#?}");
    let refused = &surf.rows[0];
    assert!(refused.reason.as_deref().unwrap().contains("kv_cache_too_small (engine estimates max model len 768)"), "{refused:?}");
    assert!(refused.cells.iter().all(|c| c.verdict == Verdict::RefusedAtStart));

    let small = &surf.rows[1];
    let by_conc: Vec<(Option<u32>, Verdict)> = small.cells.iter().map(|c| (c.concurrency, c.verdict)).collect();
    assert_eq!(by_conc[0], (Some(1), Verdict::Safe), "{by_conc:?}");
    let first_degrading = small.cells.iter().find(|c| c.verdict == Verdict::Degrades).unwrap();
    assert!(first_degrading.figure.contains("preemption(s)"), "{first_degrading:?}");
    let pt = &small.preemption[0];
    assert_eq!(pt.predicted_from, Some(6), "{pt:?}");
    assert_eq!(pt.observed_from, first_degrading.concurrency);
    assert_eq!(pt.agrees, Some(true), "{pt:?}");

    // The large budget never preempts: safe at every concurrency, as predicted (~86).
    let large = &surf.rows[2];
    assert!(large.cells.iter().all(|c| c.verdict == Verdict::Safe), "{large:?}");
    assert_eq!((large.preemption[0].predicted_from, large.preemption[0].agrees), (Some(86), Some(true)));

    let data = runner::analysis::report::build(&[run], "2026-01-01T00:00:00Z");
    let out = runner::report::render::render_all(&data, None).unwrap();
    let notes = &out.iter().find(|(n, _)| n == "capacity_notes.md").unwrap().1;
    assert!(notes.contains("predicted ~6, observed from"), "{notes}");
    let life = &out.iter().find(|(n, _)| n == "life_of_request.md").unwrap().1;
    assert!(life.contains("refused at start: kv_cache_too_small") && life.contains(": degrades: "), "{life}");
    let html = &out.iter().find(|(n, _)| n == "report.html").unwrap().1;
    assert!(html.contains("OOM surface") && html.contains("<svg"), "the surface chart is drawn over budget x concurrency");
}

#[test]
fn each_cell_gets_its_verdict() {
    let run = reference_run();
    let measured = run.cells.iter().find(|c| c.status == CellStatus::Ok).unwrap().clone();
    assert_eq!(verdict(&measured).unwrap().0, Verdict::Safe);

    let mut died = measured.clone();
    died.status = CellStatus::Failed;
    died.reason = Some("engine_died: the server exited during this cell (exit status 137)".into());
    assert_eq!(verdict(&died).unwrap(), (Verdict::DiesUnderLoad, died.reason.clone().unwrap()));

    let mut failed = died.clone();
    failed.reason = Some("every request failed: http_5xx".into());
    assert_eq!(verdict(&failed).unwrap().0, Verdict::Failed);

    let mut slow = measured.clone();
    slow.status = CellStatus::SloFail;
    slow.reason = Some("p95 E2E 900 ms > 500 ms".into());
    assert_eq!(verdict(&slow).unwrap(), (Verdict::Slow, "p95 E2E 900 ms > 500 ms".into()));

    let mut full = measured.clone();
    full.telemetry.as_mut().unwrap().engine.kv_cache_usage_max = Some(1.0);
    let (v, figure) = verdict(&full).unwrap();
    assert_eq!(v, Verdict::Degrades, "a full KV cache without a preemption still degrades");
    assert!(figure.contains("KV cache 100% used"), "{figure}");

    let mut interrupted = measured;
    interrupted.status = CellStatus::Interrupted;
    assert_eq!(verdict(&interrupted), None);
}

#[test]
fn the_16gb_recipe_plan_predicts_a_refused_corner_and_preemption_inside_its_grid() {
    let hub = tempfile::tempdir().unwrap();
    let snap = hub.path().join("models--Qwen--Qwen2.5-1.5B-Instruct/snapshots/fixture");
    std::fs::create_dir_all(&snap).unwrap();
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/model/configs/Qwen--Qwen2.5-1.5B-Instruct/config.json");
    std::fs::copy(config, snap.join("config.json")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["plan", "scenarios/oom_surface_rtx16.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HF_HUB_CACHE", hub.path())
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{plan}{}", String::from_utf8_lossy(&out.stderr));
    assert!(plan.contains("PREDICTED INFEASIBLE: kv_cache_too_small"), "{plan}");
    let inside = regex::Regex::new(r"expect preemption from concurrency ~(\d+) \(the grid reaches it at concurrency").unwrap();
    let points: Vec<u32> = inside.captures_iter(&plan).map(|c| c[1].parse().unwrap()).collect();
    assert!(points.len() >= 3 && points.iter().any(|p| *p > 4), "preemption predicted inside the grid above its lowest load: {plan}");
}
