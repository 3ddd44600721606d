//! Sends one request and times it: streaming (SSE) or not. Failures become records, never panics.

use super::http::{Error as HttpError, LoadClient, WireClock};
use super::prompts::Prompt;
use super::slot::Slot;
use super::sse::{self, Chunk};
use crate::results::record::{ErrorClass, RequestRecord};
use crate::scenario::schema::Endpoint;
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The most bytes of an error response kept (its first 300 characters go into the record).
pub const MAX_ERROR_BODY: usize = 64 << 10;
/// The largest non-streamed response read: a completion of a million tokens is a few MB.
pub const MAX_BODY: usize = 64 << 20;
/// The longest line of an event stream (one SSE `data:` line is one chunk of a few tokens).
pub const MAX_SSE_LINE: usize = 1 << 20;
/// The most generated text kept per request (for a conversation's history; never stored).
pub const MAX_KEPT_TEXT: usize = 256 << 10;

/// Everything needed to send one request.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub index: usize,
    /// Warm-up or measured (cool-down is decided after the cell, by scheduled time).
    pub phase: crate::results::record::Phase,
    pub conversation: Option<usize>,
    pub turn: u32,
    pub endpoint: Endpoint,
    /// The request's `model` field; None when the server named none (then it is left out).
    pub model: Option<String>,
    pub prompt: Prompt,
    pub max_tokens: u32,
    pub temperature: f64,
    pub stream: bool,
    pub ignore_eos: bool,
    pub timeout: Duration,
    /// Extra fields merged into the body (the workload's `extra_body`).
    pub extra: serde_json::Map<String, Value>,
}

impl RequestSpec {
    /// The JSON request body, serialized straight from the spec. A key of `extra` (the workload's
    /// `extra_body`) replaces the standard field of the same name.
    pub fn body(&self) -> Vec<u8> {
        let own = |key: &str| !self.extra.contains_key(key);
        let text;
        let body = Body {
            model: self.model.as_deref().filter(|_| own("model")),
            max_tokens: own("max_tokens").then_some(self.max_tokens),
            temperature: own("temperature").then_some(self.temperature),
            stream: own("stream").then_some(self.stream),
            messages: (self.endpoint == Endpoint::Chat && own("messages")).then_some(self.prompt.messages.as_slice()),
            prompt: if self.endpoint == Endpoint::Completions && own("prompt") {
                text = self.prompt.as_text();
                Some(text.as_str())
            } else {
                None
            },
            stream_options: (self.stream && own("stream_options")).then_some(StreamOptions { include_usage: true }),
            ignore_eos: (self.ignore_eos && own("ignore_eos")).then_some(true),
            extra: &self.extra,
        };
        serde_json::to_vec(&body).expect("a request body always serializes")
    }
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a [super::prompts::Message]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ignore_eos: Option<bool>,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, Value>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// A server's endpoint URLs, parsed once rather than for every request.
#[derive(Debug, Clone)]
pub struct Target {
    base: String,
    chat: Option<hyper::Uri>,
    completions: Option<hyper::Uri>,
}

impl Target {
    pub fn new(base_url: &str) -> Target {
        let parse = |endpoint: Endpoint| format!("{base_url}{}", path(endpoint)).parse::<hyper::Uri>().ok().filter(|u| u.host().is_some());
        Target { base: base_url.to_string(), chat: parse(Endpoint::Chat), completions: parse(Endpoint::Completions) }
    }

    pub(crate) fn url(&self, endpoint: Endpoint) -> Result<&hyper::Uri, String> {
        match endpoint {
            Endpoint::Chat => self.chat.as_ref(),
            Endpoint::Completions => self.completions.as_ref(),
        }
        .ok_or_else(|| format!("not a valid URL: {}{}", self.base, path(endpoint)))
    }
}

fn path(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Chat => "/v1/chat/completions",
        Endpoint::Completions => "/v1/completions",
    }
}

fn ms(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64() * 1000.0
}

