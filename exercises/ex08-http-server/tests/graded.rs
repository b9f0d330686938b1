//! Graded tests for exercise 8 — an HTTP server by hand.
//!
//! The tests come in the order of the exercise: `parse_request` on bytes in memory,
//! `respond` on a small site in a temporary folder (including the attacks a public server
//! sees every day: `..`, `%2e%2e`, absolute paths, symbolic links), `Response`, the
//! `ThreadPool`, then `serve` on a real socket, and last the `ex08-server` program as a real
//! process, with real clients (Python's `urllib` and `http.client`, `curl`).
//!
//! Every test runs under a deadline; the clients wait at most a few seconds for anything, and
//! when something does not come they say what they sent, what came back, and who closed
//! first. If your server thread panicked (a `todo!()`, an `unwrap`), the failure shows its
//! message.
//!
//! Run them with `cargo test -p ex08`; run one with `cargo test -p ex08 NAME`.

// This file also grades the reference solution (package ex08-solution), whose library is
// named `ex08_solution`: there this line makes `ex08` mean it.
#[cfg(netlab_solution)]
extern crate ex08_solution as ex08;

use std::fs;
use std::io::{self, BufReader, Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ex08::{
    Config, HttpError, MAX_HEADERS, MAX_LINE, Request, Response, Stop, ThreadPool, parse_request,
    respond, serve,
};
use lab_harness::{
    HttpReply, Program, ReadEnd, ServerProcess, ServerThread, TestClient, Watchdog, bind_loopback,
    cap_text, http_exchange, show_bytes,
};
use rstest::rstest;

/// How long any one test body may take. These take milliseconds when correct; a body that
/// hangs is reported after this long.
const DEADLINE: Duration = Duration::from_secs(10);

/// How long a client waits for an answer a correct server gives in microseconds.
const REPLY_WITHIN: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// The site the tests serve: a temporary folder, removed at the end of the test.
// ---------------------------------------------------------------------------------------------

const HELLO: &[u8] = b"Hello, netlab!\n";
const HOME: &[u8] = b"<!DOCTYPE html>\n<h1>home</h1>\n";
const DOCS: &[u8] = b"<!DOCTYPE html>\n<h1>docs</h1>\n";
/// The file beside the site that no request may ever reach.
const SECRET: &[u8] = b"TOP SECRET: this file is outside the site\n";

/// A site under a fresh temporary folder: `base/site` is the root, `base/secret.txt` is
/// beside it.
struct Site {
    base: PathBuf,
}

impl Site {
    fn new() -> Site {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "netlab-ex08-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("site");
        fs::create_dir_all(root.join("docs")).expect("creating the test site");
        fs::create_dir_all(root.join("empty")).expect("creating the test site");
        let files: &[(&str, &[u8])] = &[
            ("index.html", HOME),
            ("hello.txt", HELLO),
            ("hello world.txt", b"a space in the name\n"),
            ("docs/index.html", DOCS),
            ("logo.png", &png()),
            ("style.css", b"h1 { color: teal }\n"),
            ("app.js", b"console.log('hi')\n"),
            ("data.json", b"{\"ok\": true}\n"),
            ("photo.JPG", b"\xff\xd8\xff\xe0 not really a photo"),
            (
                "picture.svg",
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
            ),
            ("notes", b"no extension\n"),
        ];
        for (name, bytes) in files {
            fs::write(root.join(name), bytes).expect("writing a file of the test site");
        }
        fs::write(base.join("secret.txt"), SECRET).expect("writing the secret file");
        Site { base }
    }

    fn root(&self) -> PathBuf {
        self.base.join("site")
    }

    fn secret(&self) -> PathBuf {
        self.base.join("secret.txt")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// A small PNG-like file with every byte value, NUL and invalid UTF-8 included.
fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..=255u8).cycle().take(1024));
    bytes
}

fn get(target: &str) -> Request {
    request("GET", target)
}

fn request(method: &str, target: &str) -> Request {
    Request {
        method: method.into(),
        target: target.into(),
        version: "HTTP/1.1".into(),
        headers: vec![("Host".into(), "test".into())],
    }
}

/// A response for a failure message: status, headers and the start of the body.
fn show(response: &Response) -> String {
    format!(
        "status {}, headers {:?}, body {}",
        response.status,
        response.headers,
        show_bytes(&response.body)
    )
}

// ---------------------------------------------------------------------------------------------
// parse_request
// ---------------------------------------------------------------------------------------------

/// Your parse_request on `bytes`, under a deadline.
fn parse(bytes: &[u8]) -> Result<Request, HttpError> {
    let bytes = bytes.to_vec();
    Watchdog::new(DEADLINE)
        .hint(
            "parse_request did not return on input that ends: does it loop after the input \
             ended (a read of 0 bytes)?",
        )
        .run(move || parse_request(&mut Cursor::new(bytes)))
}

#[test]
fn parse_request_reads_the_request_line_and_the_headers() {
    let head = b"GET /docs/index.html?x=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent:   lab/1.0  \r\nX-Empty:\r\naccept: */*\r\n\r\n";
    let request = parse(head).unwrap_or_else(|error| {
        panic!(
            "parse_request refused the valid request {}: {error:?}",
            show_bytes(head)
        )
    });
    assert_eq!(
        (
            request.method.as_str(),
            request.target.as_str(),
            request.version.as_str()
        ),
        ("GET", "/docs/index.html?x=1", "HTTP/1.1"),
        "the request line is `METHOD TARGET VERSION`, split at single spaces"
    );
    let expected: Vec<(String, String)> = [
        ("Host", "example.org"),
        ("User-Agent", "lab/1.0"),
        ("X-Empty", ""),
        ("accept", "*/*"),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    assert_eq!(
        request.headers, expected,
        "each header line is `Name: value`: split at the first colon, keep the name as it \
         came, trim the spaces around the value, keep the lines in order"
    );
    assert_eq!(
        request.header("ACCEPT"),
        Some("*/*"),
        "header names are case-insensitive"
    );
}

#[test]
fn parse_request_stops_at_the_empty_line() {
    // What follows the head (a body, the next request) is not the head's: it must stay in
    // the reader. A parser that reads to the end of the input waits, on a real connection,
    // for a client that is waiting for the answer.
    let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nAFTER THE HEAD".to_vec();
    let (request, rest) = Watchdog::new(DEADLINE).run(move || {
        let mut reader = Cursor::new(input);
        let request = parse_request(&mut reader);
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        (request, rest)
    });
    let request = request.unwrap_or_else(|error| panic!("a valid request was refused: {error:?}"));
    assert_eq!(request.target, "/");
    assert_eq!(
        rest,
        b"AFTER THE HEAD",
        "parse_request read past the empty line that ends the head: what is left in the \
         reader is {}. Reading to the end of the input (read_to_end, read_to_string, \
         lines() until None) never ends on a real connection, where the client keeps it open \
         to read your answer: read line by line and stop at the empty line",
        show_bytes(&rest)
    );
}

#[test]
fn parse_request_reads_a_head_that_arrives_one_byte_at_a_time() {
    // A reader that gives one byte per read, like a slow network: one `read` is not a line.
    struct Trickle(Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let one = buffer.len().min(1);
            self.0.read(&mut buffer[..one])
        }
    }
    let head = b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n".to_vec();
    let request = Watchdog::new(DEADLINE).run(move || {
        let mut reader = BufReader::with_capacity(1, Trickle(Cursor::new(head)));
        parse_request(&mut reader)
    });
    let request = request.unwrap_or_else(|error| {
        panic!(
            "a request that arrived one byte at a time was refused: {error:?}. One read gives \
             whatever has arrived, maybe one byte: let BufRead collect whole lines \
             (read_line, read_until)"
        )
    });
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("HEAD", "/hello.txt")
    );
    assert_eq!(request.header("accept"), Some("text/plain"));
}

