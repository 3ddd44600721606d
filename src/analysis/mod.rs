//! Pure analysis of stored results: per-cell statistics and SLO verdicts.

pub mod slo;
pub mod summary;
