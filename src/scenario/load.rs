//! Reading a scenario file: TOML syntax, then the serde schema (collecting every unknown key at once),
//! then semantic validation. Every problem is located at its file:line:column with its key path.

use super::diag::{suggest, Diagnostic, Issue, ScenarioErrors, Seg};
use super::schema::Scenario;
use super::validate::{self, EngineCheck};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, ImDocument, Item, Table, Value};

/// A parsed, validated scenario together with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: PathBuf,
    pub text: String,
}

impl Loaded {
    /// Directory that relative paths in the scenario are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(#[from] ScenarioErrors),
}

/// Reads, parses and validates a scenario file; `engine` is `engine::check` (the engines' own checks).
pub fn load(path: &Path, engine: EngineCheck) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let scenario = parse(&path.display().to_string(), &text, base, engine)?;
    Ok(Loaded { scenario, path: path.to_path_buf(), text })
}

/// Parses and validates scenario text. `file` is only used in messages; `base` resolves relative paths.
pub fn parse(file: &str, text: &str, base: &Path, engine: EngineCheck) -> Result<Scenario, ScenarioErrors> {
    parse_with(file, text, Some(base), engine)
}

/// Parses a scenario stored in a results folder (another machine's data): every check of `runner
/// validate` (grid size, ranges, names, secrets) except the files it names, which stayed on the
/// machine that ran it. Nothing is expanded from a stored scenario before this passes.
pub fn parse_stored(file: &str, text: &str, engine: EngineCheck) -> Result<Scenario, ScenarioErrors> {
    parse_with(file, text, None, engine)
}

fn parse_with(file: &str, text: &str, base: Option<&Path>, engine: EngineCheck) -> Result<Scenario, ScenarioErrors> {
    let fail = |diagnostics| ScenarioErrors { file: file.to_string(), diagnostics };
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let issue = Issue::new(vec![], format!("TOML syntax: {}", e.message().trim()))
                .help("fix the TOML syntax at this position (quotes, brackets, `key = value`)");
            return Err(fail(vec![Diagnostic::locate(file, text, e.span(), issue)]));
        }
    };
    let (scenario, issues) = deserialize_all(text);
    let mut diagnostics: Vec<Diagnostic> = issues.into_iter().map(|i| Diagnostic::locate(file, text, span_of(&doc, &i.path), i)).collect();
    if let Some(scenario) = scenario {
        if diagnostics.is_empty() {
            let issues = validate::validate(&scenario, base, engine);
            diagnostics.extend(issues.into_iter().map(|i| Diagnostic::locate(file, text, span_of(&doc, &i.path), i)));
            if diagnostics.is_empty() {
                return Ok(scenario);
            }
        }
    }
    Err(fail(diagnostics))
}

/// Deserializes, removing each unknown key and retrying, so that all of them are reported together.
/// Stops at the first error of another kind (a wrong type, a missing key).
fn deserialize_all(text: &str) -> (Option<Scenario>, Vec<Issue>) {
    let mut issues = Vec::new();
    let Ok(mut doc) = text.parse::<DocumentMut>() else { return (None, issues) };
    for _ in 0..100 {
        let current = doc.to_string();
        let de = toml::Deserializer::new(&current);
        match serde_path_to_error::deserialize::<_, Scenario>(de) {
            Ok(s) => return (Some(s), issues),
            Err(err) => {
                let mut path = convert_path(err.path());
                let message = err.inner().message().trim().to_string();
                if let Some(field) = unknown_field(&message) {
                    if path.last() != Some(&Seg::Key(field.clone())) {
                        path.push(Seg::Key(field.clone()));
                    }
                    let expected = expected_names(&message);
                    let mut issue = Issue::new(path.clone(), format!("unknown key `{field}`"));
                    issue = match suggest(&field, expected.iter().map(String::as_str)) {
                        Some(s) => issue.help(format!("did you mean `{s}`?")),
                        None if !expected.is_empty() => issue.help(format!("allowed keys here: {}", expected.join(", "))),
                        None => issue,
                    };
                    issues.push(issue);
                    if !remove_path(doc.as_item_mut(), &path) {
                        return (None, issues);
                    }
                } else {
                    if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
                        path.push(Seg::Key(field.to_string()));
                    }
                    let help = type_help(&message);
                    let mut issue = Issue::new(path, message);
                    if let Some(h) = help {
                        issue = issue.help(h);
                    }
                    issues.push(issue);
                    return (None, issues);
                }
            }
        }
    }
    (None, issues)
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

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
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

/// Removes the element at `path` from a mutable document; false when it cannot be found.
fn remove_path(item: &mut Item, path: &[Seg]) -> bool {
    let Some((first, rest)) = path.split_first() else { return false };
    match first {
        Seg::Key(k) => {
            if rest.is_empty() {
                return match item {
                    Item::Table(t) => t.remove(k).is_some(),
                    Item::Value(Value::InlineTable(t)) => t.remove(k).is_some(),
                    _ => false,
                };
            }
            match item {
                Item::Table(t) => t.get_mut(k).is_some_and(|next| remove_path(next, rest)),
                Item::Value(Value::InlineTable(t)) => match t.get_mut(k) {
                    Some(v) => {
                        let mut wrapped = Item::Value(v.clone());
                        let ok = remove_path(&mut wrapped, rest);
                        if let Item::Value(nv) = wrapped {
                            *v = nv;
                        }
                        ok
                    }
                    None => false,
                },
                _ => false,
            }
        }
        Seg::Index(i) => match item {
            Item::ArrayOfTables(a) => match a.get_mut(*i) {
                Some(t) => {
                    let mut wrapped = Item::Table(t.clone());
                    let ok = remove_path(&mut wrapped, rest);
                    if let Item::Table(nt) = wrapped {
                        *t = nt;
                    }
                    ok
                }
                None => false,
            },
            _ => false,
        },
    }
}
