//! The reference echo server.
//!
//! **Line mode** (the default, like the lectures' instructor server on port 5151) reads a
//! line ending in `\n` or `\r\n` and answers with the same line ending in `\r\n`, until the
//! client closes. **Raw mode** (RFC 862) sends bytes back as they arrive, binary-safe; when
//! the client half-closes, everything has been sent back and the server closes too.
//!
//! The server takes a listener that is already bound, so tests bind `127.0.0.1:0` and the CLI
//! binds whatever the instructor asked for. A [`Behaviour`] turns the same server into a
//! teaching demo or a test's misbehaving peer (answer in pieces, answer late, never answer,
//! several answers in one write): `cargo lab serve --fragment` and a test's
//! `EchoServer::on_loopback(Config::mode(..).behaviour(..))` run the very same code.
//!
//! # Why a few event-loop threads, not one thread per connection
//!
//! The server must hold a lecture hall: 1,000 clients connecting at once, 10,000 mostly idle
//! connections in little memory (at most 10 MiB per 10,000), and at least the throughput of a
//! plain tokio echo server. Thread per connection is the simplest design, and its throughput
//! is competitive at lab scale, but measured on the 2-core reference machine each thread
//! keeps at least two pages of stack resident (8 KiB) whatever its size limit, and the
//! thread-per-connection version of this server used 180 MB for 10,000 connections that had
//! each echoed one line (a minimal thread doing nothing but a blocking read: 84 MB for
//! 8,645). So connections are multiplexed instead: the accept loop (`core.rs`) hands each one
//! to one of a few workers, and a worker waits for readiness on all of its connections with
//! mio, the small portable layer over epoll/kqueue/IOCP that tokio itself is built on (std
//! has no readiness API, and this crate forbids `unsafe`). An idle connection is then a
//! socket plus a few hundred bytes of state and no buffer: a connection borrows one from its
//! worker only while a line is unfinished or a reply waits for the socket (10,000 idle
//! connections: 7.4 MiB). Each connection is a small state machine in `echo/connection.rs`
//! (one read and one vectored write per echo, straight from the worker's read buffer); its
//! deadlines (idle, unfinished line, delayed or fragmented replies) are timers of its worker.
//!
//! # How many workers: half the cores
//!
//! A connection stays with the worker it was given (no locks, no hand-offs), so a worker
//! that loses its core for a time slice stalls every connection it holds until it runs
//! again. With one worker per core that happens all the time on a small machine, because the
//! cores are shared: with the students' clients on an instructor's laptop, with a load
//! generator, with the tests. So there are half as many workers as cores (at least one; one
//! on the 2-core reference machine), leaving the other half to whatever else runs.
//! Measured there (medians of 5 interleaved rounds, an independent C client on the same
//! cores, `scripts/bench-compare.sh`'s method), one worker against two:
//!
//! | load | one worker | two workers | tokio | C epoll |
//! |---|---|---|---|---|
//! | 50 connections, 64 B lines, quiet machine | 52.9k req/s, p99 1.73 ms | 57.3k, p99 4.89 ms | 59.0k, 2.99 ms | 55.8k, 2.97 ms |
//! | 1,000 connections, same | 61.3k, 53 ms | 64.3k, 31 ms | 59.3k, 38 ms | 46.2k, 47 ms |
//! | 50 connections, 4 KiB raw, quiet | 54.5k, 2.08 ms | 51.2k, 2.26 ms | 45.7k, 2.14 ms | 52.1k, 2.00 ms |
//! | 50 connections, 4 KiB lines, other builds running (load 6 to 10) | 17.7k, 8.9 ms | 18.9k, 11.7 ms | 16.6k, 16.7 ms | 15.3k, 13.6 ms |
//! | 1,000 connections, 64 B raw, same | 23.2k, 85 ms | 29.3k, 80 ms | 21.6k, 135 ms | 24.3k, 91 ms |
//!
//! The 4 KiB rows were measured with load clients that cost too much per message (fixed
//! later, see `docs/src/benchmarks.md`): there the clients, not the servers, set the req/s.
//!
//! One worker has the lower p99 at 50 connections every time, and matches tokio and the C
//! server in req/s. A second worker wins some throughput at 1,000 connections when other
//! work crowds the machine (the scheduler shares the cores per thread, so two threads get
//! more of them), at the cost of those stalls. The alternatives the issue named were not
//! taken: `SO_REUSEPORT` listeners still tie each connection to one thread, so they keep the
//! stall; a shared readiness queue (tokio's work stealing) moves connections between threads,
//! which costs locks or hand-offs on every event and buys nothing with a single worker. See
//! `docs/src/benchmarks.md` for the full comparison.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use crate::core::{Policy, Running};
use crate::record::Recording;

mod buffers;
mod connection;
mod worker;

/// Line mode or raw mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Line,
    Raw,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Line => "line",
            Mode::Raw => "raw",
        })
    }
}

