//! KV demand of a load against a launch's predicted KV capacity: how many whole sequences a paged-KV
//! engine holds at once, and from which concurrency it must preempt. Pure.
//!
//! A request holds `ceil((prompt + output) / block)` blocks once it has generated its last token. A
//! paged-KV scheduler (vLLM V1) admits requests while their prompt blocks fit and grows them block by
//! block while they decode, so when more requests run than whole sequences fit, a decoding request
//! finds no free block and the engine preempts one (recomputed later). One block stays aside (vLLM's
//! null block). `max_num_seqs` caps how many run at once: above it requests queue instead.

use super::paged_kv::{CPU_BLOCK, GPU_BLOCK};
use crate::results::launch::{Budget, Device};
use crate::scenario::schema::{FlagValue, Workload, WorkloadKind};
use serde::{Deserialize, Serialize};

/// The KV demand of one workload at one max_tokens on one launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    pub workload: String,
    pub max_tokens: u32,
    /// Tokens of the longest request: its prompt (prefix included) plus its output.
    pub tokens_per_request: u64,
    pub block_tokens: u64,
    pub blocks_per_request: u64,
    /// Blocks one request can use (all but vLLM's null block).
    pub usable_blocks: u64,
    /// Whole sequences the KV cache holds at once.
    pub fit: u64,
    /// `max_num_seqs`, when the launch sets it: at most this many run at once.
    pub batch_cap: Option<u64>,
    /// Expect preemption from this many requests in flight (None: the batch cap stops it first).
    pub preempt_from: Option<u64>,
}

/// Why a workload's demand is not predicted.
pub fn unpredictable(w: &Workload) -> Option<&'static str> {
    if w.is_trace() {
        return Some("a trace's lengths and concurrency are the trace's (runner plan does not read it)");
    }
    if w.turns > 1 {
        return Some("multi-turn conversations grow with their history");
    }
    if w.prompt_tokens.is_none() {
        return Some("its prompt lengths are known only once they are tokenized (set prompt_tokens)");
    }
    None
}

/// The KV block size of a launch: its `block_size` flag, else the engine's default on this device.
pub fn block_tokens(device: Device, flags: &indexmap::IndexMap<String, FlagValue>) -> u64 {
    crate::engine::flags::lookup(flags, "block_size").and_then(FlagValue::as_f64).map_or(
        match device {
            Device::Gpu => GPU_BLOCK,
            Device::Cpu => CPU_BLOCK,
        },
        |b| (b as u64).max(1),
    )
}

/// The demand of `w` at `max_tokens` against `budget`, or why there is none.
pub fn demand(w: &Workload, max_tokens: u32, budget: &Budget, block: u64, batch_cap: Option<u64>) -> Result<Demand, &'static str> {
    if let Some(why) = unpredictable(w) {
        return Err(why);
    }
    let prompt = u64::from(w.prompt_tokens.map_or(0, |t| t.bounds().1));
    let prefix = if w.kind == WorkloadKind::Prefix { u64::from(w.prefix_tokens.bounds().1) } else { 0 };
    let output = u64::from(w.output_tokens.map_or(max_tokens, |o| o.bounds().1.min(max_tokens)));
    let tokens = prompt + prefix + output;
    let blocks = tokens.div_ceil(block.max(1)).max(1);
    let usable = (budget.kv_tokens / block.max(1)).saturating_sub(1);
    let fit = usable / blocks;
    let preempt_from = Some(fit + 1).filter(|n| batch_cap.is_none_or(|c| *n <= c));
    Ok(Demand {
        workload: w.name.clone(),
        max_tokens,
        tokens_per_request: tokens,
        block_tokens: block,
        blocks_per_request: blocks,
        usable_blocks: usable,
        fit,
        batch_cap,
        preempt_from,
    })
}

