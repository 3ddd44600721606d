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
    /// A warning is printed and the scenario still runs; every other issue refuses it.
    pub warning: bool,
}

impl Issue {
    pub fn new(path: Vec<Seg>, message: impl Into<String>) -> Self {
        Issue { path, message: message.into(), help: None, warning: false }
    }
    /// A problem worth saying that does not stop the run.
    pub fn warn(path: Vec<Seg>, message: impl Into<String>) -> Self {
        Issue { warning: true, ..Issue::new(path, message) }
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
    /// 1-based, in characters (a tab or a wide character counts one, as editors' "column" does).
    pub column: usize,
    pub key: String,
    pub message: String,
    pub help: Option<String>,
    /// The line the problem is on, and the byte range of the problem within it.
    pub source_line: String,
    pub underline: Range<usize>,
    pub warning: bool,
}

impl Diagnostic {
    pub fn locate(file: &str, text: &str, span: Option<Range<usize>>, issue: Issue) -> Self {
        let span = span.unwrap_or(0..0);
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let (line, column) = line_col(text, start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
        let source_line = text[line_start..line_end].trim_end_matches('\r');
        // The problem's first line, at least one character wide (a span at the end of a line, or an
        // empty one, marks the character under it).
        let from = start - line_start;
        let to = floor_char_boundary(source_line, span.end.saturating_sub(line_start).min(source_line.len()));
        let to = if to > from { to } else { source_line[from..].chars().next().map_or(from, |c| from + c.len_utf8()) };
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            key: path_to_string(&issue.path),
            message: issue.message,
            help: issue.help,
            warning: issue.warning,
            source_line: source_line.to_string(),
            underline: from..to,
        }
    }
}

/// The largest char boundary of `text` at or before `i`.
fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

impl fmt::Display for Diagnostic {
    /// Drawn by `annotate-snippets` (rustc's renderer): it expands tabs and measures wide characters,
    /// so the carets sit under the key however the line is indented.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
        let level = if self.warning { Level::WARNING } else { Level::ERROR };
        let mut group = level.primary_title(self.message.as_str()).element(
            Snippet::source(self.source_line.as_str())
                .line_start(self.line)
                .path(self.file.as_str())
                .annotation(AnnotationKind::Primary.span(self.underline.clone())),
        );
        if !self.key.is_empty() {
            group = group.element(Level::NOTE.with_name(Some("key")).message(self.key.as_str()));
        }
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        writeln!(f, "{}", Renderer::plain().render(&[group]))
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

    /// The carets sit under the key on a tab-indented line and after wide characters (the old
    /// hand-drawn carets counted a tab and a CJK character as one column each).
    #[test]
    fn carets_line_up_after_tabs_and_wide_characters() {
        for (text, key) in [("a = 1\n\t\tconcurency = 2\n", "concurency"), ("name = \"模型\" ; wrong = 1\n", "wrong")] {
            let start = text.find(key).unwrap();
            let d = Diagnostic::locate("s.toml", text, Some(start..start + key.len()), Issue::new(kp!["x"], "bad"));
            let out = d.to_string();
            let lines: Vec<&str> = out.lines().collect();
            let src = lines.iter().position(|l| l.contains(key)).unwrap();
            let display_col = |l: &str, i: usize| unicode_width::UnicodeWidthStr::width(&l[..i]);
            let key_at = display_col(lines[src], lines[src].find(key).unwrap());
            let caret_at = display_col(lines[src + 1], lines[src + 1].find('^').unwrap());
            assert_eq!(caret_at, key_at, "{out}");
            assert_eq!(lines[src + 1].matches('^').count(), key.len(), "{out}");
            assert!(out.contains(&format!("s.toml:{}:{}", d.line, text[..start].rsplit('\n').next().unwrap().chars().count() + 1)));
        }
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest("concurency", ["concurrency", "max_tokens"]).as_deref(), Some("concurrency"));
        assert_eq!(suggest("zzz", ["concurrency", "max_tokens"]), None);
    }
}
