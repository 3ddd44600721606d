//! Load generation: prompts, request client (streaming SSE), the closed-loop driver, request records.

pub mod client;
pub mod driver;
pub mod prompts;
pub mod record;
pub mod sse;
