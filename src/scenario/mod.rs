//! Scenario files: schema (serde mirror of the TOML), loading with located diagnostics, validation.

pub mod diag;
pub mod gpus;
pub mod grid;
pub mod load;
pub mod prices;
pub mod prompt_file;
pub mod schema;
pub mod search;
pub mod secrets;
pub mod strict;
pub mod trace_file;
pub mod validate;

pub use load::{load, parse, LoadError, Loaded};
