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
    words_at(0, words, seed)
}

/// Words `start..start + n` of a text whose sentences end at fixed word positions (about one in
/// twelve, the same in every text): a piece made at its position has the punctuation and capitals
/// a whole text has there, so pieces joined with spaces tokenize like one text (trace prompts are
/// made of shared blocks this way). The words themselves come from `seed`.
pub fn words_at(start: usize, words: usize, seed: u64) -> String {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = String::with_capacity(words * 7);
    for i in start..start + words {
        let w = WORDS[rng.gen_range(0..WORDS.len())];
        if i == 0 || sentence_ends_after(i - 1) {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
        } else {
            out.push_str(w);
        }
        out.push_str(if sentence_ends_after(i) { ". " } else { " " });
    }
    out.trim_end().to_string()
}

/// Whether the sentence ends after word `i` of a text: a hash of the position, about 1 in 12.
fn sentence_ends_after(i: usize) -> bool {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 12 == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeded_and_sized() {
        let a = super::words(100, 1);
        assert_eq!(a, super::words(100, 1));
        assert_ne!(a, super::words(100, 2));
        assert_eq!(a.split_whitespace().count(), 100);
        // A piece made at its position has the sentence ends and capitals the whole text has there.
        let shape = |s: &str| s.split(' ').map(|w| (w.ends_with('.'), w.starts_with(char::is_uppercase))).collect::<Vec<_>>();
        let whole = shape(&super::words_at(0, 60, 5));
        assert_eq!(shape(&super::words_at(20, 40, 9)), whole[20..].to_vec());
        assert_ne!(super::words_at(20, 40, 9), super::words_at(0, 60, 5).split(' ').skip(20).collect::<Vec<_>>().join(" "));
        let sentences = super::words(12_000, 3).matches(". ").count();
        assert!((800..1200).contains(&sentences), "about one sentence in 12 words: {sentences}");
    }
}
