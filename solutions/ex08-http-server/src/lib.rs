//! Reference solution of exercise 8 — an HTTP server by hand.
//!
//! Graded by the exercise's own tests (`exercises/ex08-http-server/tests/graded.rs`).

use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest line (request line or header line) the server reads, ending included.
pub const MAX_LINE: usize = 8 * 1024;

/// The most header lines a request may have.
pub const MAX_HEADERS: usize = 64;

/// What `Allow` says in a `405 Method Not Allowed`: the methods this server knows.
pub const ALLOWED_METHODS: &str = "GET, HEAD";

/// A request head, as it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header called `name`, in any case.
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
    /// The response this error deserves, if anybody is left to read one.
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

/// A read timeout: `WouldBlock` on Unix, `TimedOut` on Windows.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads one request head: the request line, the header lines, the empty line. Stops right
/// after the empty line; reads at most [`MAX_LINE`] bytes per line and [`MAX_HEADERS`] lines.
pub fn parse_request(reader: &mut impl BufRead) -> Result<Request, HttpError> {
    // The request line. Empty lines before it are allowed (RFC 9112 §2.2).
    let line = loop {
        match read_line(reader)? {
            Line::Text(line) if line.is_empty() => continue,
            Line::Text(line) => break line,
            Line::TooLong => return Err(HttpError::UriTooLong),
        }
    };
    // Exactly three parts, separated by single spaces.
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(HttpError::BadRequest(format!(
            "the request line {line:?} is not `METHOD TARGET HTTP/1.1`"
        )));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HttpError::BadRequest(format!(
            "the method {method:?} is not a word in capitals"
        )));
    }
    if target.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(HttpError::BadRequest(format!(
            "the request line {line:?} is not `METHOD TARGET HTTP/1.1`"
        )));
    }

    let mut headers = Vec::new();
    loop {
        let line = match read_line(reader)? {
            Line::Text(line) => line,
            Line::TooLong => return Err(HttpError::HeadersTooLarge),
        };
        if line.is_empty() {
            break; // the empty line: the head is over
        }
        if headers.len() == MAX_HEADERS {
            return Err(HttpError::HeadersTooLarge);
        }
        // `Name: value`; no space is allowed before the colon (RFC 9112 §5.1).
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::BadRequest(format!(
                "the header line {line:?} has no colon"
            )));
        };
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(HttpError::BadRequest(format!(
                "the header name {name:?} is empty or has a space"
            )));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
    })
}

/// A line of the head, or the news that it is too long.
enum Line {
    Text(String),
    TooLong,
}

/// Reads one line of at most [`MAX_LINE`] bytes and returns it without its `\r\n` (a bare
/// `\n` is accepted too, as RFC 9112 §2.2 allows).
fn read_line(reader: &mut impl BufRead) -> Result<Line, HttpError> {
    let mut bytes = Vec::new();
    // `take` is the memory bound: `read_until` alone would read a line of a gigabyte.
    let count = reader
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut bytes)
        .map_err(HttpError::Io)?;
    if !bytes.ends_with(b"\n") {
        // Either the limit stopped us in the middle of a line, or the client left.
        return if count == MAX_LINE {
            Ok(Line::TooLong)
        } else {
            Err(HttpError::Closed)
        };
    }
    bytes.pop();
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    String::from_utf8(bytes)
        .map(Line::Text)
        .map_err(|_| HttpError::BadRequest("the request head is not UTF-8 text".into()))
}

/// A response: status, headers, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A short plain-text response, such as an error page, with its `Content-Type` and
    /// `Content-Length`.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![
                ("Content-Type".into(), "text/plain; charset=utf-8".into()),
                // Bytes, not characters: `é` is two bytes on the wire.
                ("Content-Length".into(), body.len().to_string()),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    /// The first header called `name`, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Writes the status line, the headers, `Connection: close`, the empty line and the body.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        // The whole head in one piece: one write, one packet, no half-head on the wire.
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        // One request per connection: say so, then the empty line that ends the head.
        head.push_str("Connection: close\r\n\r\n");
        out.write_all(head.as_bytes())?;
        out.write_all(&self.body)?;
        out.flush()
    }
}

/// The reason phrase of `status` (the words after the number in the status line).
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

/// The `Content-Type` of a file, by its extension (in any case).
pub fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        // Unknown: bytes the browser should not guess at.
        _ => "application/octet-stream",
    }
}

