//! `cargo lab bench --mode http`: load for an HTTP server, such as a student's exercise 8.
//!
//! `connections` clients run at once; each makes `messages` requests one after the other,
//! each on a new connection (`GET PATH HTTP/1.1`, `Connection: close`, as exercise 8's server
//! expects: one request per connection), and reads the response to the server's close. A
//! request counts as answered when its response is well formed (the head's lines end in
//! `\r\n`, see [`lab_harness::HttpReply`]), its status is 2xx, and its body has the length
//! `Content-Length` announced. Its latency runs from the connect to the close.
//!
//! Unlike the echo bench (a few event-loop threads for thousands of long connections), each
//! client here is a thread: a request is a whole connection, so the cost the bench measures
//! is dominated by connecting, and a few hundred threads are cheap. Every wait has a deadline
//! (`timeout` per connect and per response, `time_limit` for the run).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use lab_harness::HttpReply;

use super::histogram::Histogram;
use super::{Failure, Options, PROGRESS_EVERY, Progress, millis, plural};

/// The largest response the bench reads; past it the request is a failure. (A bench of a
/// file server loads small files; this keeps a runaway server from filling our memory.)
const MAX_RESPONSE: u64 = 64 << 20;

/// The most clients: one thread each.
pub const MAX_HTTP_CONNECTIONS: usize = 2_000;

/// How an HTTP run went.
#[derive(Clone, Debug)]
pub struct HttpReport {
    pub options: Options,
    pub path: String,
    /// Requests answered correctly.
    pub answered: u64,
    /// From the start until the last client finished.
    pub elapsed: Duration,
    /// Failed requests by kind.
    pub failures: BTreeMap<Failure, u64>,
    /// The first failure of each kind, as a sentence.
    pub examples: BTreeMap<Failure, String>,
    latencies: Histogram,
}

impl HttpReport {
    pub fn errors(&self) -> u64 {
        self.failures.values().sum()
    }

