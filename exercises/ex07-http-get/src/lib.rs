//! # Exercise 7 — an HTTP/1.1 GET by hand
//!
//! Every web page you have opened came over a TCP connection like the ones you have built:
//! the browser connected to port 80 (or 443), *wrote a few lines of text*, and read the
//! answer. In the lectures it is `sock.send(b"GET / HTTP/1.1\r\nHost: …\r\n\r\n")` and a
//! loop of `recv`. Here you write that client: the request, and a reader for the response
//! that knows where the response ends, which is the whole difficulty.
//!
//! ```text
//! client → server   GET /notes.txt HTTP/1.1\r\n            the request line
//!                   Host: 127.0.0.1:8000\r\n               headers, one per line
//!                   Connection: close\r\n
//!                   \r\n                                   an empty line: the end
//! server → client   HTTP/1.1 200 OK\r\n                    the status line
//!                   Content-Type: text/plain\r\n           headers
//!                   Content-Length: 12\r\n
//!                   \r\n                                   an empty line
//!                   hello world\n                          the body: 12 bytes, no more
//! ```
//!
//! A TCP connection has no messages, only a stream of bytes (exercise 2), so a response says
//! itself where its body ends, in one of three ways: `Content-Length: N` (exactly N bytes
//! follow; the server may keep the connection open for the next request), `Transfer-Encoding:
//! chunked` (pieces, each with its size in hexadecimal, then a piece of size 0), or neither
//! (the body ends when the server closes the connection).
//!
//! | Python (the lecture)                              | Rust (this exercise)                 |
//! |---------------------------------------------------|--------------------------------------|
//! | `sock.sendall(b"GET / HTTP/1.1\r\n…\r\n\r\n")`    | `stream.write_all(request(h, p).as_bytes())` |
//! | `f = sock.makefile('rb')`; `f.readline()`         | `BufReader::new(stream)`; `read_until(b'\n', …)` |
//! | `f.read(n)`                                       | `reader.take(n).read_to_end(&mut body)` |
//! | `int(size, 16)`                                   | `u64::from_str_radix(size, 16)`      |
//! | `http.client.HTTPResponse.getheader(name)`        | `response.header(name)`              |
//! | `urllib.request.urlopen(url).read()`              | `get(url)?.body`                     |
//!
//! ## The rules that trip everyone up
//! - Lines end with `\r\n`, both ways, and an empty line ends a head.
//! - Header *names* are case-insensitive (`content-length` is `Content-Length`); their values
//!   may be padded with spaces; a header may come twice (`Set-Cookie`): keep both.
//! - A body is bytes, not text: an image is not UTF-8.
//! - Never trust the other side with your memory: a server may send header lines for ever.
//!   Read at most [`MAX_HEAD`] bytes of head.
//!
//! ## Try it by hand
//! `cargo lab serve --mode http` serves a small page and the awkward variants the tests use
//! (`/chunked`, `/keep-alive`, `/slow`, …; it lists them when it starts). Then
//! `cargo run -p ex07 -- http://127.0.0.1:5151/chunked`, or talk to it yourself with
//! `nc 127.0.0.1 5151` and type the request. `python3 -m http.server 8000` serves the files
//! of a folder: `cargo run -p ex07 -- http://127.0.0.1:8000/Cargo.toml`.
//!
//! ## Check your work
//! `cargo test -p ex07`. The tests run your code against the harness's HTTP server on this
//! machine (and against Python's `http.server`), never the internet. A failing test says
//! what your code returned, the likely mistake, and shows the conversation on the wire.

use std::io::{self, BufRead};
use std::time::Duration;
// You will need more of std as you go: `std::io::{BufReader, ErrorKind, Read, Write}`,
// `std::net::{TcpStream, ToSocketAddrs}`.

/// The most bytes the head of a response (status line and headers together, line endings
/// included) may take. A longer head is an error of kind `InvalidData`.
pub const MAX_HEAD: usize = 64 * 1024;

/// How long `fetch` waits to connect to each address, and for each piece of the response.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The parts of an `http://` URL that a GET needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// A name (`example.com`) or an address (`127.0.0.1`, `::1`: an IPv6 address *without*
    /// the brackets it has in a URL, since the brackets are not part of the address).
    pub host: String,
    pub port: u16,
    /// Everything from the first `/` after the host (query string included, `#fragment`
    /// left out); `/` when the URL has no path.
    pub path: String,
}

/// A response: status line, headers in the order they came, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// `200`, `404`, …
    pub status: u16,
    /// The words after the status code (`OK`, `Not Found`); may have spaces, may be empty.
    pub reason: String,
    /// Each header line as (name, value): the name as the server wrote it, the value without
    /// the spaces around it. Repeated headers are kept, each in its place, and trailer fields
    /// of a chunked body come at the end.
    pub headers: Vec<(String, String)>,
    /// The body, exactly the bytes sent (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header called `name`, whatever the case of its letters
    /// (`header("content-length")` finds `Content-Length`).
    pub fn header(&self, name: &str) -> Option<&str> {
        // TODO: find the first (name, value) in `self.headers` whose name equals `name`
        // ignoring ASCII case (`str::eq_ignore_ascii_case`), and return its value.
        todo!("find the header {name:?} in {:?}", self.headers)
    }

    /// The values of every header called `name` (in any case), in the order they came.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        // TODO: like `header`, but keep every match (`iter().filter(…).map(…).collect()`).
        todo!("find every header {name:?} in {:?}", self.headers)
    }
}

