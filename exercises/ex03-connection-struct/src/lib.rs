//! # Exercise 3 — from a tuple to `struct Connection`
//!
//! Exercise 2 gave a connection three parts: the socket, a reader and a writer over it. The
//! lectures first keep them together as a tuple, returned by `connect` and unpacked again at
//! the top of every function:
//!
//! ```python
//! def send_message(connection, message):
//!     sock, inp, out = connection        # which position was the writer again?
//!     out.write(message + '\r\n')
//!     out.flush()
//! ```
//!
//! The Rust version of that is below, complete and working: [`ConnectionTuple`] and the
//! functions [`connect`], [`send_message`], [`receive_response`] and [`close`]. Your job is
//! to refactor it into [`Connection`], a struct with named fields and methods, which the
//! lectures then do too (a named record). Why bother, when the tuple works?
//!
//! - **Names instead of positions.** `connection.2` or `let (_, _, output) = connection` in
//!   every function, against `self.output`. A reader of the code, or you next month, should
//!   not have to remember that the writer is the third one.
//! - **One place knows the layout.** Add a part (a name for the log, a timeout setting) and
//!   every function that unpacks the tuple changes, and so does every caller that builds or
//!   unpacks one. With a struct, only the methods that use the new field change.
//! - **The parts stay together.** A tuple's parts are open to anyone: a caller can move the
//!   socket out, or keep a clone, and the connection outlives its `close`. The struct's
//!   fields are private, so the methods are the only way in; the reader and the writer are
//!   always over the socket next to them.
//! - **Ownership prevents use after close.** `close(self)` takes the connection *by value*:
//!   afterwards the variable is moved and using it is a compile error, not a runtime "Bad
//!   file descriptor" as in Python. (The tuple's `close` takes it by value too; with methods
//!   the rule sits on the type, where everyone sees it.)
//!
//! | Python (the lecture)                      | Rust (this exercise)                       |
//! |-------------------------------------------|--------------------------------------------|
//! | `connection = (sock, inp, out)`           | `type ConnectionTuple = (TcpStream, …)`    |
//! | `sock, inp, out = connection`             | `let (socket, input, output) = connection` |
//! | a record / class with fields              | `struct Connection { … }`                  |
//! | `def send_message(self, message)`         | `fn send_message(&mut self, message: &str)` |
//! | `sock.getsockname()`, `sock.getpeername()`| `local_addr()`, `peer_addr()`              |
//!
//! ## Check your work
//! `cargo test -p ex03`. The graded tests use only [`Connection`]; the tuple version is
//! yours to copy from. When a test fails, its message says what the server saw and names the
//! likely mistake. Then `cargo clippy -p ex03` reviews your code with the kit's lints, as the
//! grader does: it finds what no test can see on loopback (a `write` whose count is ignored).

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

// ---------------------------------------------------------------------------------------
// Before: the connection as a tuple (complete; nothing to change here)
// ---------------------------------------------------------------------------------------

/// A connection as three parts *by position*: the socket, the reader, the writer.
pub type ConnectionTuple = (TcpStream, BufReader<TcpStream>, BufWriter<TcpStream>);

/// Connects to a line server and wraps the socket in its reader and writer.
pub fn connect(host: &str, port: u16) -> io::Result<ConnectionTuple> {
    let socket = TcpStream::connect((host, port))?;
    // Two more handles to the same socket: one for the reader, one for the writer.
    let input = BufReader::new(socket.try_clone()?);
    let output = BufWriter::new(socket.try_clone()?);
    Ok((socket, input, output))
}

/// Sends `message` as one line (`\r\n` at the end) and flushes it.
pub fn send_message(connection: &mut ConnectionTuple, message: &str) -> io::Result<()> {
    let (_socket, _input, output) = connection;
    output.write_all(message.as_bytes())?;
    output.write_all(b"\r\n")?;
    output.flush()
}

/// Reads one line from the server, without its line ending.
///
/// End of input (the server closed) is an error of kind `UnexpectedEof`: a response was
/// expected. Bytes that are not UTF-8 are an error of kind `InvalidData`.
pub fn receive_response(connection: &mut ConnectionTuple) -> io::Result<String> {
    let (_socket, input, _output) = connection;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(line)
}

/// Flushes what is left and closes the connection; the server reads end-of-file at once.
pub fn close(connection: ConnectionTuple) -> io::Result<()> {
    let (socket, input, mut output) = connection;
    output.flush()?;
    // The three handles share one socket, which closes only when the *last* handle is gone.
    // `shutdown` ends the connection now, whoever still holds a handle. (NotConnected: the
    // server had already reset it; there is nothing left to close.)
    match socket.shutdown(Shutdown::Both) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotConnected => {}
        Err(error) => return Err(error),
    }
    drop(input);
    drop(output);
    drop(socket);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// After: the connection as a struct (your part)
// ---------------------------------------------------------------------------------------

/// A connection to a line server: the socket with its reader and writer, by name.
///
/// ```no_run
/// use ex03::Connection;
///
/// # fn main() -> std::io::Result<()> {
/// let mut connection = Connection::connect("127.0.0.1", 5151)?;
/// println!("{} talks to {}", connection.local_addr()?, connection.peer_addr()?);
/// connection.send_message("hello")?;
/// assert_eq!(connection.receive_response()?, "hello");
/// connection.close()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Connection {
    // TODO: three named fields for the three parts of the tuple: the socket, the reader and
    // the writer (`name: Type,` each). Leave out `pub`: only the methods below use them.
}

impl Connection {
    /// Connects to a line server at `host`:`port`, like [`connect`].
    pub fn connect(host: &str, port: u16) -> io::Result<Connection> {
        // TODO: do what `connect` does, but return `Connection { … }` with your fields.
        todo!("connect to {host} port {port}")
    }

    /// Sends `message` as one line and flushes it, like [`send_message`].
    pub fn send_message(&mut self, message: &str) -> io::Result<()> {
        // TODO: like `send_message`, with `self.your_writer_field` instead of unpacking.
        todo!("send {message:?} on {self:?}")
    }

    /// Reads one line without its line ending, like [`receive_response`]; end of input is
    /// an `UnexpectedEof` error.
    pub fn receive_response(&mut self) -> io::Result<String> {
        // TODO: like `receive_response`. Read from the reader field every time: it may hold
        // the next line already (a new `BufReader` would lose it).
        todo!("receive a line on {self:?}")
    }

    /// This end of the connection: our IP address and the port the system gave us.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        // TODO: the socket knows both ends: `TcpStream::local_addr`.
        todo!("the local address of {self:?}")
    }

    /// The other end: the server's IP address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        // TODO: `TcpStream::peer_addr`.
        todo!("the peer address of {self:?}")
    }

    /// Flushes what is left and closes the connection, like [`close`]. The server reads
    /// end-of-file at once.
    ///
    /// `close` takes `self`, so the connection is *moved* into it and gone afterwards. This
    /// compiles:
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// let connection = ex03::Connection::connect("127.0.0.1", 5151)?;
    /// connection.close()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// and one more line, using the connection after closing it, does not (error E0382, use
    /// of a moved value):
    ///
    /// ```compile_fail,E0382
    /// # fn main() -> std::io::Result<()> {
    /// let connection = ex03::Connection::connect("127.0.0.1", 5151)?;
    /// connection.close()?;
    /// println!("still talking to {}?", connection.peer_addr()?); // E0382: `connection` moved
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(self) -> io::Result<()> {
        // TODO: like `close`: flush the writer, shut the socket down. The fields are dropped
        // when `self` goes out of scope at the end of this method.
        todo!("close {self:?}")
    }
}
