//! The load client's HTTP: hyper's pooled HTTP/1.1 client (TLS by rustls) over TCP sockets that
//! ask the kernel for the receive time of what each read returns (`SO_TIMESTAMPNS`, Linux).
//!
//! Why: the runner used to time a token when its task got round to parsing it. With hundreds of
//! streams on a few cores, that can trail the token's arrival by milliseconds (a closed loop whose
//! requests end together sends hundreds of new ones while first tokens come in). The kernel's
//! receive time does not depend on when the runner is scheduled (docs/performance.md).
//!
//! A connection keeps the receive time of its latest read in an [`WireClock`], which every response
//! on it carries. A chunk is handed over after the read that brought it, so that time is never
//! earlier than the chunk's arrival, and never later than the moment the runner reads the chunk.

use super::rx_stamp::{control_space, enable_rx_timestamps, keep_timestamps_on, recv_stamped};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncWrite, Interest};
use tokio::net::TcpStream;
use tower_service::Service;

pub(super) type Https = Bounded<hyper_rustls::HttpsConnector<StampingConnector>>;

/// How long a connection may take, TCP and TLS handshakes together: an endpoint that accepts TCP
/// and never answers the TLS handshake fails the request after this, never hangs the run.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A connector whose every connection (TCP, then TLS) ends within [`CONNECT_TIMEOUT`].
#[derive(Clone)]
pub struct Bounded<C>(C);

#[derive(Debug)]
struct ConnectTimedOut;

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no connection (TCP and TLS handshakes) within {} s", CONNECT_TIMEOUT.as_secs())
    }
}

impl std::error::Error for ConnectTimedOut {}

impl<C> Service<Uri> for Bounded<C>
where
    C: Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request got no response: no connection (`is_connect`), or the exchange broke first.
#[derive(Debug)]
pub enum Error {
    /// From the shared pool (open loop, one-off requests).
    Pool(hyper_util::client::legacy::Error),
    /// A closed-loop slot could not connect.
    Connect(BoxError),
    /// A closed-loop slot's connection broke before a response head.
    Http(hyper::Error),
}

impl Error {
    pub fn is_connect(&self) -> bool {
        match self {
            Error::Pool(e) => e.is_connect(),
            Error::Connect(_) => true,
            Error::Http(_) => false,
        }
    }

