//! Expansion of a scenario into an ordered plan: server launches, each with the load cells run on it.
//! Pure and deterministic: servers in file order, then server-flag axes (first key outermost), then
//! workloads in file order, then concurrency, then max_tokens.

pub mod search;
pub mod shard;

use crate::scenario::grid;
use crate::scenario::schema::{FlagValue, Scenario, Server, Workload};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One engine launch: a server config with its grid flag values merged into `flags`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Launch {
    pub index: usize,
    pub id: String,
    pub server: Server,
    /// The grid's server-axis values for this launch (also merged into `server.flags`).
    pub axes: IndexMap<String, FlagValue>,
}

/// How a cell offers its load: one typed value, no sentinel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LoadRepr", into = "LoadRepr")]
pub enum Load {
    /// No load: a probe cell records its launch's startup facts and memory only.
    Probe,
    /// Closed loop: `concurrency` slots, each sending its next request when the previous one ends.
    Closed { concurrency: u32 },
    /// Open loop: requests arrive at `rate` per second; at most `max_in_flight` run at once when set
    /// (later ones wait, and that wait counts from their scheduled time).
    Open { rate: f64, max_in_flight: Option<u32> },
    /// A trace workload replayed at its own arrival times, divided by `speed` (2.0 = twice the
    /// traffic).
    Trace { speed: f64 },
}

/// How a cell's load is stored (the fields of `summary.json` since the first runs): `concurrency`,
/// `request_rate` and `probe`. Runs made before the typed load wrote 10000 as the in-flight cap of an
/// uncapped open loop; it is read back as no cap.
#[derive(Serialize, Deserialize)]
struct LoadRepr {
    #[serde(default)]
    concurrency: Option<u32>,
    #[serde(default)]
    request_rate: Option<f64>,
    #[serde(default)]
    probe: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trace_speed: Option<f64>,
}

const LEGACY_UNCAPPED: u32 = 10_000;

impl TryFrom<LoadRepr> for Load {
    type Error = String;
    fn try_from(r: LoadRepr) -> Result<Self, String> {
        if let Some(speed) = r.trace_speed {
            return Ok(Load::Trace { speed });
        }
        Ok(match (r.probe, r.request_rate, r.concurrency) {
            (true, _, _) => Load::Probe,
            (false, Some(rate), cap) => Load::Open { rate, max_in_flight: cap.filter(|c| *c != LEGACY_UNCAPPED) },
            (false, None, Some(concurrency)) => Load::Closed { concurrency },
            (false, None, None) => return Err("a cell needs `concurrency`, `request_rate` or `probe`".into()),
        })
    }
}

impl From<Load> for LoadRepr {
    fn from(l: Load) -> Self {
        LoadRepr { concurrency: l.concurrency(), request_rate: l.rate(), probe: l == Load::Probe, trace_speed: l.speed() }
    }
}

impl Load {
    /// Requests in flight: a closed loop's concurrency, an open loop's cap (None: uncapped or probe).
    pub fn concurrency(self) -> Option<u32> {
        match self {
            Load::Closed { concurrency } => Some(concurrency),
            Load::Open { max_in_flight, .. } => max_in_flight,
            Load::Probe | Load::Trace { .. } => None,
        }
    }
    /// A trace replay's speed-up.
    pub fn speed(self) -> Option<f64> {
        match self {
            Load::Trace { speed } => Some(speed),
            _ => None,
        }
    }
    /// Offered requests per second of an open loop.
    pub fn rate(self) -> Option<f64> {
        match self {
            Load::Open { rate, .. } => Some(rate),
            _ => None,
        }
    }
    /// The concurrency of a closed loop (None for open loops and probes).
    pub fn closed(self) -> Option<u32> {
        match self {
            Load::Closed { concurrency } => Some(concurrency),
            _ => None,
        }
    }
    /// As tables and reports show it: "concurrency 4", "2 req/s (at most 8 in flight)", "2 req/s".
    pub fn label(self) -> String {
        match self {
            Load::Probe => "no load (probe)".into(),
            Load::Closed { concurrency } => format!("concurrency {concurrency}"),
            Load::Open { rate, max_in_flight: Some(c) } => format!("{rate} req/s (at most {c} in flight)"),
            Load::Open { rate, max_in_flight: None } => format!("{rate} req/s"),
            Load::Trace { speed } => format!("trace at {speed}x speed"),
        }
    }
    /// Its part of a cell id: `conc4`, `conc8-rate2`, `rate2`.
    pub(crate) fn id_part(self) -> String {
        match self {
            Load::Probe => "probe".into(),
            Load::Closed { concurrency } => format!("conc{concurrency}"),
            Load::Open { rate, max_in_flight: Some(c) } => format!("conc{c}-rate{rate}"),
            Load::Open { rate, max_in_flight: None } => format!("rate{rate}"),
            Load::Trace { speed } => format!("speed{speed}"),
        }
    }
}

