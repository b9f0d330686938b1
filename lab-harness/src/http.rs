//! A scripted HTTP/1.1 server: one small page, and the same page served the awkward ways real
//! servers serve it.
//!
//! Exercise 7's client reads an HTTP response by hand, and each classic mistake shows only
//! against one particular server: reading to the end of the connection hangs only when the
//! server keeps it open after a `Content-Length` body; reading chunk sizes as decimal breaks
//! only on a chunk of 16 bytes or more; one `read` taken as the whole head breaks only when
//! the head arrives in pieces. [`HttpServer`] answers each path of [`HTTP_PAGES`] in one of
//! those ways, always the same way, recording what the client sent and the whole
//! conversation, so a test can provoke one mistake and a failure can show what crossed the
//! wire. `cargo lab serve --mode http` is the same server for an instructor.
//!
//! ```
//! use lab_harness::HttpServer;
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! let server = HttpServer::start();
//! let mut stream = TcpStream::connect(server.addr()).unwrap();
//! stream
//!     .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
//!     .unwrap();
//! let mut response = Vec::new();
//! stream.read_to_end(&mut response).unwrap(); // `/` closes after its body
//! assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(response.ends_with(&HttpServer::body("/")));
//! ```
//!
//! The server reads one request per connection (it answers with `Connection: close`, or
//! keeps the connection open where that is the point of the page). Whatever a client sends,
//! it stays bounded: a request head of at most [`MAX_REQUEST_HEAD`] bytes, a deadline for it,
//! a limit on how long a connection is held open.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::{Policy, Running, Stopping, Threads};
use crate::record::{ConnectionLog, Ending, Recording, RecordingReader};
use crate::timeline::What;

/// The longest request head (request line and header lines) the server reads. Past it the
/// client gets `431 Request Header Fields Too Large`.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// One page of the server: its path and what is special about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpPage {
    pub path: &'static str,
    pub about: &'static str,
}

/// Every path the server answers (any other path gets a 404 page).
pub const HTTP_PAGES: &[HttpPage] = &[
    HttpPage {
        path: "/",
        about: "a small HTML page with Content-Length, then the server closes",
    },
    HttpPage {
        path: "/slow",
        about: "the same page, its head sent one byte at a time",
    },
    HttpPage {
        path: "/split",
        about: "the same page in pieces cut mid-line, between \\r and \\n, in the empty line",
    },
    HttpPage {
        path: "/keep-alive",
        about: "the page with Content-Length, then the connection stays open (read to the end \
                and you wait)",
    },
    HttpPage {
        path: "/chunked",
        about: "Transfer-Encoding: chunked, sizes in hex (1a, 10, b), an extension, a trailer; \
                the connection stays open",
    },
    HttpPage {
        path: "/close",
        about: "no Content-Length, no chunks: the body ends when the server closes",
    },
    HttpPage {
        path: "/binary",
        about: "256 bytes 0x00..0xff, not text",
    },
    HttpPage {
        path: "/headers",
        about: "header names in odd cases, values padded with spaces, Set-Cookie twice",
    },
    HttpPage {
        path: "/redirect",
        about: "301 Moved Permanently to /",
    },
    HttpPage {
        path: "/missing",
        about: "404 Not Found (so is every path not listed here)",
    },
    HttpPage {
        path: "/lying",
        about: "Content-Length: 1000, but 64 bytes, then the server closes",
    },
    HttpPage {
        path: "/cut",
        about: "a head cut off before its empty line, then the server closes",
    },
    HttpPage {
        path: "/huge-head",
        about: "a header line of 1 MiB with no end, then silence: a client needs a limit",
    },
];

/// The page at `/` (and `/slow`, `/split`, `/keep-alive`). Not pure ASCII on purpose:
/// `Content-Length` counts bytes, and `é` and `→` are two and three bytes each.
const PAGE: &str = "<!DOCTYPE html>
<html>
<head><meta charset=\"utf-8\"><title>netlab</title></head>
<body>
<h1>Hello from netlab</h1>
<p>You sent GET, the server answered: status line → headers → empty line → body.</p>
<p>Café sockets since the lectures.</p>
</body>
</html>
";

/// The body of `/chunked`, in the chunks it is sent in: 0x1a, 0x10 and 0xb bytes, sizes a
/// decimal reading gets wrong.
const CHUNKS: [&str; 3] = [
    "This body came in 3 chunks",
    ", sized in hex: ",
    "1a, 10, b.\n",
];

