//! Semantic checks over a deserialized scenario. Pure apart from checking that referenced files exist.
//! Every problem is collected; none stops the others from being found.

use super::diag::{suggest, Issue};
use super::schema::{FlagValue, Scenario, TokenLen, Workload, WorkloadKind};
use crate::kp;
use std::collections::HashSet;
use std::path::Path;

mod trace;
mod workloads;
use workloads::workloads;

/// The most cells one scenario may expand to.
pub const MAX_CELLS: usize = 10_000;
/// The highest concurrency accepted (more is almost surely a typo).
pub const MAX_CONCURRENCY: i64 = 100_000;
const MANAGED_FLAGS: &[&str] = &["host", "port", "model", "model-path", "m"];

/// The checks of one server config (`servers[i]`) that only its engine's module knows (its model,
/// flags, keys, what a non-launched endpoint needs): `engine::check`, passed in by the caller, as the
/// scenario layer sits below the engines. `base` as in [`validate`].
pub type EngineCheck = fn(&Scenario, usize, Option<&Path>, &mut Vec<Issue>);

/// Checks a scenario. `base` resolves the files it names (models, prompts, prices); None checks a
/// stored scenario from another machine, whose files are not here: every limit but the files'.
pub fn validate(s: &Scenario, base: Option<&Path>, engine: EngineCheck) -> Vec<Issue> {
    let mut out = Vec::new();
    meta(s, &mut out);
    servers(s, base, engine, &mut out);
    workloads(s, base, &mut out);
    trace::grid_and_search(s, &mut out);
    grid(s, &mut out);
    slos(s, &mut out);
    super::search::validate(s, &mut out);
    prices(s, base, &mut out);
    super::secrets::check(s, &mut out);
    if out.iter().all(|i| i.warning) {
        let cells = super::grid::count_cells(s);
        if cells == 0 {
            out.push(
                Issue::new(kp!["workloads"], "the grid expands to no cell: no workload runs on any server")
                    .help("check `workloads[].servers` names"),
            );
        } else if cells > MAX_CELLS {
            out.push(
                Issue::new(kp!["grid"], format!("the grid expands to {} cells, more than the limit of {MAX_CELLS}", short(cells as f64)))
                    .help("split the scenario or use fewer values per axis"),
            );
        }
    }
    out
}

/// A number for a message: as written up to a billion, in scientific notation beyond (1e300 is not
/// printed with 300 digits).
fn short(v: f64) -> String {
    if v.abs() >= 1e9 && v.is_finite() {
        format!("{v:.1e}")
    } else {
        v.to_string()
    }
}

/// A name for a message: its first 80 characters.
pub fn shown(s: &str) -> String {
    if s.chars().count() <= 80 {
        format!("{s:?}")
    } else {
        format!("{:?}... ({} characters)", s.chars().take(80).collect::<String>(), s.chars().count())
    }
}

/// The longest name (scenario, server, workload, GPU label): names become folder and file names.
pub const MAX_NAME_LEN: usize = 64;
/// The most requests (and warm-up requests) one cell builds: every request is built before the cell
/// starts, so more would exhaust memory before the first one is sent.
pub const MAX_REQUESTS: u32 = 1_000_000;
/// The longest request timeout (a day).
const MAX_TIMEOUT_S: f64 = 86_400.0;
/// The body keys the runner sets itself; `extra_body` may add to a request, never replace these.
const RESERVED_BODY: &[&str] = &["model", "messages", "prompt", "stream", "max_tokens", "max_completion_tokens", "stream_options"];
const SLUG_HELP: &str = "use letters, digits, `_`, `-` or `.` only, not starting with `.`, at most 64 characters";

/// A name usable as one folder or file name component.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && !s.starts_with('.')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Text that is printed into commands, Markdown and HTML as it is: no line break or other control
/// character (a new heading, a new shell line), none of `<` `>` (raw HTML), backtick or `|` (a code
/// span, a table cell), at most 512 bytes.
pub fn is_plain_text(s: &str) -> bool {
    s.len() <= 512 && !s.chars().any(|c| c.is_control() || matches!(c, '<' | '>' | '`' | '|'))
}

