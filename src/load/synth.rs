//! Synthetic text: a seeded stream of common English words, used for prompts and documents of a
//! requested token length (calibrated against the engine's tokenizer in `tokenize`). Pure.

use rand::{Rng, SeedableRng};

const WORDS: &[&str] = &[
    "the",
    "model",
    "server",
    "request",
    "memory",
    "cache",
    "token",
    "latency",
    "batch",
    "report",
    "engineer",
    "system",
    "capacity",
    "throughput",
    "queue",
    "client",
    "network",
    "window",
    "context",
    "document",
    "summary",
    "policy",
    "river",
    "mountain",
    "city",
    "market",
    "garden",
    "winter",
    "summer",
    "history",
    "science",
    "music",
    "language",
    "energy",
    "water",
    "light",
    "road",
    "house",
    "school",
    "family",
    "company",
    "project",
    "meeting",
    "decision",
    "question",
    "answer",
    "problem",
    "result",
    "number",
    "value",
    "change",
    "growth",
    "level",
    "process",
    "design",
    "quickly",
    "slowly",
    "carefully",
    "often",
    "rarely",
    "always",
    "never",
    "today",
    "tomorrow",
    "yesterday",
    "and",
    "or",
    "but",
    "because",
    "while",
    "after",
    "before",
    "during",
    "with",
    "without",
    "about",
    "across",
    "is",
    "was",
    "will",
    "can",
    "should",
    "might",
    "makes",
    "takes",
    "gives",
    "finds",
    "keeps",
    "moves",
    "shows",
    "large",
    "small",
    "early",
    "late",
    "simple",
    "complex",
    "stable",
    "rapid",
    "quiet",
    "bright",
    "heavy",
    "light",
    "first",
    "second",
    "third",
    "every",
    "each",
    "many",
    "few",
    "several",
    "other",
    "same",
    "new",
    "old",
];

/// About `words` words of seeded text, in sentences.
pub fn words(words: usize, seed: u64) -> String {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = String::with_capacity(words * 7);
    let mut in_sentence = 0usize;
    for i in 0..words {
        let w = WORDS[rng.gen_range(0..WORDS.len())];
        if in_sentence == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push_str(w);
        }
        in_sentence += 1;
        if in_sentence >= 8 + (i % 9) {
            out.push_str(". ");
            in_sentence = 0;
        } else {
            out.push(' ');
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeded_and_sized() {
        let a = super::words(100, 1);
        assert_eq!(a, super::words(100, 1));
        assert_ne!(a, super::words(100, 2));
        assert_eq!(a.split_whitespace().count(), 100);
    }
}