/// One measured cell: a workload at one load point on one launch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cell {
    pub index: usize,
    pub id: String,
    pub launch: usize,
    pub workload: String,
    #[serde(flatten)]
    pub load: Load,
    pub max_tokens: u32,
    /// Every grid parameter of this cell by name, typed as in the scenario (server axes, then
    /// concurrency, request_rate and max_tokens as far as the cell has them).
    pub params: IndexMap<String, FlagValue>,
}

impl Cell {
    pub fn is_probe(&self) -> bool {
        self.load == Load::Probe
    }

    /// The same cell of the same plan: equal in everything, parameters compared by value as they
    /// are shown (runs made before typed parameters stored them as text: `"4096"` is `4096`).
    pub fn same_as(&self, other: &Cell) -> bool {
        let labels = |c: &Cell| c.params.iter().map(|(k, v)| (k.clone(), v.label())).collect::<Vec<_>>();
        (self.index, &self.id, self.launch, &self.workload, self.load, self.max_tokens)
            == (other.index, &other.id, other.launch, &other.workload, other.load, other.max_tokens)
            && labels(self) == labels(other)
    }
}

/// Workload name of probe cells.
pub const PROBE: &str = "probe";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub launches: Vec<Launch>,
    pub cells: Vec<Cell>,
    /// With `[search]`: one boundary search per launch and workload, whose probe cells are chosen
    /// as it runs (`cells` then holds none of them).
    #[serde(default)]
    pub searches: Vec<search::Target>,
    /// `--shard K/N`: this plan is that shard's part of the scenario's (`shard::part`).
    #[serde(default)]
    pub shard: Option<shard::Shard>,
}

impl Plan {
    pub fn cells_of(&self, launch: usize) -> impl Iterator<Item = &Cell> {
        self.cells.iter().filter(move |c| c.launch == launch)
    }
    pub fn searches_of(&self, launch: usize) -> impl Iterator<Item = &search::Target> {
        self.searches.iter().filter(move |t| t.launch == launch)
    }
    /// A cell of this plan: one of its grid cells, or a probe of one of its searches.
    pub fn knows(&self, cell: &Cell) -> bool {
        self.cells.iter().any(|p| p.same_as(cell)) || self.searches.iter().any(|t| t.owns(cell))
    }
    /// "1 server launch", "3 server launches".
    pub fn launches_label(&self) -> String {
        let n = self.launches.len();
        format!("{n} server launch{}", if n == 1 { "" } else { "es" })
    }
    /// "1 cell", "12 cells"; with `[search]`, "1 boundary search", "2 boundary searches".
    pub fn work_label(&self) -> String {
        work_words(self.cells.len(), self.searches.len())
    }
    /// Requests the grid's cells send (warm-up included), and how many cells replay a whole trace
    /// window (their count is the trace's, not known without reading it).
    pub fn total_requests(&self, scenario: &Scenario) -> (u64, usize) {
        let mut windows = 0;
        let mut n = 0;
        for c in &self.cells {
            match workload(scenario, &c.workload) {
                Some(w) if w.is_trace() && w.requests.is_none() => {
                    windows += 1;
                    n += u64::from(w.warmup);
                }
                Some(w) => n += u64::from(w.requests() + w.warmup),
                None => {}
            }
        }
        (n, windows)
    }
}

/// "1 cell", "12 cells"; with searches, "1 boundary search", "2 boundary searches".
pub fn work_words(cells: usize, searches: usize) -> String {
    match searches {
        0 => format!("{cells} cell{}", if cells == 1 { "" } else { "s" }),
        n => format!("{n} boundary search{}", if n == 1 { "" } else { "es" }),
    }
}

pub fn workload<'a>(s: &'a Scenario, name: &str) -> Option<&'a Workload> {
    s.workloads.iter().find(|w| w.name == name)
}