/// The error with its whole source chain ("client error (SendRequest): connection closed before ...").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// A failed send: no connection (`connect`), or the exchange broke before a response head
/// (`request_error`).
fn classify(e: &HttpError) -> ErrorClass {
    if e.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::RequestError
    }
}

/// Sends `spec` to `base_url` through the shared pool; `t0` is the cell's time origin, `scheduled`
/// when the request was due.
pub async fn send(client: &LoadClient, base_url: &str, spec: &RequestSpec, t0: Instant, scheduled: Instant) -> RequestRecord {
    send_via(&mut Via::Pool(client), &Target::new(base_url), spec, t0, scheduled).await
}

/// Where a request goes: the launch's shared connection pool, or a closed-loop slot's own connection.
pub enum Via<'a> {
    Pool(&'a LoadClient),
    Slot(&'a mut Slot),
}

impl Via<'_> {
    async fn post_json(&mut self, uri: &hyper::Uri, body: bytes::Bytes) -> Result<hyper::Response<hyper::body::Incoming>, HttpError> {
        match self {
            Via::Pool(c) => c.post_json(uri, body).await,
            Via::Slot(s) => s.post_json(uri, body).await,
        }
    }
}

/// `send` with the URLs parsed beforehand, through `via` (the load driver's path).
pub async fn send_via(via: &mut Via<'_>, target: &Target, spec: &RequestSpec, t0: Instant, scheduled: Instant) -> RequestRecord {
    let mut rec = RequestRecord {
        index: spec.index,
        phase: spec.phase,
        conversation: spec.conversation,
        turn: spec.turn,
        scheduled_ms: ms(t0, scheduled),
        streamed: spec.stream,
        ..RequestRecord::default()
    };
    let sent = Instant::now();
    rec.sent_ms = ms(t0, sent);
    let mut rest = None;
    let work = exchange(via, target, spec, t0, sent, &mut rec, &mut rest);
    if tokio::time::timeout(spec.timeout, work).await.is_err() {
        rec.error = Some(ErrorClass::Timeout);
        rec.error_detail = Some(format!("no complete response within {:.0} s (request_timeout_s)", spec.timeout.as_secs_f64()));
    }
    rec.end_ms = ms(t0, Instant::now());
    if let Some(rest) = rest {
        finish_body(rest).await;
    }
    rec
}

/// The body left after `[DONE]`. It is read to its end so that the keep-alive connection goes back
/// to the pool: a body dropped unfinished closes its connection, and the next request pays for a new
/// one inside its TTFT (and a burst of reconnects can overflow the server's listen queue: 1 s SYN
/// retries). The request's times are already final.
type Rest = std::pin::Pin<Box<dyn futures_util::Stream<Item = ()> + Send>>;

async fn finish_body(mut rest: Rest) {
    // Engines end the body right after [DONE], mostly in the same packet. One that keeps it open
    // must not hold up the next request of a closed loop, nor keep sockets open in the background:
    // after 10 ms the rest is dropped, and with it that connection.
    let _ = tokio::time::timeout(Duration::from_millis(10), async { while rest.next().await.is_some() {} }).await;
}

