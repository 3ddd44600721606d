//! One record per request: when it was scheduled, sent, got its first token and each content chunk,
//! ended, and what the server reported. Times are milliseconds from the cell's start.

use serde::{Deserialize, Serialize};

/// Why a request failed (docs/metrics.md), stored under the same names as always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorClass {
    /// No connection to the endpoint.
    Connect,
    /// The request could not be sent (bad URL, protocol error before a response).
    RequestError,
    /// No complete response within `request_timeout_s`.
    Timeout,
    #[serde(rename = "http_5xx")]
    #[strum(serialize = "http_5xx")]
    Http5xx,
    #[serde(rename = "http_4xx")]
    #[strum(serialize = "http_4xx")]
    Http4xx,
    /// The server sent an error event inside the stream.
    StreamError,
    MalformedSse,
    MalformedJson,
    /// The connection broke off mid-response.
    ConnectionReset,
    /// The stream ended without `[DONE]`.
    TruncatedStream,
    /// A complete response without visible text and without any output token reported.
    EmptyResponse,
    /// In flight when the run was interrupted.
    Interrupted,
    /// In flight when a search probe's early check stopped the probe (clearly failing): cancelled by
    /// the runner, not the server's failure, and not counted.
    StoppedEarly,
    /// A response past the client's bounds (a body over 64 MiB, an event-stream line over 1 MiB):
    /// not read further.
    ResponseTooLarge,
}