    /// The server closed the connection before any response (hyper's incomplete message): a pooled
    /// keep-alive connection it had just closed, so the request was not read and may be sent again.
    pub fn closed_before_answer(&self) -> bool {
        let incomplete =
            |e: &(dyn std::error::Error + 'static)| e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_incomplete_message);
        match self {
            Error::Http(e) => e.is_incomplete_message(),
            Error::Connect(_) => false,
            Error::Pool(e) => std::iter::successors(std::error::Error::source(e), |x| x.source()).any(incomplete),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Pool(e) => e.fmt(f),
            Error::Connect(_) => f.write_str("client error (Connect)"),
            Error::Http(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Pool(e) => e.source(),
            Error::Connect(e) => Some(e.as_ref()),
            Error::Http(e) => e.source(),
        }
    }
}

/// The client that sends the load: one per engine launch; clones share its connection pool.
#[derive(Clone)]
pub struct LoadClient {
    http: hyper_util::client::legacy::Client<Https, Full<Bytes>>,
    /// The same connector, for closed-loop slots that hold a connection of their own.
    pub(super) https: Https,
    /// `Authorization: Bearer <key>`, when the server has an API key.
    pub(super) auth: Option<hyper::header::HeaderValue>,
}

impl LoadClient {
    /// A client that sends `Authorization: Bearer <key>` with every request when a key is given.
    pub fn new(api_key: Option<&str>) -> LoadClient {
        LoadClient::with_receive_times(api_key, true)
    }

    /// `kernel_times: false` times chunks when they are parsed (the benchmark's comparison).
    pub fn with_receive_times(api_key: Option<&str>, kernel_times: bool) -> LoadClient {
        if kernel_times {
            keep_timestamps_on();
        }
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.enforce_http(false); // https URIs go through it too (below TLS)
        let https = Bounded(
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls_config())
                .https_or_http()
                .enable_http1()
                .wrap_connector(StampingConnector { tcp, kernel_times }),
        );
        // The pool's timer expires idle connections (after 90 s, as reqwest's).
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(4096)
            .build(https.clone());
        LoadClient { http, https, auth: api_key.and_then(crate::engine::bearer) }
    }

    /// POSTs a JSON body to `uri`; the response's extensions hold its connection's [`WireClock`].
    pub async fn post_json(&self, uri: &Uri, body: Bytes) -> Result<hyper::Response<Incoming>, Error> {
        let mut req = hyper::Request::post(uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .expect("a POST with a parsed URI and a static header is a valid request");
        if let Some(auth) = &self.auth {
            req.headers_mut().insert(hyper::header::AUTHORIZATION, auth.clone());
        }
        self.http.request(req).await.map_err(Error::Pool)
    }
}

/// rustls with ring, trusting Mozilla's roots and the system's store (where an internal endpoint's
/// private CA lives; `SSL_CERT_FILE`/`SSL_CERT_DIR` point elsewhere), as the control-plane client does.
fn tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Certificates the system store holds but rustls cannot parse are skipped, as reqwest does.
    let (_added, _skipped) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A connection's clock: when what its latest read returned reached this machine, and when its
/// latest write went to the kernel.
#[derive(Clone, Debug, Default)]
pub struct WireClock(Arc<Stamps>);

#[derive(Debug, Default)]
struct Stamps {
    /// The kernel's receive time (wall clock, ns since the epoch); 0 when that read came without one.
    received_ns: AtomicU64,
    /// ns after `BASE`, plus 1; 0 before the first write.
    written_ns: AtomicU64,
    /// When the TCP connection was established: ns after `BASE`, plus 1.
    connected_ns: AtomicU64,
}

static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

impl WireClock {
    /// When the data read so far arrived, as an `Instant` (now, when the kernel gave no time).
    pub fn arrival(&self, sent: Instant) -> Instant {
        let (wall_ns, now) = clock_pair();
        to_instant(self.0.received_ns.load(Ordering::Acquire), wall_ns, now, sent)
    }

    fn set(&self, stamp: Option<u64>) {
        self.0.received_ns.store(stamp.unwrap_or(0), Ordering::Release);
    }

    /// When the latest write on the connection was handed to the kernel.
    pub fn written(&self) -> Option<Instant> {
        let ns = self.0.written_ns.load(Ordering::Acquire);
        (ns > 0).then(|| *BASE.get_or_init(Instant::now) + std::time::Duration::from_nanos(ns - 1))
    }

    fn wrote(&self) {
        self.0.written_ns.store(since_base(), Ordering::Release);
    }

    /// When the connection's TCP handshake completed (TLS, when used, follows it).
    pub fn connected(&self) -> Option<Instant> {
        let ns = self.0.connected_ns.load(Ordering::Acquire);
        (ns > 0).then(|| *BASE.get_or_init(Instant::now) + std::time::Duration::from_nanos(ns - 1))
    }

    fn connected_now(&self) {
        self.0.connected_ns.store(since_base(), Ordering::Release);
    }
}

fn since_base() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// A receive time (wall-clock ns, 0: none) as an `Instant`: `now` less its age at `wall_ns`, the
/// wall clock read just before `now`. `now` itself when there is no time, or when it lies before
/// `sent` (the wall clock was stepped): data of a response cannot arrive before its request was sent.
fn to_instant(received_ns: u64, wall_ns: u64, now: Instant, sent: Instant) -> Instant {
    if received_ns == 0 {
        return now;
    }
    let age = std::time::Duration::from_nanos(wall_ns.saturating_sub(received_ns));
    match now.checked_sub(age) {
        Some(t) if t >= sent => t,
        _ => now,
    }
}

/// The wall clock, then the monotonic clock. In that order a pause between the two reads (the
/// thread descheduled) can only make a converted time later, never earlier than the truth; a pair
/// more than 20 µs apart is read again (up to 3 times). (The other order once timed a chunk
/// before the test server sent it.)
fn clock_pair() -> (u64, Instant) {
    let wall = || SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut pair = (wall(), Instant::now());
    for _ in 0..3 {
        if wall().saturating_sub(pair.0) <= 20_000 {
            break;
        }
        pair = (wall(), Instant::now());
    }
    pair
}

/// hyper's TCP connector, with receive timestamps turned on for every socket it opens.
#[derive(Clone)]
pub struct StampingConnector {
    tcp: HttpConnector,
    kernel_times: bool,
}

impl Service<Uri> for StampingConnector {
    type Response = StampedStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<StampedStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.tcp.call(uri);
        let kernel_times = self.kernel_times;
        Box::pin(async move {
            let tcp = connecting.await?.into_inner();
            // Without timestamps (an old kernel, another OS) reads carry none and chunks are timed
            // when they are read, as before.
            if kernel_times {
                let _ = enable_rx_timestamps(&tcp);
            }
            let clock = WireClock::default();
            clock.connected_now();
            Ok(StampedStream::new(tcp, clock))
        })
    }
}

/// A TCP stream whose reads note the kernel's receive time in the connection's [`WireClock`].
pub struct StampedStream {
    tcp: TcpStream,
    pub(super) clock: WireClock,
    /// What one read receives before it is handed to hyper, and room for its receive time.
    scratch: Vec<u8>,
    control: Vec<u8>,
}

/// The most one read takes from the socket (hyper asks for up to its own buffer's size).
const MAX_READ: usize = 64 * 1024;

impl StampedStream {
    fn new(tcp: TcpStream, clock: WireClock) -> StampedStream {
        StampedStream { tcp, clock, scratch: Vec::new(), control: control_space() }
    }
}

impl Connection for StampedStream {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.clock.clone())
    }
}

