//! Reference solution of exercise 2 — lines through pseudo-files.
//!
//! Graded by the exercise's own tests (`exercises/ex02-line-streams/tests/`), and the
//! interactive client `exercises/ex02-line-streams/src/bin/ex02-client.rs` runs on it.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;

/// What [`ask_port`] prints after an answer that is not a port number.
const NOT_A_PORT: &str = "Ports must be an integer between 0 and 65535";

/// Wraps a connected stream in a line reader and a buffered writer.
pub fn open_streams(stream: TcpStream) -> io::Result<(BufReader<TcpStream>, BufWriter<TcpStream>)> {
    // `try_clone` duplicates the *handle*, not the connection: both talk to the same socket.
    // The reader owns one handle and the writer the other, so each can be passed on alone.
    let reader = BufReader::new(stream.try_clone()?);
    let writer = BufWriter::new(stream);
    Ok((reader, writer))
}

/// Writes `line` and `\r\n`, then flushes.
pub fn write_line(output: &mut impl Write, line: &str) -> io::Result<()> {
    // Two writes into the buffer cost nothing; the flush is what puts them on the wire, in
    // one piece. Without it the line could wait in the buffer for ever.
    output.write_all(line.as_bytes())?;
    output.write_all(b"\r\n")?;
    output.flush()
}

/// Reads the next line without its line ending; `None` at end of input.
pub fn read_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    // `read_line` appends up to and including the next `\n`, or up to end of input. It
    // returns how many bytes it read, so 0 means end of input, while an empty line is 1 byte
    // (`\n`) or 2 (`\r\n`). It checks the bytes are UTF-8 and fails with `InvalidData` if not.
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    // Strip `\n`, then the `\r` before it (the lectures' server sends `\r\n`; people type
    // `\n`). A `\r` anywhere else belongs to the text and stays.
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(Some(line))
}

/// Shows `prompt` and reads the answer; `None` when the console input has ended.
pub fn ask(
    console_in: &mut impl BufRead,
    console_out: &mut impl Write,
    prompt: &str,
) -> io::Result<Option<String>> {
    console_out.write_all(prompt.as_bytes())?;
    // Standard output is flushed at each `\n`; a prompt has none, so flush it now or the user
    // would be asked a question they cannot see.
    console_out.flush()?;
    read_line(console_in)
}

/// Asks `Host: ` until the answer is not blank.
pub fn ask_host(
    console_in: &mut impl BufRead,
    console_out: &mut impl Write,
) -> io::Result<Option<String>> {
    loop {
        let Some(answer) = ask(console_in, console_out, "Host: ")? else {
            return Ok(None);
        };
        let host = answer.trim();
        if !host.is_empty() {
            return Ok(Some(host.to_string()));
        }
    }
}

/// Asks `Port: ` until the answer is an integer from 0 to 65535.
pub fn ask_port(
    console_in: &mut impl BufRead,
    console_out: &mut impl Write,
) -> io::Result<Option<u16>> {
    loop {
        let Some(answer) = ask(console_in, console_out, "Port: ")? else {
            return Ok(None);
        };
        // A `u16` holds exactly the valid ports, so parsing into one checks the range too.
        match answer.trim().parse::<u16>() {
            Ok(port) => return Ok(Some(port)),
            Err(_) => writeln!(console_out, "{NOT_A_PORT}")?,
        }
    }
}

/// Message → server → `Response: …`, until an empty message or the end of console input.
pub fn chat(
    console_in: &mut impl BufRead,
    console_out: &mut impl Write,
    server_in: &mut impl BufRead,
    server_out: &mut impl Write,
) -> io::Result<()> {
    loop {
        let message = match ask(console_in, console_out, "Message: ")? {
            Some(message) if !message.is_empty() => message,
            // An empty message or the end of the console input: the user is done.
            _ => return Ok(()),
        };
        write_line(server_out, &message)?;
        // The same reader every time: it may already hold the next reply.
        let Some(response) = read_line(server_in)? else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        };
        writeln!(console_out, "Response: {response}")?;
    }
}
