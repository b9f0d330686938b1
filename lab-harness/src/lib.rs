//! netlab's lab harness: everything the exercises' graded tests and the instructor use.
//!
//! - [`EchoServer`]: the reference echo server (line mode like the lectures' server, raw mode
//!   per RFC 862). `cargo lab serve` is a thin CLI around it.
//! - [`ScriptedServer`]: a server that plays a fixed script (send these bytes in pieces, go
//!   silent, close early, …) so a test can provoke one classic mistake deterministically.
//! - [`HttpServer`]: a scripted HTTP/1.1 server (a page, and the awkward ways to serve it:
//!   in pieces, chunked, kept open, cut short) for exercise 7 and `cargo lab serve --mode http`.
//! - [`UdpEchoServer`]: a scripted UDP echo server (drop, delay, duplicate, swap, answer from
//!   another port) for exercise 9 and `cargo lab serve --mode udp`; its [`UdpRecording`] lists
//!   the datagrams it got and what it did with each.
//! - [`TestClient`]: the harness's client, for tests of a student's *server*; for an HTTP
//!   server, [`http_exchange`] sends a request through it and [`HttpReply`] reads the answer.
//! - [`ClosedPort`], [`FullBacklog`], [`ClosedAt`]: ports that refuse or never answer.
//! - [`Recording`]: what every harness server saw on each connection, so a failing test can
//!   say what crossed the wire; its [`Timeline`] is the conversation on the wire, event by
//!   event, which every failure shows.
//! - [`Watchdog`], [`ExplainedWatchdog`]: run a test body with a deadline, so a student's
//!   deadlock becomes a failure that explains itself instead of a hung test run.
//! - [`ServerProcess`], [`ServerThread`], [`Program`]: a student's server or client program
//!   under test, with time and output limits.
//! - [`show_bytes`], [`cap_text`]: bytes and long texts the way a test message shows them.
//! - [`seal_verdicts`]: for the grader only; keeps a submission from writing its own results.
//!
//! The `lab` command (`cargo lab …`) is another package, `lab-cli` in `cli/`: what only the
//! command needs is kept out of this library, which every graded test compiles.

mod bytes;
mod client;
mod closed_at;
mod core;
mod echo;
mod explained;
mod http;
mod http_client;
mod ports;
mod program;
mod record;
mod scripted;
mod timeline;
mod udp;
mod under_test;
mod verdict;
mod watchdog;

pub use bytes::{cap_text, show_bytes};
pub use client::{ReadEnd, TestClient};
pub use closed_at::{ClosedAt, listen_on_one_of};
pub use echo::{Behaviour, Config, EchoServer, Mode};
pub use explained::ExplainedWatchdog;
pub use http::{HTTP_PAGES, HttpConfig, HttpPage, HttpServer, MAX_REQUEST_HEAD};
pub use http_client::{HttpReply, http_exchange};
pub use ports::{ClosedPort, FullBacklog};
pub use program::{Program, ProgramRun, Stopped};
pub use record::{ConnectionRecord, Ending, Recording, Totals};
pub use scripted::{ScriptedServer, Step};
pub use timeline::{Event, LiveTimeline, Side, Timeline, What};
pub use udp::{
    MAX_DATAGRAM, MAX_DELAY, MAX_PENDING, MAX_PENDING_BYTES, Received, UdpAct, UdpConfig,
    UdpEchoServer, UdpRecording, UdpScript, UdpTotals, closed_udp_port,
};
pub use under_test::{ServerProcess, ServerThread};
pub use verdict::{SEAL_TEST, seal_verdicts};
pub use watchdog::{DEADLINE_EXPIRED, Watchdog, within};

/// Binds a listener on the IPv4 loopback address with a port the system chooses.
///
/// Tests always use this (never a fixed port, never `localhost`, which may resolve to `::1`
/// only), then read the real address back with `local_addr()`.
///
/// Its listen backlog is [`LISTEN_BACKLOG`], not std's fixed 128: a test that opens
/// thousands of connections in a burst must not wait for the kernel to retry the ones that
/// overflow the queue (a retried connect waits a second or more).
pub fn bind_loopback() -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// How many connections may wait to be accepted, for [`bind_loopback`] and `cargo lab serve`.
///
/// std's fixed 128 overflows when a class, or a test, connects in the same second, and each
/// connect that overflows waits for the client's SYN retry (one second, then three). The
/// kernel caps the number at its own limit (`net.core.somaxconn`: 4096 on Linux since 5.4,
/// 128 by default on macOS), so asking for more than any machine grants costs nothing.
pub const LISTEN_BACKLOG: i32 = 65_535;