async fn exchange(
    via: &mut Via<'_>,
    target: &Target,
    spec: &RequestSpec,
    t0: Instant,
    sent: Instant,
    rec: &mut RequestRecord,
    rest: &mut Option<Rest>,
) {
    let url = match target.url(spec.endpoint) {
        Ok(u) => u,
        Err(detail) => {
            rec.error = Some(ErrorClass::RequestError);
            rec.error_detail = Some(detail);
            return;
        }
    };
    let body = bytes::Bytes::from(spec.body());
    let mut attempt = via.post_json(url, body.clone()).await;
    // A pooled keep-alive connection that the server closed just before reuse fails without the
    // request having been read (hyper's incomplete message, asked of the error's type); like browsers,
    // retry such a request (up to 3 times: the pool may hold more than one stale connection), and
    // keep a note of it in the record.
    while let Err(e) = &attempt {
        if rec.connection_retries >= 3 || !e.closed_before_answer() {
            break;
        }
        rec.connection_retries += 1;
        attempt = via.post_json(url, body.clone()).await;
    }
    let resp = match attempt {
        Ok(r) => r,
        Err(e) => {
            rec.error = Some(classify(&e));
            rec.error_detail = Some(chain(&e));
            return;
        }
    };
    let status = resp.status();
    rec.http_status = Some(status.as_u16());
    let clock = resp.extensions().get::<WireClock>().cloned().unwrap_or_default();
    rec.written_ms = clock.written().filter(|w| *w >= sent).map(|w| ms(t0, w));
    // A connection made for this request (none open, or the server closed it): its set-up is inside
    // TTFT, and recorded apart.
    rec.connect_ms = clock.connected().filter(|c| *c >= sent).map(|c| c.duration_since(sent).as_secs_f64() * 1000.0);
    if !status.is_success() {
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ERROR_BODY).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        rec.error = Some(if status.is_server_error() { ErrorClass::Http5xx } else { ErrorClass::Http4xx });
        rec.error_detail = Some(format!("HTTP {status}: {}", String::from_utf8_lossy(&body).chars().take(300).collect::<String>()));
        return;
    }
    if spec.stream {
        *rest = stream_body(resp.into_body(), &clock, t0, sent, rec).await;
    } else {
        match http_body_util::Limited::new(resp.into_body(), MAX_BODY).collect().await {
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                rec.error = Some(ErrorClass::ResponseTooLarge);
                rec.error_detail = Some(format!("the response is larger than {} MiB; not read further", MAX_BODY >> 20));
            }
            Ok(b) => match serde_json::from_slice::<Value>(&b.to_bytes()) {
                Ok(v) => {
                    let now = clock.arrival(sent);
                    apply(&sse::from_json(&v), now, t0, sent, rec);
                    if rec.error.is_none() {
                        rec.first_token_ms = Some(ms(t0, now));
                    }
                }
                Err(e) => {
                    rec.error = Some(ErrorClass::MalformedJson);
                    rec.error_detail = Some(format!("the response is not JSON: {e}"));
                }
            },
            Err(e) => {
                rec.error = Some(ErrorClass::ConnectionReset);
                rec.error_detail = Some(format!("the body broke off: {}", chain(e.as_ref())));
            }
        }
    }
    if rec.error.is_none() && rec.first_token_ms.is_none() {
        if rec.output_tokens.is_some_and(|n| n > 0) {
            // The server generated tokens and said so, but none decoded to visible text (e.g. only
            // special tokens, which random weights emit): a served request, not a failure; its TTFT
            // (first visible text) is undefined (docs/metrics.md).
            rec.no_visible_text = true;
        } else {
            rec.error = Some(ErrorClass::EmptyResponse);
            rec.error_detail = Some("the response carried no generated text and reported no output token".into());
        }
    }
}

fn apply(chunk: &Chunk, now: Instant, t0: Instant, sent: Instant, rec: &mut RequestRecord) {
    if let Some(err) = &chunk.error {
        rec.error = Some(ErrorClass::StreamError);
        rec.error_detail = Some(err.clone());
    }
    if let Some(text) = &chunk.text {
        if rec.streamed {
            rec.first_token_ms.get_or_insert(ms(t0, now));
            rec.chunk_offsets_ms.push(ms(sent, now));
        }
        keep_text(&mut rec.text, text, &mut rec.text_capped);
    }
    if let Some(u) = &chunk.usage {
        rec.output_tokens = u.completion_tokens.or(rec.output_tokens);
        rec.prompt_tokens = u.prompt_tokens.or(rec.prompt_tokens);
        rec.cached_tokens = u.cached_tokens.or(rec.cached_tokens);
    }
    if chunk.finish_reason.is_some() {
        rec.finish_reason.clone_from(&chunk.finish_reason);
    }
}

