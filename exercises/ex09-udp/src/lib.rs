//! # Exercise 9 — UDP datagrams and a pinger
//!
//! Everything so far was TCP (`SOCK_STREAM`): a connection, and a stream of bytes with no
//! boundaries. The lectures' other kind of socket is `SOCK_DGRAM`, UDP: no connection, no
//! stream, only *datagrams*: one `send_to` is one packet, which arrives whole as one
//! `recv_from`, or not at all. DNS, DHCP, games, video calls and QUIC (HTTP/3) run on it.
//!
//! ```text
//! client 127.0.0.1:40001 ── "PING 1" ──▶ server 127.0.0.1:5151     one send = one datagram
//! client 127.0.0.1:40001 ◀── "PING 1" ── server                    the reply goes to the sender
//!                          ── "PING 2" ──▶ ✗                       lost: nobody tells anyone
//! ```
//!
//! What UDP keeps and what it does not:
//! - **Message boundaries are kept**: two `send_to`s are two `recv_from`s, never one
//!   (unlike TCP, exercise 2).
//! - **A datagram larger than your buffer is cut**: the rest is thrown away. Linux and macOS
//!   do it without a word (you get the length that fit); Windows reports error WSAEMSGSIZE.
//! - **Nothing else is promised**: a datagram may be lost, duplicated, reordered or late,
//!   and anyone may send one to your port. A timeout is the only way to know "no answer".
//! - **`connect` on a UDP socket sends nothing**: it fixes the peer, so `send`/`recv` work,
//!   datagrams from anyone else are dropped, and a closed port ("ICMP port unreachable")
//!   becomes an error, `ConnectionRefused` on Linux and macOS (`ConnectionReset` on Windows).
//!   An unconnected socket just never hears about it.
//!
//! | Python (the lecture)                              | Rust (this exercise)                      |
//! |---------------------------------------------------|-------------------------------------------|
//! | `s = socket(AF_INET, SOCK_DGRAM)`; `s.bind(('127.0.0.1', 0))` | `UdpSocket::bind("127.0.0.1:0")` |
//! | `data, addr = s.recvfrom(65507)`                  | `let (n, from) = socket.recv_from(&mut buf)?` (the data is `&buf[..n]`) |
//! | `s.sendto(data, addr)`                            | `socket.send_to(data, addr)?`             |
//! | `s.connect(addr)`; `s.send(data)`; `s.recv(n)`    | `socket.connect(addr)?`; `send`; `recv`   |
//! | `s.settimeout(1.0)`                               | `socket.set_read_timeout(Some(Duration::from_secs(1)))?` |
//! | `except socket.timeout`                           | `Err(e)` with kind `WouldBlock` (Linux, macOS) or `TimedOut` (Windows) |
//! | `time.monotonic()`                                | `Instant::now()`, `instant.elapsed()`     |
//!
//! ## The pinger
//! The last steps are Kurose & Ross's UDP pinger: `ping` sends `PING 1`, `PING 2`, … to an
//! echo server, one every `interval`, **without waiting for the replies** (as `ping` does),
//! matches each reply to its request *by its sequence number*, and reports the round-trip
//! time of each, or that it was lost. Replies can be late, twice, out of order, or from a
//! stranger: the tests' server does each of these on purpose.
//!
//! The datagram format: a request is the ASCII text `PING <seq>` (`PING 1`, `PING 2`, …, no
//! line ending), `seq` counting from 1. The server echoes it, so its reply is the very same
//! bytes; anything else is not a reply.
//!
//! ## Try it by hand
//! `cargo lab serve --mode udp` is a UDP echo server (`--drop-every 3` loses every third
//! datagram, `--delay-ms 200` answers late). Talk to it with `nc -u 127.0.0.1 5151` (each
//! line you type is one datagram), or `cargo run -p ex09 -- 127.0.0.1:5151 -c 5`.
//!
//! ## Check your work
//! `cargo test -p ex09`. The tests run your code against the harness's scripted UDP echo
//! server (and Python's own socket module), on this machine. A failing test says what your
//! code returned, the likely mistake, and lists the datagrams the server got and what it did.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
// You will need more of std as you go: `std::io::ErrorKind`, `std::net::{Ipv4Addr,
// Ipv6Addr}`, `std::time::Instant`.

