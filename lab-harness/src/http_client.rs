//! The harness's side when a test checks a student's *HTTP server*: send a request (whole,
//! in pieces, or not at all), read the response to the close, and take it apart strictly.
//!
//! [`http_exchange`] is a [`TestClient`] conversation, so a failure shows the conversation
//! on the wire. [`HttpReply::parse`] is strict where a lenient client (curl, a browser) would
//! hide a server's mistake: every head line must end with `\r\n`, the head with an empty
//! line, and the status line must be `HTTP/1.x NNN reason`.
//!
//! ```no_run
//! use lab_harness::{HttpReply, http_exchange};
//! use std::time::Duration;
//! # let addr = "127.0.0.1:8080".parse().unwrap();
//! let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
//! let (client, end) = http_exchange(addr, request, Duration::from_secs(2)).expect("connecting");
//! let reply = HttpReply::parse(client.received()).expect("an HTTP response");
//! assert_eq!(reply.status, 200, "{end}\n{}", client.describe());
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::bytes::show_bytes;
use crate::client::{ReadEnd, TestClient};

/// A response as it came: status line, headers in order, body (everything after the head).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// Takes `bytes` apart. The error says what is wrong, in a sentence for a test message.
    pub fn parse(bytes: &[u8]) -> Result<HttpReply, String> {
        if bytes.is_empty() {
            return Err("no response arrived".into());
        }
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            let hint = if bytes.windows(2).any(|w| w == b"\n\n") {
                ": its lines seem to end with \\n alone; HTTP's line ending is \\r\\n"
            } else {
                ""
            };
            return Err(format!(
                "the response {} has no empty line (\\r\\n\\r\\n) ending its head{hint}",
                show_bytes(bytes)
            ));
        };
        let head = &bytes[..end];
        let body = bytes[end + 4..].to_vec();
        let head = std::str::from_utf8(head)
            .map_err(|_| format!("the response head {} is not text", show_bytes(head)))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        if let Some(line) = head.split("\r\n").find(|line| line.contains('\n')) {
            return Err(format!(
                "a line of the response head, {}, ends with \\n alone; HTTP's line ending is \\r\\n",
                show_bytes(line.as_bytes())
            ));
        }
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status = parts.next().and_then(|code| {
            (code.len() == 3)
                .then(|| code.parse::<u16>().ok())
                .flatten()
        });
        let (Some(status), true) = (status, version.starts_with("HTTP/1.")) else {
            return Err(format!(
                "the status line {status_line:?} is not `HTTP/1.1 NNN Reason`"
            ));
        };
        let reason = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!("the header line {line:?} has no colon"));
            };
            headers.push((name.to_string(), value.trim().to_string()));
        }
        Ok(HttpReply {
            version: version.to_string(),
            status,
            reason,
            headers,
            body,
        })
    }

    /// The first header called `name` (in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(have, _)| have.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every header called `name` (in any case): a header sent twice is a mistake to show.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(have, _)| have.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// `Content-Length` as a number, when there is exactly one and it is a number.
    pub fn content_length(&self) -> Option<usize> {
        match self.headers_named("content-length")[..] {
            [one] => one.parse().ok(),
            _ => None,
        }
    }
}

/// Connects to `addr`, sends `request`, and reads until the server closes; everything within
/// `limit`. The client keeps its sending side open (as a browser does): a server that waits
/// for the client's end-of-file before answering is caught this way.
///
/// The error is a sentence for a test's message: the client could not connect.
pub fn http_exchange(
    addr: SocketAddr,
    request: &[u8],
    limit: Duration,
) -> Result<(TestClient, ReadEnd), String> {
    let deadline = Instant::now() + limit;
    let mut client = TestClient::connect(addr, limit)
        .map_err(|error| format!("the client could not connect to {addr}: {error}"))?;
    let left = || deadline.saturating_duration_since(Instant::now());
    if let Err(error) = client.send(request, left()) {
        let end = ReadEnd::Failed(error.kind(), error.to_string());
        return Ok((client, end));
    }
    let end = client.read_to_end(left());
    Ok((client, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_taken_apart() {
        let reply = HttpReply::parse(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A:  b \r\n\r\nno\n",
        )
        .unwrap();
        assert_eq!(reply.status, 404);
        assert_eq!(reply.reason, "Not Found");
        assert_eq!(reply.header("content-length"), Some("3"));
        assert_eq!(reply.header("x-a"), Some("b"));
        assert_eq!(reply.content_length(), Some(3));
        assert_eq!(reply.body, b"no\n");
    }

    #[test]
    fn bare_line_feeds_are_named() {
        let error = HttpReply::parse(b"HTTP/1.1 200 OK\nA: b\n\nbody").unwrap_err();
        assert!(error.contains("\\n alone"), "{error}");
        let error = HttpReply::parse(b"HTTP/1.1 200 OK\r\nA: b\n\r\n\r\nbody").unwrap_err();
        assert!(error.contains("\\n alone"), "{error}");
    }

    #[test]
    fn a_bad_status_line_is_quoted() {
        let error = HttpReply::parse(b"HTTP/1.1 OK\r\n\r\n").unwrap_err();
        assert!(error.contains("\"HTTP/1.1 OK\""), "{error}");
        assert_eq!(
            HttpReply::parse(b"").unwrap_err(),
            "no response arrived".to_string()
        );
    }
}
