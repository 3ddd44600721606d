//! What the engine and the machine say: startup facts and failure signatures from the engine log,
//! memory (NVML or process RSS), and the engine's Prometheus metrics during each cell.

pub mod arch;
pub mod facts;
pub mod failure;
pub mod histogram;
pub mod host_cpu;
pub mod memory;
pub mod prom;
pub mod sampler;
