//! The SLO boundary search's decisions: given the probes measured so far on one launch, where to
//! probe next, what to re-measure, and when the boundary is found. Pure, so the whole search can be
//! driven by a test with a known latency law; `execute::search` runs the probes.
//!
//! - Probes go up exponentially from the lower bound (x2) until one fails or the upper bound is
//!   reached, then bisect between the highest passing and the lowest failing load down to the
//!   resolution.
//! - Verdicts are never taken on one noisy number: each probe's figure is the worst SLO ratio
//!   (observed / threshold, so <= 1 passes), and the decision reads a monotone (isotonic,
//!   non-decreasing in load) fit over all probes so far, so one lucky or unlucky probe cannot make
//!   latency fall as load rises.
//! - A probe within `near` of the threshold is measured again (up to `max_measurements` times), and a
//!   probe measured on a disturbed machine is re-run, not believed.

use super::{slug, Cell, Load};
use crate::scenario::schema::{FlagValue, Search, SearchLoad};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One search: a workload on one launch (server config). Its probes are cells `<id>-p<n>-...`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    pub index: usize,
    pub id: String,
    pub launch: usize,
    pub workload: String,
    pub max_tokens: u32,
    /// The launch's server-axis values (also every probe's first parameters).
    pub axes: IndexMap<String, FlagValue>,
}

impl Target {
    pub fn new(index: usize, launch: usize, workload: &str, max_tokens: u32, axes: &IndexMap<String, FlagValue>) -> Self {
        Target {
            index,
            id: format!("s{index:02}-l{launch:02}-{}", slug(workload)),
            launch,
            workload: workload.into(),
            max_tokens,
            axes: axes.clone(),
        }
    }

    /// The cell of probe `n` (0-based, in the order measured) at `load`.
    pub fn probe_cell(&self, n: usize, kind: SearchLoad, load: f64) -> Cell {
        let load = match kind {
            SearchLoad::Concurrency => Load::Closed { concurrency: load.round().max(1.0) as u32 },
            SearchLoad::RequestRate => Load::Open { rate: load, max_in_flight: None },
            SearchLoad::TraceSpeed => Load::Trace { speed: load },
        };
        Cell {
            // Searches own disjoint index ranges, so results sort by search, then probe order.
            index: (self.index + 1) * 1000 + n,
            id: match kind {
                SearchLoad::TraceSpeed => format!("{}-p{n:03}-{}", self.id, load.id_part()),
                _ => format!("{}-p{n:03}-{}-mt{}", self.id, load.id_part(), self.max_tokens),
            },
            launch: self.launch,
            workload: self.workload.clone(),
            load,
            max_tokens: self.max_tokens,
            params: super::cell_params(&self.axes, load, self.max_tokens),
        }
    }

    /// Whether `cell` is one of this search's probes.
    pub fn owns(&self, cell: &Cell) -> bool {
        cell.launch == self.launch && cell.workload == self.workload && cell.id.starts_with(&format!("{}-p", self.id))
    }

    /// The load a probe cell offered, in the search's units.
    pub fn load_of(cell: &Cell) -> Option<f64> {
        cell.load.rate().or(cell.load.speed()).or_else(|| cell.load.closed().map(f64::from))
    }
}

/// How finely the boundary is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// In load units (1 = one concurrent request).
    Absolute(f64),
    /// In percent of the load.
    Relative(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub min: f64,
    pub max: f64,
    pub resolution: Resolution,
    /// Loads are whole numbers (concurrency), not rates.
    pub integer: bool,
    /// Most probes one launch may take (None: no budget).
    pub max_probes: Option<usize>,
    /// Re-measure a probe whose ratio is within this share of the threshold (0.10 = 10%).
    pub near: f64,
    /// Most measurements of one load.
    pub max_measurements: usize,
    /// With `best_only`: the best boundary another config reached; a config that fails at or below
    /// it cannot beat it and stops.
    #[serde(default)]
    pub to_beat: Option<f64>,
}

impl Spec {
    /// The pure search of a validated `[search]`.
    pub fn of(x: &Search) -> Self {
        let (step, relative) = crate::scenario::search::resolution(&x.resolution).unwrap_or((1.0, false));
        Spec {
            min: x.min,
            max: x.max,
            resolution: if relative { Resolution::Relative(step) } else { Resolution::Absolute(step) },
            integer: x.load == SearchLoad::Concurrency,
            max_probes: x.max_probes.map(|m| m as usize),
            near: x.near,
            max_measurements: x.max_measurements.max(1) as usize,
            to_beat: None,
        }
    }

