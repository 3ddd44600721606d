//! Reading a trace file (a trace workload's `trace`), streamed: one line at a time (at most 1 MiB
//! each), stopping at the end of the window or after the first N requests, so a 2 GB trace is never
//! read whole. Every problem is located at its file, line and column, with the fix. Validation reads
//! the selection as a run does (`load::trace` turns it into requests).

use crate::scenario::schema::{TimeUnit, TraceColumns, TraceFormat, Workload};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The longest line read (a trace row is a few hundred bytes; Mooncake's longest ~2 KB).
pub const MAX_LINE: usize = 1 << 20;
/// The most requests one cell replays.
pub const MAX_SELECTED: usize = 1_000_000;

/// One request of the trace as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Line in the file (1-based).
    pub line: usize,
    /// Arrival, ms after the trace's first request.
    pub at_ms: f64,
    pub input: u32,
    pub output: u32,
    pub session: Option<String>,
    /// Prefix block ids (Mooncake `hash_ids`): equal ids are equal prompt blocks.
    pub blocks: Vec<u64>,
}

/// How a file is read.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub format: TraceFormat,
    pub columns: Option<&'a TraceColumns>,
    pub time_unit: TimeUnit,
}

/// Which requests: those arriving from `start_ms` (after the first request) and before `end_ms`,
/// the first `first` of them when set.
#[derive(Debug, Clone, Copy, Default)]
pub struct Select {
    pub start_ms: f64,
    pub end_ms: Option<f64>,
    pub first: Option<usize>,
}

/// A located problem of a trace file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {what}\n  help: {help}", self.location())]
pub struct TraceError {
    pub file: String,
    /// 0: the file as a whole.
    pub line: usize,
    /// "column 2 (ContextTokens)", "column 17", "field `input_length`".
    pub column: Option<String>,
    pub what: String,
    pub help: String,
}

impl TraceError {
    /// "file:12, column 2 (ContextTokens)", "file:3", "file" (the file as a whole).
    pub fn location(&self) -> String {
        let mut s = self.file.clone();
        if self.line > 0 {
            s.push_str(&format!(":{}", self.line));
        }
        if let Some(c) = &self.column {
            s.push_str(&format!(", {c}"));
        }
        s
    }
}

/// The selection of a workload's trace, as `read` takes it.
pub fn selection(w: &Workload) -> Select {
    let win = w.window.unwrap_or_default();
    Select {
        start_ms: win.start_s * 1000.0,
        end_ms: win.duration_s.map(|d| (win.start_s + d) * 1000.0),
        first: w.requests.map(|n| n as usize),
    }
}

/// The workload's trace (relative to `base`), as selected.
pub fn entries(w: &Workload, base: &Path) -> Result<Vec<Entry>, TraceError> {
    let missing = || TraceError {
        file: String::new(),
        line: 0,
        column: None,
        what: "a trace workload needs `trace`".into(),
        help: "the trace file, relative to the scenario file".into(),
    };
    let file = w.trace.as_deref().ok_or_else(missing)?;
    let src =
        Source { format: w.format.unwrap_or(TraceFormat::Jsonl), columns: w.columns.as_ref(), time_unit: w.time_unit.unwrap_or_default() };
    read(&base.join(file), &src, &selection(w))
}

