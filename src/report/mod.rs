//! Presenting results: the end-of-run grid table.

pub mod table;