const NOT_FOUND: &str = "<!DOCTYPE html>\n<title>404</title>\n<p>Nothing here.</p>\n";
const MOVED: &str = "<!DOCTYPE html>\n<title>301</title>\n<p>Moved to <a href=\"/\">/</a>.</p>\n";
const CLOSE_BODY: &str = "No Content-Length and no chunks: this body ends when the server \
                          closes the connection.\n";
const LYING_BODY: &str = "This body is 64 bytes long, but Content-Length said 1000 bytes.\n";
const HEADERS_BODY: &str = "Look at the headers.\n";
/// The size of `/huge-head`'s endless header line.
const HUGE: usize = 1 << 20;

/// How a scripted HTTP server behaves towards its clients.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Print a line on stderr for every connection opened and closed, and every request.
    pub log_to_stderr: bool,
    /// Past this many open connections a new client is turned away.
    pub max_connections: Option<usize>,
    /// Where the server records what it saw.
    pub recording: Recording,
    /// How long a client may take to send its request head.
    pub request_timeout: Duration,
    /// How long `/keep-alive`, `/chunked` and `/huge-head` keep a connection open after the
    /// response, unless the client closes it first.
    pub hold: Duration,
    /// The pause between the pieces of `/slow` and `/split`.
    pub pause: Duration,
}

impl Default for HttpConfig {
    /// A test's server: records everything, waits long (tests have their own deadlines).
    fn default() -> HttpConfig {
        HttpConfig {
            log_to_stderr: false,
            max_connections: None,
            recording: Recording::default(),
            request_timeout: Duration::from_secs(60),
            hold: Duration::from_secs(60),
            pause: Duration::from_millis(2),
        }
    }
}

/// A scripted HTTP server on its own threads. Dropping it stops it.
pub struct HttpServer {
    running: Running,
}

impl HttpServer {
    /// A test's server on `127.0.0.1` (port chosen by the system).
    pub fn start() -> HttpServer {
        let listener = crate::bind_loopback().expect("binding 127.0.0.1:0 for a test server");
        HttpServer::start_on(listener, HttpConfig::default()).expect("starting an HTTP server")
    }

    /// Serves `listener` with `config`.
    pub fn start_on(listener: TcpListener, config: HttpConfig) -> io::Result<HttpServer> {
        let policy = Policy {
            log_to_stderr: config.log_to_stderr,
            max_connections: config.max_connections,
        };
        let recording = config.recording.clone();
        let config = Arc::new(config);
        let handler = move |stream: TcpStream, log: &ConnectionLog, stopping: &Stopping| {
            serve_one(&stream, &config, log, stopping)
        };
        let service = Arc::new(Threads::new(Arc::new(handler)));
        let running = Running::serve(listener, recording, policy, service)?;
        Ok(HttpServer { running })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// `http://ADDR/path` for this server (an IPv6 address in brackets).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// What the server saw.
    pub fn recording(&self) -> &Recording {
        self.running.recording()
    }

    /// How many clients were turned away because the server was full.
    pub fn turned_away(&self) -> u64 {
        self.running.turned_away()
    }

    /// Stops accepting and closes every connection (dropping the server does the same).
    pub fn stop(&mut self) {
        self.running.stop();
    }

    /// The body a correct client returns for `path`: the bytes after the head, de-chunked.
    /// (For `/lying`, what arrives; for `/cut` and `/huge-head`, nothing: no body comes.)
    pub fn body(path: &str) -> Vec<u8> {
        match route(path) {
            Route::Page(_) | Route::KeepAlive => PAGE.into(),
            Route::Chunked => CHUNKS.concat().into(),
            Route::Close => CLOSE_BODY.into(),
            Route::Binary => (0..=255).collect(),
            Route::Headers => HEADERS_BODY.into(),
            Route::Redirect => MOVED.into(),
            Route::NotFound => NOT_FOUND.into(),
            Route::Lying => LYING_BODY.into(),
            Route::Cut | Route::HugeHead => Vec::new(),
        }
    }
}

/// How `/`, `/slow` and `/split` send the same page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pace {
    AtOnce,
    ByteByByte,
    Split,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Page(Pace),
    KeepAlive,
    Chunked,
    Close,
    Binary,
    Headers,
    Redirect,
    NotFound,
    Lying,
    Cut,
    HugeHead,
}

