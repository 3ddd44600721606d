//! The report's notes as data: what may be wrong in a run (trust notes) and the practice notes a
//! workload's measurements support. Their sentences are written in `templates/notes.j2`, so every
//! report says them the same way. Pure.

use super::sequential;
use crate::results::records::CellResult;
use crate::scenario::schema::Scenario;
use crate::store::manifest::Manifest;
use serde::{Deserialize, Serialize};

/// Something that limits what a report's figures can be trusted for (shown first in every report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrustNote {
    /// Measured cells on which other processes used more CPU than the limit.
    Disturbed { run_id: String, disturbed: usize, measured: usize, worst_pct: f64, limit_pct: f64 },
    /// Cells whose SLO verdict differed between repeats.
    Unstable { run_id: String, cells: usize },
    /// Requests whose tokens decoded to no visible text.
    InvisibleText { run_id: String, requests: usize, cells: usize },
    /// Cells whose engine served most prompt tokens from its cache (llama-server's prompt cache,
    /// vLLM's prefix cache): their TTFT is that of cached prompts, not of new ones.
    PromptCache {
        run_id: String,
        cells: usize,
        measured: usize,
        max_share: f64,
        /// How those cells' engines turn the cache off (`EngineSpec::cache_off_hint`), one per engine.
        #[serde(default)]
        cache_off: Vec<String>,
    },
    /// Trace replays whose client fell behind the trace (p99 send lag above the limit): the server
    /// was offered less than the trace.
    ReplayBehind { run_id: String, cells: usize, worst_p99_ms: f64, limit_ms: f64 },
    /// Sequential-vs-concurrent comparisons left out because a side was disturbed.
    Withheld { run_id: String, comparisons: usize },
    /// A boundary search that did not finish.
    SearchUnfinished { workload: String, gpu: String, config: String, run_id: String, dir: String },
    /// Probes of a search that ran on a disturbed machine (re-run).
    DisturbedProbes { probes: usize, workload: String, gpu: String, config: String },
    /// The recommended point was chosen among disturbed cells.
    SweetSpotDisturbed { workload: String, gpu: String, server: String },
    /// A throughput curve rests on disturbed cells.
    CurveDisturbed { workload: String, gpu: String, max_tokens: u32 },
}

/// A practice note, each backed by a number of this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PracticeNote {
    /// The share of prompt tokens served from the prefix cache at the recommended point.
    /// `flag_name` is the engine's prefix-caching flag as a command line writes it, `flag` its value.
    PrefixCache { share: f64, flag_name: Option<String>, flag: Option<String> },
    /// Chunked prefill was set for these measurements.
    ChunkedPrefill { on: bool },
    /// max-model-len as a KV reservation: how many full-length requests the KV cache holds.
    KvReservation { kv_tokens: u64, max_concurrency: f64, tokens: u64 },
    /// Failed requests across the workload's cells.
    FailedRequests { requests: usize },
}

/// Practice notes derived from this workload's data (never generic advice without a number).
pub fn practice(rs: &[&CellResult], scenario: Option<&Scenario>, server: &str, life: &super::report::Life) -> Vec<PracticeNote> {
    let mut out = Vec::new();
    let flags = scenario.and_then(|s| s.servers.iter().find(|x| x.name == server)).map(|x| x.flags.clone()).unwrap_or_default();
    let names = rs.first().map(|r| crate::engine::spec(r.engine).practice_flags()).unwrap_or_default();
    let set = |name: Option<&str>| name.and_then(|n| Some((n.replace('_', "-"), flags.get(n)?.label())));
    if let Some(share) = life.cached_share {
        let (flag_name, flag) = set(names.prefix_caching).unzip();
        out.push(PracticeNote::PrefixCache { share, flag_name, flag });
    }
    if let Some((_, v)) = set(names.chunked_prefill) {
        out.push(PracticeNote::ChunkedPrefill { on: v == "true" });
    }
    if let (Some(max_concurrency), Some(tokens), Some(kv_tokens)) =
        (life.max_concurrency, life.max_concurrency_tokens, life.kv_cache_tokens)
    {
        out.push(PracticeNote::KvReservation { kv_tokens, max_concurrency, tokens });
    }
    let requests: usize = rs.iter().filter_map(|r| r.summary.as_ref()).map(|s| s.errors).sum();
    if requests > 0 {
        out.push(PracticeNote::FailedRequests { requests });
    }
    out
}

/// Above this share of prompt tokens served from the engine's cache, a cell's TTFT is mostly that of
/// cached prompts.
const PROMPT_CACHE_SHARE: f64 = 0.5;

/// The trust notes of one run: disturbed and unstable cells, and comparisons withheld for them.
pub fn trust(m: &Manifest, results: &[CellResult]) -> Vec<TrustNote> {
    let run_id = || m.run_id.clone();
    let measured: Vec<&CellResult> = results.iter().filter(|r| r.summary.is_some()).collect();
    let mut out = Vec::new();
    let disturbed: Vec<&&CellResult> = measured.iter().filter(|r| r.quality.disturbed).collect();
    if !disturbed.is_empty() {
        out.push(TrustNote::Disturbed {
            run_id: run_id(),
            disturbed: disturbed.len(),
            measured: measured.len(),
            worst_pct: disturbed.iter().filter_map(|r| r.quality.others_cpu_pct).fold(0.0, f64::max),
            limit_pct: m.telemetry.disturbed_above_pct,
        });
    }
    let unstable = measured.iter().filter(|r| r.quality.unstable).count();
    if unstable > 0 {
        out.push(TrustNote::Unstable { run_id: run_id(), cells: unstable });
    }
    let invisible: Vec<usize> = measured.iter().filter_map(|r| r.summary.as_ref().map(|s| s.no_visible_text)).filter(|n| *n > 0).collect();
    if !invisible.is_empty() {
        out.push(TrustNote::InvisibleText { run_id: run_id(), requests: invisible.iter().sum(), cells: invisible.len() });
    }
    // Each cell served mostly from the cache, with its share.
    let cached: Vec<(&CellResult, f64)> = measured
        .iter()
        .filter_map(|r| Some((*r, r.telemetry.as_ref()?.engine.prefix_cache_hit_rate?)))
        .filter(|(_, share)| *share > PROMPT_CACHE_SHARE)
        .collect();
    if !cached.is_empty() {
        let mut cache_off: Vec<String> = cached
            .iter()
            .filter_map(|(r, _)| crate::engine::spec(r.engine).cache_off_hint().map(|h| format!("{}: {h}", r.engine.as_str())))
            .collect();
        cache_off.sort();
        cache_off.dedup();
        out.push(TrustNote::PromptCache {
            run_id: run_id(),
            cells: cached.len(),
            measured: measured.len(),
            max_share: cached.iter().map(|(_, share)| *share).fold(0.0, f64::max),
            cache_off,
        });
    }
    let behind: Vec<f64> = measured
        .iter()
        .filter_map(|r| r.summary.as_ref()?.replay.as_ref())
        .filter(|x| x.behind)
        .filter_map(|x| x.lag_ms.as_ref().map(|d| d.p99))
        .collect();
    if !behind.is_empty() {
        out.push(TrustNote::ReplayBehind {
            run_id: run_id(),
            cells: behind.len(),
            worst_p99_ms: behind.iter().copied().fold(0.0, f64::max),
            limit_ms: crate::results::trace::BEHIND_P99_MS,
        });
    }
    let withheld = sequential::withheld(results);
    if withheld > 0 {
        out.push(TrustNote::Withheld { run_id: run_id(), comparisons: withheld });
    }
    out
}
