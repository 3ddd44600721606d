//! Imported cells in the reports: where each figure came from and how the file defines it, so that a
//! figure defined otherwise than runner's (docs/metrics.md) is never read as runner's own.

use crate::results::import::{Comparable, ImportNote, Metric, MetricNote};
use crate::results::records::CellResult;
use crate::store::read::StoredRun;
use serde::{Deserialize, Serialize};

/// The mark reports put beside an imported figure: `*` defined otherwise (see the imported-figures
/// table), `†` not runner's metric at all; empty for runner's own definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Marks {
    pub ttft: String,
    pub tpot: String,
    pub itl: String,
    pub e2e: String,
}

impl Marks {
    pub fn of(note: Option<&ImportNote>) -> Marks {
        let Some(n) = note else { return Marks::default() };
        let m = |metric| match n.metric(metric).map(|x| x.comparable) {
            Some(Comparable::Same) => String::new(),
            Some(Comparable::Differs) => "*".into(),
            Some(Comparable::No) | None => "†".into(),
        };
        Marks { ttft: m(Metric::Ttft), tpot: m(Metric::Tpot), itl: m(Metric::Itl), e2e: m(Metric::E2e) }
    }
}

/// One imported cell: its source and each metric's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportView {
    pub run_id: String,
    pub cell_id: String,
    pub load_label: String,
    /// "vllm bench serve 0.32.0" (version when the file states it).
    pub source: String,
    pub file: String,
    pub sha256: String,
    pub benchmark: usize,
    pub metrics: Vec<MetricNote>,
    pub notes: Vec<String>,
    pub per_request: bool,
}

pub fn views(run: &StoredRun, cells: &[&CellResult]) -> Vec<ImportView> {
    cells
        .iter()
        .filter_map(|c| {
            let n = c.import.as_ref()?;
            Some(ImportView {
                run_id: run.manifest.run_id.clone(),
                cell_id: c.cell.id.clone(),
                load_label: c.cell.load.label(),
                source: n.source_label(),
                file: n.file.clone(),
                sha256: n.sha256.clone(),
                benchmark: n.benchmark,
                metrics: n.metrics.clone(),
                notes: n.notes.clone(),
                per_request: n.per_request,
            })
        })
        .collect()
}

/// "imported from vllm bench serve, GuideLLM 0.8.1" for a run's heading (None: runner measured it).
pub fn run_source(run: &StoredRun) -> Option<String> {
    let mut v: Vec<String> = run.cells.iter().filter_map(|c| c.import.as_ref().map(ImportNote::source_label)).collect();
    v.sort();
    v.dedup();
    (!v.is_empty()).then(|| format!("imported from {} result file(s)", v.join(", ")))
}