/// The selected requests of the trace at `path`, in file order.
pub fn read(path: &Path, src: &Source<'_>, sel: &Select) -> Result<Vec<Entry>, TraceError> {
    let file = path.display().to_string();
    let err = |line: usize, column: Option<String>, what: String, help: &str| TraceError {
        file: file.clone(),
        line,
        column,
        what,
        help: help.to_string(),
    };
    let f = std::fs::File::open(path)
        .map_err(|e| err(0, None, format!("cannot open the trace: {e}"), "give the path of the trace file, relative to the scenario"))?;
    let mut reader = BufReader::with_capacity(1 << 16, f);
    let mut parser = Parser::new(src);
    let mut out = Vec::new();
    let (mut first_ms, mut last): (Option<f64>, Option<(f64, usize)>) = (None, None);
    let (mut lines, mut rows) = (0usize, 0usize);
    let mut buf = Vec::with_capacity(512);
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| err(lines + 1, None, format!("cannot read: {e}"), "check the file"))?;
        if n == 0 {
            break;
        }
        lines += 1;
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            return Err(err(
                lines,
                None,
                format!("the line is longer than {} MiB", MAX_LINE >> 20),
                "a trace has one short request a line; is this the right file (or a truncated or binary one)?",
            ));
        }
        let text = std::str::from_utf8(&buf).map_err(|e| {
            err(lines, Some(format!("byte {}", e.valid_up_to() + 1)), "not UTF-8 text".into(), "a trace is a text file (CSV or JSONL)")
        })?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let Some(row) = parser.row(text).map_err(|(column, what, help)| err(lines, column, what, help))? else { continue };
        rows += 1;
        if let Some((prev, prev_line)) = last.filter(|(p, _)| row.time_ms < *p) {
            return Err(err(
                lines,
                Some(parser.time_column()),
                format!("the arrival time goes back: {} ms before line {prev_line}'s", fmt_ms(prev - row.time_ms)),
                "a trace is replayed in file order: sort the file by its time column",
            ));
        }
        last = Some((row.time_ms, lines));
        let first = *first_ms.get_or_insert(row.time_ms);
        let at_ms = row.time_ms - first;
        if at_ms < sel.start_ms {
            continue;
        }
        if sel.end_ms.is_some_and(|end| at_ms >= end) {
            break;
        }
        if out.len() >= MAX_SELECTED {
            return Err(err(
                lines,
                None,
                format!("more than {MAX_SELECTED} requests selected"),
                "select a part of the trace: window = { start_s = ..., duration_s = ... } or requests = N",
            ));
        }
        out.push(Entry { line: lines, at_ms, input: row.input, output: row.output, session: row.session, blocks: row.blocks });
        if sel.first.is_some_and(|n| out.len() >= n) {
            break;
        }
    }
    if rows == 0 {
        let (line, what) = if lines == 0 { (0, "the trace is empty") } else { (lines, "the trace has a header but no request") };
        return Err(err(line, None, what.into(), "give a trace with at least one request line"));
    }
    if out.is_empty() {
        return Err(err(
            0,
            None,
            format!(
                "the window selects no request: the trace's {rows} request(s) end {} s after its first",
                fmt_ms(last.map_or(0.0, |l| l.0) - first_ms.unwrap_or(0.0))
            ),
            "start the window (window.start_s) before the trace ends",
        ));
    }
    Ok(out)
}

