//! # Exercise 2 — lines through pseudo-files
//!
//! Exercise 1 showed that TCP carries bytes, not messages: "HELLO" may arrive as "HEL" and
//! "LO", or glued to whatever comes next. To get messages back, both sides agree on a
//! *framing*. The simplest, used by the lectures' echo server (and by HTTP/1.1 headers, SMTP
//! and IRC), is one message per line, each line ending in `\r\n`.
//!
//! The lectures stop calling `recv` by hand at this point: they wrap the socket in two
//! file-like objects, one to read lines from and one to write lines to. Rust has the same two
//! pseudo-files in `std::io`:
//!
//! | Python (the lecture)                   | Rust (this exercise)                          |
//! |----------------------------------------|-----------------------------------------------|
//! | `inp = sock.makefile('r')`             | `BufReader::new(stream.try_clone()?)`         |
//! | `out = sock.makefile('w')`             | `BufWriter::new(stream)`                      |
//! | `out.write(line + '\r\n'); out.flush()`| `write!(out, "{line}\r\n")?; out.flush()?`    |
//! | `inp.readline()`                       | `inp.read_line(&mut text)?`                   |
//! | `input('Host: ')`                      | [`ask`]`(console_in, console_out, "Host: ")`  |
//!
//! Three things trip everyone up:
//! 1. **A buffered writer keeps your bytes** until its buffer (8 KiB) is full or you call
//!    `flush`. Forget the flush and the server never sees your line, while you wait for its
//!    answer: both sides wait for ever.
//! 2. **`read_line` keeps the line ending** (`"hello\r\n"`). Compare that with `"hello"` and
//!    it is never equal.
//! 3. **A `BufReader` reads ahead.** Asked for one line, it reads whatever has arrived, maybe
//!    the next line too, and keeps the rest in its buffer. Make *one* reader per connection
//!    and keep using it; a new `BufReader` for each line throws away what the old one had
//!    already read.
//!
//! The same functions work on the console: standard input is a `BufRead` and standard output
//! a `Write`, so part 2 reuses part 1 to build the lectures' interactive client.
//!
//! ## Try it by hand
//! Run the reference server, `cargo lab serve` (port 5151), and in another terminal the
//! interactive client, `cargo run -p ex02`. Its code is in `src/bin/ex02-client.rs`, already
//! written: it calls the functions below, so it works once they do.
//!
//! ## Check your work
//! Start with `cargo test -p ex02 --test graded`: it tries each function on its own. Then
//! `cargo test -p ex02 --test client` runs the interactive client as a real program against
//! a real server. (`cargo test -p ex02` runs both, but stops after the first file that has a
//! failure; add `--no-fail-fast` to see everything.)

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;

// ---------------------------------------------------------------------------------------
// Part 1: a connection as two pseudo-files
// ---------------------------------------------------------------------------------------

/// Wraps a connected stream in a line reader and a buffered writer, the two pseudo-files.
///
/// Both work on the same connection: `try_clone` gives a second handle to the *same* socket
/// (not a new connection), so one can be owned by the reader and one by the writer.
pub fn open_streams(stream: TcpStream) -> io::Result<(BufReader<TcpStream>, BufWriter<TcpStream>)> {
    // TODO: a `BufReader` over `stream.try_clone()?` and a `BufWriter` over `stream`.
    todo!("wrap {stream:?} in a BufReader and a BufWriter")
}

/// Writes `line` followed by `\r\n`, and flushes, so the line leaves now.
///
/// `output` is anything you can write to: the writer from [`open_streams`], standard output,
/// a `Vec<u8>` in a test. `line` should not contain a line break itself.
pub fn write_line(output: &mut impl Write, line: &str) -> io::Result<()> {
    // TODO: write the line and "\r\n" (`write!` or `write_all`), then `flush`.
    todo!(
        "write {line:?} and \"\\r\\n\" to the {}, then flush it",
        std::any::type_name_of_val(output)
    )
}