/// The largest UDP payload over IPv4: 65,535 bytes of IP packet, less 20 of IP header and 8
/// of UDP header. A buffer this large holds any datagram.
pub const MAX_DATAGRAM: usize = 65_507;

/// One datagram as [`receive`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Its bytes: at most the `capacity` asked for.
    pub data: Vec<u8>,
    /// Who sent it (the address and port to answer to).
    pub from: SocketAddr,
    /// Whether the datagram was longer than the capacity, and its end was lost.
    pub truncated: bool,
}

/// Step 1: a UDP echo server (RFC 862). Receives `count` datagrams on `socket` and sends
/// each one back, byte for byte, to whoever sent it, then returns. Datagrams of any size up
/// to [`MAX_DATAGRAM`] come back whole. Clients take turns in any order: each datagram's
/// reply goes to *its* sender. Errors are returned as they come.
pub fn echo_datagrams(socket: &UdpSocket, count: usize) -> io::Result<()> {
    // TODO: `count` times: `recv_from` into a buffer of MAX_DATAGRAM bytes (it says who sent
    // the datagram), then `send_to` that sender exactly the bytes received.
    todo!("echo {count} datagrams on {socket:?}")
}

/// Step 2: receives one datagram on `socket` (with whatever read timeout the caller set) and
/// keeps at most `capacity` bytes of it. A longer datagram is cut to `capacity` bytes and
/// marked `truncated`; one of exactly `capacity` bytes is not truncated. One call, one
/// datagram: never two glued together. Errors (a timeout) are returned as they come.
pub fn receive(socket: &UdpSocket, capacity: usize) -> io::Result<Datagram> {
    // TODO: `recv_from` into a buffer one byte *larger* than `capacity`: a datagram that
    // fills it did not fit. (Why: Linux cuts a datagram too long for the buffer silently.
    // On Windows that is an error instead: there use a buffer of MAX_DATAGRAM + 1 bytes,
    // with `cfg!(windows)`.)
    todo!("receive one datagram of at most {capacity} bytes on {socket:?}")
}

/// Step 3: sends `message` to `server` in one datagram and returns the reply's bytes (the
/// whole reply, up to [`MAX_DATAGRAM`] bytes), on a new *connected* socket:
/// - only a reply from `server` counts (a datagram from any other address or port is not
///   the reply);
/// - no reply within `timeout`: an error of kind `TimedOut` (whatever the OS says);
/// - nobody listens on `server`'s port: the error the OS reports, `ConnectionRefused` on
///   Linux and macOS (`ConnectionReset` on Windows), at once, not after the timeout.
///
/// A zero `timeout` is an `InvalidInput` error.
pub fn request(server: SocketAddr, message: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    // TODO: bind a socket on port 0 of the same family as `server` ("0.0.0.0:0" or "[::]:0"),
    // `connect` it to `server`, set its read timeout, `send`, then `recv`. Turn a
    // `WouldBlock` into a `TimedOut` error (`io::Error::new(ErrorKind::TimedOut, …)`).
    todo!("ask {server} {message:?} and wait {timeout:?} for the reply")
}

/// Step 4a: the request with sequence number `seq`: the ASCII text `PING <seq>`, in
/// decimal, no line ending (`ping_message(7) == b"PING 7"`).
pub fn ping_message(seq: u16) -> Vec<u8> {
    // TODO: `format!`, then `into_bytes`.
    todo!("the request number {seq}")
}

