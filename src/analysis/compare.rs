//! `runner compare A B`: the cells two runs share, each metric's change, and whether that change is
//! beyond the noise. Latencies (TTFT, TPOT, E2E medians) are judged by a seeded bootstrap of the
//! per-request samples; throughput by the repeats' spread (non-overlapping min..max), or not judged
//! with one repeat. A cell's verdict comes from TTFT, E2E and throughput; TPOT is judged as a
//! component. A change counts when its 95% interval excludes zero and it is at least
//! `min_effect_pct` large; a regression fails the CI gate when it is also beyond `threshold_pct`.
//! The bootstrap sees the noise between requests of one run, not the drift between two runs of one
//! machine (20% at concurrency 4 on a busy 2-core box): `min_effect_pct` is that margin.
//! Pure: stored runs and their requests in, a serializable comparison out.

use super::capacity::axes_label;
use crate::results::import::{Comparable, Metric};
use crate::results::record::RequestRecord;
use crate::results::records::{CellResult, CellStatus};
use crate::store::read::StoredRun;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod judge;
use judge::{delta, judge_bootstrap, judge_repeats};

/// How the comparison is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// A change smaller than this (in %) is "no measurable change" even when significant.
    pub min_effect_pct: f64,
    /// A worse change at least this large (in %) is a regression (the exit code).
    pub threshold_pct: f64,
    pub resamples: usize,
    /// "this config/workload in A is that one in B": names of A mapped to names of B.
    pub map: BTreeMap<String, String>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { min_effect_pct: 5.0, threshold_pct: 10.0, resamples: 2000, map: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    /// Some metrics better, some worse.
    Mixed,
    NoMeasurableChange,
    /// No metric both sides define alike with enough data to judge.
    NotJudged,
}

impl Verdict {
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Mixed => "mixed",
            Verdict::NoMeasurableChange => "no measurable change",
            Verdict::NotJudged => "not judged",
        }
    }
}

/// One metric of a matched cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// (B - A) / A in %.
    pub change_pct: Option<f64>,
    /// The 95% interval of the change in % (bootstrap), when tested.
    pub ci_pct: Option<(f64, f64)>,
    /// How it was judged, or why not ("bootstrap of 32 vs 32 requests", "one repeat: no noise estimate").
    pub test: String,
    /// Better, Worse or NoMeasurableChange when judged; NotJudged otherwise.
    pub verdict: Verdict,
    /// Lower is better (latency) or higher is better (throughput).
    pub lower_is_better: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellPair {
    /// "server / workload / load / max_tokens" as matched.
    pub key: String,
    pub a_cell: String,
    pub b_cell: String,
    pub load_label: String,
    pub deltas: Vec<Delta>,
    pub verdict: Verdict,
    /// The largest judged worse change, in % (positive), when the cell is worse or mixed.
    pub worst_pct: Option<f64>,
    /// Disturbed or unstable on either side, or a side's source (an imported file).
    pub flags: Vec<String>,
    pub regression: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSide {
    pub run_id: String,
    pub dir: String,
    pub scenario: String,
    pub gpu: String,
    pub source: Option<String>,
    pub cells: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: RunSide,
    pub b: RunSide,
    pub rules: Rules,
    pub pairs: Vec<CellPair>,
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
    /// Cells of either run without figures (infeasible, failed, interrupted): not compared.
    #[serde(default)]
    pub unmeasured: Vec<String>,
    /// How cells were matched (names ignored where each run has one server config or workload).
    pub matching: Vec<String>,
    pub verdict: Verdict,
    pub summary: String,
    pub regression: bool,
    /// Frontier points for the charts.
    pub points: Vec<Point>,
}

/// One cell of either run on the charts of both frontiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// "A: tiny-cpu chat mt32": the run and the cell's series.
    pub series: String,
    /// The load's unit ("concurrency", "rate", "trace").
    pub unit: String,
    pub x: f64,
    pub tok_s: Option<f64>,
    pub p50_e2e_ms: Option<f64>,
}

/// A cell's identity across runs: server config (name and axes), workload, load, max_tokens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    server: String,
    workload: String,
    load: String,
    max_tokens: u32,
}

