//! Graded tests for exercise 7 — an HTTP/1.1 GET by hand.
//!
//! `request` and `parse_url` are checked on their own: they only build or split strings.
//! `read_response` is checked against the harness's HTTP server (`lab_harness::HttpServer`),
//! a real server on this machine that answers each path in one particular, awkward way: `/`
//! is a small page, `/slow` sends it one byte at a time, `/keep-alive` keeps the connection
//! open after the body, `/chunked` sends its body in chunks, `/lying` announces more than it
//! sends, `/huge-head` sends a header line that never ends… (`cargo lab serve --mode http`
//! is the same server, to try by hand). For those tests, the test sends a correct request of
//! its own and hands your `read_response` the connection, with a read timeout of 2 s: code
//! that waits for bytes that never come gets a timeout error, and the test says what it was
//! waiting for. `get` and `fetch` are then checked whole, with what the server received.
//!
//! When a test fails, its message says what your code returned, names the most likely
//! mistake, and shows the conversation on the wire. Sometimes it asks your `read_response`
//! a few small questions first (tiny responses held in memory) to tell one mistake from
//! another.
//!
//! Run them with `cargo test -p ex07`; run one with `cargo test -p ex07 NAME`. The program
//! `ex07-webget` has tests of its own, in the module `webget` (`graded/webget.rs`): `cargo test
//! -p ex07 webget::`.

// This file also grades the reference solution (package ex07-solution), whose library is
// named `ex07_solution`: there this line makes `ex07` mean it.
#[cfg(netlab_solution)]
extern crate ex07_solution as ex07;

#[path = "graded/webget.rs"]
mod webget;

use std::io::{self, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::panic;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ex07::{Response, Url, get, parse_url, read_response, request};
use lab_harness::{
    ClosedPort, ExplainedWatchdog, HttpConfig, HttpServer, Recording, Watchdog, show_bytes,
};

/// How long a test may take. A correct answer takes milliseconds.
const DEADLINE: Duration = Duration::from_secs(8);

/// The read timeout on the connection the tests hand to `read_response`: a read that waits
/// this long waits for bytes that are not coming.
const STUCK: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------------------------

#[test]
fn request_starts_with_the_request_line() {
    let text = request("example.com", "/index.html");
    let expected = "GET /index.html HTTP/1.1\r\n";
    if text.starts_with(expected) {
        return;
    }
    let first = text.split_inclusive('\n').next().unwrap_or("");
    let why = if first == "GET /index.html HTTP/1.1\n" {
        "The line ends with \\n alone: HTTP's line ending is \\r\\n (CRLF), on every line"
    } else if first.starts_with("GET /index.html HTTP/1.0") {
        "That is HTTP/1.0: the exercise speaks HTTP/1.1"
    } else if !first.starts_with("GET ") {
        "The request line is the method, GET, a space, the path, a space, the version"
    } else {
        "The request line is exactly `GET {path} HTTP/1.1`, one space between the parts"
    };
    panic!(
        "request(\"example.com\", \"/index.html\") starts with {}, not {}. {why}.\n\
         the whole request: {}",
        show_bytes(first.as_bytes()),
        show_bytes(expected.as_bytes()),
        show_bytes(text.as_bytes())
    );
}

#[test]
fn request_ends_every_line_with_crlf_and_the_head_with_an_empty_line() {
    let text = request("example.com:8000", "/");
    let shown = show_bytes(text.as_bytes());
    let bare_lf = text
        .char_indices()
        .any(|(at, c)| c == '\n' && !text[..at].ends_with('\r'));
    assert!(
        !bare_lf,
        "request(\"example.com:8000\", \"/\") = {shown}: a line ends with \\n alone. HTTP's line \
         ending is \\r\\n (CRLF), as in the lectures' b\"GET / HTTP/1.1\\r\\n…\": many servers \
         refuse a request with bare \\n, and wait for the \\r\\n\\r\\n that ends it"
    );
    assert!(
        text.ends_with("\r\n\r\n"),
        "request(\"example.com:8000\", \"/\") = {shown}: it does not end with an empty line \
         (\\r\\n\\r\\n). The empty line is how the server knows the request is complete: \
         without it the server waits for more headers, and your client waits for the server"
    );
    assert_eq!(
        text.matches("\r\n\r\n").count(),
        1,
        "request(\"example.com:8000\", \"/\") = {shown}: there is more than one empty line; the \
         first one ends the request, so what follows it is not part of it"
    );
}

#[test]
fn request_names_the_host_and_asks_the_server_to_close() {
    let text = request("example.com:8000", "/notes.txt");
    let shown = show_bytes(text.as_bytes());
    let headers: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let value = |name: &str| {
        headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    };
    match value("host") {
        Some("example.com:8000") => {}
        Some(other) => panic!(
            "request(\"example.com:8000\", \"/notes.txt\") = {shown}: its Host header says \
             {other:?}. It must be the `host` given, as given (with its port): one server may \
             serve many sites, and Host says which one you want"
        ),
        None => panic!(
            "request(\"example.com:8000\", \"/notes.txt\") = {shown}: there is no `Host: …` \
             header. HTTP/1.1 requires one: servers answer `400 Bad Request` without it"
        ),
    }
    assert!(
        value("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")),
        "request(\"example.com:8000\", \"/notes.txt\") = {shown}: there is no `Connection: \
         close` header. Without it an HTTP/1.1 server may keep the connection open after the \
         response, waiting for your next request"
    );
}