#[test]
fn parse_request_accepts_lines_that_end_with_a_bare_lf() {
    // `nc` sends what you type with `\n` alone; RFC 9112 §2.2 lets a server accept that.
    let head = b"GET /hello.txt HTTP/1.1\nHost: x\n\n";
    let request = parse(head).unwrap_or_else(|error| {
        panic!(
            "parse_request refused {} ({error:?}): a request typed in `nc` ends its lines \
             with \\n alone. Strip the \\n, then a \\r if there is one",
            show_bytes(head)
        )
    });
    assert_eq!(request.target, "/hello.txt");
    assert_eq!(
        request.header("Host"),
        Some("x"),
        "the header's value must not keep a line ending"
    );
}

#[rstest]
#[case::two_parts("GET /\r\n\r\n")]
#[case::four_parts("GET / HTTP/1.1 extra\r\n\r\n")]
#[case::two_spaces("GET  / HTTP/1.1\r\n\r\n")]
#[case::not_http("GET / SPDY/3\r\n\r\n")]
#[case::lower_case_method("get / HTTP/1.1\r\n\r\n")]
#[case::header_without_colon("GET / HTTP/1.1\r\nHost example.org\r\n\r\n")]
#[case::space_before_the_colon("GET / HTTP/1.1\r\nHost : example.org\r\n\r\n")]
#[case::tls_hello("\x16\x03\x01\x02\x00\x01\x00\x01\x7f\x03\x03\r\n\r\n")]
fn parse_request_refuses_a_malformed_request_with_bad_request(#[case] head: &str) {
    match parse(head.as_bytes()) {
        Err(HttpError::BadRequest(why)) => assert!(!why.is_empty(), "say why in BadRequest"),
        other => panic!(
            "parse_request({}) returned {other:?}; expected Err(HttpError::BadRequest(why)), \
             which the server answers with 400. A request line is exactly three parts \
             (`METHOD TARGET HTTP/1.x`, single spaces, the method in capitals) and a header \
             line is `Name: value` with no space before the colon",
            show_bytes(head.as_bytes())
        ),
    }
}

/// A reader of `total` bytes of `a` with no line ending, counting what was read from it.
struct Endless {
    left: usize,
    taken: Arc<AtomicUsize>,
}

impl Read for Endless {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = buffer.len().min(self.left);
        buffer[..count].fill(b'a');
        self.left -= count;
        self.taken.fetch_add(count, Ordering::SeqCst);
        Ok(count)
    }
}

/// Your parse_request on `start` followed by 16 MiB of `a` with no line ending; also how
/// many bytes it took from the input.
fn parse_endless(start: &'static [u8]) -> (Result<Request, HttpError>, usize) {
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&taken);
    let result = Watchdog::new(DEADLINE).run(move || {
        let endless = Endless {
            left: 16 << 20,
            taken: counter,
        };
        let mut reader = BufReader::with_capacity(1024, Cursor::new(start).chain(endless));
        parse_request(&mut reader)
    });
    (result, taken.load(Ordering::SeqCst))
}

#[test]
fn parse_request_refuses_an_endless_request_line_with_uri_too_long() {
    let (result, taken) = parse_endless(b"GET /");
    assert!(
        matches!(result, Err(HttpError::UriTooLong)) && taken <= MAX_LINE + 4096,
        "a client sent `GET /` and then 16 MiB without a line ending: parse_request read \
         {taken} bytes and returned {result:?}. Expected Err(HttpError::UriTooLong) after at \
         most MAX_LINE ({MAX_LINE}) bytes: a line read without a limit lets one client fill \
         your memory (read through `reader.by_ref().take(MAX_LINE as u64)`)"
    );
}

#[test]
fn parse_request_refuses_an_endless_header_line_with_headers_too_large() {
    let (result, taken) = parse_endless(b"GET / HTTP/1.1\r\nX-Long: ");
    assert!(
        matches!(result, Err(HttpError::HeadersTooLarge)) && taken <= 2 * MAX_LINE + 4096,
        "a client sent a header line of 16 MiB: parse_request read {taken} bytes and \
         returned {result:?}. Expected Err(HttpError::HeadersTooLarge) after at most \
         MAX_LINE ({MAX_LINE}) bytes of that line: every line needs the limit, headers too"
    );
}

