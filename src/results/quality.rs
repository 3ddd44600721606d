//! Whether a cell's figures can be trusted: repeats (median and spread), a verdict that flips between
//! repeats (`unstable`), and a machine that others were using meanwhile (`disturbed`). Pure.

use super::summary::CellSummary;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The figures of one repeat of a cell (all measured on the same launch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatFigures {
    pub p95_ttft_ms: Option<f64>,
    pub p95_e2e_ms: Option<f64>,
    pub throughput_tok_s: f64,
    /// This repeat's own SLO verdict.
    pub pass: bool,
    /// CPU used by others meanwhile, in % of all cores (None: not measurable here).
    pub others_cpu_pct: Option<f64>,
    pub disturbed: bool,
}

/// A closed range of one figure over the repeats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    fn of(values: impl IntoIterator<Item = f64>) -> Option<Range> {
        values
            .into_iter()
            .filter(|v| v.is_finite())
            .fold(None, |r: Option<Range>, v| Some(r.map_or(Range { min: v, max: v }, |r| Range { min: r.min.min(v), max: r.max.max(v) })))
    }
}

/// Spread of the figures a verdict rests on, over the repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub p95_ttft_ms: Option<Range>,
    pub p95_e2e_ms: Option<Range>,
    pub throughput_tok_s: Option<Range>,
}

/// How far a cell's figures can be trusted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Others used more than `[scenario] disturbed_above_pct` of the machine's CPU during a repeat of this cell.
    pub disturbed: bool,
    /// The highest share of the machine's CPU others used during any repeat.
    pub others_cpu_pct: Option<f64>,
    /// The SLO verdict differed between repeats.
    pub unstable: bool,
    /// One entry per repeat (a single entry without `repeats`).
    pub repeats: Vec<RepeatFigures>,
    /// min..max over the repeats (None for a single repeat).
    pub spread: Option<Spread>,
}

impl Quality {
    pub fn of(repeats: Vec<RepeatFigures>) -> Quality {
        let spread = (repeats.len() > 1).then(|| Spread {
            p95_ttft_ms: Range::of(repeats.iter().filter_map(|r| r.p95_ttft_ms)),
            p95_e2e_ms: Range::of(repeats.iter().filter_map(|r| r.p95_e2e_ms)),
            throughput_tok_s: Range::of(repeats.iter().map(|r| r.throughput_tok_s)),
        });
        Quality {
            disturbed: repeats.iter().any(|r| r.disturbed),
            others_cpu_pct: repeats.iter().filter_map(|r| r.others_cpu_pct).reduce(f64::max),
            unstable: repeats.iter().any(|r| r.pass != repeats[0].pass),
            repeats,
            spread,
        }
    }

    /// Flags as words for tables and CSV: "disturbed", "unstable", "disturbed unstable" or "".
    pub fn flags(&self) -> String {
        [(self.disturbed, "disturbed"), (self.unstable, "unstable")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, w)| *w)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Field by field median of JSON values of the same shape; non-numbers come from the first.
fn median_value(values: &[&Value]) -> Value {
    match values.first() {
        Some(Value::Object(first)) => {
            let mut out = first.clone();
            for (k, v) in out.iter_mut() {
                let same: Vec<&Value> = values.iter().filter_map(|x| x.get(k)).collect();
                *v = median_value(&same);
            }
            Value::Object(out)
        }
        Some(Value::Number(n)) => {
            let nums: Vec<f64> = values.iter().filter_map(|x| x.as_f64()).collect();
            let m = median(nums);
            if n.is_f64() {
                serde_json::Number::from_f64(m).map_or(Value::Null, Value::Number)
            } else {
                Value::from(m.round() as u64)
            }
        }
        Some(v) => (*v).clone(),
        None => Value::Null,
    }
}

/// The cell's figures over its repeats: every number is the median of that number over the repeats
/// (percentiles, throughput, counts), so one noisy repeat moves nothing.
pub fn median_summary(summaries: &[CellSummary]) -> Option<CellSummary> {
    match summaries {
        [] => None,
        [one] => Some(one.clone()),
        many => {
            let values: Vec<Value> = many.iter().filter_map(|s| serde_json::to_value(s).ok()).collect();
            let refs: Vec<&Value> = values.iter().collect();
            serde_json::from_value(median_value(&refs)).ok().or_else(|| Some(many[many.len() / 2].clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::record::RequestRecord;
    use crate::results::summary::summarize;

    fn summary(ttft: f64, tokens: u64) -> CellSummary {
        let r = RequestRecord {
            first_token_ms: Some(ttft),
            chunk_offsets_ms: vec![ttft, ttft + 10.0],
            end_ms: ttft + 11.0,
            streamed: true,
            output_tokens: Some(tokens),
            ..Default::default()
        };
        summarize(&[r], 1.0, None)
    }

    fn figures(p95_ttft: f64, tok: f64, pass: bool, others: f64) -> RepeatFigures {
        RepeatFigures {
            p95_ttft_ms: Some(p95_ttft),
            p95_e2e_ms: None,
            throughput_tok_s: tok,
            pass,
            others_cpu_pct: Some(others),
            disturbed: others > 25.0,
        }
    }

    #[test]
    fn figures_are_medians_of_the_repeats() {
        let m = median_summary(&[summary(10.0, 2), summary(500.0, 8), summary(12.0, 4)]).unwrap();
        assert_eq!(m.ttft_ms.as_ref().unwrap().p95, 12.0);
        assert_eq!(m.output_tokens, 4);
        assert_eq!(m.throughput_tok_s, 4.0);
        assert_eq!(m.requests, 1);
    }

    #[test]
    fn spread_unstable_and_disturbed() {
        let q = Quality::of(vec![figures(100.0, 50.0, true, 3.0), figures(900.0, 20.0, false, 40.0), figures(120.0, 48.0, true, 2.0)]);
        assert!(q.unstable && q.disturbed);
        assert_eq!(q.flags(), "disturbed unstable");
        let s = q.spread.unwrap();
        assert_eq!(s.p95_ttft_ms, Some(Range { min: 100.0, max: 900.0 }));
        assert_eq!(s.throughput_tok_s, Some(Range { min: 20.0, max: 50.0 }));
        assert_eq!(q.others_cpu_pct, Some(40.0));
        let one = Quality::of(vec![figures(100.0, 50.0, true, 3.0)]);
        assert!(!one.unstable && !one.disturbed && one.spread.is_none());
        assert_eq!(one.flags(), "");
    }
}