// ---------------------------------------------------------------------------------------------
// parse_url
// ---------------------------------------------------------------------------------------------

/// `parse_url(url)`, with a panic turned into a message that says it must not panic.
fn parse(url: &str) -> io::Result<Url> {
    let owned = url.to_string();
    match panic::catch_unwind(move || parse_url(&owned)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "parse_url({url:?}) panicked: {message}\nA URL typed by a user can be anything: \
                 return an Err for one you cannot use, never panic (no `unwrap`, no slicing \
                 past the end)"
            )
        }
    }
}

fn url(host: &str, port: u16, path: &str) -> Url {
    Url {
        host: host.into(),
        port,
        path: path.into(),
    }
}

#[test]
fn parse_url_splits_host_port_and_path() {
    let cases = [
        (
            "http://example.com:8080/a/b.html",
            url("example.com", 8080, "/a/b.html"),
        ),
        (
            "http://10.0.0.7:5151/chunked",
            url("10.0.0.7", 5151, "/chunked"),
        ),
        (
            "http://example.com:8080/search?q=rust&n=1",
            url("example.com", 8080, "/search?q=rust&n=1"),
        ),
        (
            "HTTP://example.com:81/page#part-2",
            url("example.com", 81, "/page"),
        ),
    ];
    for (given, expected) in cases {
        match parse(given) {
            Ok(parts) if parts == expected => {}
            Ok(parts) => {
                let why = if parts.path.contains('#') {
                    "The #fragment is for the browser: it is never sent to the server"
                } else if parts.host.contains(':') || parts.host.contains('/') {
                    "The host ends at the `:` before the port"
                } else if !parts.path.starts_with('/') {
                    "The path starts with the first `/` after the host, and keeps it"
                } else {
                    "The host ends at `:` (or at the first `/`), the port is the number between \
                     `:` and the first `/`, the path is the rest, query string included"
                };
                panic!("parse_url({given:?}) = {parts:?}, expected {expected:?}. {why}")
            }
            Err(error) => panic!("parse_url({given:?}) failed: {error}; expected {expected:?}"),
        }
    }
}

#[test]
fn parse_url_uses_port_80_and_path_slash_when_the_url_gives_none() {
    for (given, expected) in [
        ("http://example.com", url("example.com", 80, "/")),
        ("http://example.com/", url("example.com", 80, "/")),
        ("http://10.0.0.7/x", url("10.0.0.7", 80, "/x")),
    ] {
        match parse(given) {
            Ok(parts) if parts == expected => {}
            Ok(parts) if parts.port != 80 => panic!(
                "parse_url({given:?}) = {parts:?}: the port is {}, but a URL without a port \
                 means HTTP's own port, 80 (443 is HTTPS's, 8080 only a habit)",
                parts.port
            ),
            Ok(parts) => panic!(
                "parse_url({given:?}) = {parts:?}, expected {expected:?}: a URL without a path \
                 asks for `/`, the root (a request line needs a path)"
            ),
            Err(error) => panic!("parse_url({given:?}) failed: {error}; expected {expected:?}"),
        }
    }
}

#[test]
fn parse_url_takes_an_ipv6_address_out_of_its_brackets() {
    for (given, expected) in [
        (
            "http://[2001:db8::1]:8080/x",
            url("2001:db8::1", 8080, "/x"),
        ),
        ("http://[::1]/", url("::1", 80, "/")),
        ("http://[2001:db8::7]", url("2001:db8::7", 80, "/")),
    ] {
        match parse(given) {
            Ok(parts) if parts == expected => {}
            Ok(parts) if parts.host.starts_with('[') => panic!(
                "parse_url({given:?}) = {parts:?}: the host keeps its brackets. The brackets \
                 belong to the URL (an IPv6 address has colons of its own, so the URL needs them \
                 to tell the port's colon apart); the address is {:?}, and `connect` cannot \
                 resolve {:?}",
                expected.host, parts.host
            ),
            Ok(parts) => panic!("parse_url({given:?}) = {parts:?}, expected {expected:?}"),
            Err(error) => panic!(
                "parse_url({given:?}) failed: {error}; expected {expected:?}. An IPv6 address \
                 in a URL is in brackets, because of its own colons: when the host part starts \
                 with `[`, the address ends at `]`, and only a `:` after it starts the port"
            ),
        }
    }
}