#[test]
fn parse_request_refuses_too_many_headers_with_headers_too_large() {
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for index in 0..=MAX_HEADERS {
        head.extend_from_slice(format!("X-Header-{index}: {index}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let result = parse(&head);
    assert!(
        matches!(result, Err(HttpError::HeadersTooLarge)),
        "a request with {} headers (one more than MAX_HEADERS) gave {result:?}; expected \
         Err(HttpError::HeadersTooLarge): count the header lines and stop at MAX_HEADERS, or a \
         client can send millions of short ones",
        MAX_HEADERS + 1
    );
    // Exactly MAX_HEADERS is fine.
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for index in 0..MAX_HEADERS {
        head.extend_from_slice(format!("X-Header-{index}: {index}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let result = parse(&head);
    assert!(
        matches!(&result, Ok(request) if request.headers.len() == MAX_HEADERS),
        "a request with exactly MAX_HEADERS ({MAX_HEADERS}) headers is allowed; got {result:?}"
    );
}

#[rstest]
#[case::nothing_at_all("")]
#[case::cut_in_the_request_line("GET /hel")]
#[case::cut_before_the_empty_line("GET / HTTP/1.1\r\nHost: x\r\n")]
fn parse_request_reports_a_connection_closed_before_the_empty_line(#[case] head: &str) {
    let result = parse(head.as_bytes());
    assert!(
        matches!(result, Err(HttpError::Closed)),
        "the input ended after {} without the empty line that ends a head: expected \
         Err(HttpError::Closed), got {result:?}. A read of 0 bytes (read_line returns 0, or a \
         line without its \\n) is the client leaving: nobody is left to answer",
        show_bytes(head.as_bytes())
    );
}

// ---------------------------------------------------------------------------------------------
// respond
// ---------------------------------------------------------------------------------------------

/// Your respond for `request` on `site`, under a deadline.
fn respond_to(site: &Site, request: Request) -> Response {
    let root = site.root();
    Watchdog::new(DEADLINE).run(move || respond(&root, &request))
}

#[test]
fn respond_serves_a_file_with_its_type_and_length() {
    let site = Site::new();
    let response = respond_to(&site, get("/hello.txt"));
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, HELLO),
        "GET /hello.txt: {}",
        show(&response)
    );
    assert_eq!(
        response.header("Content-Length"),
        Some(HELLO.len().to_string().as_str()),
        "Content-Length is the number of bytes of the body: {}",
        show(&response)
    );
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8"),
        "the Content-Type of a .txt file: {}",
        show(&response)
    );
}

#[test]
fn respond_serves_a_binary_file_byte_for_byte() {
    let site = Site::new();
    let response = respond_to(&site, get("/logo.png"));
    assert!(
        response.status == 200 && response.body == png(),
        "GET /logo.png (a binary file: NUL bytes, invalid UTF-8) gave {}. A file is bytes: \
         read it with fs::read into a Vec<u8>; read_to_string fails on (or mangles) anything \
         that is not text",
        show(&response)
    );
    assert_eq!(response.header("Content-Type"), Some("image/png"));
    assert_eq!(
        response.header("Content-Length"),
        Some(png().len().to_string().as_str())
    );
}

#[test]
fn respond_names_the_content_type_by_the_extension() {
    let site = Site::new();
    let cases = [
        ("/index.html", "text/html; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json"),
        ("/logo.png", "image/png"),
        ("/photo.JPG", "image/jpeg"),
        ("/picture.svg", "image/svg+xml"),
        ("/hello.txt", "text/plain; charset=utf-8"),
        ("/notes", "application/octet-stream"),
    ];
    let mut wrong = Vec::new();
    for (target, expected) in cases {
        let response = respond_to(&site, get(target));
        let got = response.header("Content-Type").map(str::to_string);
        if response.status != 200 || got.as_deref() != Some(expected) {
            wrong.push(format!(
                "  {target}: status {}, Content-Type {got:?}, expected {expected:?}",
                response.status
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "a browser uses Content-Type to decide what a file is (a page, a style sheet, an \
         image); choose it from the extension, in any case (.JPG is .jpg), and \
         application/octet-stream when you do not know:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn respond_serves_index_html_for_a_folder() {
    let site = Site::new();
    for (target, expected) in [("/", HOME), ("/docs/", DOCS), ("/docs", DOCS)] {
        let response = respond_to(&site, get(target));
        assert!(
            response.status == 200 && response.body == expected,
            "GET {target} names a folder: serve its index.html. Got {}",
            show(&response)
        );
        assert_eq!(
            response.header("Content-Type"),
            Some("text/html; charset=utf-8"),
            "GET {target} serves an index.html: {}",
            show(&response)
        );
    }
    let response = respond_to(&site, get("/empty/"));
    assert_eq!(
        response.status,
        404,
        "GET /empty/ names a folder without index.html: expected 404 (never a listing of \
         the folder, nor a crash); got {}",
        show(&response)
    );
}

#[test]
fn respond_answers_head_with_the_same_headers_and_no_body() {
    let site = Site::new();
    let get = respond_to(&site, get("/logo.png"));
    let head = respond_to(&site, request("HEAD", "/logo.png"));
    assert!(
        head.status == 200 && head.body.is_empty(),
        "HEAD /logo.png must answer like GET but with no body at all; got {}",
        show(&head)
    );
    assert_eq!(
        head.header("Content-Length"),
        get.header("Content-Length"),
        "HEAD's Content-Length is the length GET's body would have (here {} bytes), not 0",
        png().len()
    );
    assert_eq!(head.header("Content-Type"), Some("image/png"));
}

#[test]
fn respond_answers_404_for_a_missing_file() {
    let site = Site::new();
    for target in ["/missing.txt", "/docs/nothing/here.html", "/caf%C3%A9.html"] {
        let response = respond_to(&site, get(target));
        assert_eq!(
            response.status,
            404,
            "GET {target}: there is no such file; expected 404, got {}",
            show(&response)
        );
        assert_eq!(
            response.header("Content-Length"),
            Some(response.body.len().to_string().as_str()),
            "the 404 page's Content-Length must be the length of its body in bytes: {}",
            show(&response)
        );
    }
}

#[test]
fn respond_answers_405_with_allow_for_other_methods() {
    let site = Site::new();
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "BREW"] {
        let response = respond_to(&site, request(method, "/hello.txt"));
        assert_eq!(
            response.status,
            405,
            "{method} /hello.txt: this server only reads files; any other method is answered \
             405 Method Not Allowed. Got {}",
            show(&response)
        );
        let allow = response.header("Allow").unwrap_or_default();
        assert!(
            allow.contains("GET") && allow.contains("HEAD"),
            "a 405 must say which methods are allowed, in an `Allow: GET, HEAD` header \
             (RFC 9110 §15.5.6); got {}",
            show(&response)
        );
    }
}

#[test]
fn respond_decodes_percent_escapes_and_ignores_the_query() {
    let site = Site::new();
    let response = respond_to(&site, get("/hello%20world.txt"));
    assert!(
        response.status == 200 && response.body == b"a space in the name\n",
        "GET /hello%20world.txt names the file `hello world.txt` (%20 is a space): decode \
         %XX escapes in the path. Got {}",
        show(&response)
    );
    let response = respond_to(&site, get("/hello.txt?lang=en"));
    assert!(
        response.status == 200 && response.body == HELLO,
        "GET /hello.txt?lang=en names hello.txt: the query (from `?`) is not part of the \
         path. Got {}",
        show(&response)
    );
}

#[rstest]
#[case::not_starting_with_a_slash("hello.txt")]
#[case::bad_escape("/hello%zz.txt")]
#[case::cut_escape("/hello.tx%7")]
#[case::nul_byte("/hello.txt%00.png")]
fn respond_answers_400_for_a_target_that_is_not_a_path(#[case] target: &str) {
    let site = Site::new();
    let response = respond_to(&site, get(target));
    assert_eq!(
        response.status,
        400,
        "GET {target}: a target must start with `/` and every `%` must be followed by two hex \
         digits, and a NUL byte is never part of a file name; expected 400 Bad Request, got {}",
        show(&response)
    );
}

#[rstest]
#[case::dot_dot("/../secret.txt")]
#[case::dot_dot_deeper("/docs/../../secret.txt")]
#[case::encoded_dots("/%2e%2e/secret.txt")]
#[case::encoded_upper("/%2E%2E/secret.txt")]
#[case::encoded_slash("/..%2fsecret.txt")]
#[case::everything_encoded("/%2e%2e%2fsecret.txt")]
#[case::backslash("/..\\secret.txt")]
#[case::absolute_path("ABSOLUTE")]
fn respond_never_serves_a_file_outside_the_root(#[case] target: &str) {
    let site = Site::new();
    // `//tmp/…/secret.txt`: after the first `/` is stripped, an absolute path is left, and
    // `root.join("/tmp/…")` is `/tmp/…`: join replaces the root with an absolute path.
    let target = if target == "ABSOLUTE" {
        format!("/{}", site.secret().display())
    } else {
        target.to_string()
    };
    let response = respond_to(&site, get(&target));
    let leaked = response.body.windows(SECRET.len()).any(|w| w == SECRET);
    if response.status == 200 || leaked {
        let why = if target.contains('%') {
            "the escapes decode to `..` or `/`: decode each segment first, then check it \
             (a check on the raw text sees no `..` in `%2e%2e`)"
        } else if target.contains('\\') {
            "on Windows `\\` separates folders too: refuse a segment that contains `\\`"
        } else if target.starts_with("//") {
            "what is left after the first `/` is an absolute path, and Path::join with an \
             absolute path replaces the root: refuse anything but plain names"
        } else {
            "a `..` segment climbs out of the root: refuse it (or compare canonical paths)"
        };
        panic!(
            "SECURITY: GET {target} was answered with a file outside the root: {}. {why}. \
             Whatever the client sends, the path must stay under the root",
            show(&response)
        );
    }
    assert!(
        (400..500).contains(&response.status),
        "GET {target} leaves the root: expected 400, 403 or 404, got {}",
        show(&response)
    );
}

#[test]
fn respond_does_not_follow_a_symlink_out_of_the_root() {
    // Unix only: creating a symbolic link on Windows needs a privilege most students lack.
    #[cfg(unix)]
    {
        let site = Site::new();
        std::os::unix::fs::symlink(site.secret(), site.root().join("innocent.txt"))
            .expect("creating a symbolic link in the test site");
        std::os::unix::fs::symlink(site.root().join("hello.txt"), site.root().join("alias.txt"))
            .expect("creating a symbolic link in the test site");
        let response = respond_to(&site, get("/innocent.txt"));
        assert!(
            response.status != 200 && !response.body.windows(SECRET.len()).any(|w| w == SECRET),
            "SECURITY: /innocent.txt is a symbolic link inside the root to a file outside it, \
             and it was served: {}. Resolve the links (Path::canonicalize) and check that the \
             real path still starts with the real root",
            show(&response)
        );
        let response = respond_to(&site, get("/alias.txt"));
        assert!(
            response.status == 200 && response.body == HELLO,
            "/alias.txt is a symbolic link to hello.txt, inside the root: it must be served \
             (compare canonical paths of both the file and the root). Got {}",
            show(&response)
        );
    }
    #[cfg(not(unix))]
    {
        println!("note: the symbolic link test runs on Unix only");
        let site = Site::new();
        let response = respond_to(&site, get("/hello.txt"));
        assert_eq!(response.status, 200, "{}", show(&response));
    }
}

// ---------------------------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------------------------

#[test]
fn response_text_counts_its_length_in_bytes() {
    let response = Watchdog::new(DEADLINE).run(|| Response::text(404, "no café here\n"));
    assert_eq!(response.body, "no café here\n".as_bytes());
    assert_eq!(
        response.header("Content-Length"),
        Some("14"),
        "`no café here\\n` is 13 characters but 14 bytes (é is two bytes in UTF-8): \
         Content-Length counts bytes (str::len), not characters (chars().count())"
    );
    assert_eq!(
        response.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
}

#[test]
fn response_write_to_sends_the_status_line_the_headers_and_the_body() {
    let response = Response {
        status: 404,
        headers: vec![
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ("Content-Length".into(), "4".into()),
        ],
        body: b"gone".to_vec(),
    };
    let bytes = Watchdog::new(DEADLINE).run(move || {
        let mut bytes = Vec::new();
        response.write_to(&mut bytes).map(|()| bytes)
    });
    let bytes = bytes.unwrap_or_else(|error| panic!("write_to into a Vec failed: {error}"));
    let expected: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone";
    if bytes != expected {
        let hint = if !bytes.windows(2).any(|w| w == b"\r\n") {
            "every line of the head ends with \\r\\n (Rust's \\n alone is not HTTP's line \
             ending)"
        } else {
            "the status line (`HTTP/1.1 404 Not Found`, the reason from `reason`), each \
             header as `Name: value\\r\\n`, `Connection: close\\r\\n`, an empty line \
             (\\r\\n), then the body"
        };
        panic!(
            "write_to sent {}\nexpected      {}\n{hint}",
            show_bytes(&bytes),
            show_bytes(expected)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// ThreadPool
// ---------------------------------------------------------------------------------------------

#[test]
fn thread_pool_runs_every_job() {
    let (done, results) = mpsc::channel();
    Watchdog::new(DEADLINE)
        .hint("ThreadPool::new or execute did not return")
        .run(move || {
            let pool = Aside::new(3);
            for job in 0..20 {
                let done = done.clone();
                pool.execute(move || {
                    let _ = done.send(job);
                });
            }
        });
    let mut seen: Vec<i32> = Vec::new();
    while let Ok(job) = results.recv_timeout(REPLY_WITHIN) {
        seen.push(job);
        if seen.len() == 20 {
            break;
        }
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..20).collect::<Vec<_>>(),
        "20 jobs were given to a pool of 3; these ran within {REPLY_WITHIN:?}: every job \
         given to execute must run once"
    );
}

#[test]
fn thread_pool_runs_as_many_jobs_at_once_as_it_has_workers_and_no_more() {
    // Three jobs that each wait to be released, in a pool of two: two must start, the third
    // must wait for a free worker.
    let (started, starts) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let threads = Arc::new(Mutex::new(Vec::new()));
    let pool = Aside::new(2);
    for job in 0..3 {
        let started = started.clone();
        let released = Arc::clone(&released);
        let threads = Arc::clone(&threads);
        pool.execute(move || {
            threads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(thread::current().id());
            let _ = started.send(job);
            let _ = released
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(DEADLINE);
        });
    }
    let first = starts.recv_timeout(REPLY_WITHIN);
    let second = starts.recv_timeout(REPLY_WITHIN);
    if first.is_err() || second.is_err() {
        let _ = (release.send(()), release.send(()), release.send(()));
        panic!(
            "a pool of 2 was given 3 jobs that each wait; after {REPLY_WITHIN:?} only {} had \
             started: the workers run one job at a time. Does a worker hold the lock on the \
             receiver while its job runs? In `while let Ok(job) = receiver.lock().unwrap().recv()` \
             the lock guard lives until the end of the loop body; take the job in a `let` \
             statement of its own, so the guard is dropped before the job runs",
            usize::from(first.is_ok()) + usize::from(second.is_ok())
        );
    }
    let third = starts.recv_timeout(Duration::from_millis(200));
    for _ in 0..3 {
        let _ = release.send(());
    }
    assert!(
        third.is_err(),
        "a pool of 2 ran 3 jobs at the same time: a pool has a fixed number of threads and \
         jobs wait for a free one. Does execute start a new thread for each job?"
    );
    let third = starts.recv_timeout(REPLY_WITHIN);
    assert!(
        third.is_ok(),
        "once a worker was free, the third job did not start within {REPLY_WITHIN:?}"
    );
    let mut ids = threads.lock().unwrap_or_else(|p| p.into_inner()).clone();
    ids.sort_by_key(|id| format!("{id:?}"));
    ids.dedup();
    assert!(
        ids.len() <= 2,
        "3 jobs ran on {} different threads in a pool of 2: execute must hand jobs to the \
         pool's own workers",
        ids.len()
    );
}

#[test]
fn thread_pool_join_waits_for_the_jobs_in_flight() {
    // Four jobs of 100 ms each in a pool of two, then join: join returns when all four are
    // done, not before, and not never.
    let finished = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&finished);
    let (joined, join_result) = mpsc::channel();
    let pool_thread = thread::spawn(move || {
        let pool = ThreadPool::new(2);
        for _ in 0..4 {
            let counter = Arc::clone(&counter);
            pool.execute(move || {
                // Work that takes time (not a synchronisation): join must wait for it.
                thread::sleep(Duration::from_millis(100));
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
        pool.join();
        let _ = joined.send(counter.load(Ordering::SeqCst));
    });
    let result = join_result.recv_timeout(Duration::from_secs(3));
    if let Err(mpsc::RecvTimeoutError::Disconnected) = result {
        // The pool's thread panicked (a todo!(), an unwrap): show its message.
        if let Err(payload) = pool_thread.join() {
            std::panic::resume_unwind(payload);
        }
    }
    match result {
        Ok(count) => assert_eq!(
            count, 4,
            "join returned when {count} of the 4 jobs given to the pool had finished: join \
             must tell the workers to stop and then wait for each of them \
             (JoinHandle::join), so that every job given to execute is done"
        ),
        Err(_) => panic!(
            "join did not return within 3 s, although the 4 jobs take 200 ms on 2 workers \
             ({} had finished): do the workers ever learn that no more jobs will come? Drop \
             the Sender first (their recv() then fails and they leave their loop), then join \
             each worker",
            finished.load(Ordering::SeqCst)
        ),
    }
}

#[test]
fn thread_pool_keeps_its_workers_when_a_job_panics() {
    let (done, results) = mpsc::channel();
    let pool = Aside::new(1);
    // A panic that skips the panic hook (nothing is printed), but unwinds like any other.
    pool.execute(|| std::panic::resume_unwind(Box::new("a job that panics on purpose")));
    for job in 0..3 {
        let done = done.clone();
        pool.execute(move || {
            let _ = done.send(job);
        });
    }
    let ran = (0..3)
        .filter(|_| results.recv_timeout(REPLY_WITHIN).is_ok())
        .count();
    assert_eq!(
        ran, 3,
        "a pool of 1 ran a job that panicked, then only {ran} of the next 3 jobs ran: the \
         panic killed the only worker. A server must not lose a worker to one bad request: \
         run each job inside std::panic::catch_unwind (with AssertUnwindSafe) and keep going"
    );
}

/// A pool that is joined on a thread of its own, which the test does not wait for, when the
/// test ends (even when it fails): a pool whose workers never learn the end would hang the
/// test in join. (`thread_pool_join_waits_for_the_jobs_in_flight` is the test
/// of that.)
struct Aside(Option<ThreadPool>);

impl Aside {
    fn new(size: usize) -> Aside {
        Aside(Some(ThreadPool::new(size)))
    }

    fn execute(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(pool) = &self.0 {
            pool.execute(job);
        }
    }
}

impl Drop for Aside {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            thread::spawn(move || pool.join());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------------------------

/// Your serve on a listener the test bound, serving `site` with `workers` threads.
struct Served {
    addr: SocketAddr,
    stop: Stop,
    thread: ServerThread<io::Result<()>>,
}

fn start_serve(site: &Site, workers: usize, request_timeout: Duration) -> Served {
    let listener = bind_loopback().expect("binding 127.0.0.1:0 for your server");
    let addr = listener.local_addr().expect("the listener's address");
    let stop = Stop::new(&listener).expect("a stop handle");
    let config = Config {
        root: site.root(),
        workers,
        request_timeout,
    };
    let handle = stop.clone();
    let thread = ServerThread::spawn("your serve", move || serve(listener, config, handle));
    Served { addr, stop, thread }
}

/// A client of the server at `addr`; the error is a sentence for the failure message.
fn connect(addr: SocketAddr) -> Result<TestClient, String> {
    TestClient::connect(addr, REPLY_WITHIN)
        .map_err(|error| format!("the client could not connect to {addr}: {error}"))
}

const GET_HELLO: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n";

/// Checks that `client` got a 200 with `HELLO`, or fails with what it got and why.
fn expect_hello(client: &TestClient, end: &ReadEnd, server: &mut ServerThread<io::Result<()>>) {
    let received = client.received();
    let problem = match (end, HttpReply::parse(received)) {
        (ReadEnd::Closed, Ok(reply)) if reply.status == 200 && reply.body == HELLO => {
            match reply.content_length() {
                Some(length) if length == HELLO.len() => return,
                _ => format!(
                    "the response's Content-Length is {:?}; the body has {} bytes",
                    reply.headers_named("content-length"),
                    HELLO.len()
                ),
            }
        }
        (ReadEnd::Closed, Ok(reply)) => format!(
            "expected 200 and the {} bytes of hello.txt, got {} with body {}",
            HELLO.len(),
            reply.status,
            show_bytes(&reply.body)
        ),
        (_, Err(problem)) if !received.is_empty() => problem,
        (ReadEnd::TimedOut, _) if received.is_empty() => format!(
            "no answer within {REPLY_WITHIN:?} while the client kept its connection open. \
             Does your server wait for the end of the connection (read_to_end, read_to_string, \
             lines() until None)? A client keeps its connection open to read the answer: stop \
             reading at the empty line that ends the head"
        ),
        (ReadEnd::TimedOut, Ok(_)) => format!(
            "the whole response arrived, but the connection stayed open for {REPLY_WITHIN:?}: \
             after a `Connection: close` response, close the connection (let the stream drop)"
        ),
        (end, _) => format!("the response ended early: {end}"),
    };
    server.fail(format!("{problem}\n{}", client.describe()))
}

#[test]
fn serve_answers_a_request_over_tcp_and_closes() {
    let site = Site::new();
    let mut served = start_serve(&site, 2, Duration::from_secs(5));
    let addr = served.addr;
    let (client, end) = Watchdog::new(DEADLINE)
        .hint("the client's request to your serve did not finish")
        .run(move || http_exchange(addr, GET_HELLO, REPLY_WITHIN))
        .unwrap_or_else(|problem| served.thread.fail(problem));
    expect_hello(&client, &end, &mut served.thread);
}

#[test]
fn serve_answers_a_request_that_arrives_in_pieces() {
    let site = Site::new();
    let mut served = start_serve(&site, 2, Duration::from_secs(5));
    let addr = served.addr;
    let (client, end) = Watchdog::new(DEADLINE)
        .run(move || -> Result<_, String> {
            let mut client = connect(addr)?;
            let _ = client.stream().set_nodelay(true);
            // Cut in the request line, between \r and \n, and inside the empty line.
            for piece in [
                &GET_HELLO[..5],
                &GET_HELLO[5..24],
                &GET_HELLO[24..38],
                &GET_HELLO[38..],
            ] {
                if client.send(piece, REPLY_WITHIN).is_err() {
                    break;
                }
                // Pacing, not synchronisation: each piece leaves on its own (nodelay).
                thread::sleep(Duration::from_millis(20));
            }
            let end = client.read_to_end(REPLY_WITHIN);
            Ok((client, end))
        })
        .unwrap_or_else(|problem| served.thread.fail(problem));
    expect_hello(&client, &end, &mut served.thread);
}

#[rstest]
#[case::garbage(b"HELLO?\r\n\r\n".to_vec(), 400)]
#[case::endless_request_line([b"GET /".as_slice(), &[b'a'; 64 * 1024]].concat(), 414)]
#[case::endless_header_line([b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 64 * 1024]].concat(), 431)]
#[case::not_allowed(b"DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 405)]
#[case::missing(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 404)]
fn serve_answers_a_bad_request_with_its_error_status(
    #[case] request: Vec<u8>,
    #[case] status: u16,
) {
    let site = Site::new();
    let mut served = start_serve(&site, 2, Duration::from_secs(5));
    let addr = served.addr;
    let (client, end) = Watchdog::new(DEADLINE)
        .run(move || http_exchange(addr, &request, REPLY_WITHIN))
        .unwrap_or_else(|problem| served.thread.fail(problem));
    match HttpReply::parse(client.received()) {
        Ok(reply)
            if reply.status == status
                && matches!(end, ReadEnd::Failed(io::ErrorKind::ConnectionReset, _)) =>
        {
            served.thread.fail(format!(
                "the answer ({status}) arrived, but then the server reset the connection \
                 instead of closing it: it closed its socket while bytes from the client were \
                 still unread in it, and the system answers that with a reset, which can \
                 destroy the response before a client has read it. After writing the \
                 response, shutdown(Shutdown::Write) and read (and throw away) what the client \
                 still sends, with a deadline and a byte limit, before closing\n{}",
                client.describe()
            ))
        }
        Ok(reply) if reply.status == status => {
            assert!(
                reply.content_length() == Some(reply.body.len()) && reply.body.len() < 4096,
                "the {status} answer needs a short body with its Content-Length; got headers \
                 {:?} and a body of {} bytes",
                reply.headers,
                reply.body.len()
            );
        }
        Ok(reply) => served.thread.fail(format!(
            "expected status {status}, got {} {}\n{}",
            reply.status,
            reply.reason,
            client.describe()
        )),
        Err(_) if matches!(end, ReadEnd::Failed(io::ErrorKind::ConnectionReset, _)) => {
            served.thread.fail(format!(
                "expected an answer with status {status}, but the server reset the \
                 connection: it closed its socket while bytes from the client were still \
                 unread in it, and the system answers that with a reset, which destroys the \
                 response on its way. After writing the response, shutdown(Shutdown::Write) \
                 and read (and throw away) what the client still sends, with a deadline and a \
                 byte limit, before closing\n{}",
                client.describe()
            ))
        }
        Err(problem) => served.thread.fail(format!(
            "expected an answer with status {status} ({end}): {problem}. A bad request \
             still gets an answer (HttpError::response), and never a crash or a hang\n{}",
            client.describe()
        )),
    }
}

#[test]
fn serve_answers_others_while_a_client_sits_silent() {
    let site = Site::new();
    let mut served = start_serve(&site, 4, Duration::from_secs(5));
    let addr = served.addr;
    let result = Watchdog::new(DEADLINE).run(move || -> Result<_, String> {
        // Connects and never sends its request.
        let silent = connect(addr)?;
        let mut answered = Vec::new();
        for _ in 0..3 {
            let (client, end) = http_exchange(addr, GET_HELLO, REPLY_WITHIN)?;
            let ok = end == ReadEnd::Closed;
            answered.push((client, end));
            if !ok {
                break;
            }
        }
        drop(silent);
        Ok(answered)
    });
    let result = result.unwrap_or_else(|problem| served.thread.fail(problem));
    for (client, end) in &result {
        if *end == ReadEnd::TimedOut && client.received().is_empty() {
            served.thread.fail(format!(
                "a first client connected and sent nothing; another client's request got no \
                 answer within {REPLY_WITHIN:?}. Your server serves one client at a time: \
                 hand each connection to the pool (execute) and go straight back to \
                 accepting\n{}",
                client.describe()
            ));
        }
        expect_hello(client, end, &mut served.thread);
    }
}

#[test]
fn serve_lets_a_silent_client_go_after_the_request_timeout() {
    let site = Site::new();
    let timeout = Duration::from_millis(300);
    let mut served = start_serve(&site, 1, timeout);
    let addr = served.addr;
    let (silent, silent_end, client, end) = Watchdog::new(DEADLINE)
        .run(move || -> Result<_, String> {
            let mut silent = connect(addr)?;
            let (client, end) = http_exchange(addr, GET_HELLO, timeout + REPLY_WITHIN)?;
            let silent_end = silent.read_to_end(REPLY_WITHIN);
            Ok((silent, silent_end, client, end))
        })
        .unwrap_or_else(|problem| served.thread.fail(problem));
    if silent_end == ReadEnd::TimedOut {
        served.thread.fail(format!(
            "with one worker and a request timeout of {timeout:?}, a client that connected \
             and sent nothing still held its connection {:?} later: set a read timeout on \
             each connection (a deadline for the request head), answer 408 and close. \
             Without it, one silent client stalls a worker for ever, and a few of them the \
             whole server\n{}",
            timeout + REPLY_WITHIN * 2,
            silent.describe()
        ));
    }
    match HttpReply::parse(silent.received()) {
        Ok(reply) if reply.status == 408 => {}
        Ok(reply) => served.thread.fail(format!(
            "a client that sent nothing in time should get 408 Request Timeout, got {}\n{}",
            reply.status,
            silent.describe()
        )),
        // Closing without a word is allowed too (and what happens when the write fails).
        Err(_) if silent.received().is_empty() => {}
        Err(problem) => served
            .thread
            .fail(format!("{problem}\n{}", silent.describe())),
    }
    expect_hello(&client, &end, &mut served.thread);
}

#[test]
fn serve_cuts_off_a_client_that_sends_its_request_one_byte_at_a_time() {
    // A "slowloris" client: one byte every 50 ms, so a timeout for each read never expires.
    let site = Site::new();
    let timeout = Duration::from_millis(400);
    let mut served = start_serve(&site, 1, timeout);
    let addr = served.addr;
    let (client, end, took) = Watchdog::new(DEADLINE)
        .run(move || -> Result<_, String> {
            let mut client = connect(addr)?;
            let writer = client.stream().try_clone().expect("a second handle");
            let started = Instant::now();
            let dripping = thread::spawn(move || {
                let mut writer = writer;
                let _ = writer.write_all(b"GET /hello.txt HTTP/1.1\r\nX-Drip: ");
                while started.elapsed() < Duration::from_secs(3) {
                    // Pacing, not synchronisation: the point is to be slow.
                    thread::sleep(Duration::from_millis(50));
                    if writer.write_all(b"a").is_err() {
                        break;
                    }
                }
            });
            let end = client.read_to_end(Duration::from_secs(3));
            let took = started.elapsed();
            let _ = dripping.join();
            Ok((client, end, took))
        })
        .unwrap_or_else(|problem| served.thread.fail(problem));
    if end == ReadEnd::TimedOut || took > timeout + REPLY_WITHIN {
        served.thread.fail(format!(
            "a client sent its request head one byte every 50 ms; with a request timeout of \
             {timeout:?} it was still connected after {took:.1?}. A read timeout alone starts \
             again at every read, and each read gets a byte in time: give the whole head one \
             deadline (before each read, set the read timeout to the time left)\n{}",
            client.describe()
        ));
    }
    // Cut off by the server, not by its end: a server that stopped (or never ran) closes
    // every connection too.
    served
        .thread
        .assert_running("serve should go on serving after it cut the slow client off");
}

#[test]
fn serve_runs_at_most_workers_requests_at_once() {
    // One worker: a silent client takes it; the next client waits for the silent one's
    // timeout. A server that starts a thread per connection answers it at once.
    let site = Site::new();
    let timeout = Duration::from_millis(600);
    let mut served = start_serve(&site, 1, timeout);
    let addr = served.addr;
    let (client, end, answered_after) = Watchdog::new(DEADLINE)
        .run(move || -> Result<_, String> {
            let silent = connect(addr)?;
            let started = Instant::now();
            let (client, end) = http_exchange(addr, GET_HELLO, timeout + REPLY_WITHIN)?;
            drop(silent);
            Ok((client, end, started.elapsed()))
        })
        .unwrap_or_else(|problem| served.thread.fail(problem));
    expect_hello(&client, &end, &mut served.thread);
    if answered_after < timeout / 2 {
        served.thread.fail(format!(
            "serve was given 1 worker; while a silent client held it (request timeout \
             {timeout:?}), another client was answered after {answered_after:.1?}: more \
             requests ran at once than the pool has workers. Hand every connection to the \
             ThreadPool (execute) instead of a thread of its own: a pool bounds how many \
             threads a flood of clients can make you start"
        ));
    }
}

#[test]
fn serve_stops_gracefully_and_finishes_the_requests_in_flight() {
    let site = Site::new();
    // 8 MiB: more than loopback buffers hold, so the response is still being written while
    // the client does not read.
    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 253) as u8).collect();
    fs::write(site.root().join("big.bin"), &big).expect("writing the big file");
    let mut served = start_serve(&site, 2, Duration::from_secs(2));
    let addr = served.addr;

    let mut client = connect(addr).unwrap_or_else(|problem| served.thread.fail(problem));
    let sent = client.send(b"GET /big.bin HTTP/1.1\r\nHost: test\r\n\r\n", REPLY_WITHIN);
    let started = client.read_exactly(1000, REPLY_WITHIN);
    if sent.is_err() || started != ReadEnd::Complete {
        served.thread.fail(format!(
            "GET /big.bin (8 MiB) did not start within {REPLY_WITHIN:?}: {started}\n{}",
            client.describe()
        ));
    }
    // The response is in flight: stop the server.
    let stop = served.stop.clone();
    Watchdog::new(DEADLINE)
        .hint("Stop::stop did not return")
        .run(move || stop.stop());
    if let Some(ended) = served.thread.ended_within(Duration::from_millis(300)) {
        let ended = format!("{ended:?}");
        served.thread.fail(format!(
            "serve returned ({ended}) while a response was still being sent: a graceful \
             shutdown stops accepting, then waits for the requests in flight: join the pool \
             (its workers) before returning"
        ));
    }
    let end = client.read_to_end(Duration::from_secs(5));
    let reply = HttpReply::parse(client.received());
    let complete = matches!(&reply, Ok(reply) if reply.status == 200 && reply.body == big);
    if !complete || end != ReadEnd::Closed {
        let client_text = cap_text(&client.describe(), 2000);
        served.thread.fail(format!(
            "stop was called while GET /big.bin was being answered; the client then read \
             on and got {} bytes in all ({end}) instead of the whole response. The requests \
             in flight must finish: stop only the accepting\n{client_text}",
            client.received().len()
        ));
    }
    if served.thread.ended_within(Duration::from_secs(3)).is_none() {
        // Does it still accept, or is it stuck after the accept loop?
        let late = http_exchange(addr, GET_HELLO, Duration::from_millis(500));
        let (still_serving, late_end) = match &late {
            Ok((late, end)) => (HttpReply::parse(late.received()).is_ok(), end.to_string()),
            Err(problem) => (false, problem.clone()),
        };
        let why = if still_serving {
            format!(
                "it still answers new clients ({late_end}): after each accept, check \
                 stop.is_stopped() and leave the loop (stop() connects once to wake an \
                 accept that waits)"
            )
        } else {
            "it no longer answers, so it is stuck after the accept loop: the pool's join \
             waits for workers that wait for jobs. Drop the Sender before joining: their \
             recv() fails and they leave their loop"
                .to_string()
        };
        served.thread.fail(format!(
            "serve did not return within 3 s after stop and the last response: {why}"
        ));
    }
    match served.thread.ended_within(Duration::ZERO) {
        Some(Ok(Ok(()))) => {}
        other => {
            let other = format!("{other:?}");
            served.thread.fail(format!(
                "after stop, serve must return Ok(()); it returned {other}"
            ))
        }
    }
    match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
        Err(_) => {}
        Ok(_) => panic!(
            "serve returned, but a client could still connect to {addr}: drop the listener \
             when the server stops (returning from serve drops it)"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// The program, and real clients
// ---------------------------------------------------------------------------------------------

/// The program under test: the exercise's `ex08-server`, or the solution's build of it.
fn server_program() -> &'static str {
    option_env!("CARGO_BIN_EXE_ex08-server")
        .or(option_env!("CARGO_BIN_EXE_ex08-solution-server"))
        .expect("cargo names the package's server program in CARGO_BIN_EXE_…")
}

fn program_command(site: &Site, extra: &[&str]) -> Command {
    let mut command = Command::new(server_program());
    command
        .arg("--root")
        .arg(site.root())
        .args(["--port", "0"])
        .args(extra);
    command
}

fn start_program(command: Command) -> ServerProcess {
    ServerProcess::start(command, "listening on ", REPLY_WITHIN * 5)
        .unwrap_or_else(|message| panic!("{}", cap_text(&message, 4000)))
}

/// Fails with what the program did, when a client saw `seen`.
fn program_failed(server: &mut ServerProcess, seen: &str) -> ! {
    let state = match server.state_after_failure() {
        Ok(()) => "the program is still running".to_string(),
        Err(ended) => ended,
    };
    panic!("{seen}\n{state}{}", cap_text(&server.describe(), 4000))
}

#[test]
fn program_serves_files_and_logs_one_line_per_request() {
    let site = Site::new();
    let mut server = start_program(program_command(&site, &["--workers", "2"]));
    let addr = server.addr();
    let exchange =
        Watchdog::new(DEADLINE).run(move || http_exchange(addr, GET_HELLO, REPLY_WITHIN));
    let (client, end) = exchange.unwrap_or_else(|problem| program_failed(&mut server, &problem));
    match HttpReply::parse(client.received()) {
        Ok(reply) if reply.status == 200 && reply.body == HELLO && end == ReadEnd::Closed => {}
        _ => program_failed(&mut server, &client.describe()),
    }
    let logged = server.wait_for_stderr(REPLY_WITHIN, |log| {
        log.lines()
            .any(|line| line.contains("GET /hello.txt") && line.contains("200"))
    });
    assert!(
        logged,
        "the program answered GET /hello.txt, but logged no line on stderr with the request \
         and its status (e.g. `127.0.0.1:54321 \"GET /hello.txt HTTP/1.1\" 200 15`): log one \
         line per request in handle_connection, on stderr (eprintln!){}",
        cap_text(&server.describe(), 3000)
    );
}

#[test]
fn program_stops_gracefully_when_stop_is_typed() {
    let site = Site::new();
    let command = program_command(&site, &["--workers", "2"]);
    let (mut server, mut stdin) =
        ServerProcess::start_with_stdin(command, "listening on ", REPLY_WITHIN * 5)
            .unwrap_or_else(|message| panic!("{}", cap_text(&message, 4000)));
    let addr = server.addr();
    let exchange =
        Watchdog::new(DEADLINE).run(move || http_exchange(addr, GET_HELLO, REPLY_WITHIN));
    let (client, end) = exchange.unwrap_or_else(|problem| program_failed(&mut server, &problem));
    if !matches!(HttpReply::parse(client.received()), Ok(reply) if reply.status == 200 && end == ReadEnd::Closed)
    {
        program_failed(&mut server, &client.describe());
    }
    let _ = stdin.write_all(b"stop\n");
    let _ = stdin.flush();
    match server.exited_within(Duration::from_secs(5)) {
        Some(status) if status.success() => {}
        Some(status) => program_failed(
            &mut server,
            &format!("after `stop` on its stdin the program exited with {status}, not 0"),
        ),
        None => program_failed(
            &mut server,
            "the program was sent `stop` on its stdin (it calls Stop::stop) and did not exit \
             within 5 s: your serve must leave its accept loop when stopped (check \
             is_stopped after each accept) and join its workers",
        ),
    }
}

#[test]
fn program_keeps_serving_when_accept_fails() {
    // Linux only: the program runs with 16 open files at most, and 20 silent clients take
    // them all, so `accept` fails with "Too many open files" until their timeout frees them.
    let site = Site::new();
    if !cfg!(target_os = "linux") {
        println!("note: the open-file limit part of this test runs on Linux only");
        let mut server = start_program(program_command(&site, &[]));
        let addr = server.addr();
        let (client, end) = http_exchange(addr, GET_HELLO, REPLY_WITHIN)
            .unwrap_or_else(|problem| program_failed(&mut server, &problem));
        if !matches!(HttpReply::parse(client.received()), Ok(reply) if reply.status == 200 && end == ReadEnd::Closed)
        {
            program_failed(&mut server, &client.describe());
        }
        return;
    }
    let mut command = Command::new("sh");
    command
        .args(["-c", "ulimit -n 16 && exec \"$0\" \"$@\"", server_program()])
        .arg("--root")
        .arg(site.root())
        .args(["--port", "0", "--workers", "32", "--timeout", "0.5"]);
    let mut server = start_program(command);
    let addr = server.addr();
    let exchange = Watchdog::new(DEADLINE).run(move || {
        let silent: Vec<TestClient> = (0..20)
            .filter_map(|_| TestClient::connect(addr, REPLY_WITHIN).ok())
            .collect();
        let answer = http_exchange(addr, GET_HELLO, Duration::from_secs(6));
        drop(silent);
        answer
    });
    let (client, end) = exchange.unwrap_or_else(|problem| program_failed(&mut server, &problem));
    // Any answer shows the client was accepted after the failures: even a 500, when the file
    // itself could not be opened for lack of files.
    match HttpReply::parse(client.received()) {
        Ok(_) if end == ReadEnd::Closed => {}
        _ => {
            let log = server.stderr();
            let accept_failed = log.contains("Too many open files") || log.contains("accept");
            let seen = format!(
                "20 silent clients took every file the program may open, so accept failed \
                 (Too many open files){}; after their timeout (0.5 s) files were free again, \
                 but the next client was not served: {end}. One failed accept is not a \
                 reason to stop: log it, pause a moment, and go on accepting\n{}",
                if accept_failed {
                    " as the log shows"
                } else {
                    ""
                },
                client.describe()
            );
            program_failed(&mut server, &seen)
        }
    }
}

/// A real client's program, or `None` (with a note) when it is not installed. Python is
/// required when `CI=true`.
fn real_client(name: &str, version_arg: &str, required_on_ci: bool) -> Option<String> {
    let found = Command::new(name)
        .arg(version_arg)
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        return Some(name.to_string());
    }
    if required_on_ci && std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{name} is required on CI (CI=true) but was not found");
    }
    println!(
        "note: {name} is not installed here, so this test checked nothing; install it to run it"
    );
    None
}

/// A running serve on `site` for a real client, with the site's address.
fn serve_for_real_client(site: &Site) -> Served {
    start_serve(site, 4, Duration::from_secs(5))
}

#[test]
fn python_urllib_and_http_client_get_the_exact_bytes_status_and_headers() {
    let site = Site::new();
    let mut served = serve_for_real_client(&site);
    let Some(python) = real_client("python3", "--version", true) else {
        return;
    };
    let script = r#"
import sys, urllib.request, urllib.error, http.client
host, port = sys.argv[1], int(sys.argv[2])
base = f"http://{host}:{port}"
problems = []
with urllib.request.urlopen(base + "/logo.png", timeout=3) as r:
    body = r.read()
    if r.status != 200: problems.append(f"GET /logo.png: status {r.status}")
    if body != bytes.fromhex(sys.argv[3]): problems.append(f"GET /logo.png: {len(body)} bytes, not the file's")
    if r.headers["Content-Type"] != "image/png": problems.append(f"Content-Type {r.headers['Content-Type']!r}")
try:
    urllib.request.urlopen(base + "/missing", timeout=3)
    problems.append("GET /missing did not fail")
except urllib.error.HTTPError as e:
    if e.code != 404: problems.append(f"GET /missing: status {e.code}, not 404")
c = http.client.HTTPConnection(host, port, timeout=3)
c.request("HEAD", "/hello.txt")
r = c.getresponse()
if r.status != 200 or r.getheader("Content-Length") != "15": problems.append(f"HEAD /hello.txt: {r.status} {r.getheaders()}")
c.close()
c = http.client.HTTPConnection(host, port, timeout=3)
c.request("POST", "/hello.txt", body=b"x=1")
r = c.getresponse()
if r.status != 405 or "GET" not in (r.getheader("Allow") or ""): problems.append(f"POST: {r.status} {r.getheaders()}")
print("\n".join(problems) if problems else "ok")
"#;
    let mut command = Command::new(python);
    command
        .args(["-c", script])
        .arg(served.addr.ip().to_string())
        .arg(served.addr.port().to_string())
        .arg(png().iter().map(|b| format!("{b:02x}")).collect::<String>());
    let run = Program::new(command)
        .time_limit(Duration::from_secs(15))
        .run()
        .expect("starting python3");
    if run.code() != Some(0) || run.stdout_text().trim() != "ok" {
        served.thread.fail(format!(
            "Python's urllib and http.client talked to your serve: {}\nwhat it printed:\n{}\n{}",
            run.ending(),
            cap_text(&run.stdout_text(), 2000),
            cap_text(&run.stderr_text(), 2000)
        ));
    }
}

#[test]
fn curl_gets_the_exact_bytes_and_head_gets_no_body() {
    let site = Site::new();
    let mut served = serve_for_real_client(&site);
    let Some(curl) = real_client("curl", "--version", false) else {
        return;
    };
    let url = format!("http://{}/logo.png", served.addr);
    let run = |args: &[&str]| {
        let mut command = Command::new(&curl);
        command
            .args(["--silent", "--show-error", "--max-time", "3"])
            .args(args);
        Program::new(command)
            .time_limit(Duration::from_secs(10))
            .run()
            .expect("starting curl")
    };
    let got = run(&[&url]);
    if got.code() != Some(0) || got.stdout != png() {
        served.thread.fail(format!(
            "curl {url}: {}, {} bytes (the file has {}); curl said: {}",
            got.ending(),
            got.stdout.len(),
            png().len(),
            got.stderr_text().trim()
        ));
    }
    let head = run(&["--head", &url]);
    let text = head.stdout_text();
    let length_line = format!("content-length: {}", png().len());
    if head.code() != Some(0)
        || !text.starts_with("HTTP/1.1 200")
        || !text.to_ascii_lowercase().contains(&length_line)
    {
        served.thread.fail(format!(
            "curl --head {url}: {}; it printed {text:?} and said {}",
            head.ending(),
            head.stderr_text().trim()
        ));
    }
}
