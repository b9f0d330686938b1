//! # Exercise 8 — an HTTP server by hand
//!
//! In exercise 7 you wrote a browser's first job: send `GET`, read the answer. Now you write
//! the other side, the lectures' last program: "an HTTP server in Python with the socket
//! module". It serves the files of a folder (the *root*) to anyone who asks, and it must
//! survive what the internet sends a public server every day:
//!
//! - requests that are not HTTP, lines of a gigabyte, millions of headers — a bounded answer
//!   (`400`, `414`, `431`), never a crash and never unbounded memory;
//! - **path traversal**: `GET /../../etc/passwd`, `/%2e%2e/`, `//etc/passwd`, a symbolic link
//!   in the root that points out of it. Whatever the client sends, no file outside the root
//!   is ever served. This is the security lesson of the exercise;
//! - clients that connect and say nothing, or send one byte a second: a deadline for each
//!   request, so they cannot hold the server;
//! - many clients at once: a **thread pool** of a fixed size (the Rust Book's last chapter),
//!   so a flood of clients cannot make the server start a thread each;
//! - and, when it is told to stop, a **graceful shutdown**: stop accepting, finish the
//!   requests in flight, wait for the workers, return.
//!
//! | Python (the lecture)                          | Rust (this exercise)                     |
//! |-----------------------------------------------|------------------------------------------|
//! | `conn.makefile('rb').readline()`              | `BufRead::read_until(b'\n', &mut line)`  |
//! | `readline(8192)` (a limit)                    | `reader.by_ref().take(8192).read_until(…)` |
//! | `urllib.parse.unquote(path)`                  | your own `%XX` decoding                  |
//! | `os.path.realpath(p).startswith(root)`        | `Path::canonicalize`, `Path::starts_with` |
//! | `open(p, 'rb').read()`                        | `std::fs::read(p)` (bytes, not text)     |
//! | `conn.settimeout(5)`                          | `stream.set_read_timeout(Some(…))`       |
//! | `concurrent.futures.ThreadPoolExecutor(4)`    | your `ThreadPool::new(4)`                |
//! | `executor.shutdown(wait=True)`                | your `ThreadPool::join`                  |
//!
//! ## One request, one response
//!
//! ```text
//! GET /docs/ HTTP/1.1\r\n              request line: METHOD TARGET VERSION
//! Host: 127.0.0.1:8080\r\n             headers: Name: value
//! \r\n                                 the empty line: the request head is over
//!
//! HTTP/1.1 200 OK\r\n                  status line: VERSION STATUS REASON
//! Content-Type: text/html; charset=utf-8\r\n
//! Content-Length: 29\r\n               the body's length in BYTES
//! Connection: close\r\n                one request per connection, then the server closes
//! \r\n
//! <!DOCTYPE html>…                     the body: the file's bytes (none for HEAD)
//! ```
//!
//! ## The order of work
//! 1. [`parse_request`] — read the head line by line, with limits.
//! 2. [`Response::text`] and [`Response::write_to`] — build and send a response.
//! 3. [`content_type`] and [`respond`] — the file for a target, safely.
//! 4. [`ThreadPool`] — `new`, `execute`, `join`.
//! 5. [`handle_connection`] and [`serve`] — the server on a real socket, with a deadline per
//!    request and a graceful stop through [`Stop`] (provided).
//!
//! The tests' names start with the function they check, in this order.
//!
//! ## Try it by hand
//! `cargo run -p ex08 --bin ex08-server -- --root docs/book --port 8080` serves a folder
//! (the program is provided: it calls your `serve`). Then open `http://127.0.0.1:8080/` in a
//! browser, or `curl -v http://127.0.0.1:8080/`, or type a request into `nc 127.0.0.1 8080`
//! (`GET / HTTP/1.1`, Enter, Enter). Try `curl --path-as-is http://127.0.0.1:8080/../Cargo.toml`:
//! it must not work. Type `stop` and Enter in the server's terminal to stop it gracefully;
//! Ctrl-C ends it at once (see the program's header for why).
//!
//! ## Check your work
//! `cargo test -p ex08`. When a test fails, it says what was sent, what came back, and the
//! likely mistake.

