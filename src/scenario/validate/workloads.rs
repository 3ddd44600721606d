//! Validation of `[[workloads]]`: names, counts, timeouts, body fields, and each kind's own keys
//! (prompts files, documents, conversations, prefixes, arrivals).

use super::*;

pub(super) fn workloads(s: &Scenario, base: Option<&Path>, out: &mut Vec<Issue>) {
    // No workload at all is a probe-only scenario (startup facts and memory per launch, no load);
    // then the grid may only have server axes.
    if s.workloads.is_empty() && (s.grid.concurrency.is_some() || s.grid.max_tokens.is_some()) {
        out.push(
            Issue::new(kp!["grid"], "load axes (concurrency, max_tokens) need a workload")
                .help("add a [[workloads]] table, or remove the load axes for a probe-only scenario"),
        );
    }
    let server_names: Vec<&str> = s.servers.iter().map(|x| x.name.as_str()).collect();
    let mut names = HashSet::new();
    for (i, w) in s.workloads.iter().enumerate() {
        if !is_slug(&w.name) {
            out.push(
                Issue::new(kp!["workloads", i, "name"], format!("workload name {} is not a simple name", shown(&w.name))).help(SLUG_HELP),
            );
        }
        if !names.insert(w.name.as_str()) {
            out.push(
                Issue::new(kp!["workloads", i, "name"], format!("duplicate workload name `{}`", w.name))
                    .help("give every workload a distinct name"),
            );
        }
        if w.requests == Some(0) {
            out.push(
                Issue::new(kp!["workloads", i, "requests"], "requests must be at least 1")
                    .help("measured requests per cell, e.g. requests = 16"),
            );
        }
        if !(1..=100).contains(&w.repeats) {
            out.push(
                Issue::new(kp!["workloads", i, "repeats"], format!("repeats = {} is out of range", w.repeats))
                    .help("measure each cell 1 to 100 times (3 is enough to see the spread)"),
            );
        }
        if w.max_tokens == 0 {
            out.push(Issue::new(kp!["workloads", i, "max_tokens"], "max_tokens must be at least 1"));
        }
        if !(w.temperature >= 0.0 && w.temperature <= 10.0) {
            out.push(
                Issue::new(kp!["workloads", i, "temperature"], format!("temperature {} is out of range", w.temperature))
                    .help("use a value between 0.0 and 2.0"),
            );
        }
        if !(w.request_timeout_s > 0.0 && w.request_timeout_s <= MAX_TIMEOUT_S) {
            out.push(
                Issue::new(
                    kp!["workloads", i, "request_timeout_s"],
                    format!("request_timeout_s = {} is out of range", short(w.request_timeout_s)),
                )
                .help("seconds, greater than 0 and at most 86400"),
            );
        }
        for (key, n) in [("requests", w.requests()), ("warmup", w.warmup)] {
            if n > MAX_REQUESTS {
                out.push(
                    Issue::new(kp!["workloads", i, key], format!("{key} = {n} is more than the limit of {MAX_REQUESTS} per cell"))
                        .help("every request of a cell is built before it starts; for a long cell bound it with duration_s and a requests count it can reach"),
                );
            }
        }
        for k in w.extra_body.keys().filter(|k| RESERVED_BODY.contains(&k.as_str())) {
            out.push(
                Issue::new(kp!["workloads", i, "extra_body", k], format!("extra_body sets `{k}`, which the runner sets for every request"))
                    .help("use the workload's own keys (stream, max_tokens, prompts, the server's served_model_name) instead"),
            );
        }
        workload_kind(w, i, base, out);
        super::trace::workload(w, i, base, out);
        if let Some(rest) = w.prompts.strip_prefix("builtin:") {
            if rest != "chat" {
                out.push(
                    Issue::new(kp!["workloads", i, "prompts"], format!("unknown built-in prompt set `{}`", w.prompts))
                        .help("use `builtin:chat` or the path of a JSONL file"),
                );
            }
        } else if let Some(base) = base.filter(|_| matches!(w.kind, WorkloadKind::Chat | WorkloadKind::Prefix)) {
            if let Err(e) = crate::scenario::prompt_file::read(&base.join(&w.prompts)) {
                out.push(
                    Issue::new(kp!["workloads", i, "prompts"], e)
                        .help("give a JSONL file (relative to the scenario file) of {\"prompt\": ...} or {\"messages\": [...]} lines, or `builtin:chat`"),
                );
            }
        }
        for (j, sv) in w.servers.iter().enumerate() {
            if !server_names.contains(&sv.as_str()) {
                let mut issue = Issue::new(kp!["workloads", i, "servers", j], format!("unknown server `{sv}`"));
                issue = match suggest(sv, server_names.iter().copied()) {
                    Some(sg) => issue.help(format!("did you mean `{sg}`?")),
                    None => issue.help(format!("servers are: {}", server_names.join(", "))),
                };
                out.push(issue);
            }
        }
    }
}

