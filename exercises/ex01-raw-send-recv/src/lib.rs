//! # Exercise 1 — raw send and receive
//!
//! A TCP connection is a pair of byte streams between two programs: what you write on your
//! end comes out, in order, on the other end, and the other way round. TCP guarantees the
//! order and that nothing is lost; it does *not* keep your messages apart. Send "HELLO" in
//! one write and the other side may read "HEL" and then "LO", or "HELLO" glued to the next
//! message. Every function here exists because of that.
//!
//! You will build the client from the first socket lecture, one small function at a time:
//! connect to a server, send bytes, receive bytes three different ways, and finally do a
//! whole round trip with an echo server.
//!
//! | Python (the lecture)               | Rust (this exercise)                      |
//! |------------------------------------|-------------------------------------------|
//! | `socket.create_connection((h, p))` | `TcpStream::connect((h, p))`              |
//! | `sock.sendall(data)`               | `stream.write_all(data)`                  |
//! | `sock.recv(4096)`                  | `stream.read(&mut buffer)`                |
//! | `sock.shutdown(socket.SHUT_WR)`    | `stream.shutdown(Shutdown::Write)`        |
//!
//! ## Try it by hand
//! In one terminal run the reference server: `cargo lab serve --mode raw` (it prints the
//! address it listens on). In another, talk to it with `nc 127.0.0.1 5151` (on Windows:
//! `ncat`, or PuTTY in "Raw" mode): whatever you type comes back.
//!
//! ## Check your work
//! `cargo test -p ex01`. Each test's name says what it expects; when one fails, its message
//! names the most likely mistake and shows the conversation on the wire. Some tests use a
//! server on `::1` (IPv6) or a host *name*, so `connect` must use the host it is given.
//!
//! `cargo clippy -p ex01` finds what no test on loopback can: a `write` or a `read` whose
//! count is ignored (the kit denies `clippy::unused_io_amount`). Use `write_all`, and keep
//! the count that `read` returns.

use std::io;
use std::net::TcpStream;
// You will need more of std as you go: `std::io::Read` for reading, `std::io::Write` for
// writing and `std::net::Shutdown` for the half-close. The compiler says which one is missing.

/// Opens a TCP connection to `port` on `host` (a name like `"example.com"` or an address
/// like `"127.0.0.1"`).
///
/// A failure (nobody listening, unknown host) is returned as an `Err`: a program that talks
/// to the network must expect the network to say no.
pub fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    // TODO: connect with `TcpStream::connect`. It accepts a `(host, port)` pair, resolves the
    // name and tries each address it finds. Hand any error back with `?` (no `unwrap`).
    todo!("connect to {host} port {port}")
}

/// Sends every byte of `data`.
///
/// One `write` may send only part of what you give it (it returns how much it took), so one
/// call is not enough for large data.
pub fn send_all(stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    // TODO: send all of `data`. `Write::write_all` keeps writing until everything is sent.
    todo!("send {} bytes on {stream:?}", data.len())
}

/// Receives whatever *one* read gives: at least one byte and at most `max`, or an empty
/// vector when the server has closed its side.
pub fn receive_some(stream: &mut TcpStream, max: usize) -> io::Result<Vec<u8>> {
    // TODO: make a buffer of `max` bytes, `read` into it once, and keep only the bytes that
    // read filled in (it returns how many).
    todo!("read up to {max} bytes from {stream:?}")
}

/// Receives exactly `count` bytes, however many reads that takes.
///
/// If the server closes before `count` bytes arrived, returns an error of kind
/// `io::ErrorKind::UnexpectedEof`.
pub fn receive_exactly(stream: &mut TcpStream, count: usize) -> io::Result<Vec<u8>> {
    // TODO: keep reading until you have `count` bytes. A read that returns 0 means the server
    // closed: stop there with `UnexpectedEof` (std's `read_exact` does all of this).
    todo!("read exactly {count} bytes from {stream:?}")
}

/// Receives everything the server sends until it closes the connection.
///
/// The lecture's first version stopped as soon as a read came back shorter than its buffer.
/// That is a bug: a short read only means that is all that has arrived *so far*.
pub fn receive_until_closed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    // TODO: read until a read returns 0 (the server closed), collecting everything.
    // `Read::read_to_end` does exactly this.
    todo!("read everything from {stream:?} until it closes")
}

/// Sends `data` to the echo server at `host`:`port` and returns everything it sends back.
///
/// After sending, close your *sending* side (`shutdown(Shutdown::Write)`): the server then
/// reads end-of-file, knows you are done, sends back the rest and closes, which is how you
/// know you have everything. (This sends everything before reading anything, which is fine
/// for up to about a megabyte; more could fill both directions' buffers and stall.)
pub fn echo_roundtrip(host: &str, port: u16, data: &[u8]) -> io::Result<Vec<u8>> {
    // TODO: connect, send all of `data`, shut down the write side, receive until closed.
    // Reuse the functions above.
    todo!(
        "send {} bytes to the echo server at {host} port {port}",
        data.len()
    )
}
