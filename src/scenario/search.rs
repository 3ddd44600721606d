//! Checks of `[search]`: the load variable, its range and resolution, the goal, and what the rest of
//! the scenario must (not) say for a search to mean one thing. Pure.

use super::diag::Issue;
use super::schema::{Scenario, Search, SearchGoal, SearchLoad, SearchResolution};
use crate::kp;

/// The resolution as a step: `Ok((value, relative))`, where relative means percent of the load.
pub fn resolution(r: &SearchResolution) -> Result<(f64, bool), String> {
    match r {
        SearchResolution::Absolute(v) if *v > 0.0 && v.is_finite() => Ok((*v, false)),
        SearchResolution::Absolute(v) => Err(format!("resolution = {v} must be greater than 0")),
        SearchResolution::Text(t) => {
            let pct = t.trim().strip_suffix('%').and_then(|n| n.trim().parse::<f64>().ok());
            match pct {
                Some(p) if p > 0.0 && p < 100.0 => Ok((p, true)),
                _ => Err(format!("resolution = {t:?} is neither a number nor a percentage between 0% and 100%")),
            }
        }
    }
}

pub fn validate(s: &Scenario, out: &mut Vec<Issue>) {
    let Some(x) = &s.search else { return };
    range(x, out);
    if let Err(why) = resolution(&x.resolution) {
        out.push(Issue::new(kp!["search", "resolution"], why).help("an absolute step in load units (`1`) or a share (`\"10%\"`)"));
    }
    goal(s, x, out);
    if !(0.0..1.0).contains(&x.near) {
        out.push(
            Issue::new(kp!["search", "near"], format!("near = {} is out of range", x.near))
                .help("a share from 0.0 to below 1.0, e.g. 0.10"),
        );
    }
    if !(1..=10).contains(&x.max_measurements) {
        out.push(
            Issue::new(kp!["search", "max_measurements"], format!("max_measurements = {} is out of range", x.max_measurements))
                .help("from 1 (never re-measure) to 10"),
        );
    }
    if x.max_probes.is_some_and(|m| !(1..=999).contains(&m)) {
        out.push(Issue::new(kp!["search", "max_probes"], "max_probes must be from 1 to 999").help("or remove it for no budget"));
    }
    if !(x.early_stop_factor == 0.0 || x.early_stop_factor > 1.0) {
        out.push(
            Issue::new(
                kp!["search", "early_stop_factor"],
                format!("early_stop_factor = {} would stop passing probes", x.early_stop_factor),
            )
            .help("a multiple of the threshold above 1 (2.0 is the default), or 0 to never stop a probe early"),
        );
    }
    // The search owns the load axis; the grid may still list server configs and one max_tokens.
    for (axis, present) in [("concurrency", s.grid.concurrency.is_some()), ("request_rate", s.grid.request_rate.is_some())] {
        if present {
            out.push(
                Issue::new(kp!["grid", axis], format!("grid axis `{axis}` and [search] both set the load"))
                    .help(format!("remove `{axis}` from [grid]: the search chooses the loads between search.min and search.max")),
            );
        }
    }
    if s.grid.max_tokens.as_ref().is_some_and(|m| m.len() > 1) {
        out.push(
            Issue::new(kp!["grid", "max_tokens"], "a search needs one max_tokens per workload")
                .help("give one value (or set max_tokens in each workload), or split the scenario into one search per max_tokens"),
        );
    }
    if s.workloads.is_empty() {
        out.push(Issue::new(kp!["search"], "a search needs a workload to drive").help("add a [[workloads]] table with its [slo.<name>]"));
    }
}

fn range(x: &Search, out: &mut Vec<Issue>) {
    let integer = x.load == SearchLoad::Concurrency;
    for (key, v) in [("min", x.min), ("max", x.max)] {
        let bad = !(v.is_finite() && v > 0.0 && v <= 100_000.0) || (integer && v.fract() != 0.0);
        if bad {
            let help =
                if integer { "a whole number of concurrent requests from 1 to 100000" } else { "requests per second, greater than 0" };
            out.push(Issue::new(kp!["search", key], format!("{key} = {v} is out of range")).help(help));
        }
    }
    if x.min >= x.max {
        out.push(
            Issue::new(kp!["search", "max"], format!("max = {} is not above min = {}", x.max, x.min))
                .help("give a range to search: min < max"),
        );
    }
}

fn goal(s: &Scenario, x: &Search, out: &mut Vec<Issue>) {
    match (x.goal, x.min_good_share) {
        (SearchGoal::Goodput, None) => out.push(
            Issue::new(kp!["search", "min_good_share"], "goal = \"goodput\" needs min_good_share")
                .help("the share of requests that must meet the per-request thresholds, e.g. min_good_share = 0.9"),
        ),
        (SearchGoal::Goodput, Some(g)) if !(g > 0.0 && g <= 1.0) => out.push(
            Issue::new(kp!["search", "min_good_share"], format!("min_good_share = {g} is out of range"))
                .help("a share from above 0 to 1.0"),
        ),
        (SearchGoal::Slo, Some(_)) => out.push(
            Issue::new(kp!["search", "min_good_share"], "min_good_share applies only with goal = \"goodput\"")
                .help("remove it, or set goal = \"goodput\""),
        ),
        _ => {}
    }
    for w in &s.workloads {
        let Some(slo) = s.slo.get(&w.name) else {
            out.push(
                Issue::new(kp!["search"], format!("workload `{}` has no [slo.{}]: the search has no boundary to find", w.name, w.name))
                    .help(format!("add [slo.{}] with at least one threshold, e.g. p95_ttft_ms = 1000", w.name)),
            );
            continue;
        };
        let latency = slo.p95_limits().iter().any(|(_, v)| v.is_some());
        let per_request = [slo.ttft_ms, slo.tpot_ms, slo.e2e_ms].iter().any(Option::is_some);
        if x.goal == SearchGoal::Slo && !latency {
            out.push(
                Issue::new(kp!["slo", &w.name], format!("[slo.{}] has no p95 threshold for the search to hold", w.name))
                    .help("add p95_ttft_ms, p95_e2e_ms or p95_tpot_ms"),
            );
        }
        if x.goal == SearchGoal::Goodput && !(latency || per_request) {
            out.push(
                Issue::new(kp!["slo", &w.name], format!("[slo.{}] has no threshold that makes a request good", w.name))
                    .help("add ttft_ms, tpot_ms or e2e_ms (or p95 thresholds, which then apply per request)"),
            );
        }
    }
}