fn route(target: &str) -> Route {
    // The query string does not choose the page.
    let path = target.split(['?', '#']).next().unwrap_or(target);
    match path {
        "/" | "/index.html" => Route::Page(Pace::AtOnce),
        "/slow" => Route::Page(Pace::ByteByByte),
        "/split" => Route::Page(Pace::Split),
        "/keep-alive" => Route::KeepAlive,
        "/chunked" => Route::Chunked,
        "/close" => Route::Close,
        "/binary" => Route::Binary,
        "/headers" => Route::Headers,
        "/redirect" => Route::Redirect,
        "/lying" => Route::Lying,
        "/cut" => Route::Cut,
        "/huge-head" => Route::HugeHead,
        _ => Route::NotFound,
    }
}

/// One thing the server does after reading the request.
enum Act {
    /// Write these bytes in one write.
    Send(Vec<u8>),
    /// Write these pieces one by one, pausing between them.
    Pieces(Vec<Vec<u8>>),
    /// A line on the timeline, saying what the server is doing and why.
    Note(String),
    /// Keep the connection open (reading and dropping what comes) for `HttpConfig::hold`.
    Hold,
}

/// A response head: the status line, the headers, the empty line.
fn head(status: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

fn html(status: &str, body: &str, extra: &[(&str, String)], connection: &str) -> Vec<u8> {
    let mut headers = vec![
        ("Content-Type", "text/html; charset=utf-8".to_string()),
        ("Content-Length", body.len().to_string()),
    ];
    headers.extend(extra.iter().cloned());
    headers.push(("Connection", connection.to_string()));
    let mut response = head(status, &headers);
    response.extend_from_slice(body.as_bytes());
    response
}

/// What the server does for a request of `target`.
fn script(target: &str) -> Vec<Act> {
    let note = |text: &str| Act::Note(text.to_string());
    match route(target) {
        Route::Page(Pace::AtOnce) => vec![Act::Send(html("200 OK", PAGE, &[], "close"))],
        Route::Page(Pace::ByteByByte) => {
            let response = html("200 OK", PAGE, &[], "close");
            let split = response.len() - PAGE.len();
            let mut pieces: Vec<Vec<u8>> = response[..split].iter().map(|b| vec![*b]).collect();
            pieces.push(response[split..].to_vec());
            vec![
                note("the server sends the head one byte at a time"),
                Act::Pieces(pieces),
            ]
        }
        Route::Page(Pace::Split) => {
            let response = html("200 OK", PAGE, &[], "close");
            let head_end = response.len() - PAGE.len();
            // Cut inside the status line, between a \r and its \n, inside the empty line
            // that ends the head, and inside the body.
            let mut cuts = vec![
                5,
                response.iter().position(|b| *b == b'\r').unwrap_or(0) + 1,
                head_end - 1,
                head_end + 7,
            ];
            cuts.sort_unstable();
            cuts.dedup();
            let mut pieces = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([response.len()]) {
                pieces.push(response[start..cut].to_vec());
                start = cut;
            }
            vec![
                note("the server sends the response in pieces cut mid-line"),
                Act::Pieces(pieces),
            ]
        }
        Route::KeepAlive => vec![
            Act::Send(html("200 OK", PAGE, &[], "keep-alive")),
            note("the whole body is sent (Content-Length); the server keeps the connection open"),
            Act::Hold,
        ],
        Route::Chunked => {
            let mut response = head(
                "200 OK",
                &[
                    ("Content-Type", "text/plain; charset=utf-8".into()),
                    ("Transfer-Encoding", "chunked".into()),
                    ("Trailer", "X-Trailer".into()),
                    ("Connection", "keep-alive".into()),
                ],
            );
            for (index, chunk) in CHUNKS.iter().enumerate() {
                // A chunk extension (`;name=value`) on the second chunk: allowed, ignored.
                let extension = if index == 1 { ";note=hex" } else { "" };
                response.extend_from_slice(format!("{:x}{extension}\r\n", chunk.len()).as_bytes());
                response.extend_from_slice(chunk.as_bytes());
                response.extend_from_slice(b"\r\n");
            }
            response.extend_from_slice(b"0\r\nX-Trailer: sent after the body\r\n\r\n");
            vec![
                Act::Send(response),
                note(
                    "the last chunk and the trailer are sent; the server keeps the connection open",
                ),
                Act::Hold,
            ]
        }
        Route::Close => {
            let mut response = head(
                "200 OK",
                &[
                    ("Content-Type", "text/plain; charset=utf-8".into()),
                    ("Connection", "close".into()),
                ],
            );
            response.extend_from_slice(CLOSE_BODY.as_bytes());
            vec![
                Act::Send(response),
                note("no length given: the server's close ends the body"),
            ]
        }
        Route::Binary => {
            let body: Vec<u8> = (0..=255).collect();
            let mut response = head(
                "200 OK",
                &[
                    ("Content-Type", "application/octet-stream".into()),
                    ("Content-Length", body.len().to_string()),
                    ("Connection", "close".into()),
                ],
            );
            response.extend_from_slice(&body);
            vec![Act::Send(response)]
        }
        Route::Headers => {
            let mut response = b"HTTP/1.1 200 OK\r\n\
                CONTENT-TYPE: text/plain; charset=utf-8\r\n\
                content-length: 21\r\n\
                X-Padded:    spaces around   \r\n\
                Set-Cookie: first=1\r\n\
                x-lab: lower case\r\n\
                Set-Cookie: second=2\r\n\
                Connection: close\r\n\r\n"
                .to_vec();
            response.extend_from_slice(HEADERS_BODY.as_bytes());
            vec![Act::Send(response)]
        }
        Route::Redirect => vec![Act::Send(html(
            "301 Moved Permanently",
            MOVED,
            &[("Location", "/".into())],
            "close",
        ))],
        Route::NotFound => vec![Act::Send(html("404 Not Found", NOT_FOUND, &[], "close"))],
        Route::Lying => {
            let mut response = head(
                "200 OK",
                &[
                    ("Content-Type", "text/plain; charset=utf-8".into()),
                    ("Content-Length", "1000".into()),
                    ("Connection", "close".into()),
                ],
            );
            response.extend_from_slice(LYING_BODY.as_bytes());
            vec![
                Act::Send(response),
                note("Content-Length said 1000 bytes; the server sent 64 and closes"),
            ]
        }
        Route::Cut => vec![
            Act::Send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Le".to_vec()),
            note("the server closes before the head has ended"),
        ],
        Route::HugeHead => {
            let mut response = b"HTTP/1.1 200 OK\r\nX-Huge: ".to_vec();
            response.resize(response.len() + HUGE, b'a');
            vec![
                note("the server sends a header line of 1 MiB with no end, then nothing"),
                Act::Send(response),
                Act::Hold,
            ]
        }
    }
}

/// A request the server could read.
struct Request {
    method: String,
    target: String,
    version: String,
}

/// Why the server could not serve a request.
enum Refused {
    /// The connection ended or failed before a whole request head arrived.
    Ended(Ending),
    /// Answer with this status and say why.
    Answer(&'static str, String),
}

/// Serves one connection: reads a request, plays its script, closes.
fn serve_one(
    stream: &TcpStream,
    config: &HttpConfig,
    log: &ConnectionLog,
    stopping: &Stopping,
) -> Ending {
    let _ = stream.set_read_timeout(Some(config.request_timeout));
    // Pieces must leave as pieces, not be merged by Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(RecordingReader { inner: stream, log });
    let request = match read_request(&mut reader, log) {
        Ok(request) => request,
        Err(Refused::Ended(ending)) => return ending,
        Err(Refused::Answer(status, why)) => {
            log.event(What::Note(format!("the server refuses the request: {why}")));
            let body = format!("{why}\n");
            let response = html(status, &body, &[], "close");
            if let Err(error) = send(stream, &response, log) {
                return Ending::Failed(error.kind(), error.to_string());
            }
            let _ = stream.shutdown(Shutdown::Both);
            return Ending::ServerClosed(format!("answered {status}"));
        }
    };
    if config.log_to_stderr {
        eprintln!(
            "#{} {} {} {}",
            log.id(),
            request.method,
            request.target,
            request.version
        );
    }
    for act in script(&request.target) {
        let sent = match act {
            Act::Send(data) => send(stream, &data, log),
            Act::Pieces(pieces) => {
                let mut result = Ok(());
                for (index, piece) in pieces.iter().enumerate() {
                    if index > 0 && stopping.wait(config.pause) {
                        return Ending::ServerClosed("server stopped".into());
                    }
                    result = send(stream, piece, log);
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
            Act::Note(text) => {
                log.event(What::Note(text));
                Ok(())
            }
            Act::Hold => return hold(&mut reader, stream, config.hold),
        };
        if let Err(error) = sent {
            return Ending::Failed(error.kind(), error.to_string());
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    Ending::ServerClosed("response sent".into())
}

fn send(mut stream: &TcpStream, data: &[u8], log: &ConnectionLog) -> io::Result<()> {
    stream.write_all(data)?;
    log.sent_data(data);
    Ok(())
}

/// Keeps the connection open for `limit`, reading and dropping whatever the client sends,
/// until the client closes it (or the server stops, which shuts the socket down).
fn hold(reader: &mut impl Read, stream: &TcpStream, limit: Duration) -> Ending {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        let Some(left) = limit
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
        else {
            return Ending::ServerClosed(format!("held open for {limit:.0?}"));
        };
        // The reader reads this socket: each read waits at most for the time that is left.
        let _ = stream.set_read_timeout(Some(left));
        match reader.read(&mut buffer) {
            Ok(0) => return Ending::ClientClosed,
            Ok(_) => {}
            Err(error) if crate::echo::is_timeout(&error) => {}
            Err(error) => return Ending::Failed(error.kind(), error.to_string()),
        }
    }
}

/// Reads the request line and headers, up to the empty line, within [`MAX_REQUEST_HEAD`].
fn read_request(reader: &mut impl BufRead, log: &ConnectionLog) -> Result<Request, Refused> {
    let mut left = MAX_REQUEST_HEAD;
    let mut lines = Vec::new();
    let mut bare_lf = false;
    loop {
        let mut line = Vec::new();
        let read = reader
            .by_ref()
            .take(left as u64)
            .read_until(b'\n', &mut line);
        match read {
            Ok(0) if left == 0 => {
                return Err(Refused::Answer(
                    "431 Request Header Fields Too Large",
                    format!("the request head is longer than {MAX_REQUEST_HEAD} bytes"),
                ));
            }
            Ok(0) => return Err(Refused::Ended(ended_early(&lines, log))),
            Ok(count) => left -= count,
            Err(error) if crate::echo::is_timeout(&error) => {
                log.event(What::Note(
                    "no empty line ended the request in time: the server gives up".into(),
                ));
                return Err(Refused::Ended(Ending::ServerClosed(
                    "request timed out".into(),
                )));
            }
            Err(error) => {
                return Err(Refused::Ended(Ending::Failed(
                    error.kind(),
                    error.to_string(),
                )));
            }
        }
        if !line.ends_with(b"\n") {
            if left == 0 {
                continue; // reported as too long on the next turn
            }
            return Err(Refused::Ended(ended_early(&lines, log)));
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        } else {
            bare_lf = true;
        }
        if line.is_empty() {
            // Leading empty lines before the request line are allowed (RFC 9112 §2.2).
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(String::from_utf8_lossy(&line).into_owned());
    }
    if bare_lf {
        log.event(What::Note(
            "the request's lines end with \\n alone; HTTP's line ending is \\r\\n".into(),
        ));
    }
    parse_request(&lines)
}

fn ended_early(lines: &[String], log: &ConnectionLog) -> Ending {
    if !lines.is_empty() {
        log.event(What::Note(
            "the request ended without the empty line that ends its head".into(),
        ));
    }
    Ending::ClientClosed
}

fn parse_request(lines: &[String]) -> Result<Request, Refused> {
    let bad = |why: String| Err(Refused::Answer("400 Bad Request", why));
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad(format!(
            "the request line {:?} is not METHOD TARGET VERSION, one space apart",
            lines[0]
        ));
    };
    if !version.starts_with("HTTP/1.") {
        return bad(format!("{version:?} is not HTTP/1.0 or HTTP/1.1"));
    }
    if !target.starts_with('/') {
        return bad(format!("the target {target:?} does not start with /"));
    }
    let mut host = false;
    for line in &lines[1..] {
        let Some((name, _)) = line.split_once(':') else {
            return bad(format!("the header line {line:?} has no colon"));
        };
        host |= name.eq_ignore_ascii_case("host");
    }
    if version == "HTTP/1.1" && !host {
        return bad("an HTTP/1.1 request must have a Host header".into());
    }
    if method != "GET" {
        return Err(Refused::Answer(
            "405 Method Not Allowed",
            format!("this server answers GET only, not {method}"),
        ));
    }
    Ok(Request {
        method: method.into(),
        target: target.into(),
        version: version.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(server: &HttpServer, request: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        response
    }

    fn get_path(server: &HttpServer, path: &str) -> Vec<u8> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        get(server, request.as_bytes())
    }

    fn split_head(response: &[u8]) -> (String, Vec<u8>) {
        let end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head");
        (
            String::from_utf8_lossy(&response[..end]).into_owned(),
            response[end + 4..].to_vec(),
        )
    }

    #[test]
    fn every_closing_page_sends_its_head_and_the_body_it_announces() {
        let server = HttpServer::start();
        for path in [
            "/",
            "/slow",
            "/split",
            "/binary",
            "/headers",
            "/redirect",
            "/missing",
        ] {
            let (head, body) = split_head(&get_path(&server, path));
            assert_eq!(body, HttpServer::body(path), "{path}");
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .expect("a Content-Length");
            assert_eq!(length, body.len().to_string(), "{path}");
        }
        let (head, _) = split_head(&get_path(&server, "/nowhere?x=1"));
        assert!(head.starts_with("HTTP/1.1 404 Not Found"), "{head}");
    }

    #[test]
    fn the_page_has_more_bytes_than_characters() {
        assert!(PAGE.len() > PAGE.chars().count());
    }

    #[test]
    fn chunk_sizes_have_hex_letters() {
        let sizes: Vec<String> = CHUNKS.iter().map(|c| format!("{:x}", c.len())).collect();
        assert_eq!(sizes, ["1a", "10", "b"]);
        assert_eq!(LYING_BODY.len(), 64);
    }

    #[test]
    fn slow_and_split_send_their_response_in_pieces() {
        let server = HttpServer::start();
        let response = get_path(&server, "/split");
        assert_eq!(split_head(&response).1, PAGE.as_bytes());
        get_path(&server, "/slow");
        let pieces: Vec<u64> = server
            .recording()
            .connections()
            .iter()
            .map(|c| {
                let (events, _) = c.timeline.events();
                events
                    .iter()
                    .filter_map(|e| match &e.what {
                        What::Data { from, .. } if *from == crate::Side::Server => Some(1),
                        _ => None,
                    })
                    .count() as u64
            })
            .collect();
        assert!(pieces.iter().all(|p| *p >= 1), "{pieces:?}");
        let total: u64 = server.recording().totals().bytes_out;
        assert!(total > 2 * PAGE.len() as u64);
    }

    #[test]
    fn keep_alive_holds_the_connection_open_after_the_body() {
        let server = HttpServer::start();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .write_all(b"GET /keep-alive HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut response = Vec::new();
        let error = stream.read_to_end(&mut response).unwrap_err();
        assert!(crate::echo::is_timeout(&error), "{error}");
        assert!(response.ends_with(PAGE.as_bytes()));
    }

    #[test]
    fn chunked_sends_hex_sizes_an_extension_and_a_trailer() {
        let server = HttpServer::start();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .write_all(b"GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        let mut buffer = [0; 4096];
        while !response.ends_with(b"\r\n\r\n") || !response.windows(5).any(|w| w == b"\r\n0\r\n") {
            let count = stream.read(&mut buffer).unwrap();
            assert_ne!(count, 0, "closed early");
            response.extend_from_slice(&buffer[..count]);
        }
        let text = String::from_utf8_lossy(&response);
        assert!(text.contains("\r\n\r\n1a\r\nThis body came in 3 chunks\r\n10;note=hex\r\n"));
        assert!(text.ends_with("b\r\n1a, 10, b.\n\r\n0\r\nX-Trailer: sent after the body\r\n\r\n"));
    }

    #[test]
    fn bad_requests_get_one_clear_answer() {
        let server = HttpServer::start();
        let cases: [(&[u8], &str); 5] = [
            (b"GET / HTTP/1.1\r\n\r\n", "400 Bad Request"),
            (
                b"POST / HTTP/1.1\r\nHost: t\r\n\r\n",
                "405 Method Not Allowed",
            ),
            (b"hello\r\n\r\n", "400 Bad Request"),
            (b"GET / SPDY/3\r\nHost: t\r\n\r\n", "400 Bad Request"),
            (b"GET / HTTP/1.0\n\n", "200 OK"),
        ];
        for (request, status) in cases {
            let response = get(&server, request);
            let text = String::from_utf8_lossy(&response);
            assert!(
                text.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{text}"
            );
        }
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_REQUEST_HEAD * 2, b'a');
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(&huge);
        let mut response = [0; 64];
        let count = stream.read(&mut response).unwrap();
        assert!(response[..count].starts_with(b"HTTP/1.1 431"));
    }

    #[test]
    fn a_request_without_its_empty_line_is_noted_when_the_client_closes() {
        let server = HttpServer::start();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let record = server
            .recording()
            .wait_for_end(Duration::from_secs(10))
            .expect("the connection ends");
        let text = record.timeline_text("");
        assert!(text.contains("without the empty line"), "{text}");
    }
}
