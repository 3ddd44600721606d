//! Diagnostics for scenario files: file, line, column, key path, message and a fix.

use std::fmt;
use std::ops::Range;

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub fn path_to_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Shorthand for building key paths in validation code.
#[macro_export]
macro_rules! kp {
    ($($seg:expr),* $(,)?) => {
        vec![$($crate::scenario::diag::IntoSeg::into_seg($seg)),*]
    };
}

pub trait IntoSeg {
    fn into_seg(self) -> Seg;
}
impl IntoSeg for &str {
    fn into_seg(self) -> Seg {
        Seg::Key(self.to_string())
    }
}
impl IntoSeg for &String {
    fn into_seg(self) -> Seg {
        Seg::Key(self.clone())
    }
}
impl IntoSeg for String {
    fn into_seg(self) -> Seg {
        Seg::Key(self)
    }
}
impl IntoSeg for usize {
    fn into_seg(self) -> Seg {
        Seg::Index(self)
    }
}

/// A problem found in a scenario, before it is located in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub path: Vec<Seg>,
    pub message: String,
    pub help: Option<String>,
}

impl Issue {
    pub fn new(path: Vec<Seg>, message: impl Into<String>) -> Self {
        Issue { path, message: message.into(), help: None }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A located problem, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
    pub help: Option<String>,
    pub source_line: Option<String>,
    pub underline: Range<usize>,
}

impl Diagnostic {
    pub fn locate(file: &str, text: &str, span: Option<Range<usize>>, issue: Issue) -> Self {
        let span = span.unwrap_or(0..0);
        let (line, column) = line_col(text, span.start);
        let source_line = text.lines().nth(line - 1).map(str::to_string);
        let line_len = source_line.as_ref().map_or(0, |l| l.chars().count());
        let start = column - 1;
        let width = text.get(span.clone()).map(|s| s.lines().next().unwrap_or("").chars().count()).unwrap_or(0).max(1);
        let end = (start + width).min(line_len.max(start + 1));
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            key: path_to_string(&issue.path),
            message: issue.message,
            help: issue.help,
            source_line,
            underline: start..end,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "  --> {}:{}:{}", self.file, self.line, self.column)?;
        if let Some(src) = &self.source_line {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            writeln!(f, "{pad} |")?;
            writeln!(f, "{num} | {src}")?;
            let marks = "^".repeat(self.underline.len().max(1));
            writeln!(f, "{pad} | {}{marks}", " ".repeat(self.underline.start))?;
        }
        if !self.key.is_empty() {
            writeln!(f, "  = key: {}", self.key)?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem of one scenario file; the CLI exits with code 2 on it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ScenarioErrors {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let n = self.diagnostics.len();
        write!(f, "{}: {n} problem{} found; no server was started", self.file, if n == 1 { "" } else { "s" })
    }
}

/// "did you mean" for a misspelt name.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 8), (2, 3));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("concurency", ["concurrency", "max_tokens"]).as_deref(), Some("concurrency"));
        assert_eq!(suggest("zzz", ["concurrency", "max_tokens"]), None);
    }
}
