//! Reading another tool's JSON: bounded, with errors that name the file and the key path, and that
//! tell a cut-off file from a file of another kind. Peer files are untrusted data.

use anyhow::{bail, Result};
use serde_json::Value;
use std::path::Path;

/// The largest peer result file read (a GuideLLM file with every request of a long sweep is tens of
/// MiB; above this it was not written by one of the tools).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// One parsed file: its name for messages, its bytes' SHA-256 and its JSON.
pub struct Doc {
    pub file: String,
    pub name: String,
    pub sha256: String,
    pub root: Value,
}

impl Doc {
    /// JSON, or YAML when the file name says `.yaml`/`.yml` (a Benchmark Report may be either).
    pub fn read_any(path: &Path) -> Result<Doc> {
        let yaml =
            path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        let bytes = crate::bounded::read(path, MAX_FILE_BYTES).map_err(|e| anyhow::anyhow!("reading {}: {e:#}", path.display()))?;
        let file = path.display().to_string();
        if !yaml {
            return Doc::parse(&file, path.file_name().and_then(|n| n.to_str()).unwrap_or("result.json"), &bytes);
        }
        let root: Value = serde_norway::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{file}: not YAML: {e}"))?;
        if !root.is_object() {
            bail!("{file}: a result file is one mapping; this one is {}", kind(&root));
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("result.yaml").to_string();
        Ok(Doc { file, name, sha256: crate::store::manifest::sha256_bytes(&bytes), root })
    }

    pub fn parse(file: &str, name: &str, bytes: &[u8]) -> Result<Doc> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Eof => anyhow::anyhow!(
                    "{file}: the JSON ends early (line {}, column {}): the file was cut off, e.g. by an interrupted run or copy; \
                     import a complete result file",
                    e.line(),
                    e.column()
                ),
                _ => anyhow::anyhow!("{file}:{}:{}: not JSON: {e}", e.line(), e.column()),
            }
        })?;
        if !root.is_object() {
            bail!("{file}: a result file is one JSON object; this one is {}", kind(&root));
        }
        let sha256 = crate::store::manifest::sha256_bytes(bytes);
        Ok(Doc { file: file.to_string(), name: name.to_string(), sha256, root })
    }

    /// The value at a dotted path (`a.b.0.c`), None when absent or null.
    pub fn at<'a>(&'a self, path: &str) -> Option<&'a Value> {
        at(&self.root, path)
    }

    /// A number at `path`: None when absent or null (AIPerf writes non-finite values as null), an
    /// error naming the key when it holds something else.
    pub fn num(&self, path: &str) -> Result<Option<f64>> {
        num_in(&self.file, &self.root, path)
    }

    pub fn need_num(&self, path: &str) -> Result<f64> {
        self.num(path)?.ok_or_else(|| anyhow::anyhow!("{}: `{path}` is missing; the file is incomplete or not of this tool", self.file))
    }

    pub fn text(&self, path: &str) -> Result<Option<String>> {
        match self.at(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(v) => bail!("{}: `{path}` should be text, found {}", self.file, kind(v)),
        }
    }
}

pub fn at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = root;
    for part in path.split('.') {
        v = match v {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!v.is_null()).then_some(v)
}

/// A number at `path` below `root` (see [`Doc::num`]); `file` names the file in errors.
pub fn num_in(file: &str, root: &Value, path: &str) -> Result<Option<f64>> {
    match at(root, path) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(v) => bail!("{file}: `{path}` should be a number, found {}", kind(v)),
    }
}

/// A list of numbers (`null` items are NaN: the tool could not compute them).
pub fn nums(file: &str, v: Option<&Value>, path: &str) -> Result<Option<Vec<f64>>> {
    match v {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, x)| match x {
                Value::Number(n) => Ok(n.as_f64().unwrap_or(f64::NAN)),
                Value::Null => Ok(f64::NAN),
                other => bail!("{file}: `{path}.{i}` should be a number, found {}", kind(other)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => bail!("{file}: `{path}` should be a list, found {}", kind(other)),
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