/// A host to bind: a name or an address, without spaces or anything a URL would read otherwise.
fn is_host(h: &str) -> bool {
    !h.is_empty() && h.len() <= 253 && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// The problem of an endpoint URL, if any: it must parse, be http(s) and name a host.
pub fn url_problem(u: &str) -> Option<String> {
    match reqwest::Url::parse(u) {
        Err(e) => Some(format!("url {u:?} is not a URL ({e})")),
        Ok(p) if !matches!(p.scheme(), "http" | "https") => Some(format!("url {u:?} is not an http(s) URL")),
        Ok(p) if p.host_str().is_none_or(str::is_empty) => Some(format!("url {u:?} names no host")),
        Ok(_) => None,
    }
}

fn meta(s: &Scenario, out: &mut Vec<Issue>) {
    if !is_slug(&s.scenario.name) {
        out.push(
            Issue::new(kp!["scenario", "name"], format!("scenario name {} is not usable as a folder name", shown(&s.scenario.name)))
                .help(SLUG_HELP),
        );
    }
    if !(s.scenario.probe_s > 0.0 && s.scenario.probe_s <= 3600.0) {
        out.push(
            Issue::new(kp!["scenario", "probe_s"], format!("probe_s = {} is out of range", s.scenario.probe_s))
                .help("seconds between 0.1 and 3600"),
        );
    }
    let d = s.scenario.disturbed_above_pct;
    if !(d > 0.0 && d <= 100.0) {
        out.push(
            Issue::new(kp!["scenario", "disturbed_above_pct"], format!("disturbed_above_pct = {d} is out of range"))
                .help("a percent of all cores above 0 and at most 100 (100: never flag a cell disturbed); the default is 25"),
        );
    }
    if let Some(g) = s.scenario.gpu.as_deref().filter(|g| !is_slug(g)) {
        out.push(
            Issue::new(
                kp!["scenario", "gpu"],
                format!("gpu label {} is not a simple name; it names folders, fleet files and CSV rows", shown(g)),
            )
            .help(format!("{SLUG_HELP}, e.g. gpu = \"rtx2000ada-16gb\"")),
        );
    }
    if s.scenario.output_dir.trim().is_empty() {
        out.push(Issue::new(kp!["scenario", "output_dir"], "output_dir is empty").help("use e.g. \"results\""));
    }
}

fn servers(s: &Scenario, base: Option<&Path>, engine: EngineCheck, out: &mut Vec<Issue>) {
    if s.servers.is_empty() {
        out.push(Issue::new(kp!["servers"], "no server is defined").help("add a [[servers]] table with `name`, `engine` and `model`"));
    }
    let mut names = HashSet::new();
    for (i, srv) in s.servers.iter().enumerate() {
        if !is_slug(&srv.name) {
            out.push(
                Issue::new(kp!["servers", i, "name"], format!("server name {} is not a simple name", shown(&srv.name))).help(SLUG_HELP),
            );
        }
        if !names.insert(srv.name.as_str()) {
            out.push(
                Issue::new(kp!["servers", i, "name"], format!("duplicate server name `{}`", srv.name))
                    .help("give every server a distinct name"),
            );
        }
        engine(s, i, base, out);
        if let Some(n) = srv.served_model_name.as_deref().filter(|n| n.trim().is_empty() || !is_plain_text(n)) {
            out.push(
                Issue::new(
                    kp!["servers", i, "served_model_name"],
                    format!("served_model_name {} is empty or holds a line break, a control character or one of < > ` |", shown(n)),
                )
                .help("the name the engine serves the model under, e.g. \"qwen\""),
            );
        }
        if !is_host(&srv.host) {
            out.push(
                Issue::new(kp!["servers", i, "host"], format!("host {} is not a host name or address", shown(&srv.host)))
                    .help("e.g. host = \"127.0.0.1\" (this machine only) or \"0.0.0.0\""),
            );
        }
        if !(srv.ready_timeout_s > 0.0 && srv.ready_timeout_s <= 86_400.0) {
            out.push(
                Issue::new(kp!["servers", i, "ready_timeout_s"], format!("ready_timeout_s = {} is out of range", srv.ready_timeout_s))
                    .help("use a number of seconds between 1 and 86400"),
            );
        }
        if !(srv.stop_grace_s >= 0.0 && srv.stop_grace_s <= 3600.0) {
            out.push(
                Issue::new(kp!["servers", i, "stop_grace_s"], format!("stop_grace_s = {} is out of range", srv.stop_grace_s))
                    .help("use a number of seconds between 0 and 3600"),
            );
        }
        secrets(srv, i, out);
        for (k, v) in &srv.flags {
            flag_name(k, kp!["servers", i, "flags", k], out);
            flag_value(v, kp!["servers", i, "flags", k], out);
        }
        for k in s.grid.server.keys() {
            if srv.flags.contains_key(k) {
                out.push(
                    Issue::new(kp!["grid", "server", k], format!("flag `{k}` is both fixed in server `{}` and a grid axis", srv.name))
                        .help(format!("remove `{k}` from [servers.flags] or from [grid.server]")),
                );
            }
        }
    }
}

/// Secrets never go into a scenario: it is copied into every results folder (manifest.json).
fn secrets(srv: &super::schema::Server, i: usize, out: &mut Vec<Issue>) {
    if let Some(name) = &srv.api_key_env {
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            out.push(
                Issue::new(kp!["servers", i, "api_key_env"], format!("{name:?} is not an environment variable name"))
                    .help("e.g. api_key_env = \"OPENAI_API_KEY\""),
            );
        }
    }
}

