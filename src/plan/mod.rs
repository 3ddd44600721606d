//! Expansion of a scenario into an ordered plan: server launches, each with the load cells run on it.
//! Pure and deterministic: servers in file order, then server-flag axes (first key outermost), then
//! workloads in file order, then concurrency, then max_tokens.

use crate::scenario::schema::{FlagValue, Scenario, Server, Workload};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub mod render;

/// One engine launch: a server config with its grid flag values merged into `flags`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Launch {
    pub index: usize,
    pub id: String,
    pub server: Server,
    /// The grid's server-axis values for this launch (also merged into `server.flags`).
    pub axes: IndexMap<String, FlagValue>,
}

/// One measured cell: a workload at one load point on one launch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cell {
    pub index: usize,
    pub id: String,
    pub launch: usize,
    pub workload: String,
    pub concurrency: u32,
    pub max_tokens: u32,
    /// Open loop: requests per second (then `concurrency` caps requests in flight).
    #[serde(default)]
    pub request_rate: Option<f64>,
    /// Every grid parameter of this cell by name (server axes, then concurrency and max_tokens).
    pub params: IndexMap<String, String>,
    /// A probe cell sends no load: it records startup facts and memory of its launch only
    /// (scenarios without workloads have one per launch).
    #[serde(default)]
    pub probe: bool,
}

/// Workload name of probe cells.
pub const PROBE: &str = "probe";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub launches: Vec<Launch>,
    pub cells: Vec<Cell>,
}

impl Plan {
    pub fn cells_of(&self, launch: usize) -> impl Iterator<Item = &Cell> {
        self.cells.iter().filter(move |c| c.launch == launch)
    }
    pub fn total_requests(&self, scenario: &Scenario) -> u64 {
        self.cells.iter().map(|c| workload(scenario, &c.workload).map_or(0, |w| u64::from(w.requests + w.warmup))).sum()
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

/// Cap on requests in flight of an open-loop cell whose grid has no concurrency axis.
pub const OPEN_LOOP_MAX_IN_FLIGHT: u32 = 10_000;

fn rates(s: &Scenario) -> Vec<Option<f64>> {
    s.grid.request_rate.clone().map_or_else(|| vec![None], |r| r.into_iter().map(Some).collect())
}

fn load_axes(s: &Scenario, w: &Workload) -> (Vec<u32>, Vec<u32>) {
    let default_conc = if s.grid.request_rate.is_some() { i64::from(OPEN_LOOP_MAX_IN_FLIGHT) } else { 1 };
    let conc = s.grid.concurrency.clone().unwrap_or_else(|| vec![default_conc]);
    let mt = s.grid.max_tokens.clone().unwrap_or_else(|| vec![i64::from(w.max_tokens)]);
    let to_u32 = |v: Vec<i64>| v.into_iter().map(|x| u32::try_from(x).unwrap_or(u32::MAX)).collect();
    (to_u32(conc), to_u32(mt))
}

fn applies(w: &Workload, srv: &Server) -> bool {
    w.servers.is_empty() || w.servers.iter().any(|n| n == &srv.name)
}

/// Number of cells without building them (used by validation to cap absurd grids cheaply).
pub fn count_cells(s: &Scenario) -> usize {
    let combos: usize = s.grid.server.values().map(Vec::len).product();
    if s.workloads.is_empty() {
        return s.servers.len().saturating_mul(combos);
    }
    s.servers
        .iter()
        .map(|srv| {
            let per_launch: usize = s
                .workloads
                .iter()
                .filter(|w| applies(w, srv))
                .map(|w| {
                    let (c, m) = load_axes(s, w);
                    c.len().saturating_mul(m.len()).saturating_mul(rates(s).len())
                })
                .sum();
            per_launch.saturating_mul(combos)
        })
        .fold(0usize, usize::saturating_add)
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' }).collect()
}

pub fn expand(s: &Scenario) -> Plan {
    let mut launches = Vec::new();
    let mut cells = Vec::new();
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
                    concurrency: 0,
                    max_tokens: 0,
                    request_rate: None,
                    params: axes.iter().map(|(k, v)| (k.clone(), v.label())).collect(),
                    probe: true,
                });
            }
            for w in s.workloads.iter().filter(|w| applies(w, srv)) {
                let (concs, mts) = load_axes(s, w);
                for &c in &concs {
                    for rate in rates(s) {
                        for &m in &mts {
                            let mut params: IndexMap<String, String> = axes.iter().map(|(k, v)| (k.clone(), v.label())).collect();
                            params.insert("concurrency".into(), c.to_string());
                            if let Some(r) = rate {
                                params.insert("request_rate".into(), r.to_string());
                            }
                            params.insert("max_tokens".into(), m.to_string());
                            let ci = cells.len();
                            let rate_id = rate.map_or(String::new(), |r| format!("-rate{r}"));
                            cells.push(Cell {
                                index: ci,
                                id: format!("c{ci:03}-l{index:02}-{}-conc{c}{rate_id}-mt{m}", slug(&w.name)),
                                launch: index,
                                workload: w.name.clone(),
                                concurrency: c,
                                max_tokens: m,
                                request_rate: rate,
                                params,
                                probe: false,
                            });
                        }
                    }
                }
            }
            launches.push(Launch { index, id, server, axes });
        }
    }
    Plan { launches, cells }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;
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
        assert_eq!(count_cells(&s), p.cells.len());
        let text: Vec<String> = p
            .cells
            .iter()
            .map(|c| {
                format!(
                    "{} launch={} {}",
                    c.id,
                    p.launches[c.launch].id,
                    c.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        insta::assert_snapshot!(text.join("\n"));
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