/// Appends generated text up to [`MAX_KEPT_TEXT`] bytes (cut at a character boundary); past that
/// `capped` says the kept text is incomplete.
fn keep_text(kept: &mut String, text: &str, capped: &mut bool) {
    let room = MAX_KEPT_TEXT.saturating_sub(kept.len());
    if text.len() <= room {
        kept.push_str(text);
        return;
    }
    let mut cut = room;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    kept.push_str(&text[..cut]);
    *capped = true;
}

/// An event stream's bytes, refused once a line runs past [`MAX_SSE_LINE`] bytes without a line
/// end (a server that never ends its line would otherwise grow the parser's buffer without bound).
fn bounded_lines<S, E>(body: S) -> impl futures_util::Stream<Item = Result<bytes::Bytes, BodyError>>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>>,
    E: Into<BodyError>,
{
    let mut run = 0usize;
    body.map(move |chunk| {
        let chunk = chunk.map_err(Into::into)?;
        run = match chunk.iter().rposition(|b| *b == b'\n') {
            Some(p) => chunk.len() - p - 1,
            None => run + chunk.len(),
        };
        if run > MAX_SSE_LINE {
            return Err(BodyError::from(LineTooLong));
        }
        Ok(chunk)
    })
}

type BodyError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
struct LineTooLong;

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an event-stream line longer than {} MiB", MAX_SSE_LINE >> 20)
    }
}

impl std::error::Error for LineTooLong {}

/// Reads the event stream into `rec`; on `[DONE]`, hands back the rest of the body (see `finish_body`).
/// Each event is timed by when its bytes reached this machine (`clock`), not when it is parsed.
async fn stream_body(body: hyper::body::Incoming, clock: &WireClock, t0: Instant, sent: Instant, rec: &mut RequestRecord) -> Option<Rest> {
    let mut events = bounded_lines(body.into_data_stream()).eventsource();
    let mut last = sent;
    while let Some(ev) = events.next().await {
        // Never before the previous event: two reads of one arrival may convert a hair apart.
        let now = clock.arrival(sent).max(last);
        last = now;
        match ev {
            Ok(ev) => match sse::parse_data(&ev.data) {
                Ok(chunk) if chunk.done => return Some(Box::pin(events.map(|_| ()))),
                Ok(chunk) => apply(&chunk, now, t0, sent, rec),
                Err(detail) => {
                    rec.error = Some(ErrorClass::MalformedSse);
                    rec.error_detail = Some(detail);
                    return None;
                }
            },
            Err(EventStreamError::Transport(e)) if e.is::<LineTooLong>() => {
                rec.error = Some(ErrorClass::ResponseTooLarge);
                rec.error_detail = Some(format!("the stream sent {e}; not read further"));
                return None;
            }
            Err(EventStreamError::Transport(e)) => {
                rec.error = Some(ErrorClass::ConnectionReset);
                rec.error_detail = Some(format!("stream broke off: {}", chain(e.as_ref())));
                return None;
            }
            Err(e) => {
                rec.error = Some(ErrorClass::MalformedSse);
                rec.error_detail = Some(format!("not an event stream: {e}"));
                return None;
            }
        }
    }
    if rec.error.is_none() {
        rec.error = Some(ErrorClass::TruncatedStream);
        rec.error_detail = Some("the stream ended without [DONE]".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{keep_text, MAX_KEPT_TEXT};

    #[test]
    fn kept_text_stops_at_its_cap_on_a_character_boundary_and_says_so() {
        let (mut kept, mut capped) = (String::new(), false);
        keep_text(&mut kept, &"a".repeat(MAX_KEPT_TEXT - 1), &mut capped);
        assert!(!capped);
        keep_text(&mut kept, "éé", &mut capped);
        assert!(capped && kept.len() == MAX_KEPT_TEXT - 1, "{}", kept.len());
        // The last byte of room takes a one-byte character; nothing past the cap is ever kept.
        keep_text(&mut kept, "more", &mut capped);
        assert_eq!(kept.len(), MAX_KEPT_TEXT);
        assert!(kept.ends_with("am"));
    }
}
