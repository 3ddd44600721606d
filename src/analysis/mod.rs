//! Pure analysis of stored results: per-cell statistics, SLO verdicts, comparisons.

pub mod sequential;
pub mod slo;
pub mod summary;
