//! Checks of trace workloads: the file and its format (its header and first request are read, so a
//! missing column is found before anything starts), the keys that belong to a trace and those that
//! do not, and how a trace meets the grid's and the search's load.

use super::*;
use crate::scenario::schema::{SearchLoad, TraceFormat};

/// Keys only a trace workload has, set or not.
fn trace_keys(w: &Workload) -> [(&'static str, bool); 11] {
    [
        ("trace", w.trace.is_some()),
        ("format", w.format.is_some()),
        ("speed", w.speed.is_some()),
        ("window", w.window.is_some()),
        ("columns", w.columns.is_some()),
        ("time_unit", w.time_unit.is_some()),
        ("block_tokens", w.block_tokens.is_some()),
        ("length_scale", w.length_scale.is_some()),
        ("max_input_tokens", w.max_input_tokens.is_some()),
        ("max_output_tokens", w.max_output_tokens.is_some()),
        ("think_time_s", w.think_time_s.is_some() || w.sessions),
    ]
}

pub(super) fn workload(w: &Workload, i: usize, base: Option<&Path>, out: &mut Vec<Issue>) {
    if !w.is_trace() {
        for (key, set) in trace_keys(w) {
            if set {
                let key = if key == "think_time_s" && w.sessions { "sessions" } else { key };
                out.push(
                    Issue::new(kp!["workloads", i, key], format!("`{key}` is for trace workloads, not {}", w.kind.as_str()))
                        .help("remove it, or set kind = \"trace\""),
                );
            }
        }
        return;
    }
    let own = [
        ("prompt_tokens", w.prompt_tokens.is_some()),
        ("output_tokens", w.output_tokens.is_some()),
        ("prompts", w.prompts != "builtin:chat"),
        ("turns", w.turns != 1),
    ];
    for (key, set) in own {
        if set {
            out.push(
                Issue::new(kp!["workloads", i, key], format!("a trace workload takes `{key}` from its trace"))
                    .help("remove it: lengths come from the trace (length_scale and max_input_tokens/max_output_tokens reshape them), turns from sessions = true"),
            );
        }
    }
    let Some(format) = w.format else {
        out.push(
            Issue::new(kp!["workloads", i, "format"], "a trace workload needs `format`")
                .help("format = \"mooncake\" (JSONL with hash_ids), \"azure\" (the Azure LLM trace CSV), \"csv\" or \"jsonl\" (with columns = { ... })"),
        );
        return;
    };
    let generic = matches!(format, TraceFormat::Csv | TraceFormat::Jsonl);
    if generic && w.columns.is_none() {
        out.push(
            Issue::new(kp!["workloads", i, "columns"], format!("format = \"{}\" needs `columns`", <&str>::from(format)))
                .help("name them: columns = { time = \"ts\", input = \"prompt_tokens\", output = \"completion_tokens\" } (session and blocks optional)"),
        );
    }
    for (key, set) in [("columns", w.columns.is_some()), ("time_unit", w.time_unit.is_some())] {
        if set && !generic {
            out.push(
                Issue::new(
                    kp!["workloads", i, key],
                    format!("`{key}` is for format = \"csv\" or \"jsonl\"; the {} format has its own", <&str>::from(format)),
                )
                .help("remove it"),
            );
        }
    }
    if w.sessions {
        let why = match format {
            TraceFormat::Azure => Some("the Azure trace records no conversations"),
            _ if generic && w.columns.as_ref().is_some_and(|c| c.session.is_none()) => Some("`columns` names no session column"),
            _ => None,
        };
        if let Some(why) = why {
            out.push(
                Issue::new(kp!["workloads", i, "sessions"], format!("sessions = true, but {why}"))
                    .help("remove sessions, or name the session column: columns = { ..., session = \"conversation_id\" }"),
            );
        }
    }
    numbers(w, i, out);
    match (&w.trace, base) {
        (None, _) => out.push(
            Issue::new(kp!["workloads", i, "trace"], "a trace workload needs `trace`")
                .help("the trace file, relative to the scenario file"),
        ),
        (Some(_), Some(base)) => {
            // The selection is read as a run reads it (streamed, bounded): a wrong format, a missing
            // column or a bad row shows now, located, not when the cell starts.
            if let Err(t) = crate::scenario::trace_file::entries(w, base) {
                out.push(Issue::new(kp!["workloads", i, "trace"], format!("{}: {}", t.location(), t.what)).help(t.help));
            }
        }
        (Some(_), None) => {}
    }
}

fn numbers(w: &Workload, i: usize, out: &mut Vec<Issue>) {
    let positive = |key: &str, v: Option<f64>, max: f64, help: &str, out: &mut Vec<Issue>| {
        if let Some(v) = v.filter(|v| !(*v > 0.0 && v.is_finite() && *v <= max)) {
            out.push(Issue::new(kp!["workloads", i, key], format!("{key} = {v} is out of range")).help(help.to_string()));
        }
    };
    positive("speed", w.speed, 1e6, "a speed-up of the arrivals, greater than 0 (2.0 = twice the traffic)", out);
    positive("length_scale", w.length_scale, 100.0, "a factor on every length, greater than 0, e.g. 0.05", out);
    for (key, v) in [("block_tokens", w.block_tokens), ("max_input_tokens", w.max_input_tokens), ("max_output_tokens", w.max_output_tokens)]
    {
        if v == Some(0) {
            out.push(Issue::new(kp!["workloads", i, key], format!("{key} must be at least 1")));
        }
    }
    if let Some(t) = w.think_time_s.filter(|t| !(*t >= 0.0 && *t <= 3600.0)) {
        out.push(
            Issue::new(kp!["workloads", i, "think_time_s"], format!("think_time_s = {t} is out of range")).help("seconds from 0 to 3600"),
        );
    }
    if let Some(win) = &w.window {
        if !(win.start_s >= 0.0 && win.start_s.is_finite()) {
            out.push(
                Issue::new(kp!["workloads", i, "window", "start_s"], format!("start_s = {} is out of range", win.start_s))
                    .help("seconds from the trace's first request, 0 or more"),
            );
        }
        if let Some(d) = win.duration_s.filter(|d| !(*d > 0.0 && d.is_finite())) {
            out.push(
                Issue::new(kp!["workloads", i, "window", "duration_s"], format!("duration_s = {d} is out of range"))
                    .help("seconds, greater than 0"),
            );
        }
    }
}

/// How trace workloads meet the grid's load axes and the search.
pub(super) fn grid_and_search(s: &Scenario, out: &mut Vec<Issue>) {
    let traces = s.workloads.iter().filter(|w| w.is_trace()).count();
    let only_traces = traces > 0 && traces == s.workloads.len();
    if s.grid.trace_speed.is_some() && traces == 0 {
        out.push(
            Issue::new(kp!["grid", "trace_speed"], "grid axis `trace_speed` needs a trace workload")
                .help("add a [[workloads]] table with kind = \"trace\", or remove the axis"),
        );
    }
    if s.grid.trace_speed.is_some() {
        for (i, w) in s.workloads.iter().enumerate().filter(|(_, w)| w.speed.is_some()) {
            out.push(
                Issue::new(kp!["workloads", i, "speed"], format!("workload `{}` sets speed and the grid has a trace_speed axis", w.name))
                    .help("remove one: the axis gives each cell its speed"),
            );
        }
    }
    if only_traces {
        for (axis, present) in [
            ("concurrency", s.grid.concurrency.is_some()),
            ("request_rate", s.grid.request_rate.is_some()),
            ("max_tokens", s.grid.max_tokens.is_some()),
        ] {
            if present {
                out.push(
                    Issue::new(kp!["grid", axis], format!("grid axis `{axis}` does not apply to trace workloads"))
                        .help("a trace brings its own arrivals and lengths: vary trace_speed instead, or reshape it with length_scale / max_output_tokens"),
                );
            }
        }
    }
    let Some(x) = &s.search else { return };
    if x.load == SearchLoad::TraceSpeed {
        if s.grid.trace_speed.is_some() {
            out.push(
                Issue::new(kp!["grid", "trace_speed"], "grid axis `trace_speed` and [search] both set the speed")
                    .help("remove `trace_speed` from [grid]: the search chooses the speeds between search.min and search.max"),
            );
        }
        for (i, w) in s.workloads.iter().enumerate().filter(|(_, w)| !w.is_trace()) {
            out.push(
                Issue::new(
                    kp!["workloads", i, "kind"],
                    format!("search load = \"trace_speed\" needs trace workloads; `{}` is {}", w.name, w.kind.as_str()),
                )
                .help("limit the scenario to trace workloads, or search concurrency/request_rate in another scenario"),
            );
        }
    } else if traces > 0 {
        out.push(
            Issue::new(
                kp!["search", "load"],
                format!(
                    "a trace workload is searched by its speed, not {}",
                    if x.load == SearchLoad::Concurrency { "concurrency" } else { "request_rate" }
                ),
            )
            .help("set load = \"trace_speed\""),
        );
    }
}
