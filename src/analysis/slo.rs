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

pub fn judge(s: &CellSummary, slo: Option<&Slo>) -> Verdict {
    let mut violations = Vec::new();
    let default = Slo::default();
    let slo = slo.unwrap_or(&default);
    if s.ok == 0 {
        violations.push("no request succeeded".to_string());
    }
    if s.error_rate > slo.max_error_rate {
        violations.push(format!("error rate {:.1}% > {:.1}%", s.error_rate * 100.0, slo.max_error_rate * 100.0));
    }
    // TTFT and E2E from the scheduled send: client-side queueing (open loop) counts against the SLO.
    let checks = [
        ("p95 TTFT", slo.p95_ttft_ms, s.ttft_seen().map(|d| d.p95)),
        ("p95 E2E", slo.p95_e2e_ms, s.e2e_seen().map(|d| d.p95)),
        ("p95 TPOT", slo.p95_tpot_ms, s.tpot_ms.as_ref().map(|d| d.p95)),
    ];
    for (name, limit, value) in checks {
        match (limit, value) {
            (Some(limit), Some(v)) if v > limit => violations.push(format!("{name} {v:.0} ms > {limit:.0} ms")),
            (Some(_), None) if s.ok > 0 => violations.push(format!("{name} was not measured")),
            _ => {}
        }
    }
    Verdict { pass: violations.is_empty(), violations }
}
