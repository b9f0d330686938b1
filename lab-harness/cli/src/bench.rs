//! A load generator for echo servers: the engine of `cargo lab bench`.
//!
//! `connections` clients connect at the same moment, then each sends `messages` messages of
//! `size` bytes one at a time, waiting for each echo before sending the next (ping-pong), and
//! checks that what comes back is what it sent. The [`Report`] counts the answers, their
//! latencies, and the failures by kind, each with the first example seen, so an instructor
//! can point a class-sized load at a student's server and read why it fell over.
//!
//! Every wait has a deadline (`timeout` per connect, write and reply; `time_limit` for the
//! whole run), so a server that hangs makes the bench report it, never hang itself.
//!
//! In line mode a message is `size - 1` printable bytes and `\n`; the reply must be the
//! same text ending in `\r\n` or `\n`. In raw mode the reply must be the same `size` bytes.

mod histogram;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use histogram::Histogram;

use lab_harness::{Mode, show_bytes};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub addr: SocketAddr,
    pub connections: usize,
    pub messages: usize,
    /// Bytes per message, the `\n` included in line mode.
    pub size: usize,
    pub mode: Mode,
    /// The longest wait for one connect, one write, or one reply.
    pub timeout: Duration,
    /// No new message is sent after this long; the ones not sent are counted as unfinished.
    pub time_limit: Duration,
}

impl Options {
    /// 50 connections × 1,000 messages of 512 bytes in line mode, 5 s per wait, 60 s in all.
    pub fn new(addr: SocketAddr) -> Options {
        Options {
            addr,
            connections: 50,
            messages: 1000,
            size: 512,
            mode: Mode::Line,
            timeout: Duration::from_secs(5),
            time_limit: Duration::from_secs(60),
        }
    }
}

/// Why a connection stopped early. Each ends its connection: after a failure the stream is
/// in an unknown state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// Nobody accepted the connection (no server on that port, or its backlog was full).
    Refused,
    /// The server reset the connection (closed it with unread data, or its backlog overflowed).
    Reset,
    /// No connection, write or reply within the timeout.
    TimedOut,
    /// The server closed the connection before answering.
    Closed,
    /// The reply was not the message sent.
    Mismatch,
    /// The server said it was full.
    ServerFull,
    /// The time limit came before this connection sent all its messages.
    Unfinished,
    /// Anything else.
    Other,
}

impl Failure {
    /// A short name for the report.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Refused => "refused",
            Failure::Reset => "reset",
            Failure::TimedOut => "timed out",
            Failure::Closed => "closed early",
            Failure::Mismatch => "mismatched echo",
            Failure::ServerFull => "server full",
            Failure::Unfinished => "unfinished (time limit)",
            Failure::Other => "other",
        }
    }

    /// The most likely cause, for someone checking a student's server.
    pub fn hint(self) -> &'static str {
        match self {
            Failure::Refused => {
                "is the server running on that port? A full listen backlog refuses too"
            }
            Failure::Reset => {
                "the server closed connections it had not read, or its listen backlog \
                 (std's is 128) overflowed while it was busy"
            }
            Failure::TimedOut => {
                "no answer in time: does the server serve one client at a time, or forget to \
                 flush?"
            }
            Failure::Closed => "the server closed the connection before answering",
            Failure::Mismatch => "the reply differs from the message sent",
            Failure::ServerFull => "the server turned clients away: raise its connection cap",
            Failure::Unfinished => "the run hit its time limit: the server is too slow or stuck",
            Failure::Other => "see the example",
        }
    }

    fn of(error: &io::Error) -> Failure {
        use io::ErrorKind::*;
        match error.kind() {
            ConnectionRefused => Failure::Refused,
            ConnectionReset | ConnectionAborted | BrokenPipe => Failure::Reset,
            WouldBlock | TimedOut => Failure::TimedOut,
            UnexpectedEof => Failure::Closed,
            _ => Failure::Other,
        }
    }
}

