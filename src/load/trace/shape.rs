//! What a trace becomes for this run: lengths scaled or capped for a small model (each change
//! named, so a report never shows a reshaped trace as the original) and multi-turn sessions. Pure.

use super::read::Entry;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shaping {
    /// Factor on every length (1.0: as recorded).
    pub scale: f64,
    pub max_input: Option<u32>,
    pub max_output: Option<u32>,
    /// Tokens per prefix block as recorded.
    pub block_tokens: u32,
}

/// Lengths as sent, and what was changed to get them.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    pub input: Vec<u32>,
    pub output: Vec<u32>,
    /// Tokens per prefix block as sent (scaled with the lengths).
    pub block_tokens: u32,
    pub changes: Vec<String>,
}

pub fn shape(entries: &[Entry], s: &Shaping) -> Shaped {
    let mut changes = Vec::new();
    let scaled = |v: u32| ((f64::from(v) * s.scale).round() as u32).max(1);
    let mut input: Vec<u32> = entries.iter().map(|e| scaled(e.input)).collect();
    let mut output: Vec<u32> = entries.iter().map(|e| scaled(e.output)).collect();
    let block_tokens = ((f64::from(s.block_tokens) * s.scale).round() as u32).max(1);
    if s.scale != 1.0 {
        let mean = |v: &mut dyn Iterator<Item = u32>, n: usize| v.map(f64::from).sum::<f64>() / n.max(1) as f64;
        let n = entries.len();
        changes.push(format!(
            "every length x {}: mean input {:.0} -> {:.0} tokens, mean output {:.0} -> {:.0}{}",
            s.scale,
            mean(&mut entries.iter().map(|e| e.input), n),
            mean(&mut input.iter().copied(), n),
            mean(&mut entries.iter().map(|e| e.output), n),
            mean(&mut output.iter().copied(), n),
            if entries.iter().any(|e| !e.blocks.is_empty()) {
                format!("; a prefix block of {} tokens becomes {block_tokens}", s.block_tokens)
            } else {
                String::new()
            },
        ));
    } else {
        let zero_out = entries.iter().filter(|e| e.output == 0).count();
        let zero_in = entries.iter().filter(|e| e.input == 0).count();
        if zero_out + zero_in > 0 {
            changes.push(format!("{zero_in} request(s) with 0 input and {zero_out} with 0 output tokens ask for 1"));
        }
    }
    for (label, cap, v) in [("input", s.max_input, &mut input), ("output", s.max_output, &mut output)] {
        if let Some(cap) = cap {
            let cut = v.iter().filter(|x| **x > cap).count();
            if cut > 0 {
                v.iter_mut().for_each(|x| *x = (*x).min(cap));
                changes.push(format!("{label} capped at {cap} tokens: {cut} of {} request(s) cut", entries.len()));
            }
        }
    }
    Shaped { input, output, block_tokens, changes }
}

/// Sessions by a session column: rows of one id, in file order; sessions ordered by first row.
pub fn by_id(entries: &[Entry]) -> Vec<Vec<usize>> {
    let mut index: std::collections::HashMap<&str, usize> = Default::default();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (j, e) in entries.iter().enumerate() {
        match e.session.as_deref() {
            Some(id) => {
                let k = *index.entry(id).or_insert_with(|| {
                    out.push(Vec::new());
                    out.len() - 1
                });
                out[k].push(j);
            }
            None => out.push(vec![j]),
        }
    }
    out
}

/// Sessions of a trace without ids (Mooncake keeps each conversation's order): a request continues
/// the conversation whose last request's full blocks (all but its last, partial one) begin its own,
/// the longest such prefix among the 16 newest conversations of its first block. Inferred, so a long system prompt shared by two conversations can join them.
pub fn by_blocks(entries: &[Entry]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    // Conversations by their first block, newest last.
    let mut by_first: std::collections::HashMap<u64, Vec<usize>> = Default::default();
    for (j, e) in entries.iter().enumerate() {
        let Some(&first) = e.blocks.first() else {
            out.push(vec![j]);
            continue;
        };
        let candidates = by_first.entry(first).or_default();
        // Of the newest 16, the one sharing the longest prefix (the newest of equals).
        let found = candidates
            .iter()
            .rev()
            .take(16)
            .copied()
            .filter_map(|k| {
                let prev = &entries[*out[k].last().expect("non-empty")].blocks;
                let full = prev.len().saturating_sub(1);
                (full >= 1 && e.blocks.len() > full && e.blocks[..full] == prev[..full]).then_some((full, k))
            })
            .reduce(|best, x| if x.0 > best.0 { x } else { best })
            .map(|(_, k)| k);
        match found {
            Some(k) => out[k].push(j),
            None => {
                out.push(vec![j]);
                candidates.push(out.len() - 1);
            }
        }
    }
    out.sort_by_key(|s| s[0]);
    out
}

/// The previous turn of each request in its session (None: a first turn).
pub fn previous(sessions: &[Vec<usize>], n: usize) -> Vec<Option<usize>> {
    let mut prev = vec![None; n];
    for s in sessions {
        for w in s.windows(2) {
            prev[w[1]] = Some(w[0]);
        }
    }
    prev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(at: f64, input: u32, output: u32, blocks: &[u64], session: Option<&str>) -> Entry {
        Entry { line: 0, at_ms: at, input, output, session: session.map(str::to_string), blocks: blocks.to_vec() }
    }

    #[test]
    fn scaling_and_caps_are_named_changes() {
        let es = [e(0.0, 1000, 100, &[1, 2], None), e(5.0, 4000, 10, &[3], None)];
        let s = shape(&es, &Shaping { scale: 0.5, max_input: Some(1000), max_output: None, block_tokens: 512 });
        assert_eq!(s.input, vec![500, 1000]);
        assert_eq!(s.output, vec![50, 5]);
        assert_eq!(s.block_tokens, 256);
        assert_eq!(s.changes.len(), 2, "{:?}", s.changes);
        assert!(s.changes[0].contains("x 0.5") && s.changes[0].contains("512 tokens becomes 256"), "{:?}", s.changes);
        assert!(s.changes[1].contains("input capped at 1000 tokens: 1 of 2"), "{:?}", s.changes);
        let same = shape(&es, &Shaping { scale: 1.0, max_input: None, max_output: None, block_tokens: 512 });
        assert!(same.changes.is_empty() && same.input == vec![1000, 4000]);
    }

    #[test]
    fn conversations_are_found_by_their_blocks_and_by_id() {
        // Conversation A: [1,2] then [1,2,3] (its first full block then more); B shares nothing.
        let es = [
            e(0.0, 900, 10, &[1, 2], None),
            e(1.0, 500, 10, &[7, 8], None),
            e(2.0, 1500, 10, &[1, 2, 3], None),
            e(3.0, 600, 10, &[1, 9], None),
            e(4.0, 2000, 10, &[1, 2, 3, 4], None),
        ];
        // [1, 9] continues [1, 2] by its full block 1? No: A's last request is [1,2,3] by then
        // (full blocks [1,2]), which [1,9] does not begin with.
        assert_eq!(by_blocks(&es), vec![vec![0, 2, 4], vec![1], vec![3]]);
        assert_eq!(previous(&by_blocks(&es), 5), vec![None, None, Some(0), None, Some(2)]);
        let ids = [e(0.0, 1, 1, &[], Some("a")), e(1.0, 1, 1, &[], Some("b")), e(2.0, 1, 1, &[], Some("a"))];
        assert_eq!(by_id(&ids), vec![vec![0, 2], vec![1]]);
    }
}
