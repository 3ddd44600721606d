//! What the machine and the running engine say: memory (NVML or process RSS), host CPU shares, and the
//! engine's Prometheus metrics and histograms during each cell.

pub mod arch;
pub mod histogram;
pub mod host;
pub mod host_cpu;
pub mod memory;
pub mod prom;
pub mod sampler;

/// Startup facts and failure signatures are engine knowledge (`src/engine/`); kept reachable here too.
pub use crate::engine::{facts, failure};
