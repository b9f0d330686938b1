//! Reference solution of exercise 5 — timeouts, and a port scanner.
//!
//! Graded by the exercise's own tests (`exercises/ex05-timeouts/tests/graded.rs`).

use std::fmt::Debug;
use std::io::{self, BufRead, BufReader, ErrorKind};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::Duration;

/// What one attempt to read a line gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Line(String),
    TimedOut,
    Closed,
}

/// What a probe learned about a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortState {
    Open,
    Closed,
    Filtered,
}

/// At most this many probes at once: a thread each, and threads are not free (a scan of all
/// 65535 ports must not start 65535 threads).
const PARALLEL_PROBES: usize = 100;

/// Connects to `addr` (anything `TcpStream::connect` takes), giving up on each of its
/// addresses after `timeout`.
pub fn connect_with_timeout(
    addr: impl ToSocketAddrs + Debug,
    timeout: Duration,
) -> io::Result<TcpStream> {
    // Check first: std's `connect_timeout` also rejects zero, but only after it has sent the
    // SYN, so a "connection" would reach the server although we report an error.
    if timeout.is_zero() {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "a connect timeout of zero cannot succeed",
        ));
    }
    // A name may resolve to several addresses (IPv6 and IPv4, several servers): try each in
    // turn, like Python's `create_connection`, and report the last failure if all fail.
    let mut last_error = None;
    for address in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!("{addr:?} resolves to no address"),
        )
    }))
}

/// Reads one line, waiting at most `timeout` for each piece of data.
pub fn read_line_with_timeout(
    reader: &mut BufReader<TcpStream>,
    timeout: Duration,
) -> io::Result<Reply> {
    // The timeout belongs to the socket, so set it on the stream inside the reader. (A line
    // already waiting in the reader's buffer is returned without touching the socket.)
    reader.get_ref().set_read_timeout(Some(timeout))?;
    let mut line = String::new();
    match reader.read_line(&mut line) {
        // A read of 0 bytes: the server closed its side.
        Ok(0) => Ok(Reply::Closed),
        Ok(_) => {
            // Strip `\n`, then a `\r` before it: servers use both line endings.
            if line.ends_with('\n') {
                line.pop();
                if line.ends_with('\r') {
                    line.pop();
                }
            }
            Ok(Reply::Line(line))
        }
        // Linux and macOS report a read timeout as `WouldBlock`, Windows as `TimedOut`.
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Ok(Reply::TimedOut)
        }
        Err(error) => Err(error),
    }
}

/// Probes one port: open, closed (refused) or filtered (no answer in time).
pub fn probe_port(addr: SocketAddr, timeout: Duration) -> PortState {
    if timeout.is_zero() {
        // No time to hear an answer; and std would start connecting before saying so.
        return PortState::Filtered;
    }
    match TcpStream::connect_timeout(&addr, timeout) {
        // Dropping the stream closes the connection at once: we only wanted to know.
        Ok(_) => PortState::Open,
        // The host answered the SYN with a reset: nothing listens there.
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => PortState::Closed,
        // No answer in time, or an error that says nothing about the port (unreachable
        // network, …): a scanner cannot tell these apart from a firewall.
        Err(_) => PortState::Filtered,
    }
}

/// Probes `ports` on `host` at the same time; results in the order given.
pub fn scan_ports(
    host: &str,
    ports: &[u16],
    timeout: Duration,
) -> io::Result<Vec<(u16, PortState)>> {
    let ip = (host, 0)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                ErrorKind::InvalidInput,
                format!("{host} resolves to no address"),
            )
        })?
        .ip();
    let mut states = Vec::with_capacity(ports.len());
    // A probe mostly waits, so many can run at once; batches keep the thread count bounded
    // when someone scans all 65535 ports.
    for batch in ports.chunks(PARALLEL_PROBES) {
        // Scoped threads may borrow `batch`, and are all joined before the scope ends.
        thread::scope(|scope| {
            let probes: Vec<_> = batch
                .iter()
                .map(|&port| {
                    let probe = move || probe_port(SocketAddr::new(ip, port), timeout);
                    (port, scope.spawn(probe))
                })
                .collect();
            for (port, probe) in probes {
                // `probe_port` does not panic; if it ever did, the port is unknown: Filtered.
                states.push((port, probe.join().unwrap_or(PortState::Filtered)));
            }
        });
    }
    Ok(states)
}