/// How the run went.
#[derive(Clone, Debug)]
pub struct Report {
    pub options: Options,
    /// Connections established.
    pub connected: usize,
    /// How long it took until every client had connected (or failed to).
    pub connect_time: Duration,
    /// Messages whose echo came back correct.
    pub answered: u64,
    /// From the moment every client had connected until the last one finished.
    pub elapsed: Duration,
    /// Failed connections by kind (at most one per connection).
    pub failures: BTreeMap<Failure, u64>,
    /// The first failure of each kind, as a sentence.
    pub examples: BTreeMap<Failure, String>,
    latencies: Histogram,
}

impl Report {
    pub fn requests_per_second(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency below which a fraction `p` (0.5, 0.99) of the answers came.
    pub fn latency(&self, p: f64) -> Option<Duration> {
        self.latencies.percentile(p)
    }

    pub fn max_latency(&self) -> Option<Duration> {
        self.latencies.max()
    }

    pub fn errors(&self) -> u64 {
        self.failures.values().sum()
    }

    /// The whole report, a few lines for a human (the stdout of `cargo lab bench`).
    pub fn describe(&self) -> String {
        let o = &self.options;
        let mut text = format!(
            "bench {} ({} mode): {} connection{} x {} message{} of {} bytes\n",
            o.addr,
            o.mode,
            o.connections,
            plural(o.connections as u64),
            o.messages,
            plural(o.messages as u64),
            o.size
        );
        text += &format!(
            "connected  {} of {} in {}\n",
            self.connected,
            o.connections,
            millis(self.connect_time)
        );
        text += &format!(
            "requests   {} of {} answered in {:.2} s: {:.0} req/s\n",
            self.answered,
            o.connections as u64 * o.messages as u64,
            self.elapsed.as_secs_f64(),
            self.requests_per_second()
        );
        match (self.latency(0.5), self.latency(0.99), self.max_latency()) {
            (Some(p50), Some(p99), Some(max)) => {
                text += &format!(
                    "latency    p50 {}, p99 {}, max {}\n",
                    millis(p50),
                    millis(p99),
                    millis(max)
                );
            }
            _ => text += "latency    no answer to measure\n",
        }
        if self.failures.is_empty() {
            text += "errors     none\n";
        } else {
            let kinds: Vec<String> = self
                .failures
                .iter()
                .map(|(kind, count)| format!("{} {count}", kind.name()))
                .collect();
            text += &format!("errors     {}: {}\n", self.errors(), kinds.join(", "));
            for (kind, example) in &self.examples {
                text += &format!("  {}: {example}\n    ({})\n", kind.name(), kind.hint());
            }
        }
        text
    }
}

/// How far a run has got, for a progress line.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub connected: u64,
    pub answered: u64,
    pub errors: u64,
    pub elapsed: Duration,
}

/// How often `run` calls its progress callback.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Client threads need little stack: their buffers are on the heap.
const CLIENT_STACK: usize = 128 * 1024;

