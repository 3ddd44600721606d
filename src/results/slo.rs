//! SLO verdicts per cell. Pure.

use super::summary::CellSummary;
use crate::scenario::schema::Slo;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub pass: bool,
    /// Each violated threshold, e.g. "p95 E2E 1830 ms > 1500 ms".
    pub violations: Vec<String>,
}

/// Each p95 threshold of the SLO with the cell's figure for it: (name, threshold, observed). TTFT and
/// E2E count from the scheduled send: client-side queueing (open loop) counts against the SLO.
fn p95_checks(s: &CellSummary, slo: &Slo) -> [(&'static str, Option<f64>, Option<f64>); 3] {
    let observed = [s.ttft_seen().map(|d| d.p95), s.e2e_seen().map(|d| d.p95), s.tpot_ms.as_ref().map(|d| d.p95)];
    let limits = slo.p95_limits();
    std::array::from_fn(|i| (limits[i].0, limits[i].1, observed[i]))
}

/// The verdict of a cell against its workload's SLO. Without an SLO nothing can be violated: errors
/// are counted and shown, but do not fail the cell (only a cell where no request succeeded fails).
pub fn judge(s: &CellSummary, slo: Option<&Slo>) -> Verdict {
    let mut violations = Vec::new();
    if s.ok == 0 {
        violations.push("no request succeeded".to_string());
    }
    let Some(slo) = slo else { return Verdict { pass: violations.is_empty(), violations } };
    if s.error_rate > slo.max_error_rate {
        violations.push(format!("error rate {:.1}% > {:.1}%", s.error_rate * 100.0, slo.max_error_rate * 100.0));
    }
    for (name, limit, value) in p95_checks(s, slo) {
        match (limit, value) {
            (Some(limit), Some(v)) if v > limit => violations.push(format!("{name} {v:.0} ms > {limit:.0} ms")),
            (Some(_), None) if s.ok > 0 => violations.push(format!("{name} was not measured")),
            _ => {}
        }
    }
    Verdict { pass: violations.is_empty(), violations }
}

/// A cell against the search's goal as one number: the worst of observed / threshold over the SLO's
/// p95 thresholds (<= 1 meets them all), or with a goodput goal the share of requests that missed a
/// per-request threshold over the share allowed to miss (`1 - min_good_share`): 0 when every request
/// was good, 1 exactly at the wanted share, so that "near 1" means near the wanted share (with
/// `min_good_share = 1` one bad request makes it 2). Errors beyond `max_error_rate` make the ratio at
/// least 2 (clearly failing: no re-measurement near the threshold). None when nothing succeeded.
pub fn ratio(s: &CellSummary, slo: &Slo, min_good_share: Option<f64>) -> Option<f64> {
    if s.ok == 0 {
        return None;
    }
    let mut worst: f64 = 0.0;
    match min_good_share {
        Some(want) => {
            let bad = 1.0 - s.good_share.unwrap_or(0.0);
            let allowed = 1.0 - want;
            worst = if allowed > 1e-9 {
                bad / allowed
            } else if bad > 1e-9 {
                2.0
            } else {
                0.0
            };
        }
        None => {
            for (_, limit, value) in p95_checks(s, slo) {
                if let Some(limit) = limit {
                    // A threshold that could not be measured fails the probe (as the verdict does).
                    worst = worst.max(value.map_or(f64::INFINITY, |v| v / limit));
                }
            }
        }
    }
    if s.error_rate > slo.max_error_rate {
        worst = worst.max(2.0);
    }
    Some(worst)
}

/// A probe that is clearly failing: after at least `min_done` finished requests (checked every 4th),
/// the running p95 of a thresholded latency is above `factor` x its threshold. The reason names the
/// figure, the threshold and how many requests it rests on.
pub fn clearly_failing(
    records: &[crate::results::record::RequestRecord],
    slo: &Slo,
    factor: f64,
    min_done: usize,
    total: usize,
) -> Option<String> {
    let n = records.len();
    if factor <= 1.0 || n < min_done.max(1) || n % 4 != 0 {
        return None;
    }
    let s = super::summary::summarize(records, 0.0, None);
    p95_checks(&s, slo).into_iter().find_map(|(name, limit, value)| {
        let (limit, v) = (limit?, value?);
        (v > factor * limit)
            .then(|| format!("stopped early: running {name} {v:.0} ms > {factor} x {limit:.0} ms after {n} of {total} requests"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::record::RequestRecord;
    use crate::results::summary::summarize;

    fn records(failed: usize) -> Vec<RequestRecord> {
        let good = RequestRecord {
            first_token_ms: Some(10.0),
            chunk_offsets_ms: vec![10.0, 20.0],
            end_ms: 21.0,
            streamed: true,
            output_tokens: Some(2),
            ..Default::default()
        };
        let bad = RequestRecord { error: Some(crate::results::record::ErrorClass::Http5xx), ..Default::default() };
        std::iter::repeat_n(good, 9).chain(std::iter::repeat_n(bad, failed)).collect()
    }

    #[test]
    fn the_search_ratio_is_the_worst_threshold_or_the_goodput_shortfall() {
        // TTFT 10 ms, TPOT 10 ms: against 20 ms TTFT and 5 ms TPOT, TPOT binds at 2x.
        let slo = Slo { p95_ttft_ms: Some(20.0), p95_tpot_ms: Some(5.0), ..Slo::default() };
        let s = summarize(&records(0), 1.0, Some(&slo));
        let r = ratio(&s, &slo, None).unwrap();
        let (ttft, tpot) = (s.ttft_seen().unwrap().p95, s.tpot_ms.as_ref().unwrap().p95);
        assert_eq!(r, (ttft / 20.0).max(tpot / 5.0));
        assert!(tpot / 5.0 > ttft / 20.0 && r >= 2.0, "TPOT binds: {r}");
        // Goodput: every request is good against 20 ms TTFT alone: nothing of the 20% allowed to miss
        // is used, whatever share is wanted (a perfect probe is never "near the threshold").
        let lax = Slo { ttft_ms: Some(20.0), ..Slo::default() };
        let s = summarize(&records(0), 1.0, Some(&lax));
        assert_eq!((ratio(&s, &lax, Some(0.8)), ratio(&s, &lax, Some(1.0))), (Some(0.0), Some(0.0)));
        // Against 9 ms none of the 9 requests (10 ms TTFT) is good.
        let strict = Slo { ttft_ms: Some(9.0), ..Slo::default() };
        let s = summarize(&records(0), 1.0, Some(&strict));
        assert_eq!(s.good_share, Some(0.0));
        // All 9 miss: the whole share misses, 5x the 20% allowed; wanting every request good, 2.
        assert_eq!((ratio(&s, &strict, Some(0.8)).map(|r| (r * 1e9).round() / 1e9), ratio(&s, &strict, Some(1.0))), (Some(5.0), Some(2.0)));
        // Errors beyond the budget fail clearly, whatever the latency.
        let s = summarize(&records(1), 1.0, Some(&lax));
        assert_eq!(ratio(&s, &lax, Some(0.5)), Some(2.0));
    }

    #[test]
    fn a_probe_is_clearly_failing_only_past_the_factor_with_enough_requests() {
        let slo = Slo { p95_ttft_ms: Some(4.0), ..Slo::default() };
        let recs = records(0);
        // p95 TTFT 10 ms > 2 x 4 ms after 8 of 9 requests (checked every 4th).
        let why = clearly_failing(&recs[..8], &slo, 2.0, 8, 9).unwrap();
        assert!(why.contains("running p95 TTFT 10 ms > 2 x 4 ms after 8 of 9"), "{why}");
        assert_eq!(clearly_failing(&recs[..4], &slo, 2.0, 8, 9), None, "too few requests yet");
        assert_eq!(clearly_failing(&recs[..8], &slo, 3.0, 8, 9), None, "10 ms is not above 3 x 4 ms");
    }

    #[test]
    fn without_an_slo_a_failed_request_does_not_fail_the_cell() {
        let s = summarize(&records(1), 1.0, None);
        assert_eq!(s.errors, 1);
        assert!(judge(&s, None).pass, "{:?}", judge(&s, None));
        // With an SLO, its max_error_rate (default 0) decides.
        let v = judge(&s, Some(&Slo::default()));
        assert!(!v.pass && v.violations[0].starts_with("error rate 10.0%"), "{v:?}");
        // No request succeeded: a failure with or without an SLO.
        let none_ok = summarize(&records(3)[9..], 1.0, None);
        assert!(!judge(&none_ok, None).pass);
    }
}
