//! Reference solution of exercise 4 — an echo server.
//!
//! Graded by the exercise's own tests (`exercises/ex04-echo-server/tests/graded.rs`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// Listens on `host`:`port` (port 0: the system picks one).
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    // Bind and listen in one call. std asks the system for a queue of 128 waiting clients;
    // on Unix it also sets SO_REUSEADDR, so a restarted server can reuse its port at once.
    TcpListener::bind((host, port))
}

/// The two ends of a connection, as one of them sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketPair {
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

impl std::fmt::Display for SocketPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}", self.peer, self.local)
    }
}

/// Both ends of `stream`'s connection.
pub fn socket_pair(stream: &TcpStream) -> io::Result<SocketPair> {
    // Python's getsockname() and getpeername(). `peer_addr` fails with `NotConnected` once
    // the client is gone, which is why this returns a Result.
    Ok(SocketPair {
        local: stream.local_addr()?,
        peer: stream.peer_addr()?,
    })
}

/// Serves one client: echoes everything until it half-closes; returns the byte count.
pub fn echo_client(mut stream: TcpStream) -> io::Result<u64> {
    // A fixed buffer: the client may send gigabytes, and we only ever hold one piece.
    let mut buffer = [0; 8192];
    let mut echoed = 0;
    loop {
        // `read` waits until *some* bytes are there; 0 means the client has closed its
        // sending side and nothing more will ever come.
        let count = stream.read(&mut buffer)?;
        if count == 0 {
            break;
        }
        // Send back exactly what arrived, at once (RFC 862: as it is received).
        stream.write_all(&buffer[..count])?;
        echoed += count as u64;
    }
    // (`io::copy(&mut reader, &mut stream)` with a `try_clone` as the reader does this loop.)
    // Returning drops `stream`, which closes our side: the client reads end-of-file after
    // the last echoed byte, and knows it has everything.
    Ok(echoed)
}

/// Accepts clients forever, each served on its own thread.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // `incoming` is `accept` in an endless loop.
    for accepted in listener.incoming() {
        let stream = match accepted {
            Ok(stream) => stream,
            Err(error) => {
                // Accepting can fail for reasons that pass: a client that reset before we
                // got to it, or no file descriptors left for a moment. Not a reason to stop
                // serving everyone else; a short pause keeps a persistent error from spinning.
                eprintln!("accept failed: {error}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // `Builder::spawn` reports "no more threads" as an error; `thread::spawn` would panic
        // and take the accept loop down with it.
        let spawned = thread::Builder::new().spawn(move || serve_one(stream));
        if let Err(error) = spawned {
            eprintln!("cannot start a thread for a client, dropping it: {error}");
        }
        // No `join`: the loop goes straight back to accepting the next client.
    }
    // `incoming` never ends, so this is never reached.
    Ok(())
}

/// One client's thread: log it, echo, log how it ended. Errors end here, with this client.
fn serve_one(stream: TcpStream) {
    let name = match socket_pair(&stream) {
        Ok(pair) => pair.to_string(),
        Err(error) => {
            // The client left between being accepted and now.
            eprintln!("a client left before it was served: {error}");
            return;
        }
    };
    eprintln!("{name} connected");
    match echo_client(stream) {
        Ok(count) => eprintln!("{name} closed after {count} bytes"),
        Err(error) => eprintln!("{name} failed: {error}"),
    }
}
