//! A scenario's engine flags against each engine's flag table (`engine::flags`), and the checks
//! that need a flag and another key: a request longer than the server's context, and what `runner
//! plan` says about flags that were not checked or that make requests queue.

use super::flags;
use super::spec::spec;
use crate::kp;
use crate::scenario::diag::{Issue, Seg};
use crate::scenario::schema::{FlagValue, Scenario, Server};
use crate::scenario::validate::flag_key_ok;
use indexmap::IndexMap;

fn issue(path: Vec<Seg>, f: flags::Finding) -> Issue {
    let i = if f.warning { Issue::warn(path, f.message) } else { Issue::new(path, f.message) };
    i.help(f.help)
}

/// Whether a key of the server's flags (or a grid axis) is listed in its `unchecked_flags`.
fn unchecked(srv: &Server, key: &str) -> bool {
    srv.unchecked_flags.iter().any(|u| flags::snake(u) == flags::snake(key))
}

/// Server `i`'s flags, the grid's server axes (once per engine), `engine_version` and
/// `unchecked_flags`, against its engine's table; then the longest request of each workload
/// against the context of each launch it runs on.
pub fn check(s: &Scenario, i: usize, out: &mut Vec<Issue>) {
    let srv = &s.servers[i];
    if let Some(v) = &srv.engine_version {
        if !flags::is_version(v) {
            out.push(
                Issue::new(kp!["servers", i, "engine_version"], format!("engine_version {v:?} is not a version number"))
                    .help("e.g. engine_version = \"0.33.0\" (vLLM) or \"b11500\" (llama.cpp)"),
            );
        }
    }
    for (j, u) in srv.unchecked_flags.iter().enumerate() {
        if !srv.flags.keys().chain(s.grid.server.keys()).any(|k| flags::snake(k) == flags::snake(u)) {
            out.push(
                Issue::new(
                    kp!["servers", i, "unchecked_flags", j],
                    format!("unchecked_flags names `{u}`, which is not one of this server's flags"),
                )
                .help("list keys of [servers.flags] or [grid.server] only"),
            );
        }
    }
    let target = srv.engine_version.as_deref().filter(|v| flags::is_version(v));
    if let Some(t) = spec(srv.engine).flag_table() {
        for (k, v) in &srv.flags {
            if !unchecked(srv, k) && flag_key_ok(k) {
                if let Some(f) = flags::check(t, k, v, target) {
                    out.push(issue(kp!["servers", i, "flags", k], f));
                }
            }
        }
        // The axes apply to every server: checked with the first server of each engine.
        if s.servers[..i].iter().all(|o| o.engine != srv.engine) {
            for (k, values) in &s.grid.server {
                if unchecked(srv, k) || !flag_key_ok(k) {
                    continue;
                }
                // An unknown or removed name is said once, at the axis; a bad value at each value.
                if let Some(f) = flags::check_name(t, k, target) {
                    out.push(issue(
                        kp!["grid", "server", k],
                        flags::Finding { message: format!("{} (server `{}`)", f.message, srv.name), ..f },
                    ));
                    continue;
                }
                for (j, v) in values.iter().enumerate() {
                    if let Some(f) = flags::check(t, k, v, target) {
                        out.push(issue(
                            kp!["grid", "server", k, j],
                            flags::Finding { message: format!("{} (server `{}`)", f.message, srv.name), ..f },
                        ));
                    }
                }
            }
        }
    }
    context(s, i, out);
}

/// A launch's flags, with the (axis, value index) pairs that made them.
type LimitSet = (IndexMap<String, FlagValue>, Vec<(String, usize)>);

/// Every flag set a launch of server `i` can get from the axes that bound a request or the
/// engine's concurrency (other axes do not change them), each with the axis values it took.
fn limit_sets(s: &Scenario, i: usize) -> Vec<LimitSet> {
    let srv = &s.servers[i];
    let e = spec(srv.engine);
    let wanted = |k: &str| {
        let k = flags::snake(k);
        e.context_flags().contains(&k.as_str()) || e.slots_flag() == Some(k.as_str())
    };
    let mut sets = vec![(srv.flags.clone(), Vec::new())];
    for (k, values) in s.grid.server.iter().filter(|(k, _)| wanted(k)) {
        sets = sets
            .into_iter()
            .flat_map(|(f, at)| {
                values.iter().enumerate().map(move |(j, v)| {
                    let mut f = f.clone();
                    f.insert(k.clone(), v.clone());
                    let mut at = at.clone();
                    at.push((k.clone(), j));
                    (f, at)
                })
            })
            .collect();
    }
    sets
}

/// The longest request a workload on server `i` sends, prompt and output, when the scenario fixes it
/// (a synthetic length; a file of prompts is not read here): the single longest turn.
fn longest(s: &Scenario, w: &crate::scenario::schema::Workload) -> Option<(u64, u64, &'static str)> {
    use crate::scenario::schema::WorkloadKind;
    let prompt = match w.kind {
        WorkloadKind::Chat | WorkloadKind::Batch => u64::from(w.prompt_tokens?.bounds().1),
        WorkloadKind::Prefix => u64::from(w.prefix_tokens.bounds().1) + w.prompt_tokens.map_or(0, |p| u64::from(p.bounds().1)),
        // A trace's lengths are in its file, checked when it is read (max_input_tokens caps them).
        WorkloadKind::Dataset | WorkloadKind::Trace => return None,
    };
    let max_tokens = s.grid.max_tokens.as_ref().and_then(|m| m.iter().max().copied()).map_or(u64::from(w.max_tokens), |m| m.max(0) as u64);
    let output = w.output_tokens.map_or(max_tokens, |o| u64::from(o.bounds().1).min(max_tokens));
    let key = if w.kind == WorkloadKind::Prefix { "prefix_tokens" } else { "prompt_tokens" };
    Some((prompt, output, key))
}

