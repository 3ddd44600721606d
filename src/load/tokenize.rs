//! Text of an exact token length, calibrated with the engine's own tokenizer: `/tokenize` and
//! `/detokenize` (vLLM, llama.cpp; SGLang where present). Without them, a characters-per-token ratio
//! measured from one real request's usage is used instead.

use super::client::{send, RequestSpec};
use super::http::LoadClient;
use super::prompts::{Message, Prompt};
use super::synth;
use crate::scenario::schema::Endpoint;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub struct Calibrator {
    client: reqwest::Client,
    load: LoadClient,
    base_url: String,
    model: Option<String>,
    corpus: String,
    /// The corpus as engine token ids, when the engine tokenizes.
    tokens: Option<Vec<u64>>,
    /// Fallback: characters per token measured from a request.
    chars_per_token: f64,
}

impl Calibrator {
    /// Prepares a corpus of at least `max_tokens` tokens.
    pub async fn new(
        client: &reqwest::Client,
        load: &LoadClient,
        base_url: &str,
        model: Option<&str>,
        max_tokens: usize,
        seed: u64,
    ) -> Self {
        let mut c = Calibrator {
            client: client.clone(),
            load: load.clone(),
            base_url: base_url.to_string(),
            model: model.map(str::to_string),
            corpus: String::new(),
            tokens: None,
            chars_per_token: 4.0,
        };
        let mut words = max_tokens.max(64) + 64;
        for _ in 0..4 {
            c.corpus = synth::words(words, seed);
            match c.tokenize(&c.corpus).await {
                Some(t) if t.len() >= max_tokens + 8 => {
                    c.chars_per_token = c.corpus.len() as f64 / t.len() as f64;
                    c.tokens = Some(t);
                    return c;
                }
                Some(t) => words = words * 2 + (max_tokens - t.len().min(max_tokens)),
                None => break,
            }
        }
        // No tokenizer endpoint: measure characters per token from one real request.
        let probe = synth::words(400, seed);
        let over = c.overhead(&[], "").await.unwrap_or(0);
        if let Some(n) = c.prompt_tokens(&[], &probe).await {
            if n > over {
                c.chars_per_token = probe.len() as f64 / (n - over) as f64;
            }
        }
        c.corpus = synth::words((max_tokens as f64 * c.chars_per_token / 4.0) as usize * 2 + 64, seed);
        c
    }

    /// Words of synthetic text per engine token: measured on the engine's tokenizer, else from the
    /// characters-per-token estimate.
    pub fn words_per_token(&self) -> f64 {
        let words = self.corpus.split_whitespace().count() as f64;
        let tokens = match &self.tokens {
            Some(t) => t.len() as f64,
            None => self.corpus.len() as f64 / self.chars_per_token.max(0.1),
        };
        if tokens > 0.0 && words > 0.0 {
            words / tokens
        } else {
            1.0
        }
    }

    /// True when lengths come from the engine's tokenizer (exact), false when estimated.
    pub fn exact(&self) -> bool {
        self.tokens.is_some()
    }

    async fn post(&self, path: &str, body: Value) -> Option<Value> {
        let r = self.client.post(format!("{}{path}", self.base_url)).json(&body).timeout(Duration::from_secs(30)).send().await.ok()?;
        crate::engine::bounded_json(r).await
    }

    pub async fn tokenize(&self, text: &str) -> Option<Vec<u64>> {
        // One body for both dialects: llama.cpp reads `content`, vLLM `prompt`.
        let v = self
            .post(
                "/tokenize",
                json!({"model": self.model, "content": text, "prompt": text, "add_special": false, "add_special_tokens": false}),
            )
            .await?;
        v.get("tokens")?.as_array()?.iter().map(|t| t.as_u64().or_else(|| t.get("id").and_then(Value::as_u64))).collect()
    }

    async fn detokenize(&self, tokens: &[u64]) -> Option<String> {
        let v = self.post("/detokenize", json!({"model": self.model, "tokens": tokens})).await?;
        v.get("content").or_else(|| v.get("prompt")).and_then(Value::as_str).map(str::to_string)
    }

    /// Text of about `n` tokens, starting at a seeded offset in the corpus (so texts differ).
    pub async fn text(&self, n: usize, offset_seed: u64) -> String {
        if n == 0 {
            return String::new();
        }
        if let Some(t) = &self.tokens {
            let room = t.len().saturating_sub(n).max(1);
            let off = (offset_seed as usize) % room;
            if let Some(s) = self.detokenize(&t[off..(off + n).min(t.len())]).await {
                return s;
            }
        }
        let chars = (n as f64 * self.chars_per_token) as usize;
        let room = self.corpus.len().saturating_sub(chars).max(1);
        let mut start = (offset_seed as usize) % room;
        while !self.corpus.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + chars).min(self.corpus.len());
        while !self.corpus.is_char_boundary(end) {
            end -= 1;
        }
        self.corpus[start..end].to_string()
    }

    /// The server's prompt token count for `history` + a user message `user` (one real request).
    pub async fn prompt_tokens(&self, history: &[Message], user: &str) -> Option<u64> {
        let mut messages = history.to_vec();
        messages.push(Message { role: "user".into(), content: user.into() });
        let spec = RequestSpec {
            index: 0,
            phase: crate::results::record::Phase::WarmUp,
            conversation: None,
            turn: 0,
            endpoint: Endpoint::Chat,
            model: self.model.clone(),
            prompt: Prompt { messages },
            max_tokens: 1,
            temperature: 0.0,
            stream: false,
            ignore_eos: false,
            timeout: Duration::from_secs(120),
            extra: Default::default(),
        };
        let t0 = Instant::now();
        send(&self.load, &self.base_url, &spec, t0, t0).await.prompt_tokens
    }

    /// Tokens the template and `prefix` text add around an empty user message.
    pub async fn overhead(&self, history: &[Message], prefix: &str) -> Option<u64> {
        self.prompt_tokens(history, prefix).await
    }
}