/// Seed of a cell's request set: cells that differ only in concurrency or request rate send the same
/// requests, so their results compare like for like (sequential vs concurrent).
pub fn request_seed(s: &Scenario, cell: &Cell) -> u64 {
    use sha2::{Digest, Sha256};
    // A stable hash (not std's DefaultHasher, which may change between Rust releases).
    let d = Sha256::digest(format!("{}|{}|{}", cell.workload, cell.max_tokens, cell.launch).as_bytes());
    s.scenario.seed ^ u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// Cartesian product of the server-flag axes, in key order (first key outermost).
fn server_combos(s: &Scenario) -> Vec<IndexMap<String, FlagValue>> {
    let mut combos = vec![IndexMap::new()];
    for (key, values) in &s.grid.server {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for combo in &combos {
            for v in values {
                let mut c = combo.clone();
                c.insert(key.clone(), v.clone());
                next.push(c);
            }
        }
        combos = next;
    }
    combos
}

/// The load points of the grid for workload `w`, in expansion order (concurrency, then request
/// rate; a trace workload: its speeds).
fn loads(s: &Scenario, w: &Workload) -> Vec<Load> {
    if w.is_trace() {
        return grid::trace_speeds(s, w).into_iter().map(|speed| Load::Trace { speed }).collect();
    }
    let conc = grid::concurrency_values(s);
    let mut out = Vec::new();
    for c in conc.clone().map_or(vec![None], |v| v.into_iter().map(Some).collect()) {
        for rate in grid::rate_values(s) {
            out.push(match rate {
                Some(rate) => Load::Open { rate, max_in_flight: c },
                None => Load::Closed { concurrency: c.unwrap_or(1) },
            });
        }
    }
    out
}

/// A cell's parameters: the launch's server axes, then its load and max_tokens, typed.
pub fn cell_params(axes: &IndexMap<String, FlagValue>, load: Load, max_tokens: u32) -> IndexMap<String, FlagValue> {
    let mut params = axes.clone();
    if let Some(c) = load.concurrency() {
        params.insert("concurrency".into(), FlagValue::Int(i64::from(c)));
    }
    if let Some(r) = load.rate() {
        params.insert("request_rate".into(), FlagValue::Float(r));
    }
    if let Some(speed) = load.speed() {
        // A trace asks for its recorded output lengths: no max_tokens of the cell's own.
        params.insert("trace_speed".into(), FlagValue::Float(speed));
        return params;
    }
    params.insert("max_tokens".into(), FlagValue::Int(i64::from(max_tokens)));
    params
}

pub fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The longest launch id (a folder name): longer ones keep their start and end with 8 hex digits of
/// their SHA-256, so that long axis values stay apart and within a file system's 255 bytes.
pub const MAX_LAUNCH_ID: usize = 120;

fn bounded_id(id: String) -> String {
    if id.len() <= MAX_LAUNCH_ID {
        return id;
    }
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(id.as_bytes())[..4]);
    let mut cut = MAX_LAUNCH_ID - 9;
    while !id.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &id[..cut])
}

