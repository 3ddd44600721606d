//! A measured cell's status, decided from what was measured: pure, table-tested.

use crate::results::records::CellStatus;
use crate::results::slo::Verdict;
use crate::results::summary::CellSummary;

/// How the measured phase of a cell ended, besides running to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Every measured request ran.
    Completed,
    /// Ctrl-C/SIGTERM arrived during the cell.
    Interrupted,
    /// A search probe's early check stopped it, clearly failing: why.
    StoppedEarly(String),
}

/// The status and its reason, from the cell's summary (its counted requests), its SLO verdict and
/// how the measured phase ended.
pub fn cell_status(summary: &CellSummary, verdict: &Verdict, ended: &Ended) -> (CellStatus, Option<String>) {
    match ended {
        Ended::Interrupted => (CellStatus::Interrupted, Some("interrupted by the user (Ctrl-C/SIGTERM)".to_string())),
        _ if summary.ok == 0 => {
            let reasons: Vec<String> = summary.errors_by_reason.iter().map(|(k, v)| format!("{} x{v}", k.as_str())).collect();
            let reasons = if reasons.is_empty() { "no request was sent".to_string() } else { reasons.join(", ") };
            (CellStatus::Failed, Some(format!("every request failed: {reasons}")))
        }
        Ended::StoppedEarly(why) => (
            CellStatus::SloFail,
            Some(std::iter::once(why.clone()).chain(verdict.violations.iter().cloned()).collect::<Vec<_>>().join("; ")),
        ),
        Ended::Completed if verdict.pass => (CellStatus::Ok, None),
        Ended::Completed => (CellStatus::SloFail, Some(verdict.violations.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::record::ErrorClass;

    fn summary(ok: usize, errors: &[(ErrorClass, usize)]) -> CellSummary {
        let mut s = crate::results::summary::summarize(&[], 0.0, None);
        s.ok = ok;
        s.errors_by_reason = errors.iter().copied().collect();
        s
    }

    fn verdict(violations: &[&str]) -> Verdict {
        Verdict { pass: violations.is_empty(), violations: violations.iter().map(|v| v.to_string()).collect() }
    }

    #[test]
    fn status_table() {
        let early = Ended::StoppedEarly("clearly failing".into());
        let cases: Vec<(CellSummary, Verdict, Ended, CellStatus, Option<&str>)> = vec![
            (summary(10, &[]), verdict(&[]), Ended::Completed, CellStatus::Ok, None),
            (
                summary(10, &[]),
                verdict(&["p95 TTFT 900 ms > 500 ms"]),
                Ended::Completed,
                CellStatus::SloFail,
                Some("p95 TTFT 900 ms > 500 ms"),
            ),
            // Interrupted wins over everything: the cell is measured again on resume.
            (
                summary(0, &[(ErrorClass::Interrupted, 3)]),
                verdict(&[]),
                Ended::Interrupted,
                CellStatus::Interrupted,
                Some("interrupted by the user (Ctrl-C/SIGTERM)"),
            ),
            (
                summary(10, &[]),
                verdict(&["x"]),
                Ended::Interrupted,
                CellStatus::Interrupted,
                Some("interrupted by the user (Ctrl-C/SIGTERM)"),
            ),
            (
                summary(0, &[(ErrorClass::Connect, 2), (ErrorClass::Http5xx, 1)]),
                verdict(&["x"]),
                Ended::Completed,
                CellStatus::Failed,
                Some("every request failed: connect x2, http_5xx x1"),
            ),
            (summary(0, &[]), verdict(&[]), Ended::Completed, CellStatus::Failed, Some("every request failed: no request was sent")),
            // Nothing succeeded: failed, even when the probe was stopped early.
            (
                summary(0, &[(ErrorClass::Timeout, 4)]),
                verdict(&[]),
                early.clone(),
                CellStatus::Failed,
                Some("every request failed: timeout x4"),
            ),
            (
                summary(5, &[]),
                verdict(&["p95 E2E 3 s > 1 s"]),
                early.clone(),
                CellStatus::SloFail,
                Some("clearly failing; p95 E2E 3 s > 1 s"),
            ),
            (summary(5, &[]), verdict(&[]), early, CellStatus::SloFail, Some("clearly failing")),
        ];
        for (i, (s, v, e, status, reason)) in cases.into_iter().enumerate() {
            let (got, why) = cell_status(&s, &v, &e);
            assert_eq!((got, why.as_deref()), (status, reason), "case {i}: {e:?}");
        }
    }
}
