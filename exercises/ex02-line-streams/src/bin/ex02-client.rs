//! The lectures' interactive echo client, built from this exercise's functions.
//!
//! ```text
//! Host: 127.0.0.1
//! Port: 5151
//! Connecting to 127.0.0.1 (port 5151)...
//! Connected!
//! Message: hello
//! Response: hello
//! Message:
//! Closing connection...
//! Closed!
//! ```
//!
//! Run it with `cargo run -p ex02` while `cargo lab serve` runs in another terminal.
//!
//! This file is complete: there is nothing to change here. It only connects your functions in
//! `src/lib.rs` to the console and the network, so it works once they do. Read it to see how
//! they fit together, and how a program turns an error into one line for its user and a
//! non-zero exit code instead of a panic.

// This file also grades the reference solution (package ex02-solution), whose library is
// named `ex02_solution`: there this line makes `ex02` mean it.
#[cfg(netlab_solution)]
extern crate ex02_solution as ex02;

use std::io::{self, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use ex02::{ask_host, ask_port, chat, open_streams};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The whole session. An error comes back as one line for the user.
fn run() -> Result<(), String> {
    // Locking once gives a `BufRead` (stdin) and a `Write` (stdout) to pass around, the
    // console's two pseudo-files.
    let mut console_in = io::stdin().lock();
    let mut console_out = io::stdout().lock();
    let console_failed = |error: io::Error| format!("console: {error}");

    // The console input may end at any prompt (Ctrl-D, or the end of a piped file): that
    // is a normal way to quit, not an error.
    let Some(host) = ask_host(&mut console_in, &mut console_out).map_err(console_failed)? else {
        return Ok(());
    };
    let Some(port) = ask_port(&mut console_in, &mut console_out).map_err(console_failed)? else {
        return Ok(());
    };

    writeln!(console_out, "Connecting to {host} (port {port})...").map_err(console_failed)?;
    let stream = TcpStream::connect((host.as_str(), port))
        .map_err(|error| format!("cannot connect to {host} port {port}: {error}"))?;
    writeln!(console_out, "Connected!").map_err(console_failed)?;

    let (mut server_in, mut server_out) =
        open_streams(stream).map_err(|error| format!("cannot set up the connection: {error}"))?;
    chat(
        &mut console_in,
        &mut console_out,
        &mut server_in,
        &mut server_out,
    )
    .map_err(|error| format!("connection to {host} port {port}: {error}"))?;

    writeln!(console_out, "Closing connection...").map_err(console_failed)?;
    // The reader and the writer hold the two handles of the one socket. The connection closes
    // when the last handle goes, so drop both (the server then reads end-of-file).
    drop(server_in);
    drop(server_out);
    writeln!(console_out, "Closed!").map_err(console_failed)?;
    Ok(())
}