use std::io::{self, BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
// You will need more of std as you go: `std::io::Read`, `std::fs`, `std::thread`,
// `std::sync::{mpsc, Mutex}`, `std::time::Instant`, `std::net::Shutdown`, `std::panic`.

/// The longest line (request line or header line) the server reads, ending included.
pub const MAX_LINE: usize = 8 * 1024;

/// The most header lines a request may have.
pub const MAX_HEADERS: usize = 64;

/// What `Allow` says in a `405 Method Not Allowed`: the methods this server knows.
pub const ALLOWED_METHODS: &str = "GET, HEAD";

/// A request head, as it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path and query, still %-encoded: `/docs/a%20b.html?x=1`.
    pub target: String,
    /// `HTTP/1.1` (or `HTTP/1.0`).
    pub version: String,
    /// The header lines in order: the name as it came, the value without the spaces around it.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name`, in any case (header names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum HttpError {
    /// The connection ended before the request's empty line: nobody is left to answer.
    Closed,
    /// Reading failed. A read that timed out (`WouldBlock` or `TimedOut`) is a client too
    /// slow to send its request (`408`); anything else is a broken connection.
    Io(io::Error),
    /// The request is not HTTP: `400 Bad Request`, and why.
    BadRequest(String),
    /// The request line is longer than [`MAX_LINE`]: `414 URI Too Long`.
    UriTooLong,
    /// A header line longer than [`MAX_LINE`], or more than [`MAX_HEADERS`] of them:
    /// `431 Request Header Fields Too Large`.
    HeadersTooLarge,
}

impl HttpError {
    /// The response this error deserves, if anybody is left to read one. (Provided.)
    pub fn response(&self) -> Option<Response> {
        match self {
            HttpError::Closed => None,
            HttpError::Io(error) if is_timeout(error) => {
                Some(Response::text(408, "the request did not arrive in time\n"))
            }
            HttpError::Io(_) => None,
            HttpError::BadRequest(why) => Some(Response::text(400, &format!("{why}\n"))),
            HttpError::UriTooLong => Some(Response::text(
                414,
                &format!("the request line is longer than {MAX_LINE} bytes\n"),
            )),
            HttpError::HeadersTooLarge => Some(Response::text(
                431,
                &format!(
                    "a header line is longer than {MAX_LINE} bytes, or there are more than \
                     {MAX_HEADERS} of them\n"
                ),
            )),
        }
    }
}

/// A read timeout: `WouldBlock` on Unix, `TimedOut` on Windows. (Provided.)
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads one request head: the request line, the header lines, the empty line. Stops right
/// after the empty line (what follows is not the head's).
///
/// - The request line is exactly `METHOD TARGET VERSION`: three parts separated by single
///   spaces, the method in capital letters, the version starting with `HTTP/1.`. Empty lines
///   before it are skipped.
/// - Each header line is `Name: value`: split at the first colon; no space or tab in the
///   name; the value trimmed.
/// - Lines end with `\r\n`; a bare `\n` is accepted too (what `nc` sends).
/// - Limits: a line longer than [`MAX_LINE`] bytes is [`HttpError::UriTooLong`] (the
///   request line) or [`HttpError::HeadersTooLarge`] (a header line), and so is a
///   `MAX_HEADERS + 1`-th header. Never read more than the limit of one line into memory.
/// - The end of the input before the empty line is [`HttpError::Closed`]; a read error is
///   [`HttpError::Io`]; anything else wrong (not UTF-8 either) is [`HttpError::BadRequest`].
pub fn parse_request(reader: &mut impl BufRead) -> Result<Request, HttpError> {
    // TODO: read one line at a time with `reader.by_ref().take(MAX_LINE as u64)
    // .read_until(b'\n', &mut bytes)`: at most MAX_LINE bytes per line. A line without its
    // `\n` is either the limit (bytes.len() == MAX_LINE) or the end of the input. Strip the
    // `\n` and then a `\r`; `String::from_utf8`. Then check the request line
    // (`split(' ')` must give exactly three parts) and each header line (`split_once(':')`),
    // until the empty line. Never read to the end of the input: the client is waiting for you.
    todo!(
        "read a request head from a {}",
        std::any::type_name_of_val(reader)
    )
}

/// A response: status, headers, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Written in this order, each as `Name: value`.
    pub headers: Vec<(String, String)>,
    /// The bytes after the head (empty for `HEAD`).
    pub body: Vec<u8>,
}

impl Response {
    /// A short plain-text response, such as an error page: the headers `Content-Type:
    /// text/plain; charset=utf-8` and `Content-Length`, then `body`.
    pub fn text(status: u16, body: &str) -> Response {
        // TODO: Content-Length counts the bytes of the body, not its characters.
        todo!("a {status} response with the text {body:?}")
    }