impl ErrorClass {
    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of a cell a request belongs to; only measured requests are counted. Stored as the
/// two flags of every records.jsonl (`"warmup": bool, "cooldown": bool`), so stored runs read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "PhaseFlags", into = "PhaseFlags")]
pub enum Phase {
    /// One of the cell's `warmup` requests, sent before the measured ones.
    WarmUp,
    #[default]
    Measured,
    /// One of the last `cooldown` requests of the cell by scheduled time.
    CoolDown,
}

#[derive(Serialize, Deserialize)]
struct PhaseFlags {
    warmup: bool,
    #[serde(default)]
    cooldown: bool,
}

impl From<PhaseFlags> for Phase {
    fn from(f: PhaseFlags) -> Phase {
        match (f.warmup, f.cooldown) {
            (true, _) => Phase::WarmUp,
            (false, true) => Phase::CoolDown,
            (false, false) => Phase::Measured,
        }
    }
}

impl From<Phase> for PhaseFlags {
    fn from(p: Phase) -> PhaseFlags {
        PhaseFlags { warmup: p == Phase::WarmUp, cooldown: p == Phase::CoolDown }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub index: usize,
    /// Warm-up, measured or cool-down (on disk: the `warmup` and `cooldown` flags).
    #[serde(flatten)]
    pub phase: Phase,
    /// Which repeat of the cell (0-based; `repeats` in the workload).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat: u32,
    /// Multi-turn chat: which conversation, and which turn in it (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<usize>,
    #[serde(default)]
    pub turn: u32,
    pub scheduled_ms: f64,
    /// When the runner began the request (connecting first if it had no idle connection).
    pub sent_ms: f64,
    /// When the request's last byte was handed to the kernel: `written_ms - sent_ms` is the
    /// connection set-up plus the runner's own send delay, both inside TTFT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_ms: Option<f64>,
    /// Set when the request waited for a new connection (none was open, or the server had closed
    /// it): ms from `sent_ms` until that connection's TCP handshake completed. Inside TTFT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    /// Arrival of the first chunk with non-empty generated text (response end for non-streaming
    /// requests): when its bytes reached this machine (the kernel's receive time, on Linux).
    pub first_token_ms: Option<f64>,
    /// Arrival of every content chunk, in ms after `sent_ms`.
    pub chunk_offsets_ms: Vec<f64>,
    pub end_ms: f64,
    pub streamed: bool,
    pub output_tokens: Option<u64>,
    pub prompt_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub http_status: Option<u16>,
    /// Why it failed; `None` on success.
    pub error: Option<ErrorClass>,
    pub error_detail: Option<String>,
    pub finish_reason: Option<String>,
    /// The server reported output tokens, but none decoded to visible text (only special tokens):
    /// a success whose TTFT, TPOT and ITL are undefined; its E2E runs to the end of the response.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_visible_text: bool,
    /// Re-sends after a stale keep-alive connection was closed by the server before reading the
    /// request (the time of the failed attempt stays inside TTFT).
    #[serde(default)]
    pub connection_retries: u32,
    /// Generated text, kept in memory to carry conversation history; never stored.
    #[serde(skip)]
    pub text: String,
    /// The kept text stopped at 256 KiB (the figures count every chunk; a later turn's history
    /// carries the kept part only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub text_capped: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RequestRecord {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
    /// Counted in statistics: neither warm-up nor cool-down.
    pub fn measured(&self) -> bool {
        self.phase == Phase::Measured
    }
    /// Time from the scheduled send to the first token: TTFT plus any client-side queueing.
    pub fn ttft_from_scheduled_ms(&self) -> Option<f64> {
        self.first_token_ms.map(|t| t - self.scheduled_ms)
    }
    /// E2E measured from the scheduled send (open loop: queueing is never hidden).
    pub fn e2e_from_scheduled_ms(&self) -> Option<f64> {
        Some(self.e2e_ms()? + (self.sent_ms - self.scheduled_ms))
    }
    /// TTFT in ms: sent -> first content chunk.
    pub fn ttft_ms(&self) -> Option<f64> {
        self.first_token_ms.map(|t| t - self.sent_ms)
    }
    /// E2E in ms: sent -> last content chunk (response end when not streamed, or when no chunk
    /// carried visible text).
    pub fn e2e_ms(&self) -> Option<f64> {
        if !self.ok() {
            return None;
        }
        if self.streamed && !self.no_visible_text {
            self.chunk_offsets_ms.last().copied()
        } else {
            Some(self.end_ms - self.sent_ms)
        }
    }
    /// TPOT in ms: (E2E - TTFT) / (output_tokens - 1).
    pub fn tpot_ms(&self) -> Option<f64> {
        let out = self.output_tokens?;
        if out < 2 || !self.streamed {
            return None;
        }
        Some((self.e2e_ms()? - self.ttft_ms()?) / (out - 1) as f64)
    }
    /// Gaps between consecutive content chunks, in ms.
    pub fn itl_ms(&self) -> impl Iterator<Item = f64> + '_ {
        self.chunk_offsets_ms.windows(2).map(|w| w[1] - w[0])
    }
    /// Per-request decode speed: (output_tokens - 1) / (E2E - TTFT), tokens per second (the first
    /// token is TTFT's; the rest arrive during E2E - TTFT).
    pub fn user_tok_s(&self) -> Option<f64> {
        let out = self.output_tokens? as f64;
        let decode_ms = self.e2e_ms()? - self.ttft_ms()?;
        (decode_ms > 0.0 && out > 1.0).then(|| (out - 1.0) / (decode_ms / 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_is_stored_as_the_two_flags_of_every_stored_run() {
        let mut r = RequestRecord { index: 3, phase: Phase::CoolDown, ..RequestRecord::default() };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.starts_with(r#"{"index":3,"warmup":false,"cooldown":true,"#), "{json}");
        assert_eq!(serde_json::from_str::<RequestRecord>(&json).unwrap(), r);
        r.phase = Phase::WarmUp;
        let old = serde_json::to_string(&r).unwrap().replace(r#""cooldown":false,"#, "");
        assert_eq!(serde_json::from_str::<RequestRecord>(&old).unwrap().phase, Phase::WarmUp, "before cooldown existed: {old}");
        assert!(!r.measured());
        let no_flags = old.replace(r#""warmup":true,"#, "");
        assert!(serde_json::from_str::<RequestRecord>(&no_flags).is_err(), "warmup stays required, as it was");
    }
}
