//! # Exercise 4 — an echo server
//!
//! Until now you wrote clients. Now you write the other side: a server that many clients
//! can use at once. A server does three things the client never did:
//!
//! 1. **bind** — claim an address and port on this machine (`127.0.0.1:5151`);
//! 2. **listen** — tell the system to queue up clients that connect there;
//! 3. **accept** — take the next client from that queue. Each accept gives a *new* socket,
//!    connected to that one client; the listening socket stays as it was, ready for the next.
//!
//! In Rust, `TcpListener::bind` does steps 1 and 2 and `listener.accept()` does step 3.
//!
//! What your server does with each client is **echo** (RFC 862): send back every byte it
//! receives, text or not, until the client closes its sending side; then close too. One
//! client must never keep the others waiting, so each client gets its own thread.
//!
//! | Python (the lecture)                       | Rust (this exercise)                  |
//! |--------------------------------------------|---------------------------------------|
//! | `s = socket(); s.bind((h, p)); s.listen()` | `TcpListener::bind((h, p))`           |
//! | `s.getsockname()`                          | `listener.local_addr()`               |
//! | `conn, addr = s.accept()`                  | `let (stream, addr) = listener.accept()?` |
//! | `conn.getsockname()`, `conn.getpeername()` | `stream.local_addr()`, `stream.peer_addr()` |
//! | `threading.Thread(target=f, args=(conn,)).start()` | `thread::spawn(move \|\| f(stream))` |
//!
//! ## The socket pair
//! A TCP connection is named by four things: the server's address and port, and the client's
//! address and port. The server's port is the one it listens on (5151); the client's is an
//! *ephemeral* port the system picked when it connected (say 54321). So the same connection
//! looks like this from its two ends:
//!
//! | seen from  | `local_addr()`    | `peer_addr()`     |
//! |------------|-------------------|-------------------|
//! | the server | `127.0.0.1:5151`  | `127.0.0.1:54321` |
//! | the client | `127.0.0.1:54321` | `127.0.0.1:5151`  |
//!
//! ## Try it by hand
//! `cargo run -p ex04 --bin ex04-server -- --port 5151` runs your server (the program is
//! provided: it calls your `bind` and `serve`). Then, from other terminals, several at once:
//! `nc 127.0.0.1 5151` — type, see it come back; Ctrl-D half-closes and the server closes
//! too. `printf 'hello' | nc -N 127.0.0.1 5151` does it in one go.
//!
//! ## Check your work
//! `cargo test -p ex04`. The tests are the client here: they connect to your server, send
//! text and binary data (up to 16 MiB), close their sending side, and check that every byte
//! comes back, then end-of-file; that a second client is answered while a first one sits
//! idle; that a client that vanishes mid-message does not take the server down; and (on
//! Linux) that your program keeps serving when `accept` fails for lack of file descriptors.
//! When a test fails, it names the likely mistake and shows the conversation on the wire.
//!
//! `cargo clippy -p ex04` finds what no test on loopback can: a `write` whose count is
//! ignored (the kit denies `clippy::unused_io_amount`). Use `write_all`.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
// You will need more of std as you go: `std::io::{Read, Write}` and `std::thread`.

/// Listens on `host`:`port` (port 0: the system picks a free port; ask the listener which
/// with `local_addr`).
///
/// A port already in use, or an address that is not this machine's, is an `Err`: report it,
/// do not panic.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    // TODO: `TcpListener::bind` takes a `(host, port)` pair, like `TcpStream::connect`.
    todo!("listen on {host} port {port}")
}

/// The two ends of a connection, as one of them sees it: the socket pair table above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketPair {
    /// This end: for a server's connection, the address it listens on.
    pub local: SocketAddr,
    /// The other end: for a server's connection, the client's address and ephemeral port.
    pub peer: SocketAddr,
}

impl std::fmt::Display for SocketPair {
    /// `127.0.0.1:54321 -> 127.0.0.1:5151`: peer first, for a server's log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}", self.peer, self.local)
    }
}

/// Both ends of `stream`'s connection, as `stream`'s side sees them.
pub fn socket_pair(stream: &TcpStream) -> io::Result<SocketPair> {
    // TODO: ask the stream for its local and its peer address (each may fail: `?`).
    todo!("find both ends of {stream:?}")
}

/// Serves one client: sends back every byte it sends, as soon as it arrives, until it
/// closes its sending side. Then closes the connection and returns how many bytes it echoed.
///
/// Bytes are bytes: a NUL or invalid UTF-8 goes back unchanged. The client may send far more
/// than fits in memory, so echo piece by piece rather than reading everything first.
pub fn echo_client(stream: TcpStream) -> io::Result<u64> {
    // TODO: loop: `read` into a buffer; a read of 0 means the client closed its sending side,
    // so stop; otherwise `write_all` exactly the bytes that read filled in, and count them.
    // (Read and Write need `&mut`: make the parameter `mut stream`.) Returning drops the
    // stream, which closes the connection: the client sees end-of-file after the last byte.
    todo!("echo everything {stream:?} sends back to it")
}

/// Accepts clients on `listener` forever, serving each on its own thread with
/// [`echo_client`], and logs one line per client on stderr that names it (use
/// [`socket_pair`]: `127.0.0.1:54321 -> 127.0.0.1:5151 connected`).
///
/// One client's error — it reset the connection, it vanished before being accepted — ends
/// that client's thread, never the server: report it on stderr and go on accepting.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    // TODO: loop over `listener.incoming()` (or call `accept` in a loop). For each client,
    // `thread::spawn` a thread that logs it and calls `echo_client`; a `move` closure gives
    // the stream to the thread. An error from accepting is printed, then the loop goes on.
    // Do not `join` the thread: that would wait for this client before accepting the next.
    todo!("accept clients on {listener:?} forever, each on its own thread")
}