    /// The first header called `name`, in any case. (Provided.)
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Writes the response: the status line `HTTP/1.1 STATUS REASON` (the reason from
    /// [`reason`]), each header, `Connection: close`, the empty line, the body. Every line of
    /// the head ends with `\r\n`.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        // TODO: build the head in a String (`format!`, `push_str`), `write_all` it, then
        // `write_all` the body, then `flush`.
        todo!("write {self:?} to {:p}", out)
    }
}

/// The reason phrase of `status`: the words after the number in the status line. (Provided.)
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(have, _)| have.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The `Content-Type` of a file, by its extension in any case: `html`/`htm` →
/// `text/html; charset=utf-8`, `css` → `text/css; charset=utf-8`, `js` →
/// `text/javascript; charset=utf-8`, `txt` → `text/plain; charset=utf-8`, `json` →
/// `application/json`, `png` → `image/png`, `jpg`/`jpeg` → `image/jpeg`, `gif` →
/// `image/gif`, `svg` → `image/svg+xml`, `ico` → `image/x-icon`, `pdf` → `application/pdf`,
/// anything else (or none) → `application/octet-stream`.
pub fn content_type(path: &Path) -> &'static str {
    // TODO: `path.extension()` gives an `Option<&OsStr>`; `to_str()`, then
    // `to_ascii_lowercase()`, then `match`.
    todo!("the Content-Type of {path:?}")
}

/// Answers `request` from the files under `root`.
///
/// - `GET` of a file: `200`, its bytes, `Content-Type` (from [`content_type`]) and
///   `Content-Length`. A folder means its `index.html`. `HEAD`: the same headers, no body.
/// - Another method: `405` with a header `Allow: GET, HEAD` ([`ALLOWED_METHODS`]).
/// - The target's path (before any `?`) is %-decoded (`%20` is a space). A target that does
///   not start with `/`, or has a bad `%` escape, or a NUL: `400`.
/// - **Never a file outside `root`**: not with `..` (raw or as `%2e%2e`), not with a decoded
///   `/` or `\` inside a segment, not with an absolute path (`//etc/passwd`), not through a
///   symbolic link that points out of the root. Answer those with `400`, `403` or `404`.
/// - No such file: `404`; not readable: `403`; any other error: `500`; each with a short
///   text body ([`Response::text`]).
pub fn respond(root: &Path, request: &Request) -> Response {
    // TODO: 1. the method (GET, HEAD, or 405 + Allow).
    // 2. the path: split the target at `/` FIRST, then %-decode each segment, THEN check it:
    //    skip "" and ".", refuse "..", refuse a segment with `/`, `\`, `:` or NUL in it;
    //    push the others onto `root.to_path_buf()`. (Decoding first would turn `%2e%2e%2f`
    //    into `../` after your check.) A folder (`is_dir`) gets `index.html` pushed.
    // 3. symbolic links: `canonicalize` the file and the root, and refuse the file unless
    //    `real_file.starts_with(&real_root)`.
    // 4. `std::fs::read` (bytes, not read_to_string: images are not text); map the error's
    //    kind to 404/403/500.
    todo!("answer {request:?} from the files under {root:?}")
}

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The folder whose files are served.
    pub root: PathBuf,
    /// How many requests are served at once (threads of the pool).
    pub workers: usize,
    /// How long a client may take to send its whole request head.
    pub request_timeout: Duration,
}

/// Serves one connection: reads a request (all of its head within
/// `config.request_timeout`), answers it ([`respond`], or the error's response), logs one
/// line on stderr, and closes the connection without destroying the response.
///
/// The log line names the client, the request line and the status, like
/// `127.0.0.1:54321 "GET /hello.txt HTTP/1.1" 200 15`.
pub fn handle_connection(stream: TcpStream, config: &Config) -> io::Result<()> {
    // TODO: 1. A deadline for the whole head: a read timeout alone starts again at every
    //    read, and a client sending one byte every second never hits it. Wrap the stream in
    //    a small reader of your own (impl Read) that, before each read, sets the read timeout
    //    to the time left until the deadline (`Instant`), and gives `ErrorKind::TimedOut`
    //    once there is none (`set_read_timeout(Some(Duration::ZERO))` is an error). Give
    //    parse_request a `BufReader` of it.
    // 2. `parse_request`, then `respond(&config.root, &request)`, or `error.response()`
    //    (None: nothing to answer, return).
    // 3. `response.write_to(&mut &stream)` (`&TcpStream` is Write too), log with `eprintln!`.
    // 4. The client may still be sending: a head you refused half-way (400, 414, 431), a
    //    body you did not read (Content-Length, Transfer-Encoding), bytes left in the
    //    BufReader (`reader.buffer()`). Closing now makes the system send a reset, which can
    //    destroy the response before the client reads it. So in those cases
    //    `stream.shutdown(Shutdown::Write)`, then read and throw away what still comes (with
    //    a short deadline and a byte limit) until the client closes.
    todo!("serve one request on {stream:?} from {config:?}")
}