/// Things worth saying that do not stop a run.
pub fn warnings(s: &Scenario) -> Vec<String> {
    let mut out: Vec<String> = s
        .servers
        .iter()
        .filter(|srv| srv.url.is_none() && !is_loopback(&srv.host))
        .map(|srv| {
            format!(
                "warning: server `{}` binds {}: the engine is reachable from the network, not only from this machine",
                srv.name, srv.host
            )
        })
        .collect();
    for srv in s.servers.iter().filter(|srv| srv.api_key_env.is_some()) {
        let Some(url) = srv.url.as_deref().and_then(|u| reqwest::Url::parse(u).ok()) else { continue };
        if url.scheme() == "http" && !url.host_str().is_some_and(is_loopback) {
            out.push(format!(
                "warning: server `{}` sends its API key ({}) over plain http to {}: anyone on the path can read it; use https",
                srv.name,
                srv.api_key_env.as_deref().unwrap_or_default(),
                url.host_str().unwrap_or_default()
            ));
        }
    }
    out
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "::1" | "[::1]") || host.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// Whether a flag key passes the checks of `flag_name` (the engines then check it against their
/// flag tables; a key refused here is not reported twice).
pub fn flag_key_ok(k: &str) -> bool {
    let mut v = Vec::new();
    flag_name(k, Vec::new(), &mut v);
    v.is_empty()
}

fn flag_name(k: &str, path: Vec<super::diag::Seg>, out: &mut Vec<Issue>) {
    let norm = k.replace('_', "-");
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || k.starts_with('-') {
        out.push(
            Issue::new(path, format!("flag name {k:?} is not a valid option name"))
                .help("write flags without dashes, e.g. max_model_len = 4096"),
        );
    } else if MANAGED_FLAGS.contains(&norm.as_str()) {
        out.push(
            Issue::new(path, format!("flag `{k}` is set by the runner")).help("use the server's `host`, `port` and `model` keys instead"),
        );
    }
}

fn flag_value(v: &FlagValue, path: Vec<super::diag::Seg>, out: &mut Vec<Issue>) {
    if let FlagValue::List(items) = v {
        if items.iter().any(|i| matches!(i, FlagValue::List(_) | FlagValue::Bool(_))) {
            out.push(Issue::new(path, "a flag list may hold only strings and numbers"));
        }
    }
}

fn axis_ints(name: &str, values: &Option<Vec<i64>>, max: i64, out: &mut Vec<Issue>) {
    let Some(values) = values else { return };
    if values.is_empty() {
        out.push(
            Issue::new(kp!["grid", name], format!("grid axis `{name}` is empty"))
                .help(format!("give at least one value, or remove `{name}` to use the default")),
        );
    }
    let mut seen = HashSet::new();
    for (j, v) in values.iter().enumerate() {
        if *v < 1 || *v > max {
            out.push(
                Issue::new(kp!["grid", name, j], format!("{name} = {v} is out of range")).help(format!("use an integer from 1 to {max}")),
            );
        }
        if !seen.insert(*v) {
            out.push(Issue::new(kp!["grid", name, j], format!("{name} value {v} appears twice")).help("list each value once"));
        }
    }
}

/// A grid axis of positive numbers (rates, speeds): not empty, each in range, none twice.
fn axis_floats(name: &str, values: &Option<Vec<f64>>, help: &str, out: &mut Vec<Issue>) {
    let Some(values) = values else { return };
    if values.is_empty() {
        out.push(Issue::new(kp!["grid", name], format!("grid axis `{name}` is empty")).help("give at least one value"));
    }
    for (j, r) in values.iter().enumerate() {
        if !(*r > 0.0 && r.is_finite() && *r <= 1e6) {
            out.push(Issue::new(kp!["grid", name, j], format!("{name} = {r} is out of range")).help(help));
        }
        if values[..j].contains(r) {
            out.push(Issue::new(kp!["grid", name, j], format!("{name} value {r} appears twice")).help("list each value once"));
        }
    }
}