fn fmt_ms(ms: f64) -> String {
    let s = format!("{ms:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One parsed row before selection: an absolute time in ms.
struct Row {
    time_ms: f64,
    input: u32,
    output: u32,
    session: Option<String>,
    blocks: Vec<u64>,
}

/// (column, what, help) of a row's problem.
type RowError = (Option<String>, String, &'static str);

/// Field names by role.
struct Names {
    time: String,
    input: String,
    output: String,
    session: Option<String>,
    blocks: Option<String>,
}

enum Parser {
    Json {
        names: Names,
        unit: TimeUnit,
    },
    /// `header`: the column index of each role once the header line is read.
    Csv {
        names: Names,
        unit: Option<TimeUnit>,
        header: Option<Vec<Option<usize>>>,
    },
}

const TIME: usize = 0;
const INPUT: usize = 1;
const OUTPUT: usize = 2;
const SESSION: usize = 3;
const BLOCKS: usize = 4;

impl Parser {
    fn new(src: &Source<'_>) -> Self {
        let generic = |c: Option<&TraceColumns>| {
            let c = c.cloned().unwrap_or(TraceColumns {
                time: "timestamp".into(),
                input: "input_tokens".into(),
                output: "output_tokens".into(),
                session: None,
                blocks: None,
            });
            Names { time: c.time, input: c.input, output: c.output, session: c.session, blocks: c.blocks }
        };
        match src.format {
            TraceFormat::Mooncake => Parser::Json {
                names: Names {
                    time: "timestamp".into(),
                    input: "input_length".into(),
                    output: "output_length".into(),
                    session: None,
                    blocks: Some("hash_ids".into()),
                },
                unit: TimeUnit::Ms,
            },
            TraceFormat::Jsonl => Parser::Json { names: generic(src.columns), unit: src.time_unit },
            TraceFormat::Azure => Parser::Csv {
                names: Names {
                    time: "TIMESTAMP".into(),
                    input: "ContextTokens".into(),
                    output: "GeneratedTokens".into(),
                    session: None,
                    blocks: None,
                },
                unit: None,
                header: None,
            },
            TraceFormat::Csv => Parser::Csv { names: generic(src.columns), unit: Some(src.time_unit), header: None },
        }
    }

    fn time_column(&self) -> String {
        match self {
            Parser::Json { names, .. } => format!("field `{}`", names.time),
            Parser::Csv { names, header, .. } => match header.as_ref().and_then(|h| h[TIME]) {
                Some(i) => format!("column {} ({})", i + 1, names.time),
                None => format!("column {}", names.time),
            },
        }
    }

    /// The row of a non-empty line; None for a CSV's header line.
    fn row(&mut self, line: &str) -> Result<Option<Row>, RowError> {
        match self {
            Parser::Json { names, unit } => json_row(names, *unit, line).map(Some),
            Parser::Csv { names, unit, header } => {
                let fields = csv_fields(line)?;
                let Some(h) = header else {
                    *header = Some(csv_header(names, &fields)?);
                    return Ok(None);
                };
                csv_row(names, *unit, h, &fields).map(Some)
            }
        }
    }
}

fn json_row(n: &Names, unit: TimeUnit, line: &str) -> Result<Row, RowError> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        // serde's own position is within this line: the column is given, its "line 1" is not.
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or_default().to_string();
        (Some(format!("column {}", e.column())), format!("not JSON: {what}"), "a JSONL trace has one JSON object a line")
    })?;
    let Value::Object(o) = v else {
        return Err((Some("column 1".into()), "not a JSON object".into(), "each line is an object such as {\"timestamp\": 0, ...}"));
    };
    let field = |k: &str| {
        o.get(k).ok_or_else(|| {
            (
                Some(format!("field `{k}`")),
                format!("no field `{k}`"),
                "every line needs the time, input and output fields (`columns` names them for format = \"jsonl\")",
            )
        })
    };
    let num = |k: &str| -> Result<f64, RowError> {
        field(k)?
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| (Some(format!("field `{k}`")), format!("`{k}` is not a number"), "give a number"))
    };
    let time_ms = unit.to_ms(num(&n.time)?);
    let input = length(num(&n.input)?, &format!("field `{}`", n.input))?;
    let output = length(num(&n.output)?, &format!("field `{}`", n.output))?;
    let session = match &n.session {
        Some(k) => Some(match field(k)? {
            Value::String(s) => s.clone(),
            Value::Number(x) => x.to_string(),
            _ => {
                return Err((
                    Some(format!("field `{k}`")),
                    format!("`{k}` is neither a string nor a number"),
                    "a session id is a string or a number",
                ))
            }
        }),
        None => None,
    };
    let blocks = match &n.blocks {
        Some(k) => match o.get(k) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().map(|x| x.as_u64()).collect::<Option<Vec<_>>>().ok_or_else(|| {
                (
                    Some(format!("field `{k}`")),
                    format!("`{k}` holds something other than non-negative integers"),
                    "block ids are non-negative integers",
                )
            })?,
            Some(_) => {
                return Err((Some(format!("field `{k}`")), format!("`{k}` is not an array"), "block ids are a JSON array of integers"))
            }
        },
        None => Vec::new(),
    };
    Ok(Row { time_ms, input, output, session, blocks })
}

/// A recorded length: a whole number of tokens, not negative.
fn length(v: f64, column: &str) -> Result<u32, RowError> {
    if v < 0.0 {
        return Err((Some(column.into()), format!("negative length {v}"), "token counts are 0 or more"));
    }
    if v.fract() != 0.0 || v > f64::from(u32::MAX) {
        return Err((Some(column.into()), format!("{v} is not a whole number of tokens"), "token counts are whole numbers"));
    }
    Ok(v as u32)
}

fn csv_fields(line: &str) -> Result<Vec<String>, RowError> {
    if !line.contains('"') {
        return Ok(line.split(',').map(|f| f.trim().to_string()).collect());
    }
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
    match r.records().next() {
        Some(Ok(rec)) => Ok(rec.iter().map(|f| f.trim().to_string()).collect()),
        Some(Err(e)) => Err((None, format!("not a CSV row: {e}"), "one row a line, fields separated by commas")),
        None => Ok(Vec::new()),
    }
}

