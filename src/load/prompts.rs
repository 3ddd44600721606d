//! Prompt sources: the built-in chat set or a JSONL file (`{"prompt": "..."}` or
//! `{"messages": [{"role": "...", "content": "..."}]}` per line), and the seeded choice per request.

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

pub use crate::scenario::prompt_file::{Message, Prompt};

const BUILTIN_CHAT: &[&str] = &[
    "What is the KV cache in a transformer, in two sentences?",
    "Give me three tips for writing a clear commit message.",
    "Explain the difference between latency and throughput to a new engineer.",
    "Write a haiku about a GPU running out of memory.",
    "What does continuous batching change for an inference server?",
    "Summarize why prefix caching helps chat applications.",
    "How would you explain tokens to someone who has never used an LLM?",
    "List four things to check before putting a model server in production.",
    "Why can a longer context window reduce how many users a GPU can serve?",
    "Suggest a name for a small command-line tool that measures servers.",
    "What is a p95 latency and why do teams use it instead of the mean?",
    "Describe the life of an HTTP request in one paragraph.",
    "Translate 'the model is ready' into French, Spanish and German.",
    "Give a short recipe for a quick vegetable soup.",
    "What are the trade-offs of running a model in bfloat16 rather than float32?",
    "Explain time to first token to a product manager.",
    "Write a friendly two-line reply to a customer asking about an outage.",
    "Which questions should I ask before choosing a GPU for inference?",
    "Explain what a load test measures and what it does not.",
    "Give one example each of a latency-bound and a throughput-bound workload.",
    "What happens when more requests arrive than a server can process?",
    "Describe chunked prefill in simple words.",
    "How do you know if streaming is really working in an API?",
    "Write a limerick about a benchmark that lied.",
];

/// Loads a prompt set named by a workload's `prompts` key.
pub fn load(spec: &str, base: &Path) -> Result<Vec<Prompt>> {
    if spec == "builtin:chat" {
        return Ok(BUILTIN_CHAT.iter().map(|p| Prompt::user(p)).collect());
    }
    let path = base.join(spec);
    crate::scenario::prompt_file::read(&path).map_err(anyhow::Error::msg)
}

/// `n` prompts for one cell, drawn by a seeded shuffle (cycled when `n` exceeds the set).
pub fn choose(prompts: &[Prompt], n: usize, seed: u64) -> Vec<Prompt> {
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        order.shuffle(&mut rng);
        out.extend(order.iter().take(n - out.len()).map(|&i| prompts[i].clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_is_seeded_and_cycles() {
        let ps = load("builtin:chat", Path::new(".")).unwrap();
        let a = choose(&ps, 50, 7);
        assert_eq!(a, choose(&ps, 50, 7));
        assert_ne!(a, choose(&ps, 50, 8));
        assert_eq!(a.len(), 50);
    }
}
