//! A closed-loop slot's own connection. Each slot of a closed loop connects before the measured phase
//! starts and keeps its connection for every request it sends, so that no slot waits for another
//! slot's connection, and the first wave's TTFT holds no connection set-up (docs/metrics.md). When
//! the server closes the connection (llama-server does after every streamed response), the slot
//! connects again for its next request; that set-up is recorded as the request's `connect_ms`.

use super::http::{Error, LoadClient, WireClock};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::Uri;
use hyper_rustls::MaybeHttpsStream;
use tower_service::Service;

pub struct Slot {
    client: LoadClient,
    conn: Option<(SendRequest<Full<Bytes>>, WireClock)>,
}

impl Slot {
    pub fn new(client: &LoadClient) -> Slot {
        Slot { client: client.clone(), conn: None }
    }

    /// Opens the slot's connection to `uri`'s server (before the measured phase).
    pub async fn connect(&mut self, uri: &Uri) -> Result<(), Error> {
        let io = self.client.https.clone().call(uri.clone()).await.map_err(Error::Connect)?;
        let clock = match &io {
            MaybeHttpsStream::Http(s) => s.clock.clone(),
            MaybeHttpsStream::Https(tls) => tls.inner().get_ref().0.inner().clock.clone(),
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(Error::Http)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.conn = Some((sender, clock));
        Ok(())
    }

    /// POSTs a JSON body on the slot's connection, connecting first when it has none or the server
    /// closed it. The response's extensions hold the connection's [`WireClock`].
    pub async fn post_json(&mut self, uri: &Uri, body: Bytes) -> Result<hyper::Response<Incoming>, Error> {
        // A server that closes its connection after each response (llama-server) may do so just
        // after the connection looked ready: hyper then cancels the request without having written
        // it, and it goes out on a new connection (at most twice more).
        let mut attempt = 0;
        loop {
            match self.send_once(uri, body.clone()).await {
                Err(Error::Http(e)) if e.is_canceled() && attempt < 2 => {
                    attempt += 1;
                    self.conn = None;
                }
                other => return other,
            }
        }
    }

    async fn send_once(&mut self, uri: &Uri, body: Bytes) -> Result<hyper::Response<Incoming>, Error> {
        let open = match &mut self.conn {
            Some((sender, _)) => sender.ready().await.is_ok(),
            None => false,
        };
        if !open {
            self.conn = None;
            self.connect(uri).await?;
        }
        let (sender, clock) = self.conn.as_mut().expect("connected above");
        let mut req = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(hyper::header::HOST, uri.authority().map_or("", |a| a.as_str()))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .expect("a POST with a parsed path and static headers is a valid request");
        if let Some(auth) = &self.client.auth {
            req.headers_mut().insert(hyper::header::AUTHORIZATION, auth.clone());
        }
        let mut resp = sender.send_request(req).await.map_err(Error::Http)?;
        resp.extensions_mut().insert(clock.clone());
        Ok(resp)
    }
}
