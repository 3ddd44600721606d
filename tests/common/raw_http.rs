//! Minimal HTTP/1.1 server side for raw timing servers (tests' timing mock, the harness benchmark):
//! reading one keep-alive request and framing chunked-transfer pieces. No framework sits between a
//! timestamp and the socket write that follows it.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads one request (headers, then Content-Length bytes) from `sock`, keeping any bytes of the next
/// request in `buf`. Returns the body, or None when the connection closed.
pub async fn read_request<S: AsyncRead + Unpin>(sock: &mut S, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    read_request_with_head(sock, buf).await.map(|(_, body)| body)
}

/// `read_request`, also returning the request head (lower-cased).
pub async fn read_request_with_head<S: AsyncRead + Unpin>(sock: &mut S, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    async fn fill<S: AsyncRead + Unpin>(sock: &mut S, buf: &mut Vec<u8>) -> Option<()> {
        let mut tmp = [0u8; 8192];
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                Some(())
            }
        }
    }
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        fill(sock, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while buf.len() < head_end + len {
        fill(sock, buf).await?;
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Some((head, body))
}

/// One piece of a chunked-transfer body.
pub fn chunk_frame(payload: &str) -> String {
    format!("{:x}\r\n{payload}\r\n", payload.len())
}