/// Prompt + output above what a launch accepts: the engine refuses every such request.
fn context(s: &Scenario, i: usize, out: &mut Vec<Issue>) {
    let srv = &s.servers[i];
    let e = spec(srv.engine);
    for (wi, w) in s.workloads.iter().enumerate() {
        if !(w.servers.is_empty() || w.servers.contains(&srv.name)) {
            continue;
        }
        let Some((prompt, output, key)) = longest(s, w) else { continue };
        for (set, at) in limit_sets(s, i) {
            let Some((limit, how)) = e.request_limit(&set) else { continue };
            if prompt + output <= limit {
                continue;
            }
            let (path, on) = match at.first() {
                Some((k, j)) => (kp!["grid", "server", k, *j], format!("the launches of `{}` with {how}", srv.name)),
                None => (kp!["workloads", wi, key], format!("server `{}` ({how})", srv.name)),
            };
            out.push(
                Issue::new(
                    path,
                    format!(
                        "workload `{}` sends up to {prompt} prompt + {output} output = {} tokens per request, above the {limit} that {on} accepts: the engine refuses every such request",
                        w.name,
                        prompt + output,
                    ),
                )
                .help(format!(
                    "keep prompt + max_tokens within {limit} (e.g. {key} up to {}), or raise the server's context and check with `runner estimate` that its KV cache still fits",
                    limit.saturating_sub(output)
                )),
            );
            break;
        }
    }
}

/// What `runner plan` says of a launch's flags: those passed unchecked and why, and the load from
/// which requests wait in the engine's queue (`max_concurrency`: the highest concurrency of its
/// cells or searches).
pub fn plan_notes(srv: &Server, max_concurrency: Option<u32>) -> Vec<String> {
    let e = spec(srv.engine);
    let mut notes = Vec::new();
    match e.flag_table() {
        Some(t) => {
            let listed: Vec<&str> = srv.flags.keys().filter(|k| unchecked(srv, k)).map(String::as_str).collect();
            if !listed.is_empty() {
                notes.push(format!("not checked against the {} flag table (unchecked_flags): {}", t.named(), listed.join(", ")));
            }
            let target = srv.engine_version.as_deref().filter(|v| flags::is_version(v));
            let passed: Vec<&str> = srv
                .flags
                .iter()
                .filter(|(k, v)| !unchecked(srv, k) && flags::check(t, k, v, target).is_some_and(|f| f.warning))
                .map(|(k, _)| k.as_str())
                .collect();
            if let (false, Some(x)) = (passed.is_empty(), target) {
                notes.push(format!(
                    "not known to the {} flag table, passed as written for {} {x}: {}",
                    t.named(),
                    t.engine,
                    passed.join(", ")
                ));
            }
        }
        None if !srv.flags.is_empty() && e.launched() => {
            notes.push(format!("flags not checked: runner has no flag table for {}", srv.engine.as_str()));
        }
        None => {}
    }
    if let (Some(flag), Some(c)) = (e.slots_flag(), max_concurrency) {
        let set = flags::lookup(&srv.flags, flag).and_then(FlagValue::as_f64);
        if let Some(n) = set.filter(|n| *n >= 1.0 && (*n as u32) < c) {
            let n = n as u32;
            notes.push(format!(
                "{flag} = {n} is below the plan's concurrency {c}: from concurrency {} requests queue in the engine (their TTFT includes the wait)",
                n + 1
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::schema::EngineKind;

    /// The checked-in tables parse, and hold the flags the project's own scenarios use.
    #[test]
    fn every_table_parses() {
        let mut n = 0;
        for k in EngineKind::ALL {
            if let Some(t) = spec(*k).flag_table() {
                assert!(t.len() > 50, "{}: {} flags", t.named(), t.len());
                n += 1;
            }
        }
        assert!(n >= 2);
        let v = spec(EngineKind::Vllm).flag_table().unwrap();
        assert!(v.get("max-model-len").is_some() && v.get("enforce_eager").is_some_and(|f| f.negatable));
        let l = spec(EngineKind::Llamacpp).flag_table().unwrap();
        assert!(l.get("ctx_size").is_some() && l.get("webui").is_some() && l.get("c").is_none());
    }

    fn flags(pairs: &[(&str, FlagValue)]) -> IndexMap<String, FlagValue> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn request_limits_follow_each_engines_rules() {
        let v = spec(EngineKind::Vllm);
        assert_eq!(v.request_limit(&flags(&[("max-model-len", FlagValue::Str("8K".into()))])).unwrap().0, 8192);
        assert_eq!(v.request_limit(&flags(&[("max_model_len", FlagValue::Str("auto".into()))])), None);
        let l = spec(EngineKind::Llamacpp);
        let c = FlagValue::Int(4096);
        assert_eq!(l.request_limit(&flags(&[("ctx_size", c.clone()), ("parallel", FlagValue::Int(4))])).unwrap().0, 1024);
        assert_eq!(l.request_limit(&flags(&[("ctx_size", c.clone())])).unwrap().0, 4096);
        let unified = flags(&[("ctx_size", c.clone()), ("parallel", FlagValue::Int(4)), ("kv_unified", FlagValue::Bool(true))]);
        assert_eq!(l.request_limit(&unified).unwrap().0, 4096);
        assert_eq!(l.request_limit(&flags(&[("parallel", FlagValue::Int(4))])), None);
    }

    #[test]
    fn llamacpp_false_is_the_no_form_where_it_exists() {
        let l = spec(EngineKind::Llamacpp);
        assert_eq!(l.false_flag("cache_prompt").as_deref(), Some("--no-cache-prompt"));
        assert_eq!(l.false_flag("metrics"), None);
    }
}
