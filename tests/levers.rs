//! Levers one at a time (issue 22 §2): the committed run of real vLLM (CPU build) pairs each
//! one-flag config with the baseline; prefix caching on shows a non-zero cached share and a TTFT
//! beyond the repeats' spread, and max_num_batched_tokens 256 reads "no measurable difference".

use runner::analysis::levers::{pairs, Judgement};
use runner::store::read::read_run;
use std::path::Path;

#[test]
fn the_committed_levers_run_pairs_each_flag_and_judges_by_the_spread() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference/levers_vllm_cpu/20261207T021806Z");
    let run = read_run(&dir).unwrap();
    let s = runner::engine::checks::parse_stored("manifest.json", &run.manifest.scenario_text).unwrap();
    let p = pairs(&run, &runner::plan::expand(&s).launches);
    let flags: Vec<&str> = p.iter().map(|x| x.flag.as_str()).collect();
    assert_eq!(flags, ["enable_prefix_caching", "enable_chunked_prefill", "max_num_batched_tokens"], "only one-flag pairs");
    let fig = |i: usize, name: &str| p[i].figures.iter().find(|f| f.name.starts_with(name)).unwrap().clone();
    let cache = fig(0, "prompt tokens from the prefix cache");
    assert!(cache.a.unwrap() > 50.0, "{cache:?}");
    let ttft = fig(0, "p95 TTFT");
    assert_eq!(ttft.judgement, Judgement::Differs, "{ttft:?}");
    assert!(ttft.b.unwrap() > ttft.a.unwrap(), "prefix caching off is slower to the first token");
    assert_eq!(fig(2, "throughput").judgement, Judgement::NoMeasurableDifference);

    let data = runner::analysis::report::build(&[run], "2026-01-01T00:00:00Z");
    let out = runner::report::render::render_all(&data, None).unwrap();
    let notes = &out.iter().find(|(n, _)| n == "capacity_notes.md").unwrap().1;
    assert!(
        notes.contains("No measurable difference (the lever moved the figure") && notes.contains("max_num_batched_tokens (throughput"),
        "{notes}"
    );
}
