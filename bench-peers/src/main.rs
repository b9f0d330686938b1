//! `tokio-echo`: a plain tokio echo server, the yardstick `scripts/bench-compare.sh` measures
//! the reference server (`cargo lab serve`) against. It is what most people would write:
//! the multi-threaded runtime, one task per connection, a `BufReader` for lines. No limits,
//! no timeouts, no logging: it only has to be fast, not safe in a lecture hall.
//!
//! Usage: `tokio-echo [--mode line|raw] [--port N]`. Prints `listening on ADDR (MODE mode)`
//! on stdout, like `cargo lab serve`, then serves on 127.0.0.1 until killed.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy)]
enum Mode {
    Line,
    Raw,
}

fn main() -> io::Result<()> {
    let mut mode = Mode::Line;
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().as_deref()) {
            ("--mode", Some("line")) => mode = Mode::Line,
            ("--mode", Some("raw")) => mode = Mode::Raw,
            ("--port", Some(value)) => {
                port = value
                    .parse()
                    .map_err(|_| bad_usage(&format!("bad port {value:?}")))?
            }
            _ => return Err(bad_usage(&format!("unexpected argument {arg:?}"))),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()?;
    runtime.block_on(serve(mode, port))
}

fn bad_usage(problem: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{problem}; usage: tokio-echo [--mode line|raw] [--port N]"),
    )
}

async fn serve(mode: Mode, port: u16) -> io::Result<()> {
    // tokio's `bind` listens with a backlog of 1024, like `cargo lab serve`.
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let name = match mode {
        Mode::Line => "line",
        Mode::Raw => "raw",
    };
    println!("listening on {} ({name} mode)", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept failed: {error}");
                continue;
            }
        };
        tokio::spawn(async move {
            let _ = match mode {
                Mode::Line => echo_lines(stream).await,
                Mode::Raw => echo_raw(stream).await,
            };
        });
    }
}

/// Each line back with `\r\n`, like the reference server.
async fn echo_lines(stream: TcpStream) -> io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        if line.ends_with(b"\n") {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
        }
        line.extend_from_slice(b"\r\n");
        writer.write_all(&line).await?;
    }
}

async fn echo_raw(mut stream: TcpStream) -> io::Result<()> {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let count = stream.read(&mut buffer).await?;
        if count == 0 {
            return Ok(());
        }
        stream.write_all(&buffer[..count]).await?;
    }
}