/// Splits `http://host[:port][/path]` into its parts.
///
/// - No port means 80, HTTP's port; no path means `/`.
/// - An IPv6 address is in brackets: `http://[::1]:8080/` has host `::1` and port 8080.
/// - The scheme may be in any case (`HTTP://`).
/// - `https://` is an error (kind `InvalidInput`) whose message says that TLS, the
///   encryption under HTTPS, is not part of this exercise.
/// - Anything else that is not such a URL (another scheme, no host, a port that is not a
///   number from 1 to 65535, a bracket left open) is an error of kind `InvalidInput` with a
///   message saying what is wrong. Never a panic.
pub fn parse_url(url: &str) -> io::Result<Url> {
    // TODO: 1. check the scheme: `https://` → the TLS error; not `http://` → an error;
    // 2. split the rest at its first `/` into the host part and the path (drop a `#…`);
    // 3. a host part starting with `[` is an IPv6 address up to `]`, maybe followed by
    //    `:PORT`; otherwise split it at `:` (`split_once`) into host and port;
    // 4. parse the port as a `u16` (0 is not a port), or use 80.
    // Make errors with `io::Error::new(io::ErrorKind::InvalidInput, message)`.
    todo!("split {url:?} into host, port and path")
}

/// The bytes of a GET request for `path`, with `host` in its `Host` header.
///
/// `host` is the `Host` header's value as `fetch` computes it: the URL's host, in brackets if
/// it is an IPv6 address, followed by `:PORT` when the port is not 80 (`127.0.0.1:8000`,
/// `[::1]:8080`, `example.com`).
///
/// The request line `GET {path} HTTP/1.1`, a `Host` header, a `Connection: close` header (so
/// the server closes the connection after its response), each line ending with `\r\n`, and
/// the empty line that ends the request.
pub fn request(host: &str, path: &str) -> String {
    // TODO: `format!` the four lines. Each ends with "\r\n", not "\n" alone; the last one is
    // empty.
    todo!("the GET request for {path:?} on {host:?}")
}

/// Reads one response from `reader`: the status line, the headers, and the body.
///
/// The body is
/// - with `Transfer-Encoding: chunked`: the chunks put together. Each chunk is its size in
///   hexadecimal (maybe followed by `;extension`, which is ignored), `\r\n`, that many bytes,
///   `\r\n`. A size of 0 ends the body; trailer fields follow (header lines, added to
///   `headers`), then an empty line.
/// - else with `Content-Length: N`: exactly N bytes. Then stop reading: the server may keep
///   the connection open, and nothing more will come.
/// - else: every byte until the server closes the connection.
///
/// Lines may end with `\r\n` (or `\n` alone, which is accepted). Errors:
/// - the connection ends before the response does (in the head, or before the body has its
///   length): kind `UnexpectedEof`;
/// - a head longer than [`MAX_HEAD`], a line that is not a status line or a header, a size
///   or length that is not a number: kind `InvalidData`. A head is never read past
///   `MAX_HEAD` bytes.
pub fn read_response(reader: &mut impl BufRead) -> io::Result<Response> {
    // TODO: 1. read the status line (`read_until(b'\n', …)` into a `Vec<u8>`; through
    //    `reader.by_ref().take(bytes_left)` so a line without end cannot grow for ever), and
    //    split it in three with `splitn(3, ' ')`: version, status, reason;
    // 2. read header lines up to the empty line, each split at its first `:` (`split_once`),
    //    the value trimmed (`trim`);
    // 3. read the body one of the three ways above: `reader.by_ref().take(n).read_to_end(…)`
    //    reads at most n bytes; fewer than n means the connection ended early.
    todo!(
        "read the status line, headers and body from the reader at {:p}",
        reader
    )
}

/// Connects to `url`'s host and port, sends a GET request for its path, and reads the
/// response.
///
/// Connect to each address the host resolves to in turn, with [`TIMEOUT`] each (exercise 5),
/// and set [`TIMEOUT`] as the read and write timeouts of the connection: a server that stops
/// answering must not keep the program waiting for ever.
pub fn fetch(url: &Url) -> io::Result<Response> {
    // TODO: 1. connect to `(url.host.as_str(), url.port)` (`to_socket_addrs`, then
    //    `TcpStream::connect_timeout` on each address), and set the read and write timeouts;
    // 2. compute the Host header's value (see `request`) and write the whole request;
    // 3. `read_response` from a `BufReader` around the stream.
    todo!("GET {url:?}")
}

/// The whole GET for a URL: `fetch(&parse_url(url)?)`.
pub fn get(url: &str) -> io::Result<Response> {
    // Nothing to do here: it works once `parse_url` and `fetch` do.
    fetch(&parse_url(url)?)
}