/// Reads the next line, without its line ending (`\n` or `\r\n`).
///
/// Returns `Ok(None)` at end of input: the peer closed the connection, or the console input
/// ended. An empty line is `Ok(Some(""))`, which is not the same thing. A last line without a
/// line ending is still a line. Bytes that are not UTF-8 are an error of kind
/// `io::ErrorKind::InvalidData`, not a panic and not a line with `�` in it.
pub fn read_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    // TODO: `BufRead::read_line` into a new `String`. It returns how many bytes it read: 0
    // means end of input. Otherwise strip the "\n", then a "\r" before it, if there.
    // (`BufRead::read_line` already reports invalid UTF-8 as `InvalidData`.)
    todo!(
        "read one line from the {}",
        std::any::type_name_of_val(input)
    )
}

// ---------------------------------------------------------------------------------------
// Part 2: the lectures' interactive client, built from part 1
// ---------------------------------------------------------------------------------------

/// Shows `prompt` (for example `"Host: "`) and reads the user's answer, like Python's
/// `input(prompt)`.
///
/// Returns `Ok(None)` when the console input has ended (Ctrl-D, or Ctrl-Z Enter on Windows;
/// the end of a file piped in).
pub fn ask(
    console_in: &mut impl BufRead,
    console_out: &mut impl Write,
    prompt: &str,
) -> io::Result<Option<String>> {
    // TODO: write the prompt, *flush* (standard output is flushed at each line break, and a
    // prompt has none: without a flush the user stares at a blank screen), then `read_line`.
    todo!(
        "show {prompt:?} on the {} and read the answer from the {}",
        std::any::type_name_of_val(console_out),
        std::any::type_name_of_val(console_in)
    )
}

/// Asks `Host: ` until the answer is not blank; returns it without surrounding spaces.
///
/// `Ok(None)` when the console input ends first.
pub fn ask_host(
    console_in: &mut impl BufRead,
    console_out: &mut impl Write,
) -> io::Result<Option<String>> {
    // TODO: loop over `ask(…, "Host: ")`; `trim` the answer; ask again while it is empty.
    todo!(
        "ask for a host on the {} and read answers from the {}",
        std::any::type_name_of_val(console_out),
        std::any::type_name_of_val(console_in)
    )
}

/// Asks `Port: ` until the answer is a port number (an integer from 0 to 65535).
///
/// After each answer that is not, prints the line
/// `Ports must be an integer between 0 and 65535` and asks again. Spaces around the number
/// are fine. `Ok(None)` when the console input ends first.
pub fn ask_port(
    console_in: &mut impl BufRead,
    console_out: &mut impl Write,
) -> io::Result<Option<u16>> {
    // TODO: loop over `ask(…, "Port: ")`. `str::parse::<u16>` accepts exactly 0 to 65535
    // and fails on anything else ("abc", "-1", "65536", ""): that failure is your cue to
    // print the explanation (`writeln!`) and ask again.
    todo!(
        "ask for a port on the {} and read answers from the {}",
        std::any::type_name_of_val(console_out),
        std::any::type_name_of_val(console_in)
    )
}

/// The conversation: asks `Message: `, sends the message to the server as a line, reads the
/// server's reply line and prints `Response: REPLY`; again and again until the user enters
/// an empty message or the console input ends (then returns `Ok(())`).
///
/// If the server closes the connection instead of answering, returns an error of kind
/// `io::ErrorKind::UnexpectedEof` (message: "the server closed the connection").
pub fn chat(
    console_in: &mut impl BufRead,
    console_out: &mut impl Write,
    server_in: &mut impl BufRead,
    server_out: &mut impl Write,
) -> io::Result<()> {
    // TODO: `ask`, `write_line` and `read_line` do all the work; this is the loop around them.
    // Use the `server_in` you were given for every reply (a new `BufReader` would lose
    // whatever this one has already read ahead).
    todo!(
        "chat: messages from the {} to the {}, replies from the {} to the {}",
        std::any::type_name_of_val(console_in),
        std::any::type_name_of_val(server_out),
        std::any::type_name_of_val(server_in),
        std::any::type_name_of_val(console_out)
    )
}
