//! The typed result model below `store`: a request's record and error class, a cell's statistics and
//! SLO verdict (pure functions of the records). Execution fills it, the store writes it, analysis and
//! reports read it; it imports nothing of them.

pub mod quality;
pub mod record;
pub mod slo;
pub mod summary;