#[test]
fn parse_url_refuses_https_saying_tls_is_not_part_of_this_exercise() {
    for given in ["https://example.com/", "HTTPS://10.0.0.7:8443/x"] {
        match parse(given) {
            Err(error) if error.kind() == ErrorKind::InvalidInput => assert!(
                error.to_string().to_ascii_lowercase().contains("tls"),
                "parse_url({given:?}) failed with {error:?}. Right, but say why: an https:// \
                 URL needs TLS (encryption), which is not part of this exercise; the message \
                 should name TLS"
            ),
            Err(error) => panic!(
                "parse_url({given:?}) failed with kind {:?}: {error}. A URL the program cannot \
                 use is InvalidInput",
                error.kind()
            ),
            Ok(parts) => panic!(
                "parse_url({given:?}) = {parts:?}: an https:// URL needs TLS (encryption), \
                 which is not part of this exercise; refuse it with an error that says so"
            ),
        }
    }
}

#[test]
fn parse_url_refuses_what_it_cannot_use_without_panicking() {
    let bad = [
        "",
        "example.com/index.html",
        "ftp://example.com/",
        "http:/example.com/",
        "http://",
        "http:///index.html",
        "http://example.com:http/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://example.com:-1/",
        "http://[::1/",
        "http://[::1]x/",
        "htt",
        "http://été",
    ];
    for given in bad {
        match parse(given) {
            Err(error) if error.kind() == ErrorKind::InvalidInput => {}
            Err(error) => panic!(
                "parse_url({given:?}) failed with kind {:?}: {error}. A URL the program cannot \
                 use is an error of kind InvalidInput",
                error.kind()
            ),
            // "http://été" is a valid URL with an (unusual) host name: either answer is fine.
            Ok(_) if given == "http://été" => {}
            Ok(parts) => panic!(
                "parse_url({given:?}) = {parts:?}: that is not an http://host[:port][/path] URL \
                 (a port is a number from 1 to 65535); it must be an error of kind InvalidInput"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// read_response, against the harness's HTTP server
// ---------------------------------------------------------------------------------------------

/// What `read_response` gave for a request of `path`.
struct Read {
    path: &'static str,
    result: io::Result<Response>,
    took: Duration,
    server: HttpServer,
}

/// Sends a correct request for `path` to a new harness server, and hands the connection (read
/// timeout: `STUCK`) to your `read_response`.
fn read_path(path: &'static str) -> Read {
    let server = HttpServer::start();
    let addr = server.addr();
    let (result, took) = ExplainedWatchdog::new(DEADLINE)
        .watch(server.recording())
        .explain(move || still_reading(path))
        .run(move || {
            let mut stream = TcpStream::connect(addr).expect("connecting to the test's server");
            stream.set_read_timeout(Some(STUCK)).unwrap();
            // No `Connection: close`: an HTTP/1.1 server may keep the connection open.
            let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            stream.write_all(request.as_bytes()).unwrap();
            let started = Instant::now();
            let result = read_response(&mut BufReader::new(stream));
            (result, started.elapsed())
        });
    Read {
        path,
        result,
        took,
        server,
    }
}

impl Read {
    /// The response, or a failure that explains the error.
    fn response(&self) -> &Response {
        match &self.result {
            Ok(response) => response,
            Err(error) => panic!("{}", self.explain_error(error)),
        }
    }

    fn given(&self) -> String {
        format!(
            "read_response on the server's answer to GET {} ({})",
            self.path,
            page_about(self.path)
        )
    }

    fn conversation(&self) -> String {
        self.server.recording().describe()
    }

    /// Why an error was not the answer, for the pages a correct reader reads whole.
    fn explain_error(&self, error: &io::Error) -> String {
        let given = self.given();
        let took = self.took;
        let why = if is_timeout(error) {
            match self.path {
                "/keep-alive" => format!(
                    "The whole response had arrived, body included ({} bytes, as its \
                     Content-Length said), but the server keeps the connection open, as \
                     HTTP/1.1 servers do. Your code went on reading for more, until the connection \
                     would close, which it never does. Read exactly Content-Length bytes of body \
                     (`reader.by_ref().take(length).read_to_end(…)`), then stop",
                    HttpServer::body(self.path).len()
                ),
                "/chunked" => "The whole body had arrived, up to the chunk of size 0, the \
                               trailer and the empty line; the server keeps the connection \
                               open. Stop after that empty line: with Transfer-Encoding: \
                               chunked the body ends with the chunk of size 0, not when the \
                               connection closes"
                    .to_string(),
                _ => "Your code was waiting for bytes that the server had no reason to send: \
                      compare what it waited for with the conversation below"
                    .to_string(),
            }
        } else {
            match (self.path, error.kind()) {
                ("/slow" | "/split", ErrorKind::UnexpectedEof | ErrorKind::InvalidData) => {
                    "The response arrived in pieces (one byte at a time, or cut mid-line): one \
                     `read` is not one line. Read lines with `read_until(b'\\n', …)` on a \
                     BufReader, which reads on until the `\\n`"
                        .to_string()
                }
                (_, ErrorKind::UnexpectedEof) => {
                    "UnexpectedEof means the connection ended before the response did, but this \
                     response was complete: did your code read past its end, or expect more \
                     than it says?"
                        .to_string()
                }
                (_, ErrorKind::InvalidData) if self.path == "/binary" => {
                    "A body is bytes, not text: this one is not UTF-8, and `read_to_string` (or \
                     `String::from_utf8`) refuses it. Keep the body as a Vec<u8>"
                        .to_string()
                }
                (_, ErrorKind::InvalidData) if !value_padding_understood() => {
                    "Header values come with a space after the colon (`Content-Length: 262`), \
                     and may have more around them: `trim` the value before using it (asked to \
                     read `Content-Length:3` without the space, your code could)"
                        .to_string()
                }
                _ => "This response is a correct one: read it whole".to_string(),
            }
        };
        format!(
            "{given} failed after {took:.1?}: {error} (kind {:?}). {why}.\n{}",
            error.kind(),
            self.conversation()
        )
    }

    /// Fails unless the body is the page's.
    fn check_body(&self, response: &Response) {
        let expected = HttpServer::body(self.path);
        if response.body == expected {
            return;
        }
        let body = &response.body;
        let why = if body.windows(3).any(|w| w == "\u{fffd}".as_bytes())
            && !expected.windows(3).any(|w| w == "\u{fffd}".as_bytes())
        {
            "It contains U+FFFD (the bytes EF BF BD), the replacement character: the body went \
             through `String::from_utf8_lossy` (or `read_to_string`), which replaces every byte \
             that is not UTF-8. A body is bytes: keep them in a Vec<u8>, as they came"
                .to_string()
        } else if body.len() > expected.len() && body.ends_with(&expected) {
            "The body starts with bytes of the head: the head ends at the first empty line, \
             and the body starts after it"
                .to_string()
        } else if expected.starts_with(body) {
            format!(
                "Your body is the first {} of the {} bytes: it stops too early",
                body.len(),
                expected.len()
            )
        } else if body.starts_with(&expected) {
            "Your body has bytes after the end of the real one".to_string()
        } else {
            "The body differs".to_string()
        };
        panic!(
            "{}: the body is {} ({} bytes), expected {} ({} bytes). {why}.\n{}",
            self.given(),
            show_bytes(body),
            body.len(),
            show_bytes(&expected),
            expected.len(),
            self.conversation()
        );
    }

    /// Fails unless the status and reason are these.
    fn check_status(&self, response: &Response, status: u16, reason: &str) {
        if response.status == status && response.reason == reason {
            return;
        }
        let why = if response.status == status && reason.starts_with(&response.reason) {
            "The reason phrase is everything after the status code, spaces included: split the \
             status line in three at most (`splitn(3, ' ')`), not at every space"
        } else if response.status != status {
            "The status line is VERSION, space, STATUS CODE, space, REASON: the code is the \
             second part"
        } else {
            "The reason phrase is everything after the status code and its space, without the \
             line ending"
        };
        panic!(
            "{}: status {} reason {:?}, expected status {status} reason {reason:?}. {why}.\n{}",
            self.given(),
            response.status,
            response.reason,
            self.conversation()
        );
    }
}

fn page_about(path: &str) -> &'static str {
    lab_harness::HTTP_PAGES
        .iter()
        .find(|page| page.path == path)
        .map_or("an unknown page", |page| page.about)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Why `read_response` is still running at the deadline, although every read it makes times
/// out after `STUCK`.
fn still_reading(path: &str) -> String {
    format!(
        "read_response on the answer to GET {path} had not returned after {DEADLINE:?}, \
         although each read on the connection gives up after {STUCK:?}. Does your code read \
         again after an error, or after a read of 0 bytes (the end of the connection)? Both \
         mean: stop, and return (an error, for a response cut short)"
    )
}

/// Runs your `read_response` on a response held in memory (a few small questions to tell
/// one mistake from another). `None` when it panics or takes longer than a second.
fn ask(response: &'static str) -> Option<io::Result<Response>> {
    let (sender, answer) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(read_response(&mut response.as_bytes()));
    });
    answer.recv_timeout(Duration::from_secs(1)).ok()
}

/// False when your `read_response` reads a Content-Length written without a space after the
/// colon but fails on the same response with the usual space: it does not trim values.
fn value_padding_understood() -> bool {
    let tight = ask("HTTP/1.1 200 OK\r\nContent-Length:3\r\n\r\nabc");
    let spaced = ask("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    !(body_of(&tight) == Some(&b"abc"[..]) && matches!(spaced, Some(Err(_))))
}

fn body_of(answer: &Option<io::Result<Response>>) -> Option<&[u8]> {
    match answer {
        Some(Ok(response)) => Some(&response.body),
        _ => None,
    }
}

#[test]
fn read_response_reads_the_status_headers_and_body_of_a_page() {
    let read = read_path("/");
    let response = read.response();
    read.check_status(response, 200, "OK");
    let content_type = response.header("Content-Type");
    assert_eq!(
        content_type,
        Some("text/html; charset=utf-8"),
        "{}: header(\"Content-Type\") = {content_type:?}; headers = {:?}.\n{}",
        read.given(),
        response.headers,
        read.conversation()
    );
    read.check_body(response);
}

#[test]
fn read_response_keeps_the_reason_phrase_with_its_spaces() {
    let read = read_path("/missing");
    let response = read.response();
    read.check_status(response, 404, "Not Found");
    read.check_body(response);
}

#[test]
fn read_response_reads_a_redirect_with_its_location() {
    let read = read_path("/redirect");
    let response = read.response();
    read.check_status(response, 301, "Moved Permanently");
    assert_eq!(
        response.header("Location"),
        Some("/"),
        "{}: header(\"Location\") should be the place the page moved to; headers = {:?}",
        read.given(),
        response.headers
    );
    read.check_body(response);
}

#[test]
fn read_response_finds_header_names_in_any_case() {
    let read = read_path("/headers");
    let response = read.response();
    // The server wrote `CONTENT-TYPE` and `x-lab`.
    for (asked, sent, value) in [
        ("Content-Type", "CONTENT-TYPE", "text/plain; charset=utf-8"),
        ("content-type", "CONTENT-TYPE", "text/plain; charset=utf-8"),
        ("X-Lab", "x-lab", "lower case"),
    ] {
        let found = response.header(asked);
        if found == Some(value) {
            continue;
        }
        let kept = response
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(sent));
        let why = if kept {
            format!(
                "The server wrote the name as {sent:?}. Header names are case-insensitive: \
                 compare them with `eq_ignore_ascii_case`, not `==`"
            )
        } else {
            format!(
                "`headers` has no {sent:?} at all: read_response lost that header line \
                 ({:?})",
                response.headers
            )
        };
        panic!(
            "{}: header({asked:?}) = {found:?}, expected Some({value:?}). {why}.\n{}",
            read.given(),
            read.conversation()
        );
    }
    read.check_body(response);
}

#[test]
fn read_response_trims_the_spaces_around_header_values() {
    let read = read_path("/headers");
    let response = read.response();
    let found = response.header("X-Padded");
    assert_eq!(
        found,
        Some("spaces around"),
        "{}: header(\"X-Padded\") = {found:?}. The server sent `X-Padded:    spaces around   `: \
         the spaces after the colon and at the end of the line are not part of the value \
         (`trim` it). headers = {:?}\n{}",
        read.given(),
        response.headers,
        read.conversation()
    );
}

#[test]
fn read_response_keeps_repeated_headers() {
    let read = read_path("/headers");
    let response = read.response();
    let all = response.header_values("set-cookie");
    let first = response.header("Set-Cookie");
    let why = if all.len() < 2 {
        Some(
            "The server sent Set-Cookie twice (`first=1`, then `second=2`): a header may come \
             more than once, and each is a value of its own. Keep every header line in the Vec, \
             in order (a HashMap keyed by name keeps only one)",
        )
    } else if all != ["first=1", "second=2"] {
        Some("header_values gives the values in the order the server sent them")
    } else if first != Some("first=1") {
        Some("header gives the first value, the one that came first")
    } else {
        None
    };
    if let Some(why) = why {
        panic!(
            "{}: header_values(\"set-cookie\") = {all:?} and header(\"Set-Cookie\") = {first:?}. \
             {why}. headers = {:?}\n{}",
            read.given(),
            response.headers,
            read.conversation()
        );
    }
}

#[test]
fn read_response_stops_after_content_length_bytes_when_the_server_keeps_the_connection_open() {
    let read = read_path("/keep-alive");
    let response = read.response();
    read.check_status(response, 200, "OK");
    read.check_body(response);
}

#[test]
fn read_response_reads_a_chunked_body() {
    let read = read_path("/chunked");
    let what = match &read.result {
        Ok(response) if response.body == HttpServer::body("/chunked") => return,
        Ok(response) => format!(
            "{}: the body is {}, expected {}",
            read.given(),
            show_bytes(&response.body),
            show_bytes(&HttpServer::body("/chunked"))
        ),
        Err(error) if is_timeout(error) => panic!("{}", read.explain_error(error)),
        Err(error) => format!("{} failed: {error} (kind {:?})", read.given(), error.kind()),
    };
    panic!("{what}. {}.\n{}", chunked_mistake(), read.conversation());
}

/// The likely mistake of a chunked reader, from a few small questions to it: each is a tiny
/// response held in memory.
fn chunked_mistake() -> &'static str {
    let no_crlf =
        ask("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc3\r\ndef0\r\n\r\n");
    let sixteen = ask(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
    );
    let extension =
        ask("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n");
    if body_of(&no_crlf) == Some(&b"abcdef"[..]) {
        "Each chunk's data is followed by \\r\\n, which is not part of the data: after \
             reading SIZE bytes, read that line ending too, before the next size. (Asked to read \
             `3\\r\\nabc3\\r\\ndef0\\r\\n\\r\\n`, where those \\r\\n are missing, your code \
             gave `abcdef`.)"
    } else if body_of(&sixteen).is_some_and(|body| body.len() == 10) || {
        matches!(&sixteen, Some(Err(_))) && body_of(&extension) == Some(&b"abc"[..])
    } {
        "Chunk sizes are hexadecimal: `10` is 16 bytes and `1a` is 26 (asked for a chunk \
             `10\\r\\n` of 16 bytes, your code did not read 16). Use `u64::from_str_radix(size, \
             16)`"
    } else if body_of(&extension).is_none() {
        "A size line may carry an extension after `;` (`10;note=hex`): the size is what \
             comes before the `;`, the rest is ignored"
    } else {
        "A chunked body is: SIZE in hex (maybe `;extension`), \\r\\n, SIZE bytes, \\r\\n, \
             again and again, until a size of 0; then trailer lines and an empty line"
    }
}

#[test]
fn read_response_adds_the_trailer_of_a_chunked_body_to_the_headers() {
    let read = read_path("/chunked");
    let response = read.response();
    let trailer = response.header("X-Trailer");
    assert_eq!(
        trailer,
        Some("sent after the body"),
        "{}: header(\"X-Trailer\") = {trailer:?}. After the chunk of size 0 come trailer \
         fields, header lines sent after the body (`X-Trailer: sent after the body`), then the \
         empty line that ends the response: read them like the headers and add them to \
         `headers`. headers = {:?}\n{}",
        read.given(),
        response.headers,
        read.conversation()
    );
}

#[test]
fn read_response_reads_until_the_close_when_no_length_is_given() {
    let read = read_path("/close");
    let response = read.response();
    read.check_status(response, 200, "OK");
    read.check_body(response);
}

#[test]
fn read_response_keeps_the_body_as_bytes() {
    let read = read_path("/binary");
    let response = read.response();
    read.check_body(response);
}

#[test]
fn read_response_reads_a_response_that_arrives_one_byte_at_a_time() {
    let read = read_path("/slow");
    let response = read.response();
    read.check_status(response, 200, "OK");
    read.check_body(response);
}

#[test]
fn read_response_reads_a_response_cut_at_awkward_places() {
    let read = read_path("/split");
    let response = read.response();
    read.check_status(response, 200, "OK");
    read.check_body(response);
}

#[test]
fn read_response_reports_a_body_shorter_than_its_content_length_as_unexpected_eof() {
    let read = read_path("/lying");
    match &read.result {
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => {}
        Err(error) => panic!(
            "{} failed with kind {:?} ({error}). The server announced 1000 bytes and closed \
             after 64: that is a response cut short, an error of kind UnexpectedEof.\n{}",
            read.given(),
            error.kind(),
            read.conversation()
        ),
        Ok(response) => panic!(
            "{} returned a body of {} bytes, as if complete. The server announced \
             Content-Length: 1000 and closed after 64 bytes: the body is cut short, and \
             read_response must say so with an error of kind UnexpectedEof. \
             (`take(1000).read_to_end(…)` stops at the close too: check how many bytes it \
             read.)\n{}",
            read.given(),
            response.body.len(),
            read.conversation()
        ),
    }
}

#[test]
fn read_response_reports_a_head_cut_short_as_unexpected_eof() {
    let read = read_path("/cut");
    match &read.result {
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => {}
        Err(error) => panic!(
            "{} failed with kind {:?} ({error}). The server closed the connection in the middle \
             of a header line: the response is cut short, an error of kind UnexpectedEof (a \
             line read at the end of the connection has no \\n, or is empty).\n{}",
            read.given(),
            error.kind(),
            read.conversation()
        ),
        Ok(response) => panic!(
            "{} returned {response:?}, as if complete. The server closed the connection in the \
             middle of a header line, before the empty line that ends the head: read_response \
             must say so with an error of kind UnexpectedEof. (A read of 0 bytes is the end of \
             the connection, not an empty line: an empty line is \\r\\n.)\n{}",
            read.given(),
            read.conversation()
        ),
    }
}

#[test]
fn read_response_refuses_a_head_longer_than_max_head() {
    let read = read_path("/huge-head");
    match &read.result {
        Err(error) if error.kind() == ErrorKind::InvalidData => {}
        Err(error) if is_timeout(error) => panic!(
            "{} failed after {:.1?} with a timeout ({error}): it had read the whole header line \
             of 1 MiB and was waiting for its end, which never comes. A server must not decide \
             how much memory your client uses: read at most MAX_HEAD ({} bytes) of head \
             (`reader.by_ref().take(bytes_left).read_until(b'\\n', …)`), and past that return \
             an error of kind InvalidData.\n{}",
            read.given(),
            read.took,
            ex07::MAX_HEAD,
            read.conversation()
        ),
        Err(error) => panic!(
            "{} failed with kind {:?} ({error}): a head longer than MAX_HEAD is an error of \
             kind InvalidData.\n{}",
            read.given(),
            error.kind(),
            read.conversation()
        ),
        Ok(response) => panic!(
            "{} returned a response with {} headers, as if complete. The head is longer than \
             MAX_HEAD and has no end: return an error of kind InvalidData.\n{}",
            read.given(),
            response.headers.len(),
            read.conversation()
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// get (and fetch)
// ---------------------------------------------------------------------------------------------

/// Runs your `get(url)` with a deadline; when the deadline passes, says why from what the
/// server saw.
fn get_within(url: String, recording: &Recording) -> io::Result<Response> {
    let seen = recording.clone();
    let shown = url.clone();
    ExplainedWatchdog::new(DEADLINE)
        .watch(recording)
        .explain(move || waiting_for_get(&shown, &seen))
        .run(move || get(&url))
}

/// Why `get` is still waiting, from the request the server received.
fn waiting_for_get(url: &str, seen: &Recording) -> String {
    let Some(connection) = seen.last() else {
        return format!("get({url:?}) was still running and never connected to the server");
    };
    let received = &connection.received;
    let why = if received.is_empty() {
        "the server received nothing: is the request written (`write_all`) before reading?"
            .to_string()
    } else if !received.ends_with(b"\r\n\r\n") && !received.ends_with(b"\n\n") {
        format!(
            "the server received {} and is waiting for the empty line that ends a request: \
             without it, it waits for more headers while your client waits for its answer",
            show_bytes(received)
        )
    } else {
        "the server received a whole request and answered: your code was still reading".into()
    };
    format!("get({url:?}) was still running: {why}")
}

/// What the server received on its last connection, as text.
fn request_received(server: &HttpServer) -> String {
    server
        .recording()
        .last()
        .map(|connection| String::from_utf8_lossy(&connection.received).into_owned())
        .unwrap_or_default()
}

#[test]
fn get_fetches_a_page_with_a_request_the_server_understands() {
    let server = HttpServer::start();
    let url = server.url("/");
    let result = get_within(url.clone(), server.recording());
    let received = request_received(&server);
    let response = match result {
        Ok(response) => response,
        Err(error) => panic!(
            "get({url:?}) failed: {error} (kind {:?}).\n{}",
            error.kind(),
            server.recording().describe()
        ),
    };
    assert!(
        response.status == 200,
        "get({url:?}) answered {} {}: the server did not accept the request {}, and said {}.\n{}",
        response.status,
        response.reason,
        show_bytes(received.as_bytes()),
        show_bytes(&response.body),
        server.recording().describe()
    );
    let host = format!("Host: {}\r\n", server.addr());
    assert!(
        received.contains(&host),
        "get({url:?}) sent {}: its Host header should be {:?}, the URL's host and, as the port \
         is not 80, its port.\n{}",
        show_bytes(received.as_bytes()),
        host.trim_end(),
        server.recording().describe()
    );
    assert_eq!(
        response.body,
        HttpServer::body("/"),
        "get({url:?}): the body differs from the page the server sent.\n{}",
        server.recording().describe()
    );
}

#[test]
fn get_returns_a_404_as_a_response_not_an_error() {
    let server = HttpServer::start();
    let url = server.url("/no/such/page");
    match get_within(url.clone(), server.recording()) {
        Ok(response) if response.status == 404 => {}
        Ok(response) => panic!(
            "get({url:?}) answered {} {}, expected 404 Not Found.\n{}",
            response.status,
            response.reason,
            server.recording().describe()
        ),
        Err(error) => panic!(
            "get({url:?}) failed: {error}. A 404 is an answer, not a failure: the server \
             answered, with a status that says it has no such page. Return the Response; the \
             caller decides what a status means.\n{}",
            server.recording().describe()
        ),
    }
}

#[test]
fn get_reaches_an_ipv6_address_given_in_brackets() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        println!("note: this machine has no IPv6 loopback (::1): only parse_url is checked");
        let parts = parse("http://[::1]/").expect("parse_url(\"http://[::1]/\")");
        assert_eq!(parts, url("::1", 80, "/"));
        return;
    };
    let server = HttpServer::start_on(listener, HttpConfig::default()).expect("an IPv6 server");
    let port = server.port();
    let url = format!("http://[::1]:{port}/");
    let result = get_within(url.clone(), server.recording());
    match result {
        Ok(response) if response.status == 200 => {}
        Ok(response) => panic!(
            "get({url:?}) answered {} {}: {}. The Host header of an IPv6 address has it in \
             brackets again: `Host: [::1]:{port}`.\n{}",
            response.status,
            response.reason,
            show_bytes(&response.body),
            server.recording().describe()
        ),
        Err(error) => panic!(
            "get({url:?}) failed: {error} (kind {:?}). Connect to the address without its \
             brackets, (\"::1\", {port}).\n{}",
            error.kind(),
            server.recording().describe()
        ),
    }
    let received = request_received(&server);
    let host = format!("Host: [::1]:{port}\r\n");
    assert!(
        received.contains(&host),
        "get({url:?}) sent {}: its Host header should be {:?}: in a Host header, as in a URL, \
         an IPv6 address is in brackets, so that its colons are not taken for the port's",
        show_bytes(received.as_bytes()),
        host.trim_end()
    );
}

#[test]
fn get_refuses_https_without_connecting() {
    let server = HttpServer::start();
    let url = format!("https://{}/", server.addr());
    match get_within(url.clone(), server.recording()) {
        Err(error) if error.kind() == ErrorKind::InvalidInput => {}
        Err(error) => panic!(
            "get({url:?}) failed with kind {:?} ({error}); an https:// URL should be refused \
             by parse_url, with kind InvalidInput, before connecting",
            error.kind()
        ),
        Ok(response) => panic!(
            "get({url:?}) returned {} {}: an https:// URL must be refused (TLS is not part of \
             this exercise)",
            response.status, response.reason
        ),
    }
    let connected = server
        .recording()
        .wait_until(Duration::from_millis(200), |all| !all.is_empty());
    assert!(
        !connected,
        "get({url:?}) connected to the server before refusing the URL: check the URL first"
    );
}

#[test]
fn get_reports_a_port_where_nothing_listens_as_an_error() {
    let closed = ClosedPort::new().expect("a port nothing listens on");
    let addr = closed.addr();
    let url = format!("http://{addr}/");
    let shown = url.clone();
    let result = Watchdog::new(DEADLINE)
        .hint(format!(
            "get({shown:?}) to a port nothing listens on ({addr}) was still running: a refused \
             connect comes back at once; return that error"
        ))
        .run(move || get(&shown));
    match result {
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => {}
        Err(error) => panic!(
            "get({url:?}) failed with kind {:?} ({error}); nothing listens on that port, so \
             the connect is refused: return that error as it is (kind ConnectionRefused)",
            error.kind()
        ),
        Ok(response) => panic!("get({url:?}) returned {response:?}, but nothing listens there"),
    }
    drop(closed);
}
