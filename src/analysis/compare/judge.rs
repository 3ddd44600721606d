//! How one metric of a matched pair is judged: its change, a seeded bootstrap of the request medians,
//! the repeats' spread for throughput, and the rule that turns a change into a verdict.

use super::{Delta, Rules, Verdict};
use crate::results::records::CellResult;
use rand::{Rng, SeedableRng};

pub(super) fn delta(name: &str, a: Option<f64>, b: Option<f64>, lower_is_better: bool) -> Delta {
    let (a, b) = (a.filter(|v| v.is_finite()), b.filter(|v| v.is_finite()));
    Delta {
        metric: name.into(),
        a,
        b,
        change_pct: a.zip(b).filter(|(a, _)| *a != 0.0).map(|(a, b)| (b - a) / a * 100.0),
        ci_pct: None,
        test: String::new(),
        verdict: Verdict::NotJudged,
        lower_is_better,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    crate::results::summary::percentile(v, 50.0)
}

/// The fewest requests a side needs for its median to be tested.
const MIN_SAMPLES: usize = 8;

/// A seeded bootstrap of the relative change of the medians (B against A).
pub(super) fn judge_bootstrap(d: &mut Delta, a: &[f64], b: &[f64], rules: &Rules, seed: u64) {
    if a.len() < MIN_SAMPLES || b.len() < MIN_SAMPLES {
        d.test = format!("{} vs {} requests: too few to test (at least {MIN_SAMPLES} a side)", a.len(), b.len());
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut ra, mut rb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    let mut changes = Vec::with_capacity(rules.resamples);
    for _ in 0..rules.resamples {
        for x in ra.iter_mut() {
            *x = a[rng.gen_range(0..a.len())];
        }
        for x in rb.iter_mut() {
            *x = b[rng.gen_range(0..b.len())];
        }
        let (ma, mb) = (median(&mut ra), median(&mut rb));
        if ma > 0.0 {
            changes.push((mb - ma) / ma * 100.0);
        }
    }
    changes.sort_by(f64::total_cmp);
    if changes.is_empty() {
        d.test = "a median of zero: not tested".into();
        return;
    }
    let lo = crate::results::summary::percentile(&changes, 2.5);
    let hi = crate::results::summary::percentile(&changes, 97.5);
    d.ci_pct = Some((lo, hi));
    d.test = format!("bootstrap of the median, {} vs {} requests, {} resamples", a.len(), b.len(), rules.resamples);
    let change = {
        let (mut x, mut y) = (a.to_vec(), b.to_vec());
        let (ma, mb) = (median(&mut x), median(&mut y));
        (mb - ma) / ma * 100.0
    };
    d.verdict = decide(change, lo > 0.0 || hi < 0.0, d.lower_is_better, rules);
}

/// Throughput: judged only where both cells ran repeats (their min..max must not overlap).
pub(super) fn judge_repeats(d: &mut Delta, x: &CellResult, y: &CellResult, rules: &Rules) {
    let range = |c: &CellResult| c.quality.spread.as_ref().and_then(|s| s.throughput_tok_s);
    match (range(x), range(y)) {
        (Some(rx), Some(ry)) => {
            let apart = rx.max < ry.min || ry.max < rx.min;
            d.test = format!(
                "repeats' spread: A {:.1}..{:.1}, B {:.1}..{:.1} tok/s ({})",
                rx.min,
                rx.max,
                ry.min,
                ry.max,
                if apart { "apart" } else { "overlapping" }
            );
            d.verdict = d.change_pct.map_or(Verdict::NotJudged, |c| decide(c, apart, false, rules));
        }
        _ => d.test = "one repeat on a side: no noise estimate for throughput (set `repeats` to judge it)".into(),
    }
}

fn decide(change_pct: f64, significant: bool, lower_is_better: bool, rules: &Rules) -> Verdict {
    if !significant || change_pct.abs() < rules.min_effect_pct {
        return Verdict::NoMeasurableChange;
    }
    if (change_pct > 0.0) == lower_is_better {
        Verdict::Worse
    } else {
        Verdict::Better
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::default()
    }

    #[test]
    fn the_same_samples_show_no_change_and_a_doubling_is_worse_with_its_size() {
        let a: Vec<f64> = (0..32).map(|i| 100.0 + (i % 7) as f64 * 3.0).collect();
        let mut d = delta("p50 E2E ms", Some(110.0), Some(110.0), true);
        judge_bootstrap(&mut d, &a, &a, &rules(), 1);
        assert_eq!(d.verdict, Verdict::NoMeasurableChange, "{d:?}");
        let b: Vec<f64> = a.iter().map(|x| x * 2.0).collect();
        let mut d = delta("p50 E2E ms", Some(110.0), Some(220.0), true);
        judge_bootstrap(&mut d, &a, &b, &rules(), 1);
        assert_eq!(d.verdict, Verdict::Worse, "{d:?}");
        let (lo, hi) = d.ci_pct.unwrap();
        assert!(lo > 50.0 && hi < 150.0, "{lo}..{hi}");
        let mut d = delta("p50 E2E ms", Some(220.0), Some(110.0), true);
        judge_bootstrap(&mut d, &b, &a, &rules(), 1);
        assert_eq!(d.verdict, Verdict::Better);
    }

    #[test]
    fn a_small_significant_shift_is_no_measurable_change_and_few_samples_are_not_judged() {
        let a: Vec<f64> = (0..200).map(|i| 100.0 + (i % 10) as f64 * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|x| x * 1.02).collect();
        let mut d = delta("p50 TTFT ms", Some(100.0), Some(102.0), true);
        judge_bootstrap(&mut d, &a, &b, &rules(), 3);
        assert!(d.ci_pct.unwrap().0 > 0.0, "significant: {d:?}");
        assert_eq!(d.verdict, Verdict::NoMeasurableChange, "2% is below the 5% minimum effect");
        let mut d = delta("p50 TTFT ms", Some(100.0), Some(200.0), true);
        judge_bootstrap(&mut d, &a[..4], &b[..4], &rules(), 3);
        assert_eq!(d.verdict, Verdict::NotJudged);
        assert!(d.test.contains("too few"), "{}", d.test);
    }

    #[test]
    fn throughput_falls_as_a_regression_only_when_higher_was_better() {
        assert_eq!(decide(-40.0, true, false, &rules()), Verdict::Worse);
        assert_eq!(decide(40.0, true, false, &rules()), Verdict::Better);
        assert_eq!(decide(40.0, false, false, &rules()), Verdict::NoMeasurableChange);
        assert_eq!(decide(40.0, true, true, &rules()), Verdict::Worse);
    }
}
