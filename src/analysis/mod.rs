//! Pure analysis of stored results: per-cell statistics, SLO verdicts, capacity (sweet spot, knee,
//! jitter), KV scaling, comparisons, and the report model.

pub mod campaign;
pub mod capacity;
pub mod kv;
pub mod reconcile;
pub mod report;
pub mod search;
pub mod sequential;
