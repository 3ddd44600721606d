//! Strict TOML reading for every file the user writes (scenario, `gpus_file`, `prices_file`): one
//! deserialization that collects every unknown key (`serde_ignored`) and the first wrong type or
//! missing key (`serde_path_to_error`), each located at its file:line:column with its key path. The
//! keys allowed at a place (for "did you mean") come from the type's JSON schema (`schemars`), so
//! serde's names are written once, in the schema types.

use super::diag::{suggest, Diagnostic, Issue, ScenarioErrors, Seg};
use schemars::schema::{RootSchema, Schema, SchemaObject, SingleOrVec};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, Value};

/// A strictly read file: the value, the parsed document (for locating later problems) and the text.
pub struct Parsed<'a, T> {
    pub value: T,
    pub doc: ImDocument<&'a str>,
}

/// Parses `text` (named `file` in messages) as a `T`: TOML syntax, then the schema. Every unknown key
/// is reported at once, with the first error of another kind.
pub fn parse<'a, T: DeserializeOwned + JsonSchema>(file: &str, text: &'a str) -> Result<Parsed<'a, T>, ScenarioErrors> {
    let fail = |diagnostics| ScenarioErrors { file: file.to_string(), diagnostics };
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let issue = Issue::new(vec![], format!("TOML syntax: {}", e.message().trim()))
                .help("fix the TOML syntax at this position (quotes, brackets, `key = value`)");
            return Err(fail(vec![Diagnostic::locate(file, text, e.span(), issue)]));
        }
    };
    match deserialize_all::<T>(text) {
        (Some(value), issues) if issues.is_empty() => Ok(Parsed { value, doc }),
        (_, issues) => Err(fail(locate_all(file, text, &doc, issues))),
    }
}

/// Reads and parses a file the scenario names (`gpus_file`, `prices_file`). The error is one text:
/// a first line naming the file and the count, then each problem located in that file.
pub fn read_file<T: DeserializeOwned + JsonSchema>(path: &std::path::Path, what: &str) -> Result<T, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {what} {name}: {e}"))?;
    match parse::<T>(&name, &text) {
        Ok(p) => Ok(p.value),
        Err(e) => {
            let n = e.diagnostics.len();
            let shown: String = e.diagnostics.iter().map(|d| format!("\n{d}")).collect();
            Err(format!("{what} {name} has {n} problem{}:{}", if n == 1 { "" } else { "s" }, shown.trim_end()))
        }
    }
}

/// Locates each issue in the document.
pub fn locate_all(file: &str, text: &str, doc: &ImDocument<&str>, issues: Vec<Issue>) -> Vec<Diagnostic> {
    issues.into_iter().map(|i| Diagnostic::locate(file, text, span_of(doc, &i.path), i)).collect()
}

/// One pass: unknown keys as serde skips them, then the first other error (a wrong type, a missing
/// key), which ends deserialization.
fn deserialize_all<T: DeserializeOwned + JsonSchema>(text: &str) -> (Option<T>, Vec<Issue>) {
    let mut unknown: Vec<Vec<Seg>> = Vec::new();
    let de = toml::Deserializer::new(text);
    let mut record = |p: serde_ignored::Path| unknown.push(ignored_path(&p));
    let result = serde_path_to_error::deserialize::<_, T>(serde_ignored::Deserializer::new(de, &mut record));
    let schema = schemars::gen::SchemaSettings::draft07().into_generator().into_root_schema_for::<T>();
    let mut issues: Vec<Issue> = unknown.into_iter().map(|path| unknown_key(&schema, path)).collect();
    match result {
        Ok(value) => (Some(value), issues),
        Err(err) => {
            issues.push(other_error(&err));
            (None, issues)
        }
    }
}

fn unknown_key(schema: &RootSchema, path: Vec<Seg>) -> Issue {
    let Some(Seg::Key(field)) = path.last().cloned() else { return Issue::new(path, "unexpected value") };
    let allowed = allowed_keys(schema, &path[..path.len() - 1]);
    let issue = Issue::new(path, format!("unknown key `{field}`"));
    match suggest(&field, allowed.iter().map(String::as_str)) {
        Some(s) => issue.help(format!("did you mean `{s}`?")),
        None if !allowed.is_empty() => issue.help(format!("allowed keys here: {}", allowed.join(", "))),
        None => issue,
    }
}