fn csv_header(n: &Names, fields: &[String]) -> Result<Vec<Option<usize>>, RowError> {
    let find = |name: &str| fields.iter().position(|f| f == name);
    let mut out = Vec::new();
    for (role, name) in [
        (TIME, Some(&n.time)),
        (INPUT, Some(&n.input)),
        (OUTPUT, Some(&n.output)),
        (SESSION, n.session.as_ref()),
        (BLOCKS, n.blocks.as_ref()),
    ] {
        let _ = role;
        match name {
            Some(name) => match find(name) {
                Some(i) => out.push(Some(i)),
                None => {
                    return Err((
                        Some(format!("column `{name}`")),
                        format!("the header has no column `{name}` (it has: {})", fields.join(", ")),
                        "name the trace's columns in `columns = { time = ..., input = ..., output = ... }`, or check format",
                    ))
                }
            },
            None => out.push(None),
        }
    }
    Ok(out)
}

fn csv_row(n: &Names, unit: Option<TimeUnit>, h: &[Option<usize>], fields: &[String]) -> Result<Row, RowError> {
    let names = [Some(&n.time), Some(&n.input), Some(&n.output), n.session.as_ref(), n.blocks.as_ref()];
    let col = |role: usize| {
        let i = h[role].expect("column of a named role");
        format!("column {} ({})", i + 1, names[role].map_or("", |s| s.as_str()))
    };
    let get = |role: usize| -> Result<&str, RowError> {
        let i = h[role].expect("column of a named role");
        fields.get(i).map(String::as_str).ok_or_else(|| {
            (
                Some(col(role)),
                format!("the row has {} field(s), no column {}", fields.len(), i + 1),
                "every row has as many fields as the header",
            )
        })
    };
    let num = |role: usize| -> Result<f64, RowError> {
        let t = get(role)?;
        t.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| (Some(col(role)), format!("{t:?} is not a number"), "give a number"))
    };
    let time_ms = match unit {
        Some(u) => u.to_ms(num(TIME)?),
        None => {
            let t = get(TIME)?;
            let dt = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f").map_err(|e| {
                (
                    Some(col(TIME)),
                    format!("{t:?} is not a time of the form 2023-11-16 18:15:46.6805900: {e}"),
                    "the Azure trace's TIMESTAMP column is a wall-clock time",
                )
            })?;
            dt.and_utc().timestamp_micros() as f64 / 1000.0
        }
    };
    let input = length(num(INPUT)?, &col(INPUT))?;
    let output = length(num(OUTPUT)?, &col(OUTPUT))?;
    let session = match h[SESSION] {
        Some(_) => Some(get(SESSION)?.to_string()),
        None => None,
    };
    let blocks = match h[BLOCKS] {
        Some(_) => {
            let t = get(BLOCKS)?;
            t.split([' ', ';']).filter(|s| !s.is_empty()).map(|s| s.parse::<u64>().ok()).collect::<Option<Vec<_>>>().ok_or_else(|| {
                (
                    Some(col(BLOCKS)),
                    format!("{t:?} is not a list of block ids"),
                    "block ids are non-negative integers separated by spaces or `;`",
                )
            })?
        }
        None => Vec::new(),
    };
    Ok(Row { time_ms, input, output, session, blocks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(format: TraceFormat) -> Source<'static> {
        Source { format, columns: None, time_unit: TimeUnit::S }
    }

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    fn error(name: &str, text: &str, format: TraceFormat) -> TraceError {
        let (_d, p) = write(name, text);
        read(&p, &src(format), &Select::default()).unwrap_err()
    }

    #[test]
    fn both_shipped_formats_read_with_times_from_the_first_request() {
        let (_d, p) = write(
            "a.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n",
        );
        let e = read(&p, &src(TraceFormat::Azure), &Select::default()).unwrap();
        assert_eq!((e[0].at_ms, e[0].input, e[0].output, e[0].line), (0.0, 374, 44, 2));
        assert!((e[1].at_ms - 4314.579).abs() < 0.001, "{}", e[1].at_ms);
        let (_d, p) = write("m.jsonl", "{\"timestamp\": 100, \"input_length\": 900, \"output_length\": 6, \"hash_ids\": [0, 1]}\n\n{\"timestamp\": 140, \"input_length\": 10, \"output_length\": 4, \"hash_ids\": [0]}\n");
        let e = read(&p, &src(TraceFormat::Mooncake), &Select::default()).unwrap();
        assert_eq!((e[1].at_ms, e[1].blocks.clone(), e[1].line), (40.0, vec![0], 3));
    }

    #[test]
    fn a_window_and_the_first_n_select_without_reading_on() {
        let mut text = String::from("t,i,o\n");
        for k in 0..100 {
            text.push_str(&format!("{k},{},{}\n", 10 + k, 5));
        }
        // Garbage after row 30 is never read: the window ends first.
        text.push_str("not,a,row\n");
        let (_d, p) = write("g.csv", &text);
        let cols = TraceColumns { time: "t".into(), input: "i".into(), output: "o".into(), session: None, blocks: None };
        let s = Source { format: TraceFormat::Csv, columns: Some(&cols), time_unit: TimeUnit::S };
        let e = read(&p, &s, &Select { start_ms: 10_000.0, end_ms: Some(30_000.0), first: None }).unwrap();
        assert_eq!((e.len(), e[0].input, e[0].at_ms), (20, 20, 10_000.0));
        let e = read(&p, &s, &Select { start_ms: 0.0, end_ms: None, first: Some(3) }).unwrap();
        assert_eq!(e.len(), 3);
        let whole = read(&p, &s, &Select::default()).unwrap_err();
        assert_eq!((whole.line, whole.column.as_deref()), (102, Some("column 1 (t)")), "{whole}");
    }

    #[test]
    fn bad_traces_are_located_with_their_fix() {
        let e = error("m.jsonl", "", TraceFormat::Mooncake);
        assert!(e.to_string().contains("the trace is empty"), "{e}");
        let e = error("a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n", TraceFormat::Azure);
        assert!(e.what.contains("header but no request"), "{e}");
        let e = error("a.csv", "TIMESTAMP,Context,GeneratedTokens\n2023-11-16 18:15:46.6,1,1\n", TraceFormat::Azure);
        assert_eq!((e.line, e.column.as_deref()), (1, Some("column `ContextTokens`")));
        assert!(e.what.contains("(it has: TIMESTAMP, Context, GeneratedTokens)"), "{e}");
        let e = error(
            "a.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6,1,1\n2023-11-16 18:15:45.6,1,1\n",
            TraceFormat::Azure,
        );
        assert_eq!((e.line, e.column.as_deref()), (3, Some("column 1 (TIMESTAMP)")));
        assert!(e.what.contains("goes back: 1000 ms before line 2's") && e.help.contains("sort"), "{e}");
        let e = error("a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6,-5,1\n", TraceFormat::Azure);
        assert_eq!((e.line, e.column.as_deref()), (2, Some("column 2 (ContextTokens)")));
        assert!(e.what.contains("negative length -5"), "{e}");
        let e = error(
            "m.jsonl",
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 1, \"input_length\": 5,, }\n",
            TraceFormat::Mooncake,
        );
        assert_eq!((e.line, e.column.as_deref()), (2, Some("column 36")), "{e}");
        assert_eq!(e.what, "not JSON: key must be a string", "{e}");
        let e = error("m.jsonl", "{\"timestamp\": 0, \"input_length\": 5}\n", TraceFormat::Mooncake);
        assert_eq!((e.line, e.column.as_deref()), (1, Some("field `output_length`")));
        let shown = e.to_string();
        assert!(shown.contains("m.jsonl:1, field `output_length`: no field `output_length`") && shown.contains("help:"), "{shown}");
    }

    #[test]
    fn a_two_gigabyte_trace_is_streamed_not_read_whole() {
        // 2 GiB, sparse: a valid head, then NUL bytes without a newline.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("huge.jsonl");
        let head = "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": []}\n".repeat(10);
        std::fs::write(&p, &head).unwrap();
        std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(2 << 30).unwrap();
        let s = src(TraceFormat::Mooncake);
        let e = read(&p, &s, &Select { first: Some(5), ..Select::default() }).unwrap();
        assert_eq!(e.len(), 5);
        // Without a limit the reader stops at the first over-long line, having read 1 MiB of it.
        let err = read(&p, &s, &Select::default()).unwrap_err();
        assert_eq!(err.line, 11);
        assert!(err.what.contains("longer than 1 MiB"), "{err}");
    }
}
