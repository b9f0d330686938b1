//! A load generator for echo servers: the engine of `cargo lab bench`.
//!
//! `connections` clients connect at the same moment, then each sends `messages` messages of
//! `size` bytes, one at a time, and checks that each echo is what it sent. Closed loop (the
//! default) a client sends its next message as soon as the echo of the last is in
//! (ping-pong). Open loop (`rate`: messages per second for all the clients together) each
//! message is due at a fixed time and its latency counts from then, so a server's stall is
//! charged to every message it delayed (see `bench/client.rs`). The [`Report`] counts the
//! answers, their latencies (an HDR histogram), and the failures by kind, each with the first
//! example seen, so an instructor can point a class-sized load at a student's server and read
//! why it fell over.
//!
//! The clients are driven by a few event-loop threads (mio), not a thread each: with a
//! thread per connection the bench's own scheduling delays hide inside its figures, and on a
//! small machine its threads crowd out the server they measure.
//!
//! Every wait has a deadline (`timeout` per connect, write and reply; `time_limit` for the
//! whole run), so a server that hangs makes the bench report it, never hang itself.
//!
//! In line mode a message is `size - 1` printable bytes and `\n`; the reply must be the
//! same text ending in `\r\n` or `\n`. In raw mode the reply must be the same `size` bytes.

mod client;
mod histogram;
// `--mode http`: a request per connection, for HTTP servers (exercise 8).
pub mod http;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use client::Thread;
use histogram::Histogram;

use lab_harness::Mode;

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
    /// Open loop: messages per second, all connections together, each latency counted from
    /// when its message was due. `None`: closed loop (ping-pong as fast as the echoes come).
    pub rate: Option<f64>,
    /// How many event-loop threads drive the connections (at most one per connection).
    pub threads: usize,
}

impl Options {
    /// 50 connections × 1,000 messages of 512 bytes in line mode, closed loop, 5 s per wait,
    /// 60 s in all, [`default_threads`] threads.
    pub fn new(addr: SocketAddr) -> Options {
        Options {
            addr,
            connections: 50,
            messages: 1000,
            size: 512,
            mode: Mode::Line,
            timeout: Duration::from_secs(5),
            time_limit: Duration::from_secs(60),
            rate: None,
            threads: default_threads(),
        }
    }
}

/// Half the cores, at least one: the server being measured usually runs on the same machine
/// and needs the other half (the reference server itself takes half the cores, see
/// `lab-harness/src/echo.rs`).
pub fn default_threads() -> usize {
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    (cores / 2).max(1)
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
        text += &match o.rate {
            None => "load       closed loop: each connection sends its next message when the \
                     echo is in\n"
                .to_string(),
            Some(rate) => format!(
                "load       open loop at {rate:.0} req/s: latency counts from when each \
                 message was due\n"
            ),
        };
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

/// Runs the load; calls `progress` about every 250 ms from the calling thread.
pub fn run(options: &Options, progress: &mut dyn FnMut(&Progress)) -> io::Result<Report> {
    if options.mode == Mode::Line && options.size < 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a line needs at least 2 bytes (one character and \\n)",
        ));
    }
    if options.connections == 0
        || options.size == 0
        || options.timeout.is_zero()
        || options.threads == 0
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "connections, size, threads and timeout must be above zero",
        ));
    }
    if options
        .rate
        .is_some_and(|rate| !(rate > 0.0 && rate.is_finite()))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the rate must be a number of messages per second above zero",
        ));
    }
    let threads = options.threads.min(options.connections);
    let shared = Arc::new(Shared {
        arrived: Mutex::new(0),
        all_arrived: Condvar::new(),
        start: Mutex::new(None),
        started: Condvar::new(),
        connected: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let started = Instant::now();
    let give_up = started + options.time_limit + options.timeout * 3;
    let (results, finished) = mpsc::channel();
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
    let mut spawned = 0;
    for number in 0..threads {
        let options = options.clone();
        let shared = Arc::clone(&shared);
        let results = results.clone();
        let thread = thread::Builder::new()
            .name(format!("bench-{number}"))
            .spawn(move || {
                let outcome = drive(&options, &shared, number, threads);
                let _ = results.send(outcome);
            });
        match thread {
            Ok(_) => spawned += 1,
            Err(error) => note(
                &mut report,
                Failure::Other,
                format!("cannot start a bench thread: {error}"),
            ),
        }
    }
    drop(results);

    // Everyone connects at once, then everyone starts sending at once.
    {
        let arrived = lock(&shared.arrived);
        let _ = shared
            .all_arrived
            .wait_timeout_while(arrived, options.timeout * 2, |arrived| *arrived < spawned);
    }
    report.connect_time = started.elapsed();
    let exchange_started = Instant::now();
    *lock(&shared.start) = Some(exchange_started);
    shared.started.notify_all();

    let mut received = 0;
    while received < spawned {
        let now = Instant::now();
        if now >= give_up {
            note(
                &mut report,
                Failure::Unfinished,
                format!(
                    "{} bench thread(s) still waiting at the time limit",
                    spawned - received
                ),
            );
            break;
        }
        match finished.recv_timeout(PROGRESS_EVERY.min(give_up - now)) {
            Ok(outcome) => {
                received += 1;
                report.latencies.merge(&outcome.latencies);
                report.connected += outcome.connected;
                for (kind, example) in outcome.failures {
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

/// One bench thread: connects connections `number`, `number + threads`, …, waits for the
/// start, then exchanges their messages.
fn drive(options: &Options, shared: &Shared, number: usize, threads: usize) -> client::Outcome {
    let indexes = (number..options.connections).step_by(threads);
    let connected = Thread::connect(options, shared, indexes).map(|mut thread| {
        thread.finish_connecting();
        thread
    });
    arrive(shared);
    let thread = match connected {
        Ok(thread) => thread,
        Err(error) => {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            return client::Outcome {
                connected: 0,
                latencies: Histogram::default(),
                failures: vec![(Failure::Other, format!("cannot start the clients: {error}"))],
            };
        }
    };
    let start = {
        let start = lock(&shared.start);
        let (start, _) = shared
            .started
            .wait_timeout_while(start, options.timeout * 3, |start| start.is_none())
            .unwrap_or_else(|p| p.into_inner());
        start.unwrap_or_else(Instant::now)
    };
    thread.exchange(start, start + options.time_limit)
}

fn arrive(shared: &Shared) {
    *lock(&shared.arrived) += 1;
    shared.all_arrived.notify_all();
}

fn note(report: &mut Report, kind: Failure, example: String) {
    *report.failures.entry(kind).or_default() += 1;
    report.examples.entry(kind).or_insert(example);
}

/// What the bench threads and the calling thread share.
pub(crate) struct Shared {
    /// Threads done connecting.
    arrived: Mutex<usize>,
    all_arrived: Condvar,
    /// When the exchange starts (the open-loop schedule counts from it).
    start: Mutex<Option<Instant>>,
    started: Condvar,
    /// Progress counts.
    connected: AtomicU64,
    answered: AtomicU64,
    errors: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