fn key(c: &CellResult, rules: &Rules, one_server: bool, one_workload: bool) -> Key {
    let axes: Vec<String> = c
        .cell
        .params
        .keys()
        .filter(|k| !matches!(k.as_str(), "concurrency" | "request_rate" | "max_tokens" | "trace_speed"))
        .cloned()
        .collect();
    let map = |s: &str| rules.map.get(s).cloned().unwrap_or_else(|| s.to_string());
    let server = if one_server { String::new() } else { map(&c.server) };
    Key {
        server: format!("{server} {}", axes_label(&c.cell.params, &axes)).trim().to_string(),
        workload: if one_workload { String::new() } else { map(&c.cell.workload) },
        load: c.cell.load.label(),
        max_tokens: c.cell.max_tokens,
    }
}

/// A cell with figures to compare (measured, within its SLO or not).
fn has_figures(c: &CellResult) -> bool {
    matches!(c.status, CellStatus::Ok | CellStatus::SloFail) && c.summary.is_some()
}

fn measured(run: &StoredRun) -> Vec<&CellResult> {
    run.cells.iter().filter(|c| has_figures(c)).collect()
}

fn distinct<'a>(cells: &[&'a CellResult], f: fn(&CellResult) -> &str) -> usize {
    let mut v: Vec<&str> = cells.iter().map(|c| f(c)).collect();
    v.sort();
    v.dedup();
    v.len()
}

fn side(run: &StoredRun) -> RunSide {
    RunSide {
        run_id: run.manifest.run_id.clone(),
        dir: run.dir.display().to_string(),
        scenario: run.manifest.scenario_name.clone(),
        gpu: run.manifest.gpu_label.clone(),
        source: super::imported::run_source(run),
        cells: run.cells.len(),
    }
}

/// Compares `b` against `a` (A the baseline). `requests` gives a cell's measured requests (by run
/// index 0/1 and cell id); None when the cell has none stored.
pub fn compare(a: &StoredRun, b: &StoredRun, rules: &Rules, requests: &dyn Fn(usize, &str) -> Option<Vec<RequestRecord>>) -> Comparison {
    let (ca, cb) = (measured(a), measured(b));
    let one_server = distinct(&ca, |c| &c.server) == 1 && distinct(&cb, |c| &c.server) == 1;
    let one_workload = distinct(&ca, |c| &c.cell.workload) == 1 && distinct(&cb, |c| &c.cell.workload) == 1;
    let mut matching = Vec::new();
    if one_server {
        matching.push("each run has one server config: matched whatever its name".into());
    }
    if one_workload {
        matching.push("each run has one workload: matched whatever its name".into());
    }
    if !rules.map.is_empty() {
        matching.push(format!("names mapped: {}", rules.map.iter().map(|(x, y)| format!("{x} = {y}")).collect::<Vec<_>>().join(", ")));
    }
    let ka: BTreeMap<Key, &CellResult> = ca.iter().map(|c| (key(c, rules, one_server, one_workload), *c)).collect();
    let kb: BTreeMap<Key, &CellResult> = cb.iter().map(|c| (key(c, rules, one_server, one_workload), *c)).collect();
    let mut pairs = Vec::new();
    for (k, x) in &ka {
        if let Some(y) = kb.get(k) {
            pairs.push(pair(k, x, y, rules, requests(0, &x.cell.id), requests(1, &y.cell.id)));
        }
    }
    let label =
        |k: &Key, c: &CellResult| format!("{} ({} / {} / {}, max_tokens {})", c.cell.id, c.server, c.cell.workload, k.load, k.max_tokens);
    let only_a: Vec<String> = ka.iter().filter(|(k, _)| !kb.contains_key(k)).map(|(k, c)| label(k, c)).collect();
    let only_b: Vec<String> = kb.iter().filter(|(k, _)| !ka.contains_key(k)).map(|(k, c)| label(k, c)).collect();
    let unmeasured: Vec<String> = [("A", a), ("B", b)]
        .iter()
        .flat_map(|(side, run)| {
            run.cells
                .iter()
                .filter(|c| !has_figures(c))
                .map(move |c| format!("{side}: {} ({}): {}", c.cell.id, c.status.as_str(), c.reason.clone().unwrap_or_default()))
        })
        .collect();
    let count = |v: Verdict| pairs.iter().filter(|p| p.verdict == v).count();
    let (worse, better, mixed, same, unjudged) = (
        count(Verdict::Worse),
        count(Verdict::Better),
        count(Verdict::Mixed),
        count(Verdict::NoMeasurableChange),
        count(Verdict::NotJudged),
    );
    let verdict = match (worse + mixed > 0, better + mixed > 0) {
        _ if pairs.is_empty() => Verdict::NotJudged,
        (true, true) => Verdict::Mixed,
        (true, false) => Verdict::Worse,
        (false, true) => Verdict::Better,
        (false, false) if same > 0 => Verdict::NoMeasurableChange,
        (false, false) => Verdict::NotJudged,
    };
    let regression = pairs.iter().any(|p| p.regression);
    let summary = if pairs.is_empty() {
        format!(
            "nothing to compare: no cell of {} matches a cell of {} by server config, workload, load and max_tokens; give --map A_NAME=B_NAME",
            a.manifest.run_id, b.manifest.run_id
        )
    } else if verdict == Verdict::NoMeasurableChange {
        format!(
            "no measurable change in {} matched cell(s){}",
            pairs.len(),
            if unjudged > 0 { format!(" ({unjudged} not judged)") } else { String::new() }
        )
    } else {
        let worst = pairs.iter().filter_map(|p| p.worst_pct).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        format!(
            "{}: {worse} worse, {better} better, {mixed} mixed, {same} no measurable change, {unjudged} not judged of {} matched cell(s){}{}",
            verdict.words(),
            pairs.len(),
            worst.map(|w| format!("; worst change {w:.0}% worse")).unwrap_or_default(),
            if regression { format!("; regression beyond {}%", rules.threshold_pct) } else { String::new() }
        )
    };
    let mut points = Vec::new();
    for (name, cells) in [("A", &ka), ("B", &kb)] {
        for (k, c) in cells {
            let s = c.summary.as_ref().expect("measured cells have summaries");
            let x = c.cell.load.closed().map(f64::from).or(c.cell.load.rate()).or(c.cell.load.speed());
            if let Some(x) = x {
                let series =
                    format!("{name}: {} {} mt{}", k.server, k.workload, k.max_tokens).split_whitespace().collect::<Vec<_>>().join(" ");
                points.push(Point {
                    series,
                    unit: k.load.split(' ').next().unwrap_or_default().to_string(),
                    x,
                    tok_s: Some(s.throughput_tok_s),
                    p50_e2e_ms: s.e2e_seen().map(|d| d.p50).filter(|v| v.is_finite()),
                });
            }
        }
    }
    Comparison {
        a: side(a),
        b: side(b),
        rules: rules.clone(),
        pairs,
        only_a,
        only_b,
        unmeasured,
        matching,
        verdict,
        summary,
        regression,
        points,
    }
}