impl Demand {
    /// One line for `runner plan` / `runner estimate`, with the grid's concurrencies at or above the
    /// preemption point.
    pub fn summary(&self, concurrencies: &[u32]) -> String {
        let head = format!(
            "{} at max_tokens {}: a request needs {} block(s) of {} ({} tokens); the KV cache holds {} usable block(s) = {} whole sequence(s) at once",
            self.workload,
            self.max_tokens,
            self.blocks_per_request,
            self.block_tokens,
            self.tokens_per_request,
            self.usable_blocks,
            self.fit
        );
        match (self.preempt_from, self.batch_cap) {
            (Some(n), _) => {
                let over: Vec<String> = concurrencies.iter().filter(|c| u64::from(**c) >= n).map(|c| c.to_string()).collect();
                let grid = if over.is_empty() {
                    "no concurrency of the grid reaches it".to_string()
                } else {
                    format!("the grid reaches it at concurrency {}", over.join(", "))
                };
                format!("{head}: expect preemption from concurrency ~{n} ({grid})")
            }
            (None, Some(cap)) => format!("{head}: no preemption expected: max_num_seqs {cap} runs fewer at once; the rest queue"),
            (None, None) => head,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::schema::TokenLen;

    fn budget(kv_tokens: u64) -> Budget {
        Budget {
            weights_gib: 0.0,
            activation_gib: 0.0,
            overhead_gib: 0.0,
            kv_gib: 0.0,
            kv_bytes_per_token: 1024,
            kv_tokens,
            max_model_len: 2048,
            max_concurrency: 0.0,
            refusal: None,
        }
    }

    fn workload(prompt: Option<u32>) -> Workload {
        let mut w: Workload = toml::from_str("name = \"d\"\nkind = \"batch\"").unwrap();
        w.prompt_tokens = prompt.map(TokenLen::Fixed);
        w
    }

    #[test]
    fn eight_mib_of_cpu_blocks_hold_six_documents() {
        // 8 MiB at 1,024 B/token = 8,192 tokens = 64 blocks of 128, 63 usable; 1,000 + 200 tokens = 10 blocks.
        let d = demand(&workload(Some(1000)), 200, &budget(8192), 128, None).unwrap();
        assert_eq!((d.blocks_per_request, d.usable_blocks, d.fit, d.preempt_from), (10, 63, 6, Some(7)));
        let line = d.summary(&[1, 4, 8, 16]);
        assert!(line.contains("expect preemption from concurrency ~7 (the grid reaches it at concurrency 8, 16)"), "{line}");
        assert!(d.summary(&[1, 4]).contains("no concurrency of the grid reaches it"));
    }

    #[test]
    fn a_batch_cap_below_the_fit_queues_instead() {
        let d = demand(&workload(Some(1000)), 200, &budget(8192), 128, Some(4)).unwrap();
        assert_eq!(d.preempt_from, None);
        assert!(d.summary(&[8]).contains("no preemption expected: max_num_seqs 4"));
        assert_eq!(demand(&workload(Some(1000)), 200, &budget(8192), 128, Some(7)).unwrap().preempt_from, Some(7));
    }

    #[test]
    fn output_lengths_and_blocks_round_up() {
        let mut w = workload(Some(100));
        w.output_tokens = Some(TokenLen::Range { min: 10, max: 29 });
        // 100 + 29 = 129 tokens: two GPU blocks of 16 would be 9; of 128, two.
        assert_eq!(demand(&w, 200, &budget(1024), 128, None).unwrap().blocks_per_request, 2);
        assert_eq!(demand(&w, 20, &budget(1024), 16, None).unwrap().tokens_per_request, 120);
    }

    #[test]
    fn unknown_prompt_lengths_are_not_predicted() {
        assert!(demand(&workload(None), 200, &budget(8192), 128, None).unwrap_err().contains("prompt_tokens"));
        let mut w = workload(Some(10));
        w.turns = 3;
        assert!(demand(&w, 200, &budget(8192), 128, None).is_err());
    }
}
