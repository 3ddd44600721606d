//! The field's formats: `runner import` of the peers' result files (vllm bench serve, GuideLLM,
//! AIPerf, and Benchmark Report documents) into an ordinary run folder, and `runner export` of a run
//! as llm-d Benchmark Report v0.2.1 documents. Every file read here is untrusted data: bounded,
//! parsed without executing anything, errors naming the file and key.

pub mod aiperf;
pub mod benchmark_report;
pub mod folder;
pub mod guidellm;
pub mod json;
pub mod peer;
pub mod vllm_bench;

use anyhow::Result;
use json::Doc;

/// A peer file's format (`runner import --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `vllm bench serve --save-result` JSON.
    Vllm,
    /// GuideLLM `benchmarks.json` (schema version 2).
    Guidellm,
    /// AIPerf `profile_export_aiperf.json` (schema 1.3 / 1.4).
    Aiperf,
    /// llm-d Benchmark Report v0.2.1 (JSON or YAML), as `runner export` writes it.
    BenchmarkReport,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Vllm => "vllm",
            Format::Guidellm => "guidellm",
            Format::Aiperf => "aiperf",
            Format::BenchmarkReport => "benchmark-report",
        }
    }
}

/// The format a document looks like, if any.
pub fn detect(d: &Doc) -> Option<Format> {
    if guidellm::looks_like(d) {
        Some(Format::Guidellm)
    } else if aiperf::looks_like(d) {
        Some(Format::Aiperf)
    } else if benchmark_report::looks_like(d) {
        Some(Format::BenchmarkReport)
    } else if vllm_bench::looks_like(d) {
        Some(Format::Vllm)
    } else {
        None
    }
}

/// ": it looks like a GuideLLM file; pass --format guidellm (or leave --format out)" for a file given
/// under the wrong format.
pub fn guess_hint(d: &Doc) -> String {
    match detect(d) {
        Some(f) => format!("; it looks like a {} file: pass `--format {}` or leave --format out", f.name(), f.name()),
        None => String::new(),
    }
}

/// The cells of one file, read once as `format` or as the format it looks like, with the file's name
/// and hash.
pub fn read_file(path: &std::path::Path, format: Option<Format>) -> Result<folder::FileCells> {
    let d = Doc::read_any(path)?;
    let Some(f) = format.or_else(|| detect(&d)) else {
        anyhow::bail!(
            "{}: not a result file runner can import (not vllm bench serve, GuideLLM v2, AIPerf 1.3/1.4 or a Benchmark Report); \
             name its format with --format if it is one of them",
            d.file
        );
    };
    let cells = match f {
        Format::Vllm => vec![vllm_bench::parse(&d)?],
        Format::Guidellm => guidellm::parse(&d)?,
        Format::Aiperf => vec![aiperf::parse_with_records(&d, path.parent())?],
        Format::BenchmarkReport => vec![benchmark_report::parse(&d)?],
    };
    Ok(folder::FileCells { name: d.name, sha256: d.sha256, cells })
}
