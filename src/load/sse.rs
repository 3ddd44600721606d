//! Interpreting OpenAI-compatible streaming chunks (vLLM, SGLang, llama-server). Pure.
//!
//! A chunk counts as a token-bearing chunk only when it carries non-empty generated text: the role-only
//! first chunk (llama-server: `content: null`; vLLM: `content: ""`) is not a token.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
}

/// What one `data:` payload says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    /// Generated text in this chunk, when non-empty (content, reasoning content or completion text).
    pub text: Option<String>,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    /// An error event sent inside the stream.
    pub error: Option<String>,
    /// The `[DONE]` sentinel.
    pub done: bool,
}

/// The fields of a chunk that matter, borrowed from the payload (no tree of values per chunk: this
/// runs for every streamed token, hundreds of thousands of times a second).
#[derive(serde::Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default)]
    choices: Option<Vec<WireChoice<'a>>>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    timings: Option<Value>,
}

#[derive(serde::Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<WireText<'a>>,
    #[serde(borrow, default)]
    message: Option<WireText<'a>>,
    #[serde(borrow, default)]
    text: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    finish_reason: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct WireText<'a> {
    #[serde(borrow, default)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<std::borrow::Cow<'a, str>>,
}

/// Parses one SSE `data` payload. `Err` means the payload is not JSON (a malformed stream).
pub fn parse_data(data: &str) -> Result<Chunk, String> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Chunk { done: true, ..Chunk::default() });
    }
    let w: Wire<'_> = match serde_json::from_str(data) {
        Ok(w) => w,
        // Valid JSON of another shape still goes through the general path.
        Err(_) => {
            let v: Value = serde_json::from_str(data).map_err(|e| format!("malformed SSE data ({e}): {}", truncate(data, 120)))?;
            return Ok(from_json(&v));
        }
    };
    let mut chunk = Chunk::default();
    if let Some(choice) = w.choices.as_ref().and_then(|c| c.first()) {
        fn parts<'s>(h: &'s Option<WireText<'_>>) -> [Option<&'s str>; 3] {
            h.as_ref().map(|h| [h.content.as_deref(), h.reasoning_content.as_deref(), h.reasoning.as_deref()]).unwrap_or_default()
        }
        chunk.text = generated_text([parts(&choice.delta), parts(&choice.message)], choice.text.as_deref());
        chunk.finish_reason = choice.finish_reason.as_ref().map(|s| s.to_string());
    }
    chunk.usage = w.usage.as_ref().and_then(|u| usage_of(u, w.timings.as_ref()));
    chunk.error = w.error.as_ref().map(error_message);
    Ok(chunk)
}

/// Interprets a whole (non-streaming) response or a streaming chunk, which share their shape.
pub fn from_json(v: &Value) -> Chunk {
    let mut chunk = Chunk {
        error: v.get("error").map(error_message),
        usage: v.get("usage").and_then(|u| usage_of(u, v.get("timings"))),
        ..Chunk::default()
    };
    if let Some(choice) = v.get("choices").and_then(Value::as_array).and_then(|c| c.first()) {
        let holder = |key: &str| choice.get(key).map(|h| TEXT_KEYS.map(|k| h.get(k).and_then(Value::as_str))).unwrap_or_default();
        chunk.text = generated_text([holder("delta"), holder("message")], choice.get("text").and_then(Value::as_str));
        chunk.finish_reason = choice.get("finish_reason").and_then(Value::as_str).map(str::to_string);
    }
    chunk
}

/// The keys of a delta or message that carry generated text, in the order they are joined.
const TEXT_KEYS: [&str; 3] = ["content", "reasoning_content", "reasoning"];

/// The generated text of one choice, the rule TTFT hangs on (one function for streamed chunks and
/// whole responses, chat and completions): the `TEXT_KEYS` of `delta`, then of `message`, then the
/// completions `text`, joined; `None` when all are absent or empty (a role-only chunk is no token).
fn generated_text(holders: [[Option<&str>; 3]; 2], completion_text: Option<&str>) -> Option<String> {
    let text: String = holders.iter().flatten().flatten().copied().chain(completion_text).collect();
    (!text.is_empty()).then_some(text)
}

/// The message of an `error` object (or the object itself as text).
fn error_message(err: &Value) -> String {
    err.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| err.to_string())
}

/// Token counts of a `usage` object (cached tokens also from llama-server's `timings`).
fn usage_of(u: &Value, timings: Option<&Value>) -> Option<Usage> {
    if !u.is_object() {
        return None;
    }
    Some(Usage {
        prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64),
        completion_tokens: u.get("completion_tokens").and_then(Value::as_u64),
        cached_tokens: u
            .get("prompt_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Value::as_u64)
            .or_else(|| timings.and_then(|t| t.get("cache_n")).and_then(Value::as_u64)),
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_only_chunks_are_not_tokens() {
        let llama = r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}]}"#;
        let vllm = r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        assert_eq!(parse_data(llama).unwrap().text, None);
        assert_eq!(parse_data(vllm).unwrap().text, None);
    }

    #[test]
    fn content_usage_error_and_done() {
        let c = parse_data(r#"{"choices":[{"index":0,"delta":{"content":"KV"}}]}"#).unwrap();
        assert_eq!(c.text.as_deref(), Some("KV"));
        let u = parse_data(r#"{"choices":[],"usage":{"prompt_tokens":31,"completion_tokens":8}}"#).unwrap();
        assert_eq!(u.usage.unwrap().completion_tokens, Some(8));
        let e = parse_data(r#"{"error":{"message":"too long","code":400}}"#).unwrap();
        assert_eq!(e.error.as_deref(), Some("too long"));
        assert!(parse_data("[DONE]").unwrap().done);
        assert!(parse_data("{not json").is_err());
    }

    #[test]
    fn streamed_chunks_and_whole_responses_share_one_text_rule() {
        for p in [
            r#"{"choices":[{"delta":{"role":"assistant","content":null,"reasoning_content":"think"}}]}"#,
            r#"{"choices":[{"message":{"content":"","reasoning":"r"},"text":"t"}]}"#,
            r#"{"choices":[{"delta":{"content":""},"message":{"content":"m"}}]}"#,
            r#"{"choices":[{"delta":{"content":""}}]}"#,
            r#"{"choices":[{"text":""}]}"#,
        ] {
            let v: Value = serde_json::from_str(p).unwrap();
            assert_eq!(parse_data(p).unwrap().text, from_json(&v).text, "{p}");
        }
        assert_eq!(parse_data(r#"{"choices":[{"delta":{"content":"a","reasoning_content":"b"}}]}"#).unwrap().text.as_deref(), Some("ab"));
    }

    #[test]
    fn completions_text_counts() {
        let c = parse_data(r#"{"choices":[{"text":" ZZ","index":0,"finish_reason":null}]}"#).unwrap();
        assert_eq!(c.text.as_deref(), Some(" ZZ"));
    }
}