/// Whether a metric may be judged between two cells: both runner's own definition, or the same
/// imported tool's (a cell without an import note is runner's own).
fn comparable(x: &CellResult, y: &CellResult, m: Metric) -> Result<(), String> {
    let def = |c: &CellResult| c.import.as_ref().map(|i| (i.tool, i.metric(m).map(|n| n.comparable)));
    match (def(x), def(y)) {
        (None, None) => Ok(()),
        (Some((tx, dx)), Some((ty, dy))) if tx == ty => match (dx, dy) {
            (Some(Comparable::No) | None, _) | (_, Some(Comparable::No) | None) => Err("not in the files".into()),
            _ => Ok(()),
        },
        (dx, dy) => {
            let same =
                |d: Option<(crate::results::import::PeerTool, Option<Comparable>)>| d.is_none_or(|(_, c)| c == Some(Comparable::Same));
            if same(dx) && same(dy) {
                Ok(())
            } else {
                Err("defined otherwise on one side (see the Imported figures of its report): shown, not judged".into())
            }
        }
    }
}

fn pair(
    k: &Key,
    x: &CellResult,
    y: &CellResult,
    rules: &Rules,
    rx: Option<Vec<RequestRecord>>,
    ry: Option<Vec<RequestRecord>>,
) -> CellPair {
    let (sx, sy) = (x.summary.as_ref().expect("measured"), y.summary.as_ref().expect("measured"));
    let ok = |r: Option<Vec<RequestRecord>>| {
        r.map(|v| v.into_iter().filter(|r| r.measured() && r.ok()).collect::<Vec<_>>()).filter(|v| !v.is_empty())
    };
    let (rx, ry) = (ok(rx), ok(ry));
    let seed = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{}|{}", x.cell.id, y.cell.id).as_bytes());
        u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
    };
    let mut deltas = Vec::new();
    type Sample = fn(&RequestRecord) -> Option<f64>;
    type Judged<'a> = (&'a str, Metric, Sample, Option<f64>, Option<f64>);
    let lat: [Judged; 3] = [
        ("p50 TTFT ms", Metric::Ttft, RequestRecord::ttft_from_scheduled_ms, sx.ttft_seen().map(|d| d.p50), sy.ttft_seen().map(|d| d.p50)),
        ("p50 TPOT ms", Metric::Tpot, RequestRecord::tpot_ms, sx.tpot_ms.as_ref().map(|d| d.p50), sy.tpot_ms.as_ref().map(|d| d.p50)),
        ("p50 E2E ms", Metric::E2e, RequestRecord::e2e_from_scheduled_ms, sx.e2e_seen().map(|d| d.p50), sy.e2e_seen().map(|d| d.p50)),
    ];
    for (i, (name, metric, f, a, b)) in lat.into_iter().enumerate() {
        let mut d = delta(name, a, b, true);
        match comparable(x, y, metric) {
            Err(why) => d.test = why,
            Ok(()) => match (&rx, &ry) {
                (Some(rx), Some(ry)) => {
                    let va: Vec<f64> = rx.iter().filter_map(f).filter(|v| v.is_finite()).collect();
                    let vb: Vec<f64> = ry.iter().filter_map(f).filter(|v| v.is_finite()).collect();
                    judge_bootstrap(&mut d, &va, &vb, rules, seed.wrapping_add(i as u64));
                }
                _ => d.test = "no per-request data on one side: no noise test".into(),
            },
        }
        deltas.push(d);
    }
    for (name, metric, a, b) in [
        ("p95 TTFT ms", Metric::Ttft, sx.ttft_seen().map(|d| d.p95), sy.ttft_seen().map(|d| d.p95)),
        ("p95 E2E ms", Metric::E2e, sx.e2e_seen().map(|d| d.p95), sy.e2e_seen().map(|d| d.p95)),
    ] {
        let mut d = delta(name, a, b, true);
        d.test = match comparable(x, y, metric) {
            Err(why) => why,
            Ok(()) => "shown, not judged (a tail percentile of one run is too noisy to judge; its median is judged)".into(),
        };
        deltas.push(d);
    }
    let mut t = delta("output tok/s", Some(sx.throughput_tok_s), Some(sy.throughput_tok_s), false);
    match comparable(x, y, Metric::Throughput) {
        Err(why) => t.test = why,
        Ok(()) => judge_repeats(&mut t, x, y, rules),
    }
    deltas.push(t);
    // The cell's verdict is what its users see (TTFT, E2E, throughput); TPOT is judged and shown as a
    // component (one slot decodes a request faster while its queue makes TTFT and E2E worse).
    let judged: Vec<&Delta> = deltas.iter().filter(|d| d.verdict != Verdict::NotJudged && !d.metric.contains("TPOT")).collect();
    let worse = judged.iter().any(|d| d.verdict == Verdict::Worse);
    let better = judged.iter().any(|d| d.verdict == Verdict::Better);
    let verdict = match (judged.is_empty(), worse, better) {
        (true, _, _) => Verdict::NotJudged,
        (_, true, true) => Verdict::Mixed,
        (_, true, false) => Verdict::Worse,
        (_, false, true) => Verdict::Better,
        _ => Verdict::NoMeasurableChange,
    };
    let worst_pct = judged
        .iter()
        .filter(|d| d.verdict == Verdict::Worse)
        .filter_map(|d| d.change_pct.map(|c| if d.lower_is_better { c } else { -c }))
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let mut flags = Vec::new();
    for (side, c) in [("A", x), ("B", y)] {
        if c.quality.disturbed {
            flags.push(format!("{side} disturbed (others used the machine): its verdict may be wrong"));
        }
        if c.quality.unstable {
            flags.push(format!("{side} unstable (its SLO verdict differed between repeats)"));
        }
        if let Some(i) = &c.import {
            flags.push(format!("{side} from {}", i.source_label()));
        }
    }
    CellPair {
        key: format!(
            "{} / {} / {} / max_tokens {}",
            if k.server.is_empty() { &x.server } else { &k.server },
            x.cell.workload,
            k.load,
            k.max_tokens
        ),
        a_cell: x.cell.id.clone(),
        b_cell: y.cell.id.clone(),
        load_label: k.load.clone(),
        deltas,
        verdict,
        worst_pct,
        regression: worst_pct.is_some_and(|w| w >= rules.threshold_pct),
        flags,
    }
}
