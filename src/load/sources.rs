//! File-backed inputs of workloads: documents (a folder or a JSONL) and datasets (ShareGPT-style JSON
//! or JSONL with expected output lengths).

use super::prompts::{Message, Prompt};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

/// The largest documents or dataset file read (a corpus for a benchmark, not a data lake).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

fn read_text(path: &Path) -> Result<String> {
    crate::bounded::read_text(path, MAX_FILE_BYTES).with_context(|| format!("cannot read {}", path.display()))
}

/// Documents from a folder (every .txt/.md file, sorted by name) or a JSONL of {"text": "..."}.
pub fn documents(spec: &str, base: &Path) -> Result<Vec<String>> {
    let path = base.join(spec);
    let mut out = Vec::new();
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt" || e == "md"))
            .collect();
        files.sort();
        for f in files {
            out.push(read_text(&f)?);
        }
    } else {
        #[derive(Deserialize)]
        struct Doc {
            text: String,
        }
        let text = read_text(&path)?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let d: Doc =
                serde_json::from_str(line).with_context(|| format!("{}:{}: expected {{\"text\": \"...\"}}", path.display(), i + 1))?;
            out.push(d.text);
        }
    }
    if out.is_empty() {
        bail!("no document found in {} (a folder of .txt/.md files or a JSONL of {{\"text\": ...}})", path.display());
    }
    Ok(out)
}

/// A dataset entry: the prompt and, when known, the output length to ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub prompt: Prompt,
    pub output_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct ShareGptTurn {
    from: String,
    value: String,
}

#[derive(Deserialize)]
struct ShareGptItem {
    conversations: Vec<ShareGptTurn>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonlEntry {
    Messages { messages: Vec<Message>, output_tokens: Option<u32> },
    Prompt { prompt: String, output_tokens: Option<u32> },
}

/// ShareGPT JSON (first human turn as prompt; the first reply's length, at ~4 characters per token,
/// as output length) or JSONL of {"prompt"|"messages", "output_tokens"}.
pub fn dataset(spec: &str, base: &Path) -> Result<Vec<Entry>> {
    let path = base.join(spec);
    let text = read_text(&path).with_context(|| format!("cannot read dataset {}", path.display()))?;
    let mut out = Vec::new();
    if text.trim_start().starts_with('[') {
        let items: Vec<ShareGptItem> =
            serde_json::from_str(&text).with_context(|| format!("{}: not a ShareGPT-style JSON array", path.display()))?;
        for item in items {
            let human = item.conversations.iter().find(|t| t.from == "human" || t.from == "user");
            let reply = item.conversations.iter().find(|t| t.from == "gpt" || t.from == "assistant");
            if let Some(h) = human {
                out.push(Entry {
                    prompt: Prompt::user(&h.value),
                    output_tokens: reply.map(|r| ((r.value.chars().count() as f64 / 4.0).ceil() as u32).max(1)),
                });
            }
        }
    } else {
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let e: JsonlEntry = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: expected {{\"prompt\": ..., \"output_tokens\": N}}", path.display(), i + 1))?;
            out.push(match e {
                JsonlEntry::Messages { messages, output_tokens } => Entry { prompt: Prompt { messages }, output_tokens },
                JsonlEntry::Prompt { prompt, output_tokens } => Entry { prompt: Prompt::user(&prompt), output_tokens },
            });
        }
    }
    if out.is_empty() {
        bail!("dataset {} holds no usable entry", path.display());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharegpt_and_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.json"),
            r#"[{"conversations":[{"from":"human","value":"hi there"},{"from":"gpt","value":"12345678"}]},{"conversations":[]}]"#,
        )
        .unwrap();
        let e = dataset("s.json", dir.path()).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].output_tokens, Some(2));
        std::fs::write(
            dir.path().join("d.jsonl"),
            "{\"prompt\": \"a\", \"output_tokens\": 7}\n\n{\"messages\": [{\"role\":\"user\",\"content\":\"b\"}]}\n",
        )
        .unwrap();
        let e = dataset("d.jsonl", dir.path()).unwrap();
        assert_eq!((e[0].output_tokens, e[1].output_tokens), (Some(7), None));
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/b.txt"), "second").unwrap();
        std::fs::write(dir.path().join("docs/a.md"), "first").unwrap();
        assert_eq!(documents("docs", dir.path()).unwrap(), vec!["first", "second"]);
    }
}
