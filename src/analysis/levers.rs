//! Runtime levers, one at a time: server configs of a run that differ by exactly one flag are paired,
//! on the same workload and load, and each figure is set side by side with the repeats' spread. A
//! difference inside the spread is "no measurable difference". Pure.

use crate::plan::Launch;
use crate::results::quality::Range;
use crate::results::records::{CellResult, CellStatus, LaunchRecord};
use crate::scenario::schema::FlagValue;
use crate::store::read::StoredRun;
use serde::{Deserialize, Serialize};

/// What a figure's two sides say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    /// The repeats' ranges do not overlap.
    Differs,
    /// The ranges overlap: the lever moved this figure by less than the repeats' own spread.
    NoMeasurableDifference,
    /// One measurement per side (no repeats, or a figure without a spread): shown, not judged.
    NotJudged,
    /// A side lacks the figure.
    Missing,
}

/// One figure of a pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// (b - a) / a in percent.
    pub change_pct: Option<f64>,
    pub a_range: Option<Range>,
    pub b_range: Option<Range>,
    pub judgement: Judgement,
    /// Decimals the figure is shown with.
    pub decimals: u8,
}

/// Two server configs that differ by one flag, on one workload and load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeverPair {
    pub flag: String,
    /// The flag's value on each side ("engine default" where a side leaves it out).
    pub a_value: String,
    pub b_value: String,
    pub a_launch: String,
    pub b_launch: String,
    pub workload: String,
    pub load_label: String,
    pub max_tokens: u32,
    /// Repeats measured on each side.
    pub repeats: (usize, usize),
    /// Time to ready, memory at ready, KV tokens, CUDA-graph GiB: one launch each, never judged.
    pub startup: Vec<Figure>,
    pub figures: Vec<Figure>,
    /// A side was measured on a disturbed machine.
    pub disturbed: bool,
}