/// Runs the load; calls `progress` about every 250 ms from the calling thread.
pub fn run(options: &Options, progress: &mut dyn FnMut(&Progress)) -> io::Result<Report> {
    if options.mode == Mode::Line && options.size < 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a line needs at least 2 bytes (one character and \\n)",
        ));
    }
    if options.connections == 0 || options.size == 0 || options.timeout.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "connections, size and timeout must be above zero",
        ));
    }
    let shared = Arc::new(Shared {
        start: Gate::default(),
        exchange: Gate::default(),
        arrived: Mutex::new(0),
        all_arrived: Condvar::new(),
        connected: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let started = Instant::now();
    let give_up = started + options.time_limit + options.timeout * 2;
    let (results, finished) = mpsc::channel();
    let mut spawned = 0;
    let mut report = Report {
        options: options.clone(),
        connected: 0,
        connect_time: Duration::ZERO,
        answered: 0,
        elapsed: Duration::ZERO,
        failures: BTreeMap::new(),
        examples: BTreeMap::new(),
        latencies: Histogram::default(),
    };
    for index in 0..options.connections {
        let client = Client {
            index,
            options: options.clone(),
            shared: Arc::clone(&shared),
            deadline: started + options.time_limit,
        };
        let results = results.clone();
        let thread = thread::Builder::new()
            .name(format!("bench-{index}"))
            .stack_size(CLIENT_STACK)
            .spawn(move || {
                let _ = results.send(client.run());
            });
        match thread {
            Ok(_) => spawned += 1,
            Err(error) => {
                note(
                    &mut report,
                    Failure::Other,
                    format!("cannot start a client thread: {error}"),
                );
            }
        }
    }
    drop(results);

    // Everyone connects at once, then everyone starts sending at once.
    let connect_started = Instant::now();
    shared.start.open();
    {
        let arrived = lock(&shared.arrived);
        let limit = options.timeout * 2;
        let _ = shared
            .all_arrived
            .wait_timeout_while(arrived, limit, |arrived| *arrived < spawned);
    }
    report.connect_time = connect_started.elapsed();
    let exchange_started = Instant::now();
    shared.exchange.open();

    let mut received = 0;
    while received < spawned {
        let now = Instant::now();
        if now >= give_up {
            note(
                &mut report,
                Failure::Unfinished,
                format!(
                    "{} client(s) still waiting at the time limit",
                    spawned - received
                ),
            );
            break;
        }
        match finished.recv_timeout(PROGRESS_EVERY.min(give_up - now)) {
            Ok(outcome) => {
                received += 1;
                report.latencies.merge(&outcome.latencies);
                if outcome.connected {
                    report.connected += 1;
                }
                if let Some((kind, example)) = outcome.failure {
                    note(&mut report, kind, example);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        progress(&Progress {
            connected: shared.connected.load(Ordering::Relaxed),
            answered: shared.answered.load(Ordering::Relaxed),
            errors: shared.errors.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        });
    }
    report.elapsed = exchange_started.elapsed();
    report.answered = report.latencies.total();
    Ok(report)
}

fn note(report: &mut Report, kind: Failure, example: String) {
    *report.failures.entry(kind).or_default() += 1;
    report.examples.entry(kind).or_insert(example);
}

struct Shared {
    start: Gate,
    exchange: Gate,
    arrived: Mutex<usize>,
    all_arrived: Condvar,
    connected: AtomicU64,
    answered: AtomicU64,
    errors: AtomicU64,
}

/// Opened once; waiters wait with a deadline.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn open(&self) {
        *lock(&self.open) = true;
        self.opened.notify_all();
    }

    fn wait(&self, limit: Duration) {
        let open = lock(&self.open);
        let _ = self.opened.wait_timeout_while(open, limit, |open| !*open);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

struct Outcome {
    connected: bool,
    latencies: Histogram,
    failure: Option<(Failure, String)>,
}

struct Client {
    index: usize,
    options: Options,
    shared: Arc<Shared>,
    deadline: Instant,
}

impl Client {
    fn run(self) -> Outcome {
        let options = &self.options;
        self.shared.start.wait(options.timeout);
        let stream = TcpStream::connect_timeout(&options.addr, options.timeout);
        {
            *lock(&self.shared.arrived) += 1;
            self.shared.all_arrived.notify_all();
        }
        let mut outcome = Outcome {
            connected: stream.is_ok(),
            latencies: Histogram::default(),
            failure: None,
        };
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                outcome.failure = Some(self.failed(
                    Failure::of(&error),
                    format!("connecting to {}: {error}", options.addr),
                ));
                return outcome;
            }
        };
        self.shared.connected.fetch_add(1, Ordering::Relaxed);
        self.shared.exchange.wait(options.timeout * 2);
        if let Err(error) = prepare(&stream, options.timeout) {
            outcome.failure = Some(self.failed(Failure::Other, error.to_string()));
            return outcome;
        }
        let mut reply = Vec::with_capacity(options.size + 2);
        for number in 0..options.messages {
            if Instant::now() >= self.deadline {
                let left = options.messages - number;
                outcome.failure = Some(self.failed(
                    Failure::Unfinished,
                    format!("{left} message(s) not sent before the time limit"),
                ));
                break;
            }
            let message = message(self.index, number, options);
            let sent = Instant::now();
            match exchange(&mut stream, &message, &mut reply, options) {
                Ok(()) => {
                    outcome.latencies.record(sent.elapsed());
                    self.shared.answered.fetch_add(1, Ordering::Relaxed);
                }
                Err((kind, example)) => {
                    outcome.failure = Some(self.failed(
                        kind,
                        format!(
                            "message {} of connection {}: {example}",
                            number + 1,
                            self.index + 1
                        ),
                    ));
                    break;
                }
            }
        }
        outcome
    }

    fn failed(&self, kind: Failure, example: String) -> (Failure, String) {
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        (kind, example)
    }
}

fn prepare(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // Each message goes out in one write: no reason to let Nagle's algorithm hold it.
    stream.set_nodelay(true)
}

/// Message `number` of connection `index`: it names both, so a reply meant for another
/// message (or another client) is caught.
fn message(index: usize, number: usize, options: &Options) -> Vec<u8> {
    let body = match options.mode {
        Mode::Line => options.size - 1,
        Mode::Raw => options.size,
    };
    let tag = format!("c{index}m{number} ");
    let mut message: Vec<u8> = tag
        .bytes()
        .chain((b'a'..=b'z').cycle())
        .take(body)
        .collect();
    if options.mode == Mode::Line {
        message.push(b'\n');
    }
    message
}

/// Sends one message and checks its echo.
fn exchange(
    stream: &mut TcpStream,
    message: &[u8],
    reply: &mut Vec<u8>,
    options: &Options,
) -> Result<(), (Failure, String)> {
    let io_failure =
        |what: &str, error: io::Error| (Failure::of(&error), format!("{what}: {error}"));
    stream
        .write_all(message)
        .map_err(|error| io_failure("sending", error))?;
    reply.clear();
    let started = Instant::now();
    let expected = match options.mode {
        Mode::Line => &message[..message.len() - 1],
        Mode::Raw => message,
    };
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let complete = match options.mode {
            Mode::Line => reply.ends_with(b"\n"),
            Mode::Raw => reply.len() >= message.len(),
        };
        if complete {
            break;
        }
        if reply.len() > message.len() + 1 || (options.mode == Mode::Line && reply.contains(&b'\n'))
        {
            break; // longer than any right answer, or a line that is not the last byte
        }
        if started.elapsed() > options.timeout {
            return Err((
                Failure::TimedOut,
                format!(
                    "no complete reply after {:?}, got {}",
                    options.timeout,
                    show_bytes(reply)
                ),
            ));
        }
        let room = match options.mode {
            // Never read past the reply: in raw mode the next bytes would be a stray echo.
            Mode::Raw => message.len() - reply.len(),
            Mode::Line => chunk.len(),
        };
        let room = room.min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => {
                if reply.starts_with(b"server full") {
                    return Err((Failure::ServerFull, show_bytes(reply)));
                }
                return Err((
                    Failure::Closed,
                    format!(
                        "the server closed the connection; got {}",
                        show_bytes(reply)
                    ),
                ));
            }
            Ok(count) => reply.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                let error = io_failure("waiting for the reply", error);
                if reply.starts_with(b"server full") {
                    return Err((Failure::ServerFull, show_bytes(reply)));
                }
                return Err(error);
            }
        }
    }
    let text = match options.mode {
        Mode::Line => {
            let line = reply.strip_suffix(b"\n").unwrap_or(reply);
            line.strip_suffix(b"\r").unwrap_or(line)
        }
        Mode::Raw => &reply[..],
    };
    if text == expected {
        return Ok(());
    }
    if reply.starts_with(b"server full") {
        return Err((Failure::ServerFull, show_bytes(reply)));
    }
    Err((
        Failure::Mismatch,
        format!(
            "sent {}, got back {}",
            show_bytes(message),
            show_bytes(reply)
        ),
    ))
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