    pub fn requests_per_second(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The whole report, a few lines for a human.
    pub fn describe(&self) -> String {
        let o = &self.options;
        let total = o.connections as u64 * o.messages as u64;
        let mut text = format!(
            "bench http://{}{} (http mode): {} client{} x {} request{}, a connection each\n",
            o.addr,
            self.path,
            o.connections,
            plural(o.connections as u64),
            o.messages,
            plural(o.messages as u64),
        );
        text += &format!(
            "requests   {} of {total} answered in {:.2} s: {:.0} req/s\n",
            self.answered,
            self.elapsed.as_secs_f64(),
            self.requests_per_second()
        );
        match (
            self.latencies.percentile(0.5),
            self.latencies.percentile(0.99),
            self.latencies.max(),
        ) {
            (Some(p50), Some(p99), Some(max)) => {
                text += &format!(
                    "latency    p50 {}, p99 {}, max {} (connect to close)\n",
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
                text += &format!("  {}: {example}\n", kind.name());
            }
        }
        text
    }
}

/// What one client thread saw.
#[derive(Default)]
struct Tally {
    latencies: Histogram,
    failures: BTreeMap<Failure, u64>,
    examples: BTreeMap<Failure, String>,
}

/// Runs the load against `options.addr`, asking for `path`; calls `progress` about every
/// 250 ms from the calling thread. (`options.size`, `mode`, `rate` and `threads` are not used.)
pub fn run(
    options: &Options,
    path: &str,
    progress: &mut dyn FnMut(&Progress),
) -> io::Result<HttpReport> {
    if options.connections == 0 || options.connections > MAX_HTTP_CONNECTIONS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("http mode takes 1 to {MAX_HTTP_CONNECTIONS} connections"),
        ));
    }
    if options.timeout.is_zero() || !path.starts_with('/') || path.contains(['\r', '\n', ' ']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the timeout must be above zero and the path must start with / (no spaces)",
        ));
    }
    let request = Arc::new(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: cargo-lab-bench\r\nConnection: close\r\n\r\n",
            options.addr
        )
        .into_bytes(),
    );
    let answered = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stop_at = started + options.time_limit;
    let (done, finished) = mpsc::channel();
    for _ in 0..options.connections {
        let (request, answered, errors, done) = (
            Arc::clone(&request),
            Arc::clone(&answered),
            Arc::clone(&errors),
            done.clone(),
        );
        let (addr, count, timeout) = (options.addr, options.messages, options.timeout);
        let spawned = thread::Builder::new()
            .name("bench http client".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let tally = client(addr, &request, count, timeout, stop_at, &answered, &errors);
                let _ = done.send(tally);
            });
        if let Err(error) = spawned {
            return Err(io::Error::other(format!(
                "cannot start a client thread: {error}"
            )));
        }
    }
    drop(done);
    let mut report = HttpReport {
        options: options.clone(),
        path: path.to_string(),
        answered: 0,
        elapsed: Duration::ZERO,
        failures: BTreeMap::new(),
        examples: BTreeMap::new(),
        latencies: Histogram::default(),
    };
    let mut left = options.connections;
    while left > 0 {
        match finished.recv_timeout(PROGRESS_EVERY) {
            Ok(tally) => {
                left -= 1;
                report.latencies.merge(&tally.latencies);
                for (kind, count) in tally.failures {
                    *report.failures.entry(kind).or_default() += count;
                }
                for (kind, example) in tally.examples {
                    report.examples.entry(kind).or_insert(example);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Every client has sent its tally (a thread cannot end without sending).
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        progress(&Progress {
            connected: options.connections as u64,
            answered: answered.load(Ordering::Relaxed),
            errors: errors.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        });
    }
    report.answered = answered.load(Ordering::Relaxed);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One client: `count` requests one after the other, or until `stop_at`.
fn client(
    addr: SocketAddr,
    request: &[u8],
    count: usize,
    timeout: Duration,
    stop_at: Instant,
    answered: &AtomicU64,
    errors: &AtomicU64,
) -> Tally {
    let mut tally = Tally::default();
    for made in 0..count {
        if Instant::now() >= stop_at {
            let unfinished = (count - made) as u64;
            *tally.failures.entry(Failure::Unfinished).or_default() += unfinished;
            tally
                .examples
                .entry(Failure::Unfinished)
                .or_insert_with(|| {
                    format!("{unfinished} requests of a client were not made before the time limit")
                });
            errors.fetch_add(unfinished, Ordering::Relaxed);
            break;
        }
        let started = Instant::now();
        match one_request(addr, request, timeout) {
            Ok(()) => {
                tally.latencies.record(started.elapsed());
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Err((kind, example)) => {
                *tally.failures.entry(kind).or_default() += 1;
                tally.examples.entry(kind).or_insert(example);
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    tally
}

/// Connects, sends the request, reads the response to the close and checks it.
fn one_request(
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> Result<(), (Failure, String)> {
    let failed = |error: io::Error, doing: &str| {
        let kind = match error.kind() {
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => Failure::Reset,
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::TimedOut,
            _ => Failure::Other,
        };
        (kind, format!("{doing}: {error}"))
    };
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| failed(e, "connecting"))?;
    let deadline = Instant::now() + timeout;
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.write_all(request))
        .map_err(|e| failed(e, "sending the request"))?;
    let mut response = Vec::new();
    let mut buffer = [0; 16 * 1024];
    let too_late = |response: &[u8]| {
        (
            Failure::TimedOut,
            format!(
                "no complete response (the server's close) within {} ({} bytes had come)",
                millis(timeout),
                response.len()
            ),
        )
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(too_late(&response));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| failed(e, "reading"))?;
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => {
                response.extend_from_slice(&buffer[..count]);
                if response.len() as u64 > MAX_RESPONSE {
                    return Err((
                        Failure::Other,
                        format!("the response is longer than {MAX_RESPONSE} bytes"),
                    ));
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            // A read timeout: `WouldBlock` on Unix, `TimedOut` on Windows.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(too_late(&response));
            }
            Err(error) => return Err(failed(error, "reading the response")),
        }
    }
    if response.is_empty() {
        return Err((
            Failure::Closed,
            "the server closed the connection without answering".into(),
        ));
    }
    let reply = HttpReply::parse(&response).map_err(|problem| (Failure::Mismatch, problem))?;
    if !(200..300).contains(&reply.status) {
        return Err((
            Failure::Mismatch,
            format!("status {} {} (not 2xx)", reply.status, reply.reason),
        ));
    }
    match reply.content_length() {
        Some(length) if length != reply.body.len() => Err((
            Failure::Mismatch,
            format!(
                "Content-Length says {length} bytes, the body has {}",
                reply.body.len()
            ),
        )),
        _ => Ok(()),
    }
}