/// The one flag two launches' effective flags differ in, when there is exactly one.
pub fn single_difference(a: &Launch, b: &Launch) -> Option<String> {
    if a.server.engine != b.server.engine || a.server.model != b.server.model || a.server.env != b.server.env {
        return None;
    }
    let (fa, fb) = (&a.server.flags, &b.server.flags);
    let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    keys.sort();
    keys.dedup();
    let differing: Vec<&String> = keys.into_iter().filter(|k| fa.get(*k) != fb.get(*k)).collect();
    match differing.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

fn judged(name: &str, a: Option<f64>, b: Option<f64>, ra: Option<Range>, rb: Option<Range>) -> Figure {
    let judgement = match (a, b, ra, rb) {
        (None, _, _, _) | (_, None, _, _) => Judgement::Missing,
        (_, _, Some(x), Some(y)) if x.max < y.min || y.max < x.min => Judgement::Differs,
        (_, _, Some(_), Some(_)) => Judgement::NoMeasurableDifference,
        _ => Judgement::NotJudged,
    };
    Figure {
        name: name.into(),
        a,
        b,
        change_pct: a.zip(b).filter(|(x, _)| *x != 0.0).map(|(x, y)| (y - x) / x * 100.0),
        a_range: ra,
        b_range: rb,
        judgement,
        decimals: 1,
    }
}

fn shown(name: &str, a: Option<f64>, b: Option<f64>) -> Figure {
    judged(name, a, b, None, None)
}

fn startup(a: &LaunchRecord, b: &LaunchRecord) -> Vec<Figure> {
    let mem = |l: &LaunchRecord| {
        l.memory_at_ready.as_ref().and_then(|m| m.gpu_process_bytes.or(m.gpu_used_bytes).or(m.rss_bytes)).map(|x| x as f64 / 1048576.0)
    };
    vec![
        shown("time to ready (s)", a.ready_s, b.ready_s),
        shown("memory at ready (MiB)", mem(a), mem(b)),
        Figure { decimals: 0, ..shown("KV tokens", a.facts.kv_cache_tokens.map(|t| t as f64), b.facts.kv_cache_tokens.map(|t| t as f64)) },
        shown("CUDA graphs (GiB)", a.facts.cuda_graph_gib, b.facts.cuda_graph_gib),
    ]
}

fn figures(a: &CellResult, b: &CellResult) -> Vec<Figure> {
    let s = |c: &CellResult| c.summary.clone();
    let (sa, sb) = (s(a), s(b));
    let f = |g: fn(&crate::results::summary::CellSummary) -> Option<f64>| (sa.as_ref().and_then(g), sb.as_ref().and_then(g));
    let spread = |c: &CellResult, g: fn(&crate::results::quality::Spread) -> Option<Range>| c.quality.spread.as_ref().and_then(g);
    let (p50_ttft_a, p50_ttft_b) = f(|s| s.ttft_seen().map(|d| d.p50));
    let (p95_ttft_a, p95_ttft_b) = f(|s| s.ttft_seen().map(|d| d.p95));
    let (p95_e2e_a, p95_e2e_b) = f(|s| s.e2e_seen().map(|d| d.p95));
    let (tpot_a, tpot_b) = f(|s| s.tpot_ms.as_ref().map(|d| d.p50));
    let (itl_a, itl_b) = f(|s| s.itl_ms.as_ref().map(|d| d.p50));
    let (tp_a, tp_b) = f(|s| Some(s.throughput_tok_s));
    // The client's cached share (usage.prompt_tokens_details), else the engine's prefix-cache hit rate.
    let cache = |c: &CellResult| {
        c.summary
            .as_ref()
            .and_then(|s| s.cached_share)
            .or(c.telemetry.as_ref().and_then(|t| t.engine.prefix_cache_hit_rate))
            .map(|x| x * 100.0)
    };
    let (cache_a, cache_b) = (cache(a), cache(b));
    vec![
        shown("p50 TTFT (ms)", p50_ttft_a, p50_ttft_b),
        judged("p95 TTFT (ms)", p95_ttft_a, p95_ttft_b, spread(a, |s| s.p95_ttft_ms), spread(b, |s| s.p95_ttft_ms)),
        shown("p50 TPOT (ms)", tpot_a, tpot_b),
        shown("p50 ITL (ms)", itl_a, itl_b),
        judged("p95 E2E (ms)", p95_e2e_a, p95_e2e_b, spread(a, |s| s.p95_e2e_ms), spread(b, |s| s.p95_e2e_ms)),
        judged("throughput (tok/s)", tp_a, tp_b, spread(a, |s| s.throughput_tok_s), spread(b, |s| s.throughput_tok_s)),
        shown("prompt tokens from the prefix cache (%)", cache_a, cache_b),
    ]
}

fn value(l: &Launch, flag: &str) -> String {
    l.server.flags.get(flag).map_or_else(|| "engine default".to_string(), FlagValue::label)
}

/// Every pair of `run`'s launches that differ by one flag (`planned`: the scenario's launches, whose
/// flags the stored ones started with), on every workload, load and max_tokens both measured.
pub fn pairs(run: &StoredRun, planned: &[Launch]) -> Vec<LeverPair> {
    let measured = |c: &&CellResult| matches!(c.status, CellStatus::Ok | CellStatus::SloFail) && !c.cell.is_probe();
    let mut out = Vec::new();
    for (i, la) in run.launches.iter().enumerate() {
        for lb in &run.launches[i + 1..] {
            let (Some(pa), Some(pb)) = (planned.iter().find(|p| p.id == la.id), planned.iter().find(|p| p.id == lb.id)) else {
                continue;
            };
            let Some(flag) = single_difference(pa, pb) else { continue };
            for ca in run.cells.iter().filter(|c| c.launch_id == la.id).filter(measured) {
                let Some(cb) = run.cells.iter().filter(|c| c.launch_id == lb.id).filter(measured).find(|c| {
                    c.cell.workload == ca.cell.workload && c.cell.load == ca.cell.load && c.cell.max_tokens == ca.cell.max_tokens
                }) else {
                    continue;
                };
                out.push(LeverPair {
                    flag: flag.clone(),
                    a_value: value(pa, &flag),
                    b_value: value(pb, &flag),
                    a_launch: la.id.clone(),
                    b_launch: lb.id.clone(),
                    workload: ca.cell.workload.clone(),
                    load_label: ca.cell.load.label(),
                    max_tokens: ca.cell.max_tokens,
                    repeats: (ca.quality.repeats.len().max(1), cb.quality.repeats.len().max(1)),
                    startup: startup(la, lb),
                    figures: figures(ca, cb),
                    disturbed: ca.quality.disturbed || cb.quality.disturbed,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_ranges_are_no_measurable_difference() {
        let r = |min, max| Some(Range { min, max });
        assert_eq!(judged("x", Some(10.0), Some(11.0), r(9.0, 12.0), r(10.5, 13.0)).judgement, Judgement::NoMeasurableDifference);
        let d = judged("x", Some(10.0), Some(20.0), r(9.0, 11.0), r(18.0, 21.0));
        assert_eq!((d.judgement, d.change_pct), (Judgement::Differs, Some(100.0)));
        assert_eq!(judged("x", Some(10.0), Some(20.0), None, r(18.0, 21.0)).judgement, Judgement::NotJudged);
        assert_eq!(judged("x", None, Some(20.0), None, None).judgement, Judgement::Missing);
    }
}