fn token_len(len: &TokenLen, path: Vec<crate::scenario::diag::Seg>, out: &mut Vec<Issue>) {
    let (lo, hi) = len.bounds();
    if lo == 0 || hi < lo || hi > 10_000_000 {
        out.push(
            Issue::new(path, format!("token length {lo}..{hi} is not valid"))
                .help("a positive number of tokens, or { min = A, max = B } with 1 <= A <= B"),
        );
    }
}

fn workload_kind(w: &Workload, i: usize, base: Option<&Path>, out: &mut Vec<Issue>) {
    let kind = w.kind.as_str();
    if let Some(len) = &w.prompt_tokens {
        token_len(len, kp!["workloads", i, "prompt_tokens"], out);
    }
    if let Some(len) = &w.output_tokens {
        token_len(len, kp!["workloads", i, "output_tokens"], out);
    }
    if w.kind == WorkloadKind::Dataset && w.prompt_tokens.is_some() {
        out.push(
            Issue::new(kp!["workloads", i, "prompt_tokens"], "a dataset workload takes its prompts from the dataset")
                .help("remove prompt_tokens"),
        );
    }
    match (&w.documents, w.kind) {
        (Some(d), WorkloadKind::Batch) => {
            if let Some(p) = base.map(|b| b.join(d)).filter(|p| !(p.is_dir() || p.is_file())) {
                out.push(
                    Issue::new(kp!["workloads", i, "documents"], format!("documents {} not found", p.display()))
                        .help("a folder of .txt/.md files or a JSONL of {\"text\": ...}, relative to the scenario file"),
                );
            }
        }
        (Some(_), _) => out.push(
            Issue::new(kp!["workloads", i, "documents"], format!("`documents` is for batch workloads, not {kind}"))
                .help("remove it or set kind = \"batch\""),
        ),
        _ => {}
    }
    match (&w.dataset, w.kind) {
        (Some(d), WorkloadKind::Dataset) => {
            if let Some((p, Err(e))) = base.map(|b| (b.join(d), std::fs::File::open(b.join(d)))) {
                out.push(
                    Issue::new(kp!["workloads", i, "dataset"], format!("cannot read dataset {}: {e}", p.display()))
                        .help("a ShareGPT-style JSON or a JSONL, relative to the scenario file"),
                );
            }
        }
        (None, WorkloadKind::Dataset) => {
            out.push(Issue::new(kp!["workloads", i, "kind"], "a dataset workload needs `dataset`").help("add dataset = \"sharegpt.json\""))
        }
        (Some(_), _) => out.push(
            Issue::new(kp!["workloads", i, "dataset"], format!("`dataset` is for dataset workloads, not {kind}"))
                .help("remove it or set kind = \"dataset\""),
        ),
        _ => {}
    }
    if w.kind == WorkloadKind::Prefix {
        if w.prefix_count == 0 {
            out.push(Issue::new(kp!["workloads", i, "prefix_count"], "prefix_count must be at least 1"));
        }
        token_len(&w.prefix_tokens, kp!["workloads", i, "prefix_tokens"], out);
    }
    if w.turns == 0 || w.turns > 100 {
        out.push(
            Issue::new(kp!["workloads", i, "turns"], format!("turns = {} is out of range", w.turns))
                .help("1 to 100 turns per conversation"),
        );
    } else if w.turns > 1 && w.kind != WorkloadKind::Chat {
        out.push(Issue::new(kp!["workloads", i, "turns"], format!("multi-turn is for chat workloads, not {kind}")).help("remove turns"));
    }
    if !(w.burstiness > 0.0 && w.burstiness.is_finite()) {
        out.push(
            Issue::new(kp!["workloads", i, "burstiness"], "burstiness must be positive").help("gamma shape: 1 = Poisson, < 1 burstier"),
        );
    }
    if let Some(d) = w.duration_s {
        if !(d > 0.0 && d <= 86_400.0) {
            out.push(
                Issue::new(kp!["workloads", i, "duration_s"], format!("duration_s = {d} is out of range"))
                    .help("seconds between 1 and 86400"),
            );
        }
    }
    if w.cooldown >= w.requests() && w.requests() > 0 && !w.is_trace() {
        out.push(
            Issue::new(
                kp!["workloads", i, "cooldown"],
                format!("cooldown = {} leaves no measured request of {}", w.cooldown, w.requests()),
            )
            .help("cooldown must be smaller than requests"),
        );
    }
}