    /// The most probes the search can take: its budget, or the exponential phase, the bisection and
    /// the re-measurements of the loads it can visit.
    pub fn most_probes(&self) -> usize {
        if let Some(m) = self.max_probes {
            return m;
        }
        let doublings = (self.max / self.min.max(f64::MIN_POSITIVE)).log2().ceil().max(0.0) as usize + 1;
        let span = (self.max - self.min).max(0.0);
        let finest = step(self, self.min).max(f64::MIN_POSITIVE);
        let bisections = (span / finest).max(1.0).log2().ceil() as usize + 1;
        (doublings + bisections) * self.max_measurements
    }

    /// Cells a dense grid over the same range at the same resolution needs (one measurement each).
    pub fn dense_grid_cells(&self) -> usize {
        let mut n = 1;
        let mut l = self.min;
        while l < self.max && n < 100_000 {
            l += step(self, l);
            n += 1;
        }
        n
    }
}

/// One measured probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub load: f64,
    /// The worst SLO ratio of the probe (observed / threshold): <= 1 meets every SLO.
    pub ratio: f64,
    pub disturbed: bool,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    Probe { load: f64, why: String },
    Done { boundary: Option<f64>, why: String },
}

/// Pool-adjacent-violators: the non-decreasing fit of `values` (in load order), weighted by how many
/// measurements each holds. Returns one fitted value per input.
pub fn isotonic(values: &[(f64, usize)]) -> Vec<f64> {
    // Blocks of (sum, weight, count of inputs).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for &(v, w) in values {
        let w = w.max(1) as f64;
        blocks.push((v * w, w, 1));
        while blocks.len() >= 2 {
            let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
            if a.0 / a.1 <= b.0 / b.1 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
        }
    }
    blocks.iter().flat_map(|(s, w, n)| std::iter::repeat_n(s / w, *n)).collect()
}

/// Undisturbed probes by load (ascending): (load, mean ratio, measurements).
fn by_load(probes: &[Probe]) -> Vec<(f64, f64, usize)> {
    let mut loads: Vec<f64> = probes.iter().filter(|p| !p.disturbed).map(|p| p.load).collect();
    loads.sort_by(f64::total_cmp);
    loads.dedup();
    loads
        .into_iter()
        .map(|l| {
            let rs: Vec<f64> = probes.iter().filter(|p| !p.disturbed && p.load == l).map(|p| p.ratio).collect();
            (l, rs.iter().sum::<f64>() / rs.len() as f64, rs.len())
        })
        .collect()
}

/// The fitted ratio per measured load (ascending).
pub fn fit(probes: &[Probe]) -> Vec<(f64, f64)> {
    let pts = by_load(probes);
    let fitted = isotonic(&pts.iter().map(|p| (p.1, p.2)).collect::<Vec<_>>());
    pts.iter().map(|p| p.0).zip(fitted).collect()
}

fn step(spec: &Spec, load: f64) -> f64 {
    let s = match spec.resolution {
        Resolution::Absolute(a) => a,
        Resolution::Relative(pct) => load * pct / 100.0,
    };
    if spec.integer {
        s.max(1.0)
    } else {
        s
    }
}

fn round(spec: &Spec, load: f64) -> f64 {
    let l = load.clamp(spec.min, spec.max);
    if spec.integer {
        l.round()
    } else {
        l
    }
}

/// On the fit: the highest passing load and the lowest failing one.
pub fn bracket(probes: &[Probe]) -> (Option<f64>, Option<f64>) {
    let fitted = fit(probes);
    let pass = fitted.iter().filter(|(_, r)| *r <= 1.0).map(|(l, _)| *l).reduce(f64::max);
    let fail = fitted.iter().filter(|(_, r)| *r > 1.0).map(|(l, _)| *l).reduce(f64::min);
    (pass, fail)
}

