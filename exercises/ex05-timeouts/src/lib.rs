//! # Exercise 5 — timeouts, and a port scanner
//!
//! Every socket call you have made so far waits as long as it takes. Usually that is a few
//! microseconds. But a `read` from a server that never answers waits *forever*, and a
//! `connect` to a host that never answers (a firewall that drops packets, a machine that is
//! off) waits about two minutes on Linux while the system retries. A program that talks to
//! the network must decide how long it is willing to wait, and then tell three outcomes
//! apart: it worked, the other side said no, or nobody answered in time.
//!
//! | Python (the lecture)                             | Rust (this exercise)                          |
//! |--------------------------------------------------|-----------------------------------------------|
//! | `socket.create_connection((h, p), timeout=t)`    | `connect_with_timeout((h, p), t)`             |
//! | `sock.settimeout(t)`                             | `stream.set_read_timeout(Some(t))`            |
//! | `except socket.timeout:`                         | `Err(e)` with kind `WouldBlock` or `TimedOut` |
//! | `sock.connect_ex((h, p))` → `0` / `ECONNREFUSED` | `probe_port(addr, t)` → `PortState`           |
//!
//! ## A timeout is an answer, not a crash
//! When a read times out, std returns an error whose kind is `WouldBlock` on Linux and macOS
//! and `TimedOut` on Windows: treat both as "timed out". A refused connect is
//! `ConnectionRefused`, and it comes back at once: the host answered, with a no.
//!
//! ## Try it by hand
//! `cargo lab serve` runs an echo server on port 5151. Connect to it, to a port nothing
//! listens on (refused at once), and to an address that drops packets, such as `10.255.255.1`
//! on most networks (no answer: only your timeout ends the wait).
//!
//! ## Check your work
//! `cargo test -p ex05`. The tests use servers that never answer, a port whose queue is full
//! (so a connect to it cannot succeed or be refused, only time out), and a port nothing
//! listens on; they measure how long each of your calls takes. When a call of yours is still
//! waiting long after its timeout, the test looks once more, with a timeout of 1 ms, to tell
//! "no timeout at all" from "a timeout converted wrongly", and says which. Then run
//! `cargo clippy -p ex05`: the grader reviews your code with the kit's lints too.

use std::fmt::Debug;
use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;
// You will need more of std as you go: `std::io::{BufRead, ErrorKind}`, `std::thread`.

/// What one attempt to read a line gave. Three different cases, and the type keeps them
/// apart: with Python's `readline`, "closed" is `''` (one character from an empty line,
/// `'\n'`) and a timeout is an exception that is easy to catch too broadly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A line, without its line ending (`\n` or `\r\n`). An empty line is `Line("")`.
    Line(String),
    /// Nothing complete arrived within the timeout; the connection is still open.
    TimedOut,
    /// The server closed its side: nothing more will ever arrive.
    Closed,
}

/// What a probe learned about a port (the three states of a port scanner).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortState {
    /// The connect succeeded: something listens there.
    Open,
    /// The connect was refused: the host answered that nothing listens there.
    Closed,
    /// No answer within the timeout (a firewall dropped the packets, a full queue, a host
    /// that is off), or another error that is not a refusal.
    Filtered,
}

/// Connects to `addr`, giving up on each of its addresses after `timeout`.
///
/// `addr` is anything `TcpStream::connect` takes: a `(host, port)` pair such as
/// `("localhost", 5151)`, a `"host:port"` string, a `SocketAddr`, or a list of addresses
/// (`&[SocketAddr]`). Like Python's `create_connection((host, port), timeout)`: resolve it,
/// try each address it gives in turn (`localhost` often gives two: `::1` and `127.0.0.1`),
/// return the first connection that succeeds, or the *last* error if none does.
///
/// A zero `timeout` is an error of kind `InvalidInput`, returned *before* anything is sent:
/// std's `connect_timeout` rejects zero too, but only after it has started connecting.
pub fn connect_with_timeout(
    addr: impl ToSocketAddrs + Debug,
    timeout: Duration,
) -> io::Result<TcpStream> {
    // TODO: 1. reject `timeout.is_zero()` with `io::Error::new(io::ErrorKind::InvalidInput, …)`;
    // 2. `addr.to_socket_addrs()?` gives every address (an iterator of `SocketAddr`);
    // 3. try `TcpStream::connect_timeout(&address, timeout)` on each, keeping the last error
    //    (no `?` inside the loop: one address failing is no reason to stop);
    // 4. no address at all is an error too (kind `InvalidInput`).
    todo!("connect to {addr:?}, waiting at most {timeout:?} for each address")
}

/// Reads one line from `reader`, waiting at most `timeout` for data.
///
/// The timeout is how long to wait for the *next piece* of data, not for the whole line: a
/// server that sends one byte at a time, each just in time, is still answering.
///
/// A timeout in the middle of a line loses the part that arrived (it was taken out of the
/// reader's buffer): like Python's `makefile`, after `TimedOut` treat a half-sent line as
/// lost.
pub fn read_line_with_timeout(
    reader: &mut BufReader<TcpStream>,
    timeout: Duration,
) -> io::Result<Reply> {
    // TODO: set the read timeout on the stream inside the reader (`reader.get_ref()`), then
    // `read_line` into a new `String`: 0 bytes means Closed; a line comes back without its
    // `\n` or `\r\n`; an error of kind `WouldBlock` or `TimedOut` is `Reply::TimedOut`; any
    // other error is returned.
    todo!("read a line from {reader:?} within {timeout:?}")
}

/// Probes one port, like the lectures' `connect_ex` scanner: open, closed (refused), or
/// filtered (no answer within `timeout`). A connection that succeeds is closed again at once.
pub fn probe_port(addr: SocketAddr, timeout: Duration) -> PortState {
    // TODO: `TcpStream::connect_timeout` and match on the result: `Ok` is Open, an error of
    // kind `ConnectionRefused` is Closed, anything else is Filtered. (A zero timeout cannot
    // hear any answer: Filtered, without connecting.)
    todo!("probe {addr}, waiting at most {timeout:?}")
}

/// Probes `ports` on `host` and returns each with its state, in the order given.
///
/// The ports are probed at the same time, not one after another: 50 ports that never answer
/// then take about one `timeout`, not fifty. But at most 100 at once: a probe is a thread, and
/// a scan of all 65535 ports must not start 65535 threads. `host` is resolved once (its first
/// address); a name that cannot be resolved is the `Err`. A port may be listed more than once.
pub fn scan_ports(
    host: &str,
    ports: &[u16],
    timeout: Duration,
) -> io::Result<Vec<(u16, PortState)>> {
    // TODO: resolve `(host, 0)` to its first address; then, for each batch of at most 100
    // ports (`ports.chunks(100)`), inside `thread::scope`, spawn a thread per port that calls
    // `probe_port` with that address and the port, and join them in the order you spawned
    // them. (Scoped threads may borrow `ports`.)
    todo!(
        "probe {} ports on {host}, waiting at most {timeout:?} each",
        ports.len()
    )
}
