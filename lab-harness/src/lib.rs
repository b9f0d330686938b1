//! netlab's lab harness: everything the exercises' graded tests and the instructor use.
//!
//! - [`EchoServer`]: the reference echo server (line mode like the lectures' server, raw mode
//!   per RFC 862). `cargo lab serve` is a thin CLI around it.
//! - [`ScriptedServer`]: a server that plays a fixed script (send these bytes in pieces, go
//!   silent, close early, …) so a test can provoke one classic mistake deterministically.
//! - [`Recording`]: what every harness server saw on each connection, so a failing test can
//!   say what crossed the wire.
//! - [`Watchdog`]: runs a test body with a deadline, so a student's deadlock becomes a
//!   failure that explains itself instead of a hung test run.
//! - [`show_bytes`]: prints bytes the way a test message should show them.
//! - [`seal_verdicts`]: for the grader only; keeps a submission from writing its own results.
//!
//! The `lab` command (`cargo lab …`) is another package, `lab-cli` in `cli/`: what only the
//! command needs is kept out of this library, which every graded test compiles.

mod bytes;
mod client;
mod core;
mod echo;
mod explained;
mod ports;
mod program;
mod record;
mod scripted;
mod timeline;
mod under_test;
mod verdict;
mod watchdog;

pub use bytes::{cap_text, show_bytes};
pub use client::{ReadEnd, TestClient};
pub use echo::{Behaviour, Config, EchoServer, Mode};
pub use explained::ExplainedWatchdog;
pub use ports::{ClosedPort, FullBacklog};
pub use program::{Program, ProgramRun, Stopped};
pub use record::{ConnectionRecord, Ending, Recording, Totals};
pub use scripted::{ScriptedServer, Step};
pub use timeline::{Event, Side, Timeline, What};
pub use under_test::{ServerProcess, ServerThread};
pub use verdict::{SEAL_TEST, seal_verdicts};
pub use watchdog::{DEADLINE_EXPIRED, Watchdog, within};

/// Binds a listener on the IPv4 loopback address with a port the system chooses.
///
/// Tests always use this (never a fixed port, never `localhost`, which may resolve to `::1`
/// only), then read the real address back with `local_addr()`.
pub fn bind_loopback() -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
}