/// A fixed number of threads that run the jobs given to [`ThreadPool::execute`].
pub struct ThreadPool {
    // TODO: the pool's fields: the sending side of a channel of jobs
    // (`Box<dyn FnOnce() + Send + 'static>`), which join will need to drop, and the workers'
    // `JoinHandle`s. The receiving side is shared by the workers: `Arc<Mutex<Receiver<Job>>>`.
}

impl ThreadPool {
    /// A pool of `size` threads.
    ///
    /// # Panics
    /// If `size` is 0.
    pub fn new(size: usize) -> ThreadPool {
        // TODO: a channel (`mpsc::sync_channel(size)` bounds the queue too), then `size`
        // threads that each loop: lock the receiver, `recv()` a job, UNLOCK, run it. Take the
        // job in a `let` statement of its own: in `while let Ok(job) = rx.lock().unwrap()
        // .recv() { job() }` the lock is held while the job runs, and the workers take turns.
        // A job that panics must not kill its worker: `std::panic::catch_unwind`. When
        // `recv()` fails, the pool has hung up: the worker returns.
        todo!("start a pool of {size} threads")
    }

    /// Runs `job` on the next free worker.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        // TODO: send `Box::new(job)` into the channel.
        todo!(
            "give a job ({}) to the pool at {:p}",
            std::any::type_name_of_val(&job),
            self
        )
    }

    /// Lets the workers finish every job given so far, then waits for them to end.
    pub fn join(self) {
        // TODO: drop the sender FIRST (the workers' `recv()` then fails once the queue is
        // empty), THEN join every worker's handle. (An `impl Drop for ThreadPool` doing this
        // also joins a pool that is dropped without `join`.)
        todo!("stop the pool at {:p} and wait for its workers", &self)
    }
}

/// Tells a running [`serve`] to stop. Clone it to give it to another thread. (Provided.)
///
/// `serve` waits in `accept`, and nothing but a connection makes `accept` return: std has
/// no way to interrupt it. So [`Stop::stop`] sets a flag and then connects once to the
/// listener; `serve` checks the flag after each accept. (The alternative, a non-blocking
/// listener polled every few milliseconds, wakes the server for nothing all day long.)
#[derive(Clone, Debug)]
pub struct Stop {
    stopped: Arc<AtomicBool>,
    /// Where the listener listens: connecting there wakes an `accept` that is waiting.
    wake: SocketAddr,
}

impl Stop {
    /// A stop handle for the server that will serve `listener`.
    pub fn new(listener: &TcpListener) -> io::Result<Stop> {
        let mut wake = listener.local_addr()?;
        // A listener on every interface (0.0.0.0 or ::) is reached on loopback.
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        Ok(Stop {
            stopped: Arc::new(AtomicBool::new(false)),
            wake,
        })
    }

    /// Asks the server to stop: sets the flag, then connects once so that an `accept` that
    /// waits returns and sees it.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
    }

    /// Whether [`Stop::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// Accepts clients on `listener` and serves each with [`handle_connection`] on a
/// [`ThreadPool`] of `config.workers` threads, until `stop` is stopped. Then it stops
/// accepting (drops the listener), lets the requests already accepted finish, joins the
/// workers and returns `Ok(())`.
///
/// A failed accept (a client that left before it was accepted, no file descriptors for a
/// moment) is logged on stderr, and the loop goes on.
pub fn serve(listener: TcpListener, config: Config, stop: Stop) -> io::Result<()> {
    // TODO: `ThreadPool::new(config.workers)`; the config goes to the workers in an `Arc`.
    // Loop over `listener.incoming()`: after each accept, `if stop.is_stopped() { break }`;
    // give each stream to `pool.execute(move || …handle_connection…)`; log an accept error,
    // pause a few milliseconds (a lasting error must not spin) and go on. After the loop:
    // `drop(listener)`, then `pool.join()`.
    todo!("serve {listener:?} with {config:?} until {stop:?}")
}
