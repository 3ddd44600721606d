//! What a model is, from its own files: the architecture of a Hugging Face `config.json` or a GGUF
//! header, weight bytes from safetensors headers, bytes per element of each number format, and where
//! a model's `config.json` may be on this machine. One place for the engine facts, the estimate and
//! the reports; it knows no engine.

pub mod arch;
pub mod catalog;
pub mod dtype;
pub mod gguf;
pub mod hf;
pub mod safetensors;
