//! What an imported cell keeps of where its figures came from: the peer tool, its version, the file,
//! and how each of the file's metrics is defined against runner's own (docs/metrics.md, "Same words,
//! other meanings"). Stored in the cell's `summary.json` (`import`); reports print it beside the
//! figures, and `runner compare` reads it to say which metrics two runs share.

use serde::{Deserialize, Serialize};

/// The tool that measured an imported cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PeerTool {
    /// `vllm bench serve --save-result`.
    VllmBench,
    /// GuideLLM's `benchmarks.json` (schema version 2).
    Guidellm,
    /// AIPerf's `profile_export_aiperf.json` (schema 1.3 / 1.4).
    Aiperf,
    /// An llm-d Benchmark Report v0.2.1 document (as `runner export` writes it, or another tool).
    BenchmarkReport,
}

impl PeerTool {
    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            PeerTool::VllmBench => "vllm bench serve",
            PeerTool::Guidellm => "GuideLLM",
            PeerTool::Aiperf => "AIPerf",
            PeerTool::BenchmarkReport => "Benchmark Report",
        }
    }
}

/// One of runner's metrics as an imported file defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Metric {
    Ttft,
    Tpot,
    Itl,
    E2e,
    Throughput,
}

/// How the file's figure stands to runner's metric of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparable {
    /// Defined as runner defines it.
    Same,
    /// The same quantity with a known difference (stated in `note`): compared, with the note beside it.
    Differs,
    /// Not the same quantity, or not in the file: never compared with runner's figure.
    No,
}

/// One metric of an imported cell: what the file calls it and how it relates to runner's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricNote {
    pub metric: Metric,
    /// The file's own name for the figure stored under runner's name (e.g. GuideLLM's
    /// `inter_token_latency_ms` is stored as TPOT).
    pub source: String,
    pub comparable: Comparable,
    /// The difference, in words (empty when `Same`).
    pub note: String,
}

/// Where an imported cell's figures come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportNote {
    pub tool: PeerTool,
    /// The tool's version as the file states it (None: the file does not say).
    pub tool_version: Option<String>,
    /// The file's schema version, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// The file's name (no folder) and SHA-256.
    pub file: String,
    pub sha256: String,
    /// Which benchmark of the file this cell is (GuideLLM: one cell per benchmark), 0-based.
    #[serde(default)]
    pub benchmark: usize,
    pub metrics: Vec<MetricNote>,
    /// Other facts of the file a reader should know (percentile method, missing fields, a label not
    /// given on the command line).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The cell's `requests.jsonl` was written from the file's per-request data.
    pub per_request: bool,
}

impl ImportNote {
    pub fn metric(&self, m: Metric) -> Option<&MetricNote> {
        self.metrics.iter().find(|n| n.metric == m)
    }
    /// Whether `m` may be set beside runner's own figure (Same or Differs).
    pub fn comparable(&self, m: Metric) -> bool {
        self.metric(m).is_some_and(|n| n.comparable != Comparable::No)
    }
    /// "vllm bench serve 0.32.0" (the version when the file states it).
    pub fn source_label(&self) -> String {
        match &self.tool_version {
            Some(v) => format!("{} {v}", self.tool.label()),
            None => self.tool.label().to_string(),
        }
    }
}
