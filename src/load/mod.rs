//! Load generation: workloads (prompts, documents, datasets, calibrated synthetic text), the request
//! client (streaming SSE), the driver (closed and open loop), and per-request records.

pub mod client;
pub mod driver;
pub mod prompts;
pub mod record;
pub mod sources;
pub mod sse;
pub mod synth;
pub mod tokenize;
pub mod workload;