pub fn expand(s: &Scenario) -> Plan {
    let mut launches = Vec::new();
    let mut cells = Vec::new();
    let mut searches = Vec::new();
    for srv in &s.servers {
        for axes in server_combos(s) {
            let index = launches.len();
            let mut server = srv.clone();
            let mut id = format!("l{index:02}-{}", slug(&srv.name));
            for (k, v) in &axes {
                server.flags.insert(k.clone(), v.clone());
                id.push_str(&format!("-{}={}", slug(k), slug(&v.label())));
            }
            if s.workloads.is_empty() {
                let ci = cells.len();
                cells.push(Cell {
                    index: ci,
                    id: format!("c{ci:03}-l{index:02}-probe"),
                    launch: index,
                    workload: PROBE.into(),
                    load: Load::Probe,
                    max_tokens: 0,
                    params: axes.clone(),
                });
            }
            for w in s.workloads.iter().filter(|w| grid::applies(w, srv)) {
                if s.search.is_some() {
                    let max_tokens = grid::max_tokens_values(s, w)[0];
                    searches.push(search::Target::new(searches.len(), index, &w.name, max_tokens, &axes));
                    continue;
                }
                for load in loads(s, w) {
                    for m in grid::max_tokens_values(s, w) {
                        let params = cell_params(&axes, load, m);
                        let ci = cells.len();
                        // A trace cell's output lengths are the trace's: no max_tokens in its id.
                        let mt = if w.is_trace() { String::new() } else { format!("-mt{m}") };
                        cells.push(Cell {
                            index: ci,
                            id: format!("c{ci:03}-l{index:02}-{}-{}{mt}", slug(&w.name), load.id_part()),
                            launch: index,
                            workload: w.name.clone(),
                            load,
                            max_tokens: m,
                            params,
                        });
                    }
                }
            }
            launches.push(Launch { index, id: bounded_id(id), server, axes });
        }
    }
    Plan { launches, cells, searches, shard: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_counted_in_agreeing_words() {
        // `runner plan` printed "launch ... - 1 cells" and "1 search(es)".
        assert_eq!(work_words(1, 0), "1 cell");
        assert_eq!(work_words(12, 0), "12 cells");
        assert_eq!(work_words(0, 1), "1 boundary search");
        assert_eq!(work_words(0, 2), "2 boundary searches");
    }
    use crate::engine::checks::parse;
    use std::path::Path;

    const TEXT: &str = r#"
[scenario]
name = "order"
[[servers]]
name = "a"
engine = "vllm"
model = "m"
[[servers]]
name = "b"
engine = "vllm"
model = "m"
[[workloads]]
name = "chat"
[[workloads]]
name = "batch"
servers = ["b"]
[grid]
concurrency = [1, 4]
max_tokens = [64, 128]
[grid.server]
max_model_len = [2048, 4096]
"#;

    #[test]
    fn expansion_order_is_pinned() {
        let s = parse("order.toml", TEXT, Path::new(".")).unwrap();
        let p = expand(&s);
        assert_eq!(grid::count_cells(&s), p.cells.len());
        let text: Vec<String> = p
            .cells
            .iter()
            .map(|c| {
                format!(
                    "{} launch={} {}",
                    c.id,
                    p.launches[c.launch].id,
                    c.params.iter().map(|(k, v)| format!("{k}={}", v.label())).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        insta::assert_snapshot!(text.join("\n"));
    }

    #[test]
    fn open_loop_without_a_concurrency_axis_has_no_cap_and_no_sentinel() {
        let text = TEXT.replace("concurrency = [1, 4]", "request_rate = [2.0]");
        let s = parse("order.toml", &text, Path::new(".")).unwrap();
        let p = expand(&s);
        let c = &p.cells[0];
        assert_eq!(c.load, Load::Open { rate: 2.0, max_in_flight: None });
        assert_eq!(c.id, "c000-l00-chat-rate2-mt64");
        assert!(!c.params.contains_key("concurrency"), "{:?}", c.params);
        let json = serde_json::to_string(c).unwrap();
        assert!(json.contains(r#""concurrency":null"#) && !json.contains("10000"), "{json}");
        assert_eq!(serde_json::from_str::<Cell>(&json).unwrap(), *c);
    }

    #[test]
    fn stored_cells_of_earlier_runs_read_back_typed() {
        // Closed loop, an uncapped open loop (10000 was its sentinel), a capped one and a probe.
        let base = r#""index":0,"id":"c","launch":0,"workload":"chat","max_tokens":32,"params":{"concurrency":"4"}"#;
        let cell = |extra: &str| serde_json::from_str::<Cell>(&format!("{{{base},{extra}}}")).unwrap().load;
        assert_eq!(cell(r#""concurrency":4,"request_rate":null,"probe":false"#), Load::Closed { concurrency: 4 });
        assert_eq!(cell(r#""concurrency":10000,"request_rate":2.0"#), Load::Open { rate: 2.0, max_in_flight: None });
        assert_eq!(cell(r#""concurrency":8,"request_rate":2.0"#), Load::Open { rate: 2.0, max_in_flight: Some(8) });
        assert_eq!(cell(r#""concurrency":0,"probe":true"#), Load::Probe);
        // Params of earlier runs were strings: still numbers to the analysis, and the same cell to
        // a resume.
        let c: Cell = serde_json::from_str(&format!("{{{base},\"concurrency\":4}}")).unwrap();
        assert_eq!(c.params["concurrency"].as_f64(), Some(4.0));
        let mut typed = c.clone();
        typed.params.insert("concurrency".into(), FlagValue::Int(4));
        assert!(typed.same_as(&c) && typed != c);
        typed.max_tokens = 64;
        assert!(!typed.same_as(&c));
    }

    #[test]
    fn server_axes_are_merged_into_flags() {
        let s = parse("order.toml", TEXT, Path::new(".")).unwrap();
        let p = expand(&s);
        assert_eq!(p.launches.len(), 4);
        assert_eq!(p.launches[1].server.flags["max_model_len"], FlagValue::Int(4096));
        assert_eq!(p.cells_of(0).count(), 4);
        assert_eq!(p.cells_of(2).count(), 8);
    }
}