/// The next decision after `probes` (in the order they were measured).
pub fn next(spec: &Spec, probes: &[Probe]) -> Decision {
    let probe = |load: f64, why: &str| Decision::Probe { load: round(spec, load), why: why.to_string() };
    let Some(last) = probes.last() else { return probe(spec.min, "start at the lower bound") };
    if last.disturbed {
        let disturbed = probes.iter().filter(|p| p.disturbed && p.load == last.load).count();
        if disturbed > spec.max_measurements {
            return Decision::Done {
                boundary: bracket(probes).0,
                why: format!(
                    "the machine stayed disturbed: {disturbed} probes at {} were disturbed; stopped rather than believe them",
                    last.load
                ),
            };
        }
        return probe(last.load, "the last probe was disturbed: re-run it, do not believe it");
    }
    let (pass, fail) = bracket(probes);
    if spec.max_probes.is_some_and(|m| probes.len() >= m) {
        return Decision::Done { boundary: pass, why: format!("the budget of {} probes is spent", probes.len()) };
    }
    // Close to the threshold, one measurement cannot carry the verdict.
    let measured = probes.iter().filter(|p| !p.disturbed && p.load == last.load).count();
    if (last.ratio - 1.0).abs() <= spec.near && measured < spec.max_measurements {
        return probe(last.load, "within the near-threshold band: measure again");
    }
    if let (Some(best), Some(f)) = (spec.to_beat, fail) {
        if f <= best {
            return Decision::Done {
                boundary: pass,
                why: format!("cannot beat the best config so far (boundary {best}): the SLO fails already at {f} (best_only)"),
            };
        }
    }
    match (pass, fail) {
        (None, Some(_)) => Decision::Done { boundary: None, why: format!("the SLO fails already at the lower bound {}", spec.min) },
        (Some(lo), None) if lo >= spec.max => {
            Decision::Done { boundary: Some(lo), why: format!("the SLO holds up to the upper bound {}", spec.max) }
        }
        (Some(lo), None) => {
            let up = if spec.integer { (lo * 2.0).max(lo + 1.0) } else { lo * 2.0 };
            probe(up.min(spec.max), "no probe has failed yet: double the load")
        }
        (Some(lo), Some(hi)) if hi - lo <= step(spec, lo) => {
            Decision::Done { boundary: Some(lo), why: format!("bracketed within the resolution: passes at {lo}, fails at {hi}") }
        }
        (Some(lo), Some(hi)) => {
            let mid = round(spec, (lo + hi) / 2.0);
            if mid <= lo || mid >= hi {
                return Decision::Done { boundary: Some(lo), why: format!("no load left between {lo} and {hi}") };
            }
            probe(mid, "bisect between the highest pass and the lowest fail")
        }
        (None, None) => probe(spec.min, "no undisturbed probe yet"),
    }
}

/// How latency crosses the boundary, from the fit: a cliff when the step from the last passing load
/// to the first failing one multiplies the ratio by 2 or more, or starts from 0 (a goodput goal's
/// ratio is 0 while every request is good: none missing, then too many, in one step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryKind {
    Smooth,
    Cliff,
}

