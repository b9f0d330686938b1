//! Reference solution of exercise 1 — raw send and receive.
//!
//! Graded by the exercise's own tests (`exercises/ex01-raw-send-recv/tests/graded.rs`).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

/// Opens a TCP connection to `port` on `host`.
pub fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    // `(host, port)` implements `ToSocketAddrs`: the name is resolved and each address tried
    // in turn, like Python's `socket.create_connection`. The error, if any, goes back to the
    // caller: refusing a connection is normal network behaviour, not a bug to panic over.
    TcpStream::connect((host, port))
}

/// Sends every byte of `data`.
pub fn send_all(stream: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    // `write` returns how many bytes the kernel accepted, which can be fewer than asked for;
    // `write_all` repeats it until nothing is left (Python's `sendall`).
    stream.write_all(data)
}

/// Receives whatever one read gives (empty when the server has closed).
pub fn receive_some(stream: &mut TcpStream, max: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0; max];
    // One read: it waits until *some* bytes are there and returns how many it copied.
    let count = stream.read(&mut buffer)?;
    buffer.truncate(count);
    Ok(buffer)
}

/// Receives exactly `count` bytes, however many reads that takes.
pub fn receive_exactly(stream: &mut TcpStream, count: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0; count];
    // `read_exact` loops over `read` until the buffer is full. A read of 0 bytes (the server
    // closed) before that becomes an `UnexpectedEof` error instead of an endless loop.
    stream.read_exact(&mut buffer)?;
    Ok(buffer)
}

/// Receives everything until the server closes.
pub fn receive_until_closed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut everything = Vec::new();
    // `read_to_end` stops only at a read of 0 bytes, never at a merely short read.
    stream.read_to_end(&mut everything)?;
    Ok(everything)
}

/// Sends `data` to an echo server and returns everything it sends back.
pub fn echo_roundtrip(host: &str, port: u16, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = connect(host, port)?;
    send_all(&mut stream, data)?;
    // Half-close: "I have nothing more to send". The server reads end-of-file, finishes
    // echoing and closes, which ends `receive_until_closed` below.
    stream.shutdown(Shutdown::Write)?;
    receive_until_closed(&mut stream)
}