/// Answers `request` from the files under `root`: `GET` and `HEAD` only.
pub fn respond(root: &Path, request: &Request) -> Response {
    let head_only = match request.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        other => {
            let mut response = Response::text(405, &format!("{other} is not served here\n"));
            response
                .headers
                .push(("Allow".into(), ALLOWED_METHODS.into()));
            return response;
        }
    };
    let path = match resolve(root, &request.target) {
        Ok(path) => path,
        Err(response) => return response,
    };
    let body = match fs::read(&path) {
        Ok(body) => body,
        Err(error) => return error_response(&request.target, &error),
    };
    Response {
        status: 200,
        headers: vec![
            ("Content-Type".into(), content_type(&path).into()),
            ("Content-Length".into(), body.len().to_string()),
        ],
        // HEAD: the same head as GET, Content-Length included, and no body.
        body: if head_only { Vec::new() } else { body },
    }
}

/// The file under `root` that `target` names, or the response that says why there is none.
///
/// The security rule: whatever the client sends, the path stays under `root`. So the target
/// is taken apart *first* and each piece decoded and checked *after*: `%2e%2e` is `..` and
/// `%2f` is `/` once decoded, and a check on the raw text would miss them.
fn resolve(root: &Path, target: &str) -> Result<PathBuf, Response> {
    // The query (`?…`) does not name a file.
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let Some(path) = path.strip_prefix('/') else {
        return Err(Response::text(400, "the target must start with /\n"));
    };
    let mut file = root.to_path_buf();
    for segment in path.split('/') {
        let Some(name) = percent_decode(segment) else {
            return Err(Response::text(400, "bad %-escape in the target\n"));
        };
        match name.as_str() {
            // `//` and `/./` stay where they are.
            "" | "." => continue,
            ".." => return Err(Response::text(400, "`..` is not allowed in a path\n")),
            _ => {}
        }
        // One plain file name per segment: no separator (a decoded `%2f`, a Windows `\`),
        // no drive (`C:`), no NUL. `Component::Normal` is what `Path` calls a plain name.
        let plain = !name.contains(['/', '\\', ':', '\0'])
            && matches!(
                Path::new(&name).components().collect::<Vec<_>>()[..],
                [Component::Normal(_)]
            );
        if !plain {
            return Err(Response::text(400, "a path segment is not a plain name\n"));
        }
        file.push(name);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    // Symbolic links: a link under root may point anywhere. Resolve every link and compare
    // real paths; the file must still be under the real root.
    let real_root = root
        .canonicalize()
        .map_err(|error| error_response(target, &error))?;
    let real_file = file
        .canonicalize()
        .map_err(|error| error_response(target, &error))?;
    if !real_file.starts_with(&real_root) {
        return Err(Response::text(403, "that file is outside the site\n"));
    }
    Ok(real_file)
}

/// `%41` → `A`; `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// 404 for a file that is not there, 403 for one we may not read, 500 otherwise.
fn error_response(target: &str, error: &io::Error) -> Response {
    match error.kind() {
        io::ErrorKind::NotFound => Response::text(404, &format!("{target} is not here\n")),
        io::ErrorKind::PermissionDenied => {
            Response::text(403, &format!("{target} may not be read\n"))
        }
        _ => Response::text(500, &format!("{target} could not be read: {error}\n")),
    }
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

/// Serves one connection: reads a request within `config.request_timeout`, answers it, logs
/// one line on stderr, closes.
pub fn handle_connection(stream: TcpStream, config: &Config) -> io::Result<()> {
    let peer = stream.peer_addr()?;
    // A deadline for the whole head, not for each read: a client that sends one byte every
    // second would otherwise hold this worker for ever.
    let deadline = Instant::now() + config.request_timeout;
    let mut reader = io::BufReader::new(DeadlineReader {
        stream: &stream,
        deadline,
    });
    let parsed = parse_request(&mut reader);
    // Is the client perhaps still sending? A head we refused half-way, a body we do not
    // read, bytes already buffered after the head. Then the connection is closed gently
    // (`linger`). A client that sent nothing in time gets no such courtesy.
    let more_to_come = !reader.buffer().is_empty()
        || match &parsed {
            Ok(request) => {
                request.header("Transfer-Encoding").is_some()
                    || request
                        .header("Content-Length")
                        .is_some_and(|length| length != "0")
            }
            Err(error) => matches!(
                error,
                HttpError::BadRequest(_) | HttpError::UriTooLong | HttpError::HeadersTooLarge
            ),
        };
    let (line, response) = match parsed {
        Ok(request) => {
            let line = format!("{} {} {}", request.method, request.target, request.version);
            (line, respond(&config.root, &request))
        }
        Err(error) => match error.response() {
            Some(response) => (format!("({error:?})"), response),
            None => {
                eprintln!("{peer} left without a request ({error:?})");
                return Ok(());
            }
        },
    };
    // Writing may take long (a big file, a slow reader); a bound keeps the worker free.
    stream.set_write_timeout(Some(config.request_timeout.max(Duration::from_secs(10))))?;
    let written = response.write_to(&mut &stream);
    eprintln!(
        "{peer} \"{line}\" {} {}",
        response.status,
        response.body.len()
    );
    written?;
    if more_to_come {
        linger(&stream);
    }
    Ok(())
    // Dropping the stream closes the connection.
}

/// The end of a connection that may still hold bytes we did not read (a request refused
/// half-way, a body we ignored): closing it now would make the system send a reset, and a
/// reset can destroy our response before the client has read it. So: say we are done
/// (`shutdown(Write)`, the client reads end-of-file after the response), then read and
/// throw away what still comes until the client closes — at most [`LINGER_BYTES`] bytes for
/// at most [`LINGER`].
fn linger(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut reader = DeadlineReader { stream, deadline }.take(LINGER_BYTES);
    let _ = io::copy(&mut reader, &mut io::sink());
}

/// How long a closing connection waits for the client to close its side.
pub const LINGER: Duration = Duration::from_secs(1);

/// How many unread bytes a closing connection reads and throws away, at most.
pub const LINGER_BYTES: u64 = 1 << 20;

/// Reads from a stream with one deadline for all reads.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // `set_read_timeout(Some(ZERO))` is an error, hence the check above.
        self.stream.set_read_timeout(Some(left))?;
        (&mut &*self.stream).read(buffer)
    }
}

