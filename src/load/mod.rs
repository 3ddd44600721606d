//! Load generation: workloads (prompts, documents, datasets, calibrated synthetic text), the request
//! client (streaming SSE, timed by kernel receive times), the driver (closed and open loop), and per-request records.

pub mod client;
pub mod driver;
pub mod http;
pub mod prompts;
mod rx_stamp;
pub mod slot;
pub mod sources;
pub mod sse;
pub mod synth;
pub mod tokenize;
pub mod trace;
pub mod workload;