fn other_error(err: &serde_path_to_error::Error<toml::de::Error>) -> Issue {
    let mut path = convert_path(err.path());
    let message = err.inner().message().trim().to_string();
    if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
        path.push(Seg::Key(field.to_string()));
    }
    let issue = Issue::new(path, message.clone());
    match type_help(&message) {
        Some(h) => issue.help(h),
        None => issue,
    }
}

/// The key path of a value serde skipped.
fn ignored_path(p: &serde_ignored::Path) -> Vec<Seg> {
    use serde_ignored::Path;
    match p {
        Path::Root => vec![],
        Path::Seq { parent, index } => {
            let mut v = ignored_path(parent);
            v.push(Seg::Index(*index));
            v
        }
        Path::Map { parent, key } => {
            let mut v = ignored_path(parent);
            v.push(Seg::Key(key.clone()));
            v
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn convert_path(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

/// The keys a table at `parent` may hold, in the schema's declaration order; empty when the place
/// is a free map (flags, env) or not found.
fn allowed_keys(root: &RootSchema, parent: &[Seg]) -> Vec<String> {
    let mut here = vec![&root.schema];
    for seg in parent {
        here = here.into_iter().flat_map(|s| step(root, s, seg)).collect();
    }
    let mut out: Vec<String> = Vec::new();
    for s in here.into_iter().flat_map(|s| alternatives(root, s)) {
        for k in s.object.iter().flat_map(|o| o.properties.keys()) {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
    out
}

/// The schemas a value at `seg` below `s` may have.
fn step<'a>(root: &'a RootSchema, s: &'a SchemaObject, seg: &Seg) -> Vec<&'a SchemaObject> {
    alternatives(root, s)
        .into_iter()
        .filter_map(|s| match seg {
            Seg::Key(k) => {
                let o = s.object.as_ref()?;
                o.properties.get(k).or(o.additional_properties.as_deref())
            }
            Seg::Index(_) => match s.array.as_ref()?.items.as_ref()? {
                SingleOrVec::Single(item) => Some(item.as_ref()),
                SingleOrVec::Vec(items) => items.first(),
            },
        })
        .filter_map(object)
        .collect()
}

/// `s` with its reference resolved and its `anyOf`/`oneOf`/`allOf` branches spread out.
fn alternatives<'a>(root: &'a RootSchema, s: &'a SchemaObject) -> Vec<&'a SchemaObject> {
    let s = match s.reference.as_deref().and_then(|r| r.strip_prefix("#/definitions/")) {
        Some(name) => match root.definitions.get(name).and_then(object) {
            Some(def) => def,
            None => return vec![],
        },
        None => s,
    };
    let mut out = vec![s];
    if let Some(sub) = &s.subschemas {
        for list in [&sub.any_of, &sub.one_of, &sub.all_of].into_iter().flatten() {
            out.extend(list.iter().filter_map(object).flat_map(|b| alternatives(root, b)));
        }
    }
    out
}

fn object(s: &Schema) -> Option<&SchemaObject> {
    match s {
        Schema::Object(o) => Some(o),
        Schema::Bool(_) => None,
    }
}

fn expected_names(message: &str) -> Vec<String> {
    let Some(idx) = message.find("expected") else { return vec![] };
    message[idx..].split('`').skip(1).step_by(2).map(str::to_string).collect()
}

fn type_help(message: &str) -> Option<String> {
    if message.starts_with("missing field") {
        Some("add this key; see docs/scenario.md for its meaning".into())
    } else if message.starts_with("unknown variant") {
        let names = expected_names(message);
        Some(format!("use one of: {}", names.join(", ")))
    } else if message.starts_with("invalid value") {
        Some("use a value in the allowed range (counts cannot be negative); see docs/scenario.md".into())
    } else if message.starts_with("invalid type") {
        Some("change the value to the type named above; see docs/scenario.md".into())
    } else {
        None
    }
}

/// The span of the deepest element of `path` that exists in the document (a key's name when the
/// path ends on a key, so the caret points at the misspelt or wrong key).
pub fn span_of(doc: &ImDocument<&str>, path: &[Seg]) -> Option<Range<usize>> {
    resolve_table(doc.as_table(), path, None)
}

fn resolve_table(t: &Table, path: &[Seg], best: Option<Range<usize>>) -> Option<Range<usize>> {
    let Some((first, rest)) = path.split_first() else { return t.span().or(best) };
    let Seg::Key(k) = first else { return best };
    let Some((key, item)) = t.get_key_value(k) else { return best };
    let here = key.span().or(best);
    if rest.is_empty() {
        return here;
    }
    match item {
        Item::Table(inner) => resolve_table(inner, rest, here),
        Item::ArrayOfTables(a) => match rest.split_first() {
            Some((Seg::Index(i), tail)) => match a.get(*i) {
                Some(inner) => resolve_table(inner, tail, inner.span().or(here)),
                None => here,
            },
            _ => here,
        },
        Item::Value(v) => resolve_value(v, rest, here),
        Item::None => here,
    }
}

fn resolve_value(v: &Value, path: &[Seg], best: Option<Range<usize>>) -> Option<Range<usize>> {
    let Some((first, rest)) = path.split_first() else { return v.span().or(best) };
    match (first, v) {
        (Seg::Key(k), Value::InlineTable(t)) => match t.get_key_value(k) {
            Some((key, _)) if rest.is_empty() => key.span().or(best),
            Some((key, val)) => match val.as_value() {
                Some(v) => resolve_value(v, rest, key.span().or(best)),
                None => key.span().or(best),
            },
            None => best,
        },
        (Seg::Index(i), Value::Array(a)) => match a.get(*i) {
            Some(val) => resolve_value(val, rest, val.span().or(best)),
            None => best,
        },
        _ => best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::schema::{PricesFile, Scenario};

    fn paths(text: &str) -> Vec<(String, Option<String>)> {
        let (_, issues) = deserialize_all::<Scenario>(text);
        issues.into_iter().map(|i| (crate::scenario::diag::path_to_string(&i.path), i.help)).collect()
    }

    #[test]
    fn every_unknown_key_in_one_pass_with_the_keys_allowed_there() {
        let text = "[scenario]\nname = \"x\"\nsede = 1\n[[servers]]\nname = \"a\"\nengine = \"vllm\"\nmodle = \"m\"\n\
                    [[workloads]]\nname = \"w\"\nrequets = 3\n[slo.w]\np95_e2e = 1.0\n[grid]\nzzz = 1\n[reports]\n";
        let got = paths(text);
        let keys: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(keys, ["scenario.sede", "servers[0].modle", "workloads[0].requets", "slo.w.p95_e2e", "grid.zzz", "reports"]);
        assert_eq!(got[0].1.as_deref(), Some("did you mean `seed`?"));
        assert_eq!(got[3].1.as_deref(), Some("did you mean `p95_e2e_ms`?"));
        assert_eq!(got[4].1.as_deref(), Some("allowed keys here: concurrency, max_tokens, request_rate, trace_speed, server"));
        assert_eq!(got[5].1.as_deref(), Some("allowed keys here: scenario, servers, workloads, grid, slo, gpus, prices, search"));
    }

    #[test]
    fn free_maps_take_any_key_and_a_wrong_type_ends_the_pass() {
        // flags and env are maps of any key; extra_body holds any TOML value.
        let text = "[scenario]\nname = \"x\"\n[[servers]]\nname = \"a\"\nengine = \"vllm\"\nflags = { max-model-len = 4 }\n\
                    env = { A = \"b\" }\n[[workloads]]\nname = \"w\"\nextra_body = { x = { y = 1 } }\n";
        assert!(paths(text).is_empty());
        let got = paths("[scenario]\nname = \"x\"\nnope = 1\nseed = \"s\"\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0, "scenario.seed");
    }

    #[test]
    fn other_files_are_read_as_strictly() {
        let text = "[prices.a100]\nper_hour = 1.0\ndate = \"2026-01-01\"\nsource = \"x\"\nsorce = \"y\"\n";
        let err = parse::<PricesFile>("prices.toml", text).err().unwrap().to_string();
        assert!(err.contains("prices.toml:5:1") && err.contains("did you mean `source`?"), "{err}");
    }
}