/// How replies are sent back. In raw mode a "reply" is whatever one read brought in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Each reply at once.
    #[default]
    Echo,
    /// Each reply in pieces of `piece` bytes with `pause` between them: one read on the
    /// client is not one message.
    Fragment { piece: usize, pause: Duration },
    /// Each reply only after `delay`: shows read timeouts.
    Delay(Duration),
    /// Reads (and records) everything, never answers.
    Silent,
    /// Holds replies and sends them together in one write, once `lines` are waiting or the
    /// first has waited `wait`: a client that reads once per line, or makes a new buffered
    /// reader per line, loses or mixes up lines.
    Coalesce { lines: usize, wait: Duration },
}

impl std::fmt::Display for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Behaviour::Echo => write!(f, "echo"),
            Behaviour::Fragment { piece, pause } => {
                write!(f, "fragment: {piece}-byte pieces, {pause:?} apart")
            }
            Behaviour::Delay(delay) => write!(f, "delay: each reply {delay:?} late"),
            Behaviour::Silent => write!(f, "silent: never answers"),
            Behaviour::Coalesce { lines, wait } => {
                write!(
                    f,
                    "coalesce: up to {lines} replies per write, held up to {wait:?}"
                )
            }
        }
    }
}

/// Everything that can be set on an [`EchoServer`].
#[derive(Clone, Debug)]
pub struct Config {
    pub mode: Mode,
    pub behaviour: Behaviour,
    /// The longest line accepted in line mode, line ending included. A longer line gets an
    /// error line back and the connection is closed, so no client can grow memory unbounded.
    pub max_line: usize,
    /// Close a connection when nothing has been received or sent for this long.
    pub idle_timeout: Option<Duration>,
    /// Line mode: close a connection whose line is not finished this long after its first
    /// byte. The idle timeout alone cannot do this: a client sending one byte a second
    /// ("slowloris") is never idle, yet never finishes a line.
    ///
    /// A deadline per line rather than a minimum rate (bytes per second): it is one number an
    /// instructor can explain and a test can check, it never cuts off a slow but steady client
    /// between lines (a student typing in `nc` is idle, not slow), and it bounds how long any
    /// one unfinished line holds its buffer, however the bytes are spread over time.
    pub line_timeout: Option<Duration>,
    /// Past this many open connections, a new client gets one line ("server full: …") and
    /// is closed; the others are unaffected.
    pub max_connections: Option<usize>,
    /// Print a line on stderr for every connection opened and closed.
    pub log_to_stderr: bool,
    /// Where connections are recorded (bounded; see [`Recording::new`]).
    pub recording: Recording,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Line,
            behaviour: Behaviour::Echo,
            max_line: 64 * 1024,
            idle_timeout: None,
            line_timeout: None,
            max_connections: None,
            log_to_stderr: false,
            recording: Recording::default(),
        }
    }
}

impl Config {
    pub fn mode(mode: Mode) -> Config {
        Config {
            mode,
            ..Config::default()
        }
    }

    pub fn behaviour(mut self, behaviour: Behaviour) -> Config {
        self.behaviour = behaviour;
        self
    }
}

/// A running echo server. Dropping it (or calling [`EchoServer::stop`]) stops it.
pub struct EchoServer {
    running: Running,
}

impl EchoServer {
    /// Serves `listener` on background threads until stopped.
    pub fn start(listener: TcpListener, config: Config) -> io::Result<EchoServer> {
        let recording = config.recording.clone();
        let policy = Policy {
            log_to_stderr: config.log_to_stderr,
            max_connections: config.max_connections,
        };
        let workers = worker::Workers::start(Arc::new(config))?;
        let running = Running::serve(listener, recording, policy, Arc::new(workers))?;
        Ok(EchoServer { running })
    }

    /// A line-mode server on `127.0.0.1` with a port the system picked (for tests).
    pub fn line() -> EchoServer {
        EchoServer::on_loopback(Config::mode(Mode::Line))
    }

    /// A raw-mode server on `127.0.0.1` with a port the system picked (for tests).
    pub fn raw() -> EchoServer {
        EchoServer::on_loopback(Config::mode(Mode::Raw))
    }

    /// Any configuration, on `127.0.0.1` with a port the system picked (for tests).
    pub fn on_loopback(config: Config) -> EchoServer {
        let listener = crate::bind_loopback().expect("binding 127.0.0.1:0 for a test server");
        EchoServer::start(listener, config).expect("starting a test server")
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// What the server saw.
    pub fn recording(&self) -> &Recording {
        self.running.recording()
    }

    /// How many clients were turned away because [`Config::max_connections`] were open.
    pub fn turned_away(&self) -> u64 {
        self.running.turned_away()
    }

    /// Stops accepting, closes every connection, waits briefly for them to finish.
    pub fn stop(mut self) {
        self.running.stop();
    }
}

/// A read timeout is `WouldBlock` on Unix and `TimedOut` on Windows.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
