//! The load client against an https endpoint whose certificate comes from a private CA: the CA is
//! trusted only through the system's certificate store (`SSL_CERT_FILE`), the API key travels as a
//! bearer token, and chunks are timed from the TCP socket under TLS. A client built before the CA
//! was in the store refuses the server.

mod common;

use common::raw_http;

use runner::load::client::send;
use runner::load::http::LoadClient;
use runner::scenario::schema::Endpoint;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// A TLS SSE server on loopback: the first token 20 ms after each request, a second 10 ms later.
/// Returns its port and the heads of the requests it read.
async fn start_tls_server(config: rustls::ServerConfig) -> (u16, Arc<Mutex<Vec<String>>>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            // Without it, Nagle holds the first token until the head's delayed ACK (~40 ms).
            let _ = tcp.set_nodelay(true);
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut buf = Vec::new();
                while let Some((head, _body)) = raw_http::read_request_with_head(&mut tls, &mut buf).await {
                    seen.lock().unwrap().push(head);
                    let token = |t: &str| {
                        raw_http::chunk_frame(&format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{t}\"}}}}]}}\n\n"))
                    };
                    let mut out = String::from("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
                    let _ = tls.write_all(out.as_bytes()).await;
                    let _ = tls.flush().await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = tls.write_all(token("a").as_bytes()).await;
                    let _ = tls.flush().await;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    out = token("b")
                        + &raw_http::chunk_frame(
                            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
                        )
                        + "0\r\n\r\n";
                    if tls.write_all(out.as_bytes()).await.is_err() || tls.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, heads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoint_with_a_private_ca() {
    // A CA of this test only, and a certificate for localhost signed by it.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "runner test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into())
        .unwrap();
    let (port, heads) = start_tls_server(config).await;
    let url = format!("https://localhost:{port}");

    // Before the CA is in the store: the certificate is refused, a `connect` failure.
    std::env::set_var("SSL_CERT_FILE", "/nonexistent/runner-test-ca.pem");
    std::env::remove_var("SSL_CERT_DIR");
    let untrusting = LoadClient::new(None);
    let t0 = Instant::now();
    let refused = send(&untrusting, &url, &common::request_spec(0, Endpoint::Chat), t0, t0).await;
    assert_eq!(refused.error.map(|e| e.as_str()), Some("connect"), "{:?}", refused.error_detail);
    assert!(refused.error_detail.as_deref().unwrap_or("").contains("UnknownIssuer"), "{:?}", refused.error_detail);

    // With the CA in the store (this test binary's own environment; read when a client is built).
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    let client = LoadClient::new(Some("sk-tls-test"));
    for _ in 0..2 {
        let t0 = Instant::now();
        let r = send(&client, &url, &common::request_spec(0, Endpoint::Chat), t0, t0).await;
        assert!(r.ok(), "{:?}: {:?}", r.error, r.error_detail);
        assert_eq!(r.output_tokens, Some(2));
        assert_eq!(r.chunk_offsets_ms.len(), 2);
        let ttft = r.ttft_ms().unwrap();
        assert!((20.0..200.0).contains(&ttft), "ttft {ttft}");
        assert!(r.chunk_offsets_ms[1] - r.chunk_offsets_ms[0] >= 9.0, "{:?}", r.chunk_offsets_ms);
        // The request went out on the TLS connection's socket, which timed it.
        assert!(r.written_ms.is_some_and(|w| w >= r.sent_ms && w <= r.first_token_ms.unwrap()), "{:?}", r.written_ms);
    }
    // A closed loop's slots hold their own TLS connections (made before the phase): same bearer key,
    // same chunk timing.
    let specs = (0..4).map(|i| common::request_spec(i, Endpoint::Chat)).collect();
    let p = runner::load::driver::closed_loop(&client, &url, specs, 2, Instant::now(), &tokio_util::sync::CancellationToken::new(), |_| {})
        .await;
    assert_eq!(p.records.len(), 4);
    for r in &p.records {
        assert!(r.ok(), "{:?}: {:?}", r.error, r.error_detail);
        assert!(r.ttft_ms().is_some_and(|t| (20.0..200.0).contains(&t)), "{r:?}");
    }
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 6);
    assert!(heads.iter().all(|h| h.contains("authorization: bearer sk-tls-test")), "{heads:?}");
    assert!(heads[2..].iter().all(|h| h.contains(&format!("host: localhost:{port}"))), "{heads:?}");
}
