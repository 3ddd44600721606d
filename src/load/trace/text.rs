//! Synthetic prompt text for a trace: each request's recorded input length, with equal prefix
//! blocks (Mooncake `hash_ids`) made of equal text so that a prefix cache sees the reuse the trace
//! recorded. Lengths in tokens become words by the engine's measured words per token. Pure.

use super::read::Entry;
use crate::load::synth;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Words of synthetic text per engine token (measured on the engine's tokenizer).
    pub words_per_token: f64,
    /// Tokens per prefix block as sent.
    pub block_tokens: u32,
    /// Tokens the chat template adds around a user message (taken off a first turn's text).
    pub overhead: u32,
    pub seed: u64,
}

/// The user text of each request and the tokens it aims at: a first turn's whole prompt, a later
/// turn's new content only (its session's history is sent before it: the recorded input minus the
/// previous turn's input and output).
pub fn texts(entries: &[Entry], input: &[u32], output: &[u32], prev: &[Option<usize>], spec: &Spec) -> Vec<(String, u32)> {
    let mut blocks = Blocks { spec: *spec, full: HashMap::new() };
    (0..entries.len())
        .map(|j| {
            let (target, skip) = match prev[j] {
                Some(i) => (input[j].saturating_sub(input[i] + output[i]).max(1), entries[i].blocks.len().saturating_sub(1)),
                None => (input[j].saturating_sub(spec.overhead).max(1), 0),
            };
            let ids = entries[j].blocks.get(skip..).unwrap_or(&[]);
            (blocks.text(ids, skip, target, j as u64), target)
        })
        .collect()
}

struct Blocks {
    spec: Spec,
    /// Full-size block texts by id, first word position and word count.
    full: HashMap<(u64, usize, usize), String>,
}

impl Blocks {
    /// Words up to token `t` of a prompt: rounding the running total, not each block, so that
    /// short blocks do not each lose a fraction of a word.
    fn words_to(&self, t: u64) -> usize {
        (t as f64 * self.spec.words_per_token).round() as usize
    }

    fn seed(&self, id: u64) -> u64 {
        self.spec.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// `target` tokens: the blocks in order (the last one cut to what is left), then unshared text.
    /// Block `p` of a prompt holds its tokens `p * block .. (p + 1) * block`, so an id at the same
    /// place is the same text in every prompt, and a cut one is the beginning of the whole.
    fn text(&mut self, ids: &[u64], first: usize, target: u32, request: u64) -> String {
        let mut out = String::new();
        let bt = u64::from(self.spec.block_tokens.max(1));
        let target = u64::from(target);
        let mut at = 0u64;
        // Block `first + k` of the prompt starts at its token `(first + k) * block`: its words are
        // made at that position, so its sentences and capitals are those of one long text.
        let origin = first as u64 * bt;
        for &id in ids {
            if at >= target {
                break;
            }
            let end = (at + bt).min(target);
            let (from, words) = (self.words_to(origin + at), self.words_to(origin + end).saturating_sub(self.words_to(origin + at)).max(1));
            let seed = self.seed(id);
            let part = if end - at == bt {
                self.full.entry((id, from, words)).or_insert_with(|| synth::words_at(from, words, seed)).clone()
            } else {
                synth::words_at(from, words, seed)
            };
            push(&mut out, &part);
            at = end;
        }
        if at < target {
            let from = self.words_to(origin + at);
            let words = self.words_to(origin + target).saturating_sub(from).max(1);
            push(&mut out, &synth::words_at(from, words, self.seed(u64::MAX - request)));
        }
        out
    }
}

fn push(out: &mut String, part: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(input: u32, blocks: &[u64]) -> Entry {
        Entry { line: 0, at_ms: 0.0, input, output: 4, session: None, blocks: blocks.to_vec() }
    }

    #[test]
    fn equal_blocks_are_equal_text_and_lengths_follow_the_ratio() {
        let spec = Spec { words_per_token: 1.0, block_tokens: 10, overhead: 0, seed: 3 };
        let es = [e(25, &[1, 2, 3]), e(18, &[1, 2]), e(12, &[5, 6])];
        let input: Vec<u32> = es.iter().map(|x| x.input).collect();
        let t = texts(&es, &input, &[4, 4, 4], &[None, None, None], &spec);
        let words = |s: &str| s.split_whitespace().count();
        assert_eq!(t.iter().map(|x| words(&x.0)).collect::<Vec<_>>(), vec![25, 18, 12]);
        // Block 1 is the first 10 words of both; block 2 is whole in the first, cut to 8 in the second.
        let w0: Vec<&str> = t[0].0.split_whitespace().collect();
        let w1: Vec<&str> = t[1].0.split_whitespace().collect();
        assert_eq!(w0[..18], w1[..18]);
        assert_ne!(w0[..10], t[2].0.split_whitespace().collect::<Vec<_>>()[..10]);
    }

    #[test]
    fn another_seed_is_other_text() {
        let es = [e(40, &[]), e(30, &[7])];
        let t = |seed| texts(&es, &[40, 30], &[4, 4], &[None, None], &Spec { words_per_token: 1.0, block_tokens: 10, overhead: 0, seed });
        let (a, b) = (t(1), t(2));
        assert_ne!(a[0].0, b[0].0);
        assert_ne!(a[1].0, b[1].0);
    }

    #[test]
    fn short_blocks_keep_the_ratio_over_the_prompt() {
        // 0.9 words per token, blocks of 5 tokens: rounding each block (4.5 -> 5 or 4) would be
        // 10% off; the running total is within a word.
        let spec = Spec { words_per_token: 0.9, block_tokens: 5, overhead: 0, seed: 1 };
        let ids: Vec<u64> = (0..80).collect();
        let t = texts(&[e(400, &ids)], &[400], &[1], &[None], &spec);
        assert_eq!(t[0].0.split_whitespace().count(), 360);
    }

    #[test]
    fn a_later_turn_sends_only_its_new_content() {
        let spec = Spec { words_per_token: 1.0, block_tokens: 10, overhead: 3, seed: 3 };
        let es = [e(20, &[1, 2]), e(50, &[1, 2, 9, 10])];
        // Turn 2: 50 - (20 + 4) = 26 new tokens, from blocks after turn 1's full one ([2, 9, 10]).
        let t = texts(&es, &[20, 50], &[4, 4], &[None, Some(0)], &spec);
        assert_eq!((t[0].1, t[1].1), (17, 26));
        assert_eq!(t[1].0.split_whitespace().count(), 26);
    }
}