pub fn boundary_kind(probes: &[Probe]) -> Option<BoundaryKind> {
    let f = fit(probes);
    let i = f.iter().position(|(_, r)| *r > 1.0)?;
    let (below, above) = (f.get(i.checked_sub(1)?)?.1, f[i].1);
    Some(if below <= 0.0 || above / below >= 2.0 { BoundaryKind::Cliff } else { BoundaryKind::Smooth })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            min: 1.0,
            max: 256.0,
            resolution: Resolution::Absolute(1.0),
            integer: true,
            max_probes: None,
            near: 0.10,
            max_measurements: 3,
            to_beat: None,
        }
    }

    /// Drives the search against a server whose p95 follows a known law of the load, with optional
    /// deterministic noise; returns (boundary, probes).
    fn search(spec: &Spec, law: impl Fn(f64) -> f64, noise: impl Fn(usize) -> f64) -> (Option<f64>, Vec<Probe>) {
        let mut probes = Vec::new();
        loop {
            match next(spec, &probes) {
                Decision::Probe { load, .. } => {
                    let n = probes.len();
                    probes.push(Probe { load, ratio: law(load) * (1.0 + noise(n)), disturbed: false });
                }
                Decision::Done { boundary, .. } => return (boundary, probes),
            }
            assert!(probes.len() < 200, "the search does not end");
        }
    }

    #[test]
    fn isotonic_pools_violators() {
        assert_eq!(isotonic(&[(1.0, 1), (3.0, 1), (2.0, 1), (4.0, 1)]), vec![1.0, 2.5, 2.5, 4.0]);
        // Weighted: three measurements of 2.0 outweigh one 3.0 before them.
        assert_eq!(isotonic(&[(3.0, 1), (2.0, 3)]), vec![2.25, 2.25]);
    }

    #[test]
    fn finds_a_known_boundary_exactly_with_few_probes() {
        // p95 = 100 ms up to 12 in flight, then +25 ms per request: the 300 ms SLO holds up to 20.
        let law = |c: f64| (100.0 + 25.0 * (c - 12.0).max(0.0)) / 300.0;
        let (b, probes) = search(&spec(), law, |_| 0.0);
        assert_eq!(b, Some(20.0));
        eprintln!("noise-free: boundary 20 in {} probes", probes.len());
        // A dense grid over 1..=256 is 256 cells; 40% of it is 102.
        assert!(probes.len() <= 16, "{} probes: {probes:?}", probes.len());
        assert_eq!(boundary_kind(&probes), Some(BoundaryKind::Smooth));
    }

    #[test]
    fn stays_within_one_step_under_noise() {
        let law = |c: f64| (100.0 + 25.0 * (c - 12.0).max(0.0)) / 300.0;
        // +-6% alternating noise: near the threshold the search measures again and the fit smooths it.
        let (b, probes) = search(&spec(), law, |n| if n % 2 == 0 { 0.06 } else { -0.06 });
        let b = b.unwrap();
        eprintln!("+-6% noise: boundary {b} in {} probes", probes.len());
        assert!((b - 20.0).abs() <= 1.0, "boundary {b}, probes {probes:?}");
        assert!(probes.len() <= 40, "{} probes", probes.len());
    }

    #[test]
    fn a_disturbed_probe_is_rerun_and_a_cliff_is_named() {
        let mut probes = vec![Probe { load: 1.0, ratio: 0.2, disturbed: false }, Probe { load: 2.0, ratio: 5.0, disturbed: true }];
        assert!(matches!(next(&spec(), &probes), Decision::Probe { load, .. } if load == 2.0));
        probes.push(Probe { load: 2.0, ratio: 0.3, disturbed: false });
        // Latency x5 between 32 and 33: a cliff.
        let law = |c: f64| if c <= 32.0 { 0.3 } else { 1.5 };
        let (b, probes) = search(&spec(), law, |_| 0.0);
        assert_eq!((b, boundary_kind(&probes)), (Some(32.0), Some(BoundaryKind::Cliff)));
        // Goodput: every request good up to 32, then 30% missing where 10% may: a cliff from 0.
        let (_, probes) = search(&spec(), |c: f64| if c <= 32.0 { 0.0 } else { 3.0 }, |_| 0.0);
        assert_eq!(boundary_kind(&probes), Some(BoundaryKind::Cliff));
        // 9% missing, then 14% (of 10% allowed): smooth.
        let (_, probes) = search(&spec(), |c: f64| if c <= 32.0 { 0.9 } else { 1.4 }, |_| 0.0);
        assert_eq!(boundary_kind(&probes), Some(BoundaryKind::Smooth));
    }

    #[test]
    fn best_only_stops_a_config_that_cannot_beat_the_best_so_far() {
        // Another config held up to 20; this one fails at 16 already: it cannot beat 20.
        let best_only = Spec { to_beat: Some(20.0), ..spec() };
        let law = |c: f64| c / 10.0;
        let (b, probes) = search(&best_only, law, |_| 0.0);
        assert_eq!(b, Some(8.0));
        assert_eq!(probes.iter().map(|p| p.load).collect::<Vec<_>>(), [1.0, 2.0, 4.0, 8.0, 16.0]);
        assert!(matches!(next(&best_only, &probes), Decision::Done { why, .. } if why.contains("cannot beat")));
        // Without best_only it bisects on.
        assert!(search(&spec(), law, |_| 0.0).1.len() > 5);
    }

    #[test]
    fn most_probes_bounds_every_search_and_the_dense_grid_is_counted() {
        let s = Spec { max_measurements: 2, ..spec() };
        for knee in [1.0, 3.0, 20.0, 100.0, 255.0] {
            let (_, probes) = search(&s, |c| c / knee, |n| if n % 2 == 0 { 0.05 } else { -0.05 });
            assert!(probes.len() <= s.most_probes(), "{} probes > {} for knee {knee}", probes.len(), s.most_probes());
        }
        assert_eq!(s.dense_grid_cells(), 256);
        let pct = Spec { min: 1.0, max: 8.0, resolution: Resolution::Relative(50.0), integer: false, ..spec() };
        // 1, 1.5, 2.25, 3.375, 5.06, 7.59, then past 8.
        assert_eq!(pct.dense_grid_cells(), 7);
    }

    #[test]
    fn bounds_and_budget_end_the_search() {
        let (b, _) = search(&spec(), |_| 2.0, |_| 0.0);
        assert_eq!(b, None, "fails at the lower bound");
        let (b, _) = search(&spec(), |_| 0.5, |_| 0.0);
        assert_eq!(b, Some(256.0), "holds up to the upper bound");
        let budget = Spec { max_probes: Some(3), ..spec() };
        let (b, probes) = search(&budget, |c| c / 100.0, |_| 0.0);
        assert_eq!((b, probes.len()), (Some(4.0), 3));
    }
}
