//! Reference solution of exercise 3 — from a tuple to `struct Connection`.
//!
//! Graded by the exercise's own tests (`exercises/ex03-connection-struct/tests/graded.rs`).
//! The tuple version stays, sharing its line helpers with the struct: a refactoring keeps
//! the old code working while the new one grows next to it.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

/// A connection as three parts *by position*: the socket, the reader, the writer.
pub type ConnectionTuple = (TcpStream, BufReader<TcpStream>, BufWriter<TcpStream>);

/// Connects to a line server and wraps the socket in its reader and writer.
pub fn connect(host: &str, port: u16) -> io::Result<ConnectionTuple> {
    let socket = TcpStream::connect((host, port))?;
    let input = BufReader::new(socket.try_clone()?);
    let output = BufWriter::new(socket.try_clone()?);
    Ok((socket, input, output))
}

/// Sends `message` as one line (`\r\n` at the end) and flushes it.
pub fn send_message(connection: &mut ConnectionTuple, message: &str) -> io::Result<()> {
    let (_socket, _input, output) = connection;
    write_line(output, message)
}

/// Reads one line from the server, without its line ending.
pub fn receive_response(connection: &mut ConnectionTuple) -> io::Result<String> {
    let (_socket, input, _output) = connection;
    read_response(input)
}

/// Flushes what is left and closes the connection.
pub fn close(connection: ConnectionTuple) -> io::Result<()> {
    let (socket, _input, mut output) = connection;
    output.flush()?;
    shut_down(&socket)
}

/// A connection to a line server: the socket with its reader and writer, by name.
///
/// ```no_run
/// use ex03::Connection;
///
/// # extern crate ex03_solution as ex03; // this solution's library (see its build.rs)
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
    // Private: the methods are the only way in, so the three always belong together.
    /// The socket itself: it knows both addresses and can be shut down.
    socket: TcpStream,
    /// Lines from the server. It reads ahead, so it must live as long as the connection.
    input: BufReader<TcpStream>,
    /// Lines to the server, sent when flushed.
    output: BufWriter<TcpStream>,
}

impl Connection {
    /// Connects to a line server at `host`:`port`.
    pub fn connect(host: &str, port: u16) -> io::Result<Connection> {
        let socket = TcpStream::connect((host, port))?;
        // `try_clone` gives more handles to the same socket (not new connections).
        let input = BufReader::new(socket.try_clone()?);
        let output = BufWriter::new(socket.try_clone()?);
        Ok(Connection {
            socket,
            input,
            output,
        })
    }

    /// Sends `message` as one line and flushes it.
    pub fn send_message(&mut self, message: &str) -> io::Result<()> {
        write_line(&mut self.output, message)
    }

    /// Reads one line without its line ending; end of input is an `UnexpectedEof` error.
    pub fn receive_response(&mut self) -> io::Result<String> {
        // Always the same reader: whatever it read ahead is the start of the next response.
        read_response(&mut self.input)
    }

    /// This end of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The server's end of the connection.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.peer_addr()
    }

    /// Flushes what is left and closes the connection. The server reads end-of-file at once.
    ///
    /// `close` takes `self`, so the connection is *moved* into it and gone afterwards. This
    /// compiles:
    ///
    /// ```no_run
    /// # extern crate ex03_solution as ex03; // this solution's library (see its build.rs)
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
    /// # extern crate ex03_solution as ex03; // this solution's library (see its build.rs)
    /// # fn main() -> std::io::Result<()> {
    /// let connection = ex03::Connection::connect("127.0.0.1", 5151)?;
    /// connection.close()?;
    /// println!("still talking to {}?", connection.peer_addr()?); // E0382: `connection` moved
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(mut self) -> io::Result<()> {
        // A flush error is reported here; the BufWriter's own drop would swallow it.
        self.output.flush()?;
        shut_down(&self.socket)
        // `self` ends here: the socket, the reader and the writer are dropped, all three
        // handles are closed.
    }
}

/// Writes `message` and `\r\n`, then flushes, so the line leaves now.
fn write_line(output: &mut impl Write, message: &str) -> io::Result<()> {
    output.write_all(message.as_bytes())?;
    output.write_all(b"\r\n")?;
    output.flush()
}

/// Reads one line without its ending; end of input is an `UnexpectedEof` error.
fn read_response(input: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    // 0 bytes read: the server closed instead of answering. (Invalid UTF-8 is already an
    // `InvalidData` error from `read_line`.)
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

/// Ends the connection now, whoever still holds a handle to the socket: the server reads
/// end-of-file at once. (A socket closes by itself only when its *last* handle is dropped.)
fn shut_down(socket: &TcpStream) -> io::Result<()> {
    match socket.shutdown(Shutdown::Both) {
        Ok(()) => Ok(()),
        // The server had already reset the connection: there is nothing left to close.
        Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(()),
        Err(error) => Err(error),
    }
}