impl Read for StampedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let want = buf.remaining().min(MAX_READ);
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.scratch.len() < want {
            this.scratch.resize(want, 0);
        }
        loop {
            ready!(this.tcp.poll_read_ready(cx))?;
            let fd = this.tcp.as_raw_fd();
            let (scratch, control) = (&mut this.scratch[..want], &mut this.control);
            match this.tcp.try_io(Interest::READABLE, || recv_stamped(fd, scratch, control)) {
                Ok((n, stamp)) => {
                    if n > 0 {
                        this.clock.set(stamp);
                    }
                    // Read into the stream's own buffer and copied over: hyper's cursor then needs
                    // no unsafe, for a copy of at most MAX_READ bytes per read.
                    buf.put_slice(&this.scratch[..n]);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Write for StampedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.tcp).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.wrote();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.wrote();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::MaybeUninit;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    async fn stamped_pair() -> (StampedStream, tokio::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), l.accept());
        let tcp = client.unwrap();
        enable_rx_timestamps(&tcp).unwrap();
        (StampedStream::new(tcp, WireClock::default()), server.unwrap().0)
    }

    async fn read(s: &mut StampedStream) -> usize {
        let mut raw = [MaybeUninit::<u8>::uninit(); 64];
        let mut buf = hyper::rt::ReadBuf::uninit(&mut raw);
        std::future::poll_fn(|cx| Pin::new(&mut *s).poll_read(cx, buf.unfilled())).await.unwrap();
        buf.filled().len()
    }

    #[tokio::test]
    async fn reads_carry_the_kernel_receive_time_not_the_read_time() {
        keep_timestamps_on();
        let (mut s, mut server) = stamped_pair().await;
        // The kernel turns stamping on a moment after it is first asked for (a deferred switch).
        for _ in 0..200 {
            server.write_all(b"x").await.unwrap();
            read(&mut s).await;
            if s.clock.0.received_ns.load(Ordering::Acquire) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let sent = Instant::now();
        server.write_all(b"token").await.unwrap();
        // The runner is busy for 50 ms before it reads.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(read(&mut s).await, 5);
        let arrived = s.clock.arrival(sent);
        let now = Instant::now();
        assert!(now - arrived >= Duration::from_millis(45), "arrival only {:?} before the read", now - arrived);
        assert!(arrived >= sent);
    }

    #[tokio::test]
    async fn writes_are_timed() {
        let (mut s, _server) = stamped_pair().await;
        assert!(s.clock.written().is_none());
        let before = Instant::now();
        std::future::poll_fn(|cx| Pin::new(&mut s).poll_write(cx, b"GET")).await.unwrap();
        let w = s.clock.written().expect("a write was timed");
        assert!(w >= before && w <= Instant::now());
    }

    #[test]
    fn receive_times_convert_by_their_age_and_impossible_ones_fall_back_to_now() {
        let sent = Instant::now();
        let now = sent + Duration::from_millis(50);
        let wall = 1_800_000_000_000_000_000u64;
        // Received 30 ms before the wall clock was read: 20 ms after the send.
        assert_eq!(to_instant(wall - 30_000_000, wall, now, sent), sent + Duration::from_millis(20));
        // No time from the kernel.
        assert_eq!(to_instant(0, wall, now, sent), now);
        // A receive time an hour old, before the request was sent: the wall clock was stepped.
        assert_eq!(to_instant(wall - 3_600_000_000_000, wall, now, sent), now);
        // A receive time ahead of the wall clock (stepped back): now.
        assert_eq!(to_instant(wall + 1_000, wall, now, sent), now);
        // Without a time, `arrival` is the moment it is asked.
        let before = Instant::now();
        let a = WireClock::default().arrival(sent);
        assert!(a >= before && a <= Instant::now());
    }

    /// A server that reads each request and closes the connection without an answer.
    async fn hang_up_server() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let mut b = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut c, &mut b).await;
            }
        });
        format!("http://{addr}/v1/completions")
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_answer_is_told_by_type_a_refused_one_is_not() {
        let client = LoadClient::new(None);
        let uri: Uri = hang_up_server().await.parse().unwrap();
        let e = client.post_json(&uri, Bytes::from_static(b"{}")).await.expect_err("no answer");
        assert!(e.closed_before_answer(), "pool: {e:?}");
        let mut slot = super::super::slot::Slot::new(&client);
        let e = slot.post_json(&uri, Bytes::from_static(b"{}")).await.expect_err("no answer");
        assert!(e.closed_before_answer(), "slot: {e:?}");
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let refused: Uri = format!("http://{free}/v1/completions").parse().unwrap();
        let e = client.post_json(&refused, Bytes::from_static(b"{}")).await.expect_err("refused");
        assert!(!e.closed_before_answer() && e.is_connect(), "{e:?}");
    }
}