/// Step 4b: the sequence number of the request that `datagram` echoes, if it is exactly
/// one (`b"PING 7"` → `Some(7)`); anything else (`b"PING 7\n"`, `b"PONG 7"`, `b"PING 007"`,
/// `b"PING x"`, bytes that are not UTF-8) → `None`.
pub fn parse_reply(datagram: &[u8]) -> Option<u16> {
    // TODO: `std::str::from_utf8`, `strip_prefix("PING ")`, `parse::<u16>()`; then keep the
    // number only if `ping_message(seq)` is exactly `datagram`.
    todo!("the sequence number echoed by {datagram:?}")
}

/// What [`ping`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingReport {
    /// The address pinged.
    pub target: SocketAddr,
    /// One entry per request, in the order of their sequence numbers (`rtts[0]` is `PING 1`):
    /// the round-trip time, or `None` if no reply came within the timeout.
    pub rtts: Vec<Option<Duration>>,
    /// Replies to a request that had its reply already.
    pub duplicates: usize,
    /// Datagrams that answered no request still waiting: a reply after its timeout, a reply
    /// to a request never sent, anything that is not a reply at all.
    pub ignored: usize,
}

impl PingReport {
    /// How many requests were sent.
    pub fn transmitted(&self) -> usize {
        self.rtts.len()
    }

    /// Step 5: how many requests got their reply.
    pub fn received(&self) -> usize {
        // TODO: count the `Some`s of `rtts` (`iter().flatten().count()`).
        todo!("count the replies in {:?}", self.rtts)
    }

    /// The share of requests without a reply, in percent (1 lost of 3 is 33.33…); 0 when
    /// nothing was sent.
    pub fn loss_percent(&self) -> f64 {
        // TODO: lost × 100 / transmitted, in f64 (`as f64`), not in integers.
        todo!("the loss of {:?}", self.rtts)
    }

    /// The shortest round-trip time of the replies; `None` without replies.
    pub fn min_rtt(&self) -> Option<Duration> {
        // TODO: `iter().flatten().min()`.
        todo!("the shortest of {:?}", self.rtts)
    }

    /// The longest round-trip time of the replies; `None` without replies.
    pub fn max_rtt(&self) -> Option<Duration> {
        // TODO: like min_rtt.
        todo!("the longest of {:?}", self.rtts)
    }

    /// The mean round-trip time of the replies (lost requests do not count); `None` without
    /// replies.
    pub fn avg_rtt(&self) -> Option<Duration> {
        // TODO: the sum of the replies' times (`Duration` implements `Sum`) divided by their
        // number (`Duration / u32`).
        todo!("the mean of {:?}", self.rtts)
    }
}

/// Step 6: pings `addr` the way `ping` does, over UDP, and reports what happened.
///
/// - Sends `count` requests (`PING 1` … `PING count`) from one *connected* socket, request
///   `k` at `(k - 1) × interval` after the start, **without waiting for replies** in between.
/// - A reply counts for the request whose sequence number it echoes, if it arrives within
///   `timeout` of *that request's* sending; its RTT is measured from that instant. Replies
///   can come in any order. A second reply to the same request counts in `duplicates`, not
///   twice; a late reply, or any other datagram, counts in `ignored`.
/// - Returns once every request has its reply or its timeout has passed: at most about
///   `(count - 1) × interval + timeout` after the start, sooner if all replies are in.
/// - Nobody listening on `addr` is not loss: return the error (`ConnectionRefused` on Linux
///   and macOS, `ConnectionReset` on Windows) as soon as it comes.
pub fn ping(
    addr: SocketAddr,
    count: u16,
    interval: Duration,
    timeout: Duration,
) -> io::Result<PingReport> {
    // TODO: one connected socket. Keep when each request left (`Vec<Instant>`) and the
    // report's `rtts` (all `None` at first). Loop: send every request whose time has come;
    // work out the next instant you must wake up at (the next request to send, or the last
    // timeout of the requests without a reply; neither: return the report); set the read
    // timeout to the time left until then and `recv` one datagram; `parse_reply` it and
    // record it against its request. A read timeout just means: go round the loop again.
    todo!("ping {addr} {count} times, every {interval:?}, waiting {timeout:?} each")
}