fn grid(s: &Scenario, out: &mut Vec<Issue>) {
    axis_floats("request_rate", &s.grid.request_rate, "requests per second, greater than 0", out);
    axis_floats("trace_speed", &s.grid.trace_speed, "a speed-up of the trace's arrivals, greater than 0 (2.0 = twice the traffic)", out);
    axis_ints("concurrency", &s.grid.concurrency, MAX_CONCURRENCY, out);
    axis_ints("max_tokens", &s.grid.max_tokens, 10_000_000, out);
    for (k, values) in &s.grid.server {
        flag_name(k, kp!["grid", "server", k], out);
        if values.is_empty() {
            out.push(Issue::new(kp!["grid", "server", k], format!("grid axis `{k}` is empty")).help("give at least one value"));
        }
        for (j, v) in values.iter().enumerate() {
            flag_value(v, kp!["grid", "server", k, j], out);
            if values[..j].contains(v) {
                out.push(
                    Issue::new(kp!["grid", "server", k, j], format!("value {} appears twice in `{k}`", v.label()))
                        .help("list each value once"),
                );
            }
        }
    }
}

fn prices(s: &Scenario, base: Option<&Path>, out: &mut Vec<Issue>) {
    for (label, p) in &s.prices {
        for (key, msg) in super::prices::problems(label, p) {
            let field = key.rsplit('.').next().unwrap_or_default().to_string();
            out.push(
                Issue::new(kp!["prices", label, field], msg)
                    .help("[prices.<gpu label>] per_hour = 1.10, date = \"2026-11-30\", source = \"provider, offer\""),
            );
        }
    }
    let Some(base) = base else { return };
    if s.scenario.gpus_file.is_some() {
        if let Err(e) = super::gpus::scenario_gpus(s, base) {
            out.push(
                Issue::new(kp!["scenario", "gpus_file"], e)
                    .help("a TOML file of [gpus.<label>] tables (memory_mib, bandwidth_gb_s, source)"),
            );
        }
    }
    if let Some(f) = &s.scenario.prices_file {
        if let Err(e) = super::prices::read_file(&base.join(f)) {
            out.push(
                Issue::new(kp!["scenario", "prices_file"], e).help("a TOML file of [prices.<gpu label>] tables, relative to this scenario"),
            );
        }
    }
    for (i, srv) in s.servers.iter().enumerate() {
        if let Some(f) = &srv.model_config {
            if let Err(e) = crate::model::hf::read_config(&base.join(f)) {
                out.push(
                    Issue::new(kp!["servers", i, "model_config"], e)
                        .help("the model's Hugging Face config.json, relative to this scenario (or leave the key out)"),
                );
            }
        }
    }
}

fn slos(s: &Scenario, out: &mut Vec<Issue>) {
    let names: Vec<&str> = s.workloads.iter().map(|w| w.name.as_str()).collect();
    for (name, slo) in &s.slo {
        if !names.contains(&name.as_str()) {
            let mut issue = Issue::new(kp!["slo", name], format!("SLO for unknown workload `{name}`"));
            issue = match suggest(name, names.iter().copied()) {
                Some(sg) => issue.help(format!("did you mean `{sg}`?")),
                None => issue.help(format!("workloads are: {}", names.join(", "))),
            };
            out.push(issue);
        }
        for (key, v) in [
            ("p95_ttft_ms", slo.p95_ttft_ms),
            ("p95_e2e_ms", slo.p95_e2e_ms),
            ("p95_tpot_ms", slo.p95_tpot_ms),
            ("ttft_ms", slo.ttft_ms),
            ("tpot_ms", slo.tpot_ms),
            ("e2e_ms", slo.e2e_ms),
        ] {
            if let Some(v) = v {
                if !(v > 0.0 && v <= 1e9) {
                    out.push(
                        Issue::new(kp!["slo", name, key], format!("{key} = {v} must be positive and finite"))
                            .help("a threshold in milliseconds, e.g. 1500"),
                    );
                }
            }
        }
        if let Some(w) = s.workloads.iter().position(|w| &w.name == name && !w.stream) {
            for (key, v) in
                [("p95_ttft_ms", slo.p95_ttft_ms), ("ttft_ms", slo.ttft_ms), ("p95_tpot_ms", slo.p95_tpot_ms), ("tpot_ms", slo.tpot_ms)]
            {
                if v.is_some() {
                    let what = if key.contains("ttft") { "TTFT is then the whole response time (E2E)" } else { "TPOT cannot be measured" };
                    out.push(
                        Issue::new(
                            kp!["slo", name, key],
                            format!("`{key}` on workload `{name}`, which does not stream (stream = false): {what}"),
                        )
                        .help(format!("set stream = true on workloads[{w}], or hold it to p95_e2e_ms instead")),
                    );
                }
            }
        }
        if !(0.0..=1.0).contains(&slo.max_error_rate) {
            out.push(
                Issue::new(kp!["slo", name, "max_error_rate"], "max_error_rate must be between 0.0 and 1.0")
                    .help("a share of requests, e.g. 0.01 for 1%"),
            );
        }
    }
}
