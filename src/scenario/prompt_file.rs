//! A prompts file (`prompts = "file.jsonl"`): one `{"prompt": "..."}` or
//! `{"messages": [{"role": "...", "content": "..."}]}` per line. Parsed when the scenario is
//! validated (a file in the wrong format is refused before any engine starts) and again when the
//! load is built.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The largest prompts file read (a prompt set, not a corpus).
pub const MAX_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// One prompt as a list of chat messages (a plain prompt is one user message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub messages: Vec<Message>,
}

impl Prompt {
    pub fn user(text: &str) -> Self {
        Prompt { messages: vec![Message { role: "user".into(), content: text.into() }] }
    }
    /// The prompt as plain text, for the completions endpoint.
    pub fn as_text(&self) -> String {
        self.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Messages { messages: Vec<Message> },
    Prompt { prompt: String },
}

/// The prompts of a file's text; an error names the line and the format expected.
pub fn parse(file: &str, text: &str) -> Result<Vec<Prompt>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(line).map_err(|_| {
            format!(
                "{file}:{}: each line must be {{\"prompt\": \"...\"}} or {{\"messages\": [{{\"role\": ..., \"content\": ...}}]}}",
                i + 1
            )
        })?;
        out.push(match parsed {
            Line::Messages { messages } => Prompt { messages },
            Line::Prompt { prompt } => Prompt::user(&prompt),
        });
    }
    if out.is_empty() {
        return Err(format!("prompt file {file} holds no prompt"));
    }
    Ok(out)
}

/// Reads and parses a prompts file, at most [`MAX_BYTES`].
pub fn read(path: &Path) -> Result<Vec<Prompt>, String> {
    let text = crate::bounded::read_text(path, MAX_BYTES).map_err(|e| format!("cannot read prompt file {}: {e}", path.display()))?;
    parse(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_in_another_format_names_its_line() {
        let e = super::parse("p.jsonl", "{\"prompt\": \"hi\"}\n\n{\"text\": \"x\"}\n").unwrap_err();
        assert!(e.starts_with("p.jsonl:3:"), "{e}");
        assert_eq!(super::parse("p.jsonl", "{\"prompt\": \"hi\"}\n").unwrap().len(), 1);
        assert!(super::parse("p.jsonl", "\n").is_err());
    }
}