/// A job for the pool: any closure that runs once on another thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed number of threads that run the jobs given to [`ThreadPool::execute`].
pub struct ThreadPool {
    /// `None` once the pool is shutting down: dropping the sender is what tells the workers.
    sender: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl ThreadPool {
    /// A pool of `size` threads (at least one). Waiting jobs queue up to `size` too: past
    /// that, `execute` waits, so a flood of clients waits in the kernel's accept queue
    /// instead of in our memory.
    ///
    /// # Panics
    /// If `size` is 0 or the system cannot start a thread.
    pub fn new(size: usize) -> ThreadPool {
        assert!(size > 0, "a thread pool needs at least one thread");
        let (sender, receiver) = mpsc::sync_channel::<Job>(size);
        // One receiver, shared: whichever worker is free takes the next job.
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..size)
            .map(|index| {
                let receiver = Arc::clone(&receiver);
                thread::Builder::new()
                    .name(format!("worker {index}"))
                    .spawn(move || work(&receiver))
                    .expect("starting a worker thread")
            })
            .collect();
        ThreadPool {
            sender: Some(sender),
            workers,
        }
    }

    /// Runs `job` on the next free worker; waits while every worker is busy and the queue is
    /// full.
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(sender) = &self.sender {
            // Fails only when every worker has gone, which `work` never lets happen.
            let _ = sender.send(Box::new(job));
        }
    }

    /// Lets the workers finish every job given so far, then waits for them to end.
    pub fn join(self) {
        // `Drop` does the work; taking `self` makes "after join" impossible to write.
        drop(self);
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        // First hang up: each worker's `recv` fails once the queue is empty, and it returns.
        // Joining before this would wait for ever for workers waiting for jobs.
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A worker's life: take a job, run it, until the pool hangs up.
fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only to take the job: the guard is a temporary of this statement.
        // (`while let Ok(job) = receiver.lock().unwrap().recv()` would keep it for the whole
        // loop body, and the workers would run one job at a time.)
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = job else {
            return; // the pool hung up and the queue is empty
        };
        // A panicking job must not kill its worker: a pool of 4 would quietly become 3.
        if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            eprintln!("a job panicked; its worker goes on");
        }
    }
}

/// Tells a running [`serve`] to stop. Clone it to give it to another thread.
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

/// Accepts clients on `listener` and serves each with [`handle_connection`] on a pool of
/// `config.workers` threads, until `stop` is stopped. Then it stops accepting, lets the
/// requests already accepted finish, and returns when every worker has ended.
pub fn serve(listener: TcpListener, config: Config, stop: Stop) -> io::Result<()> {
    let config = Arc::new(config);
    let pool = ThreadPool::new(config.workers);
    for accepted in listener.incoming() {
        // Checked after each accept: `Stop::stop` connects to wake us for this.
        if stop.is_stopped() {
            break;
        }
        match accepted {
            Ok(stream) => {
                let config = Arc::clone(&config);
                pool.execute(move || {
                    if let Err(error) = handle_connection(stream, &config) {
                        eprintln!("a connection failed: {error}");
                    }
                });
            }
            Err(error) => {
                // A client that left before we accepted it, no file descriptors for a
                // moment: that client's problem, not a reason to stop serving. A short pause
                // keeps a lasting error from spinning.
                eprintln!("accept failed: {error}");
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    // Stop accepting: clients that connect from now on are refused.
    drop(listener);
    // Finish what was accepted, then wait for the workers.
    pool.join();
    Ok(())
}
